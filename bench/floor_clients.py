"""The upstream clients the faster floors share: pyreqwest (Rust, reqwest) or aiohttp, same work each.

Every floor does the same per call: parse the client's JSON body, forward it through one pooled
keep-alive client, and either read the whole answer and parse its ``usage`` or relay a
``text/event-stream`` answer chunk by chunk as it comes. ``Upstream.post`` returns the complete
answer; ``Upstream.stream`` is an async context manager yielding (status, content type, chunks).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson

FORWARD_HEADERS = ("content-type", "authorization")


def read_usage(ctype: str, body: bytes) -> Any:
    """What a gateway must at least do with a complete answer: find the token counts."""
    if ctype.startswith("application/json"):
        with contextlib.suppress(orjson.JSONDecodeError):
            doc = orjson.loads(body)
            return doc.get("usage") if isinstance(doc, dict) else None
    return None


class ReqwestUpstream:
    """pyreqwest's async client: one pool, HTTP/1.1, no decompression, streamed reads unbuffered."""

    def __init__(self, base: str) -> None:
        from pyreqwest.client import ClientBuilder

        self.base = base.rstrip("/")
        self.client = (
            ClientBuilder()
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .follow_redirects(False)
            .pool_idle_timeout(timedelta(seconds=60))
            .build()
        )

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        resp = await self.client.post(self.base + path).headers(headers).body_bytes(body).build().send()
        ctype = resp.headers.get("content-type", "application/octet-stream")
        return resp.status, ctype, bytes(await resp.bytes())

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> AsyncIterator[tuple[int, str, AsyncIterator[bytes]]]:
        req = (
            self.client.post(self.base + path)
            .headers(headers)
            .body_bytes(body)
            .streamed_read_buffer_limit(0)  # the default (64 KiB) holds a stream back until it ends
            .build_streamed()
        )
        async with req as resp:

            async def chunks() -> AsyncIterator[bytes]:
                reader = resp.body_reader
                while (chunk := await reader.read_chunk()) is not None:
                    yield bytes(chunk)

            yield resp.status, resp.headers.get("content-type", "application/octet-stream"), chunks()

    async def close(self) -> None:
        await self.client.close()


class AiohttpUpstream:
    """aiohttp's ClientSession, configured as bench/floor.py configures it."""

    def __init__(self, base: str) -> None:
        import aiohttp

        self.base = base.rstrip("/")
        connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=60, ttl_dns_cache=None)
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout(total=120)
        )

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        async with self.session.post(self.base + path, data=body, headers=headers) as up:
            return up.status, up.headers.get("Content-Type", "application/octet-stream"), await up.read()

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> AsyncIterator[tuple[int, str, AsyncIterator[bytes]]]:
        async with self.session.post(self.base + path, data=body, headers=headers) as up:

            async def chunks() -> AsyncIterator[bytes]:
                async for chunk in up.content.iter_any():
                    yield chunk

            yield up.status, up.headers.get("Content-Type", "application/octet-stream"), chunks()

    async def close(self) -> None:
        await self.session.close()


def make_upstream(kind: str, base: str) -> ReqwestUpstream | AiohttpUpstream:
    if kind == "pyreqwest":
        return ReqwestUpstream(base)
    if kind == "aiohttp":
        return AiohttpUpstream(base)
    raise ValueError(f"unknown client {kind!r}: pyreqwest or aiohttp")


def wants_stream(body: bytes) -> tuple[bool, str | None]:
    """Parse the client's body as a gateway must; (stream?, error message)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, "body is not JSON"
    if not isinstance(doc, dict):
        return False, "body is not a JSON object"
    return bool(doc.get("stream")), None
