"""Serving h1.py's protocol: a listening socket and its connections, on the running loop or for a process.

``start`` serves a handler on the running loop (tests, the demo, each worker) and returns the H1Server
(``url``, ``close``). ``run`` is a worker process's whole life: uvloop, the app opened and closed around
serving, SIGTERM/SIGINT for a graceful close. With ``reuse_port=True`` N processes share one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from unhardcoded.http.h1 import H1Protocol
from unhardcoded.http.h1_framing import Dates, Limits
from unhardcoded.http.wire import ErrorResponder, Handler, error_json

__all__ = ["AppFactory", "H1Server", "Limits", "run", "serve_until_signalled", "start", "static_app"]


class H1Server:
    """A listening socket and its connections; ``close`` lets answers in progress finish."""

    def __init__(
        self, handler: Handler, limits: Limits, errors: ErrorResponder, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.errors = errors
        self.loop = loop
        self.dates = Dates()
        self.tick_s = min(limits.read_timeout_s, limits.keep_alive_s, limits.head_timeout_s)
        self.connections: set[H1Protocol] = set()
        self.closing = False
        self.listener: asyncio.Server | None = None
        self.host = ""
        self.port = 0
        self._idle: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def forget(self, conn: H1Protocol) -> None:
        self.connections.discard(conn)
        if not self.connections and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop accepting; close idle connections; give answers in progress ``grace_s``, then abort."""
        self.closing = True
        if self.listener is not None:
            self.listener.close()
        for conn in list(self.connections):
            if conn.runner is None:
                conn.close()
        if self.connections:
            self._idle = self.loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._idle), grace_s)
        for conn in list(self.connections):
            conn.abort()
        if self.listener is not None:
            await self.listener.wait_closed()


async def start(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    limits: Limits | None = None,
    errors: ErrorResponder = error_json,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
    backlog: int = 1024,
) -> H1Server:
    """Serve ``handler`` on the running loop; port 0 picks a free one (``server.url`` says which)."""
    loop = asyncio.get_running_loop()
    server = H1Server(handler, limits or Limits(), errors, loop)
    if sock is not None:
        listener = await loop.create_server(lambda: H1Protocol(server), sock=sock, backlog=backlog)
    else:
        listener = await loop.create_server(
            lambda: H1Protocol(server), host, port, backlog=backlog, reuse_port=reuse_port or None
        )
    server.listener = listener
    bound = listener.sockets[0].getsockname()
    server.host, server.port = str(bound[0]), int(bound[1])
    return server


AppFactory = Callable[[], AbstractAsyncContextManager[Handler]]


async def serve_until_signalled(
    app: AppFactory,
    host: str,
    port: int,
    *,
    limits: Limits | None = None,
    errors: ErrorResponder = error_json,
    sock: socket.socket | None = None,
    reuse_port: bool = True,
    ready: Callable[[H1Server], None] | None = None,
) -> None:
    """A process's serving life: open the app, serve until SIGTERM/SIGINT, close gracefully, close the app."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with app() as handler:
        server = await start(
            handler, host, port, limits=limits, errors=errors, sock=sock, reuse_port=reuse_port
        )
        if ready is not None:
            ready(server)
        try:
            await stop.wait()
        finally:
            await server.close()


def run(
    app: AppFactory,
    host: str,
    port: int,
    *,
    limits: Limits | None = None,
    errors: ErrorResponder = error_json,
    sock: socket.socket | None = None,
    reuse_port: bool = True,
) -> None:
    """Blocking: ``serve_until_signalled`` on uvloop when it is installed."""
    main = serve_until_signalled(
        app, host, port, limits=limits, errors=errors, sock=sock, reuse_port=reuse_port
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        asyncio.run(main)
    else:
        uvloop.run(main)


@contextlib.asynccontextmanager
async def static_app(handler: Handler) -> AsyncIterator[Handler]:
    """An AppFactory for a handler with nothing to open or close."""
    yield handler
