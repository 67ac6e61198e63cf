"""The one place the upstream HTTP client lives: a pooled aiohttp session, timeouts, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import HttpCall


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float
    first_byte_s: float
    idle_s: float
    total_s: float  # what is left of this attempt's budget


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class StreamHandle(Protocol):
    status: int
    headers: dict[str, str]

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read_all(self) -> bytes: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """The seam tests can replace: send a call, or open a stream."""

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse: ...

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> StreamHandle: ...

    async def close(self) -> None: ...


def _map_error(e: BaseException) -> ProviderError:
    # The messages name the failure, never the URL's query or headers (which may carry keys).
    if isinstance(e, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return ProviderError("timeout", "upstream timed out")
    if isinstance(e, aiohttp.ClientConnectorError):
        return ProviderError(
            "connection_error", f"cannot connect to upstream: {e.os_error.strerror or 'refused'}"
        )
    if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | ConnectionResetError):
        return ProviderError("connection_error", "upstream closed the connection")
    if isinstance(e, aiohttp.ClientPayloadError):
        return ProviderError("bad_response", "upstream sent a truncated or malformed body")
    return ProviderError("connection_error", f"upstream request failed: {type(e).__name__}")


class _AiohttpStream:
    __slots__ = ("_idle", "_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, idle_s: float) -> None:
        self._resp = resp
        self._idle = idle_s
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.headers.items()}

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        try:
            while True:
                async with asyncio.timeout(self._idle):
                    data = await content.readany()
                if not data:
                    return
                yield data
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
            raise _map_error(e) from None

    async def read_all(self) -> bytes:
        try:
            async with asyncio.timeout(self._idle):
                return await self._resp.read()
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
            raise _map_error(e) from None

    def close(self) -> None:
        self._resp.close()


class AiohttpTransport:
    """Pooled keep-alive connections to every upstream, shared by all calls of one process."""

    def __init__(self, *, limit: int = 0, keepalive_s: float = 30.0) -> None:
        self._limit = limit
        self._keepalive = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _get(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, keepalive_timeout=self._keepalive, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        session = self._get()
        # One asyncio timer per call: first byte (the answer's headers), then moved to the attempt's total.
        # Much cheaper than aiohttp rescheduling a read timer per chunk of a complete answer.
        tmo = self._connect_only(timeouts.connect_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total_s
        try:
            async with asyncio.timeout(min(timeouts.first_byte_s, timeouts.total_s)) as timer:
                async with session.request(
                    call.method, call.url, data=call.body, headers=call.headers, timeout=tmo
                ) as resp:
                    timer.reschedule(deadline)
                    body = await resp.read()
                    return UpstreamResponse(
                        resp.status, {k.lower(): v for k, v in resp.headers.items()}, body
                    )
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
            raise _map_error(e) from None

    def _connect_only(self, connect_s: float) -> aiohttp.ClientTimeout:
        tmo = self._timeouts.get(connect_s)
        if tmo is None:
            tmo = self._timeouts[connect_s] = aiohttp.ClientTimeout(total=None, sock_connect=connect_s)
        return tmo

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> StreamHandle:
        session = self._get()
        tmo = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect_s, sock_read=timeouts.idle_s)
        try:
            async with asyncio.timeout(min(timeouts.first_byte_s, timeouts.total_s)):
                resp = await session.request(
                    call.method, call.url, data=call.body, headers=call.headers, timeout=tmo
                )
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
            raise _map_error(e) from None
        return _AiohttpStream(resp, timeouts.idle_s)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
