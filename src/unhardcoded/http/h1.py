"""The HTTP/1.1 server: an asyncio protocol around httptools (llhttp, uvicorn's parser), nothing else.

Chosen by measurement (bench/README.md, issue 15): a pass-through on this protocol and pyreqwest spent
64 µs of CPU per call against 87-101 µs for uvicorn's httptools protocol with a bare ASGI callable and
160 µs for aiohttp's server and client. llhttp does the parsing (framing, chunked bodies, CL/TE
conflicts); this module does what a server around it must: keep-alive and pipelining (answers in order),
``Expect: 100-continue``, header and body limits (431/413, then close), a read timeout for slow or
stalled clients, an idle keep-alive timeout, write flow control, and telling the handler when the client
left (wire.Request.disconnected; a stream write raises ClientDisconnected). Handlers are not cancelled
when the client leaves: a call that was sent upstream still finishes and writes its receipt.

The listening side (``start``, ``run``, graceful close) is listener.py; the bytes written, h1_framing.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

import httptools

from unhardcoded.http.h1_framing import CONTINUE, ChunkedSink, head
from unhardcoded.http.wire import ClientDisconnected, Headers, Request

if TYPE_CHECKING:
    from unhardcoded.http.listener import H1Server

LINGER_S = 2.0  # how long an error answer's connection drains the client's bytes
log = logging.getLogger("unhardcoded.http")


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


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
        self.lingering = False
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
        if self.lingering:  # the answer is out; what the client still sends is read and dropped
            return
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
                        head(resp.status, resp.headers, len(resp.body), False, self.server.dates.now())
                    )
                    self.write(resp.body)
                    self.linger_close()
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
        sink = ChunkedSink(self, head_only)
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
            block = head(resp.status, resp.headers, len(resp.body), self.keep_alive, self.server.dates.now())
        except ValueError:
            log.exception("bad response header: %s %s", req.method, req.path)
            resp = self.server.errors(500, "internal error")
            block = head(resp.status, resp.headers, len(resp.body), self.keep_alive, self.server.dates.now())
        if head_only or not resp.body:
            self.write(block)
        elif len(resp.body) < 65536:
            self.write(block + resp.body)  # one write, one syscall
        else:
            self.write(block)
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

    def linger_close(self) -> None:
        """Close after an error answer while the client may still be sending: send FIN, then read and drop
        its bytes for up to LINGER_S. Closing at once would make the kernel answer those bytes with a RST,
        which can destroy the error answer in the client's buffer before the client reads it."""
        if self.transport is None or self.transport.is_closing():
            return
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._resume_reading()
        self.loop.call_later(LINGER_S, self.close)

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
                        head(resp.status, resp.headers, len(resp.body), False, self.server.dates.now())
                    )
                    self.write(resp.body)
                    self.linger_close()
                    return
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
