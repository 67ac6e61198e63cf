"""Build the gateway from the settings and serve it: one process, or N sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import gc
import ipaddress
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from unhardcoded.config import Settings, load_settings
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.auth import KeyRing, load_keyring
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import Transport
from unhardcoded.gateway.transport_pyreqwest import ReqwestTransport
from unhardcoded.http import listener
from unhardcoded.http.app import create_app
from unhardcoded.http.errors import server_error
from unhardcoded.http.wire import Handler
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store

# The cyclic garbage collector, set for a server (issue 15). Startup leaves ~70,000 long-lived objects (the
# catalog and its indexes, the modules) that each full collection walked again: under load, 0.44 s of
# collections in a 15,000-request run, ~30 µs per request. Frozen, they are never walked again; and the
# youngest generation is collected every 10,000 net allocations instead of 700 (a call's objects die by
# reference counting, so frequent collections found little). Measured under wrk at c=64, strict: 0.24 s of
# collections -> 0.04 s, CPU 355 -> 311 µs per request.
GC_THRESHOLDS = (10_000, 10, 10)


def settle_heap() -> None:
    """After startup: collect once, freeze what survived, collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def build_gateway(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    transport: Transport | None = None,
    policies: Policies | None = None,
) -> Gateway:
    """A gateway from the settings: its store, the pyreqwest transport, every adapter (plugins too)."""
    exporter = None
    if settings.otel is not None:
        from unhardcoded.gateway.otel import OtelExporter

        exporter = OtelExporter(settings.otel, os.environ if env is None else env)
    return Gateway(
        settings,
        policies or Policies(settings),
        open_store(settings.store, durability=settings.durability),
        transport or ReqwestTransport(),
        load_adapters(include_plugins=True),
        env=env,
        exporter=exporter,
    )


def _run_one(config: str | None, host: str, port: int, sock: socket.socket | None = None) -> None:
    """One worker process: build the gateway, serve until SIGTERM/SIGINT, close it (receipts flushed)."""
    settings = load_settings(config)
    keys = load_keyring(settings.auth, os.environ)

    @asynccontextmanager
    async def app() -> AsyncIterator[Handler]:
        gw = build_gateway(settings)  # inside the loop: the transport and the store belong to it
        line, hint = gw.startup_notes()
        if hint:
            print(hint, file=sys.stderr)
        await gw.open()
        settle_heap()
        try:
            # One write: with PYTHONUNBUFFERED print() writes text and newline apart, and two workers'
            # lines would interleave.
            sys.stderr.write(
                f"unhardcoded: {line}, store {settings.store} ({settings.durability}), pid {os.getpid()}\n"
            )
            sys.stderr.flush()
            yield create_app(gw, keys)
        finally:
            await gw.close()

    limits = listener.Limits(max_body_bytes=settings.max_body_bytes)
    listener.run(app, host, port, limits=limits, errors=server_error, sock=sock, reuse_port=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(config: Path | str | None, *, host: str = "127.0.0.1", port: int = 8700, workers: int = 1) -> None:
    """Start the gateway. With workers > 1, each process binds the port with SO_REUSEPORT."""
    cfg = str(config) if config else None
    settings = load_settings(cfg)  # fail fast, in the parent, on a bad config
    keys = load_keyring(settings.auth, os.environ)
    if not keys and not _loopback(host):
        raise ConfigError(
            f"--host {host}: with no gateway keys configured the gateway listens on loopback only"
            " (127.0.0.1, ::1, localhost). Add a key with `unhardcoded keys add --tenant NAME --scope admin"
            " --file unhardcoded-keys.yaml` and name that file in the config (auth: {keys_file: ...}).",
            path="host",
        )
    print(f"unhardcoded: serving on http://{host}:{port} with {workers} worker(s)", file=sys.stderr)
    if workers <= 1:
        _run_one(cfg, host, port)
        return

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM to the parent stops every worker, not just the parent

    signal.signal(signal.SIGTERM, _stop)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_run_one, args=(cfg, host, port), daemon=False) for _ in range(workers)]
    try:  # a SIGTERM while workers start must still stop the ones already started
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            if p.pid is not None:
                p.terminate()
        for p in procs:
            if p.pid is not None:
                p.join()


class InProcess:
    """A gateway served on the current loop; `cleanup` stops serving, then closes the gateway."""

    def __init__(self, server: listener.H1Server, gw: Gateway) -> None:
        self.server = server
        self.gw = gw

    async def cleanup(self) -> None:
        await self.server.close(grace_s=5.0)
        await self.gw.close()


async def start_in_process(
    gw: Gateway, host: str = "127.0.0.1", port: int = 0, *, keys: KeyRing | None = None
) -> tuple[InProcess, str]:
    """Open the gateway and serve it on the current loop (tests, the demo); returns it and its base URL."""
    await gw.open()
    limits = listener.Limits(max_body_bytes=gw.body_limit())
    server = await listener.start(create_app(gw, keys), host, port, limits=limits, errors=server_error)
    return InProcess(server, gw), server.url
