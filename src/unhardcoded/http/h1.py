"""The HTTP/1.1 server: an asyncio protocol around httptools (llhttp, uvicorn's parser), nothing else.

Chosen by measurement (bench/README.md, issue 15): a pass-through on this protocol and pyreqwest spent
64 µs of CPU per call against 87-101 µs for uvicorn's httptools protocol with a bare ASGI callable and
160 µs for aiohttp's server and client. llhttp does the parsing (framing, chunked bodies, CL/TE
conflicts); this module does what a server around it must: keep-alive and pipelining (answers in order),
``Expect: 100-continue``, header and body limits (431/413, then close), a read timeout for slow or
stalled clients, an idle keep-alive timeout, write flow control, and telling the handler when the client
left (wire.Request.disconnected; a stream write raises ClientDisconnected). Handlers are not cancelled
when the client leaves: a call that was sent upstream still finishes and writes its receipt.

``start`` serves on the running loop (tests, the demo, each worker); ``run`` is a process's whole life
(uvloop, SIGTERM/SIGINT, graceful close). With ``reuse_port=True`` N processes share one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import signal
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import httptools

from unhardcoded.http.wire import (
    ClientDisconnected,
    ErrorResponder,
    Handler,
    Headers,
    Request,
    error_json,
)

log = logging.getLogger("unhardcoded.http")

STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in http.HTTPStatus if s.value >= 200}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 32 * 1024  # request line and header fields together -> 431
    max_body_bytes: int = 32 * 1024**2  # as the aiohttp app allowed -> 413
    read_timeout_s: float = 30.0  # longest silence while a request is arriving (slow or stalled clients)
    head_timeout_s: float = 30.0  # the request line and headers arrive whole within this (slowloris)
    keep_alive_s: float = 75.0  # an idle connection between requests is closed after this
    max_pipelined: int = 16  # complete requests queued on one connection before reading pauses


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


class _Dates:
    """The Date header, formatted once per second."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = 0
        self.value = ""

    def now(self) -> str:
        sec = int(time.time())
        if sec != self.second:
            self.second = sec
            self.value = email.utils.formatdate(sec, usegmt=True)
        return self.value


def _head(
    status: int, headers: list[tuple[str, str]], length: int | None, keep_alive: bool, date: str
) -> bytes:
    """Status line and header block. length None: chunked; -1: delimited by closing the connection.

    CR or LF in a header is refused (no response splitting)."""
    parts = [STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n", "date: ", date, "\r\n"]
    for name, value in headers:
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"header {name!r}: CR or LF in a header")
        if name.lower() in FRAMING:
            continue  # the server frames the message
        parts += (name, ": ", value, "\r\n")
    if length is None:
        parts.append("transfer-encoding: chunked\r\n")
    elif length >= 0:
        parts += ("content-length: ", str(length), "\r\n")
    if not keep_alive:
        parts.append("connection: close\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1")


class _Sink:
    """One request's streamed answer (wire.Sink)."""

    __slots__ = ("chunked", "conn", "head", "started")

    def __init__(self, conn: H1Protocol, head: bool) -> None:
        self.conn = conn
        self.started = False
        self.chunked = True
        self.head = head  # a HEAD request: headers only

    async def start(self, headers: Headers, status: int = 200) -> None:
        conn = self.conn
        if conn.closed:
            raise ClientDisconnected("the client closed the connection")
        if self.started:
            raise RuntimeError("the stream was already started")
        self.started = True
        req = conn.current
        # An HTTP/1.0 client cannot read chunks: the end of the stream is the end of the connection.
        self.chunked = req is not None and req.http_version != "1.0"
        if not self.chunked:
            conn.keep_alive = False
        hl = list(headers.items() if isinstance(headers, Mapping) else headers)
        conn.write(_head(status, hl, None if self.chunked else -1, conn.keep_alive, conn.server.dates.now()))
        await conn.drain()

    async def write(self, data: bytes) -> None:
        conn = self.conn
        if conn.closed:
            raise ClientDisconnected("the client closed the connection")
        if not self.started:
            await self.start({})
        if not data or self.head:
            return
        conn.write(b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data)
        await conn.drain()

    def finish(self) -> None:
        if self.chunked and not self.head and not self.conn.closed:
            self.conn.write(b"0\r\n\r\n")


