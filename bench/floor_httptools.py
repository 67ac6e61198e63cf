"""A faster floor: a raw asyncio protocol on httptools (uvicorn's parser), no server around it.

Keep-alive, pipelining (requests on one connection answered in order) and ``Connection: close``;
no limits, no ``Expect: 100-continue``, no idle timeouts: this measures what the parser and the
client cost, not a complete server. Same work as the other floors (see floor_clients.py).

    python bench/floor_httptools.py --port 18004 --upstream http://127.0.0.1:18000 --client pyreqwest
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from collections import deque

import httptools
from floor_clients import (
    FORWARD_HEADERS,
    AiohttpUpstream,
    ReqwestUpstream,
    make_upstream,
    read_usage,
    wants_stream,
)
from mock_upstream import run_loop

FWD = {h.encode() for h in FORWARD_HEADERS}
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 500: b"Internal Server Error"}


class Request:
    __slots__ = ("body", "headers", "keep_alive", "path")

    def __init__(self, path: bytes, headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        self.path = path
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


def head(status: int, ctype: str, length: int | None, keep_alive: bool) -> bytes:
    framing = b"transfer-encoding: chunked\r\n" if length is None else b"content-length: %d\r\n" % length
    conn = b"" if keep_alive else b"connection: close\r\n"
    reason = REASONS.get(status, b"Unknown")
    return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n%s%s\r\n" % (status, reason, ctype.encode(), framing, conn)


class FloorProtocol(asyncio.Protocol):
    def __init__(self, server: FloorServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[Request] = deque()
        self.task: asyncio.Task[None] | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(head(400, "text/plain", 0, False))
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in FWD:
            self.headers[name.decode()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        req = Request(self.url, self.headers, b"".join(self.body), self.parser.should_keep_alive())
        self.pending.append(req)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while self.pending and self.transport is not None:
            req = self.pending.popleft()
            try:
                await self.server.handle(req, self.transport)
            except Exception as exc:  # a floor: answer 500 and go on
                if self.transport is not None:
                    msg = f"{type(exc).__name__}".encode()
                    self.transport.write(head(500, "text/plain", len(msg), False) + msg)
                    self.transport.close()
                return
            if not req.keep_alive and self.transport is not None:
                self.transport.close()
                return
        self.task = None


class FloorServer:
    def __init__(self, upstream: str, client: str) -> None:
        self.base = upstream
        self.kind = client
        self.up: ReqwestUpstream | AiohttpUpstream | None = None

    async def handle(self, req: Request, t: asyncio.Transport) -> None:
        path = req.path.split(b"?", 1)[0].decode()
        if path == "/health":
            t.write(head(200, "text/plain", 2, req.keep_alive) + b"ok")
            return
        if self.up is None:
            self.up = make_upstream(self.kind, self.base)
        stream, err = wants_stream(req.body)
        if err:
            t.write(head(400, "text/plain", len(err), req.keep_alive) + err.encode())
            return
        if stream:
            async with self.up.stream(path, req.body, req.headers) as (status, ctype, chunks):
                t.write(head(status, ctype, None, req.keep_alive))
                async for chunk in chunks:
                    if t.is_closing():
                        return
                    t.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                t.write(b"0\r\n\r\n")
            return
        status, ctype, data = await self.up.post(path, req.body, req.headers)
        read_usage(ctype, data)
        t.write(head(status, ctype, len(data), req.keep_alive) + data)


async def serve(host: str, port: int, upstream: str, client: str) -> None:
    floor = FloorServer(upstream, client)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FloorProtocol(floor), host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"floor-httptools ({client}) pid {os.getpid()} on http://{host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        if floor.up is not None:
            await floor.up.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18004)
    parser.add_argument("--upstream", default=os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18000"))
    parser.add_argument("--client", default="pyreqwest", choices=["pyreqwest", "aiohttp"])
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(args.host, args.port, args.upstream, args.client))


if __name__ == "__main__":
    main()
