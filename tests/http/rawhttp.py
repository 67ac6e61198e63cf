"""A raw HTTP/1.1 client on asyncio streams, for tests that must see the bytes a client library would hide."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)  # the chunks of a chunked body, in order


class RawConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> RawConn:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_head(self) -> tuple[int, dict[str, str]]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def read_chunk(self) -> bytes | None:
        """One chunk of a chunked body; None at the last (empty) chunk."""
        size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 5)
        size = int(size_line.strip().split(b";")[0], 16)
        data = await asyncio.wait_for(self.reader.readexactly(size + 2), 5)
        return data[:-2] if size else None

    async def read_response(self) -> RawResponse:
        status, headers = await self.read_head()
        if status == 100:
            return RawResponse(status, headers, b"")
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while (chunk := await self.read_chunk()) is not None:
                chunks.append(chunk)
            return RawResponse(status, headers, b"".join(chunks), chunks)
        if "content-length" in headers:
            body = await asyncio.wait_for(self.reader.readexactly(int(headers["content-length"])), 5)
            return RawResponse(status, headers, body)
        return RawResponse(status, headers, await asyncio.wait_for(self.reader.read(), 5))

    async def at_eof(self, timeout: float = 5.0) -> bool:
        """True when the server closed the connection (nothing more arrives)."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except (ConnectionError, TimeoutError):
            return False
        return data == b""

    def close(self) -> None:
        self.writer.close()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: test\r\n{extra}\r\n".encode()
