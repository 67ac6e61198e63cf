"""The HTTP/1.1 server's limits and how h1.py writes: status lines, header block, Date, the chunked sink.

``head`` refuses CR or LF in a header (no response splitting) and drops framing headers a handler may
have set: Content-Length, Transfer-Encoding and Connection are the server's.
"""

from __future__ import annotations

import email.utils
import http
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unhardcoded.http.wire import ClientDisconnected, Headers

if TYPE_CHECKING:
    from unhardcoded.http.h1 import H1Protocol

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


class Dates:
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


def head(
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


class ChunkedSink:
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
        conn.write(head(status, hl, None if self.chunked else -1, conn.keep_alive, conn.server.dates.now()))
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