class H1Protocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: H1Server) -> None:
        self.server = server
        self.limits = server.limits
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.closed = False
        self.keep_alive = True
        self.queue: deque[tuple[Request, bool] | _Reject] = deque()
        self.runner: asyncio.Task[None] | None = None
        self.current: Request | None = None
        self.reading = False  # a request has begun and is not complete
        self.in_head = False  # ... and its headers are not complete
        self.began = 0.0
        self.read_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.gone: asyncio.Future[None] | None = None
        self.continue_owed = False
        self.last_activity = 0.0
        self.timer: asyncio.TimerHandle | None = None
        # the request being parsed
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.header_bytes = 0
        self.body_bytes = 0

    # --- connection events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        peer = transport.get_extra_info("peername")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
        self.server.connections.add(self)
        self.last_activity = self.loop.time()
        self.timer = self.loop.call_at(self.last_activity + self.server.tick_s, self._check_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.queue.clear()
        if self.timer is not None:
            self.timer.cancel()
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)
        if self.gone is not None and not self.gone.done():
            self.gone.set_result(None)
        self.server.forget(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.loop.time()
        try:
            self.parser.feed_data(data)
        except _Reject as r:
            self._reject(r)
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            self._reject(cause if isinstance(cause, _Reject) else _Reject(400, "malformed request"))
        except httptools.HttpParserUpgrade:
            # No protocol upgrades here: answer what was asked, then close (the rest is not HTTP/1.1).
            self.keep_alive = False
            self._pause_reading()
        except httptools.HttpParserError:
            self._reject(_Reject(400, "malformed request"))

    def _reject(self, r: _Reject) -> None:
        """Answer with an error once the answers before it are out, then close; read nothing more."""
        self._pause_reading()
        self.reading = False
        self.queue.append(r)
        self._run()

    # --- parser callbacks

    def on_message_begin(self) -> None:
        self.reading = True
        self.in_head = True
        self.began = self.last_activity
        self.url = b""
        self.headers = {}
        self.body = []
        self.header_bytes = 0
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.header_bytes += len(url)
        if self.header_bytes > self.limits.max_header_bytes:
            raise _Reject(431, "request line and headers are too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > self.limits.max_header_bytes:
            raise _Reject(431, "request line and headers are too large")
        key = name.lower().decode("latin-1")
        if key in self.headers:
            self.headers[key] += ", " + value.decode("latin-1")
        else:
            self.headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.in_head = False
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limits.max_body_bytes:
            raise _Reject(413, f"request body is larger than {self.limits.max_body_bytes} bytes")
        if self.headers.get("expect", "").lower() == "100-continue":
            if self.runner is None and not self.queue:
                self.write(CONTINUE)
            else:  # an earlier answer is still due: 100 goes out after it
                self.continue_owed = True

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.limits.max_body_bytes:
            raise _Reject(413, f"request body is larger than {self.limits.max_body_bytes} bytes")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.reading = False
        raw = self.url
        path, _, query = raw.decode("latin-1").partition("?")
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        version = self.parser.get_http_version()
        req = Request(
            self.parser.get_method().decode("latin-1"),
            path,
            query,
            self.headers,
            body,
            http_version=version,
            client=self.client,
            sink=_NO_SINK,
            conn=self,
        )
        self.queue.append((req, self.parser.should_keep_alive()))
        if len(self.queue) >= self.limits.max_pipelined:
            self._pause_reading()
        self._run()

    # --- answering

    def _run(self) -> None:
        if self.runner is None and self.queue:
            self.runner = self.loop.create_task(self._answer_all())

    async def _answer_all(self) -> None:
        try:
            while self.queue and not self.closed:
                item = self.queue.popleft()
                if isinstance(item, _Reject):
                    self.keep_alive = False
                    resp = self.server.errors(item.status, item.message)
                    self.write(
                        _head(resp.status, resp.headers, len(resp.body), False, self.server.dates.now())
                    )
                    self.write(resp.body)
                    self.close()
                    return
                await self._answer(*item)
                if not self.keep_alive or self.server.closing:
                    self.close()
                    return
                if self.read_paused and len(self.queue) < self.limits.max_pipelined // 2:
                    self._resume_reading()
                if self.continue_owed and not self.queue:
                    self.continue_owed = False
                    self.write(CONTINUE)
        finally:
            self.runner = None
            self.current = None
            self.last_activity = self.loop.time()
        if self.queue and not self.closed:  # arrived while the last answer was being written
            self._run()

    async def _answer(self, req: Request, keep_alive: bool) -> None:
        self.current = req
        self.keep_alive = self.keep_alive and keep_alive and not self.server.closing
        head_only = req.method == "HEAD"
        sink = _Sink(self, head_only)
        req.sink = sink
        try:
            resp = await self.server.handler(req)
        except ClientDisconnected:
            self.close()
            return
        except Exception:
            log.exception("handler failed: %s %s", req.method, req.path)
            if sink.started:  # mid-stream: cut the connection so the client sees a truncated answer
                self.abort()
                return
            resp = self.server.errors(500, "internal error")
        self.keep_alive = self.keep_alive and not self.server.closing
        if sink.started:
            sink.finish()
            if not sink.chunked:
                self.close()
            return
        if self.closed:
            return
        if resp is None:
            log.error("handler returned no response and started no stream: %s %s", req.method, req.path)
            resp = self.server.errors(500, "internal error")
        try:
            head = _head(resp.status, resp.headers, len(resp.body), self.keep_alive, self.server.dates.now())
        except ValueError:
            log.exception("bad response header: %s %s", req.method, req.path)
            resp = self.server.errors(500, "internal error")
            head = _head(resp.status, resp.headers, len(resp.body), self.keep_alive, self.server.dates.now())
        if head_only or not resp.body:
            self.write(head)
        elif len(resp.body) < 65536:
            self.write(head + resp.body)  # one write, one syscall
        else:
            self.write(head)
            self.write(resp.body)

    # --- transport helpers

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ClientDisconnected("the client closed the connection")
        if self.write_paused:
            self.drain_waiter = self.loop.create_future()
            await self.drain_waiter
            self.drain_waiter = None
            if self.closed:
                raise ClientDisconnected("the client closed the connection")

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = False
            self.transport.resume_reading()

    def _check_timeout(self) -> None:
        """One timer per connection, moved forward lazily (data_received only records the time).

        It fires at least every ``tick_s`` (the shorter timeout): the connection may pass at any time
        into a state with a shorter wait."""
        if self.closed:
            return
        now = self.loop.time()
        tick = self.server.tick_s
        if self.runner is None:  # while a handler is at work its own timeouts apply
            wait = self.limits.read_timeout_s if self.reading else self.limits.keep_alive_s
            left = self.last_activity + wait - now
            if self.reading and self.in_head:
                left = min(left, self.began + self.limits.head_timeout_s - now)
            if left <= 0:
                if self.reading:  # stalled mid-request
                    resp = self.server.errors(408, "the request did not arrive in time")
                    self.write(
                        _head(resp.status, resp.headers, len(resp.body), False, self.server.dates.now())
                    )
                    self.write(resp.body)
                self.close()
                return
            tick = min(tick, left)
        self.timer = self.loop.call_at(now + tick, self._check_timeout)

    # --- wire.Connection

    @property
    def disconnected(self) -> bool:
        return self.closed

    async def wait_disconnected(self) -> None:
        if self.closed:
            return
        if self.gone is None:
            self.gone = self.loop.create_future()
        await asyncio.shield(self.gone)


class _NoSink:
    """Placeholder until the request is answered (the real sink is set by H1Protocol._answer)."""

    started = False

    async def start(self, headers: Headers, status: int = 200) -> None:
        raise RuntimeError("not answering yet")

    async def write(self, data: bytes) -> None:
        raise RuntimeError("not answering yet")


_NO_SINK = _NoSink()


class H1Server:
    """A listening socket and its connections; ``close`` lets answers in progress finish."""

    def __init__(
        self, handler: Handler, limits: Limits, errors: ErrorResponder, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.errors = errors
        self.loop = loop
        self.dates = _Dates()
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
