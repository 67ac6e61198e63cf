"""Build the gateway from the settings and serve it: one process, or N sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from unhardcoded.config import Settings, load_settings
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import AiohttpTransport, Transport
from unhardcoded.http.app import create_app
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store


def build_gateway(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    transport: Transport | None = None,
    policies: Policies | None = None,
) -> Gateway:
    """A gateway from the settings: its store, the aiohttp transport, every adapter (plugins too)."""
    exporter = None
    if settings.otel is not None:
        from unhardcoded.gateway.otel import OtelExporter

        exporter = OtelExporter(settings.otel, os.environ if env is None else env)
    return Gateway(
        settings,
        policies or Policies(settings),
        open_store(settings.store, durability=settings.durability),
        transport or AiohttpTransport(),
        load_adapters(include_plugins=True),
        env=env,
        exporter=exporter,
    )


def _run_one(config: str | None, host: str, port: int, sock: socket.socket | None = None) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        pass
    settings = load_settings(config)
    gw = build_gateway(settings)
    line, hint = gw.startup_notes()
    if hint:
        print(hint, file=sys.stderr)
    app = create_app(gw)
    print(
        f"unhardcoded: {line}, store {settings.store} ({settings.durability}), pid {os.getpid()}",
        file=sys.stderr,
    )
    if sock is not None:
        web.run_app(app, sock=sock, access_log=None, print=None, handle_signals=True)
    else:
        web.run_app(app, host=host, port=port, access_log=None, reuse_port=True, print=None)


def serve(config: Path | str | None, *, host: str = "127.0.0.1", port: int = 8700, workers: int = 1) -> None:
    """Start the gateway. With workers > 1, each process binds the port with SO_REUSEPORT."""
    cfg = str(config) if config else None
    load_settings(cfg)  # fail fast, in the parent, on a bad config
    print(f"unhardcoded: serving on http://{host}:{port} with {workers} worker(s)", file=sys.stderr)
    if workers <= 1:
        _run_one(cfg, host, port)
        return

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM to the parent stops every worker, not just the parent

    signal.signal(signal.SIGTERM, _stop)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_run_one, args=(cfg, host, port), daemon=False) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()


async def start_in_process(gw: Gateway, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Run the app on the current loop (tests, the demo); returns the runner and the base URL."""
    runner = web.AppRunner(create_app(gw), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"
