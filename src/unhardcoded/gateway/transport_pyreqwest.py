"""The upstream client on pyreqwest (Rust: reqwest and hyper on a tokio thread): transport.py's Transport.

Chosen by measurement (issue 15): a pass-through on it spent 45-80 µs less CPU per call than on aiohttp's
ClientSession. Same contract as AiohttpTransport: pooled keep-alive connections, one asyncio timer per
complete answer (first byte, then moved to the attempt's total), an idle timer per stream chunk, and
errors mapped to ProviderError classes with messages that never carry the URL or headers.

Caveats, each handled here: pyreqwest holds a streamed body back until 64 KiB have arrived unless its
streamed read buffer limit is 0 (SSE would arrive whole); its connect timeout is set per client, so
there is one client (one pool) per distinct connect timeout; ``close`` must run before the loop ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from pyreqwest import exceptions as rx
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.request import StreamRequest
from pyreqwest.response import Response

from unhardcoded.errors import ProviderError
from unhardcoded.gateway.transport import StreamHandle, Timeouts, UpstreamResponse
from unhardcoded.providers.base import HttpCall

USER_AGENT = "unhardcoded"


def _last_cause(e: rx.PyreqwestError) -> str:
    details: Any = getattr(e, "details", None) or {}
    causes = details.get("causes") or []
    msg = str(causes[-1].get("message", "")) if causes else ""
    return "" if "://" in msg else msg  # never a URL: its query may carry a key


def _map_error(e: BaseException, *, reading_body: bool = False) -> ProviderError:
    # Order matters: the timeout classes are NetworkError's siblings under TransportError.
    if isinstance(e, TimeoutError | rx.RequestTimeoutError):
        return ProviderError("timeout", "upstream timed out")
    if isinstance(e, rx.ConnectError):
        cause = _last_cause(e)
        if "closed before message completed" in cause:
            return ProviderError("connection_error", "upstream closed the connection")
        reason = "refused" if "refused" in cause.lower() else (cause or "refused")
        return ProviderError("connection_error", f"cannot connect to upstream: {reason}")
    if isinstance(e, rx.BodyDecodeError) or (reading_body and isinstance(e, rx.RequestError)):
        return ProviderError("bad_response", "upstream sent a truncated or malformed body")
    if isinstance(e, rx.DecodeError):
        return ProviderError("bad_response", "upstream sent a malformed answer")
    if isinstance(e, rx.NetworkError | ConnectionError):
        return ProviderError("connection_error", "upstream closed the connection")
    return ProviderError("connection_error", f"upstream request failed: {type(e).__name__}")


_ERRORS = (rx.PyreqwestError, TimeoutError, ConnectionError)


class _ReqwestStream:
    """A streamed answer; ``close`` ends it (a task, as pyreqwest closes asynchronously)."""

    __slots__ = ("_closed", "_idle", "_req", "_resp", "_transport", "headers", "status")

    def __init__(
        self, transport: ReqwestTransport, req: StreamRequest, resp: Response, idle_s: float
    ) -> None:
        self._transport = transport
        self._req = req
        self._resp = resp
        self._idle = idle_s
        self._closed = False
        self.status = resp.status
        self.headers = dict(resp.headers.items())  # names come lower-cased from hyper

    async def chunks(self) -> AsyncIterator[bytes]:
        reader = self._resp.body_reader
        try:
            while True:
                async with asyncio.timeout(self._idle):
                    data = await reader.read_chunk()
                if data is None:
                    return
                if data:
                    yield bytes(data)
        except _ERRORS as e:
            raise _map_error(e, reading_body=True) from None

    async def read_all(self) -> bytes:
        try:
            async with asyncio.timeout(self._idle):
                return bytes(await self._resp.bytes())
        except _ERRORS as e:
            raise _map_error(e, reading_body=True) from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport._later(self._req.__aexit__(None, None, None))


class ReqwestTransport:
    """Pooled keep-alive connections to every upstream, shared by all calls of one process."""

    def __init__(self, *, keepalive_s: float = 30.0) -> None:
        self._keepalive = keepalive_s
        self._clients: dict[tuple[float, float | None], Client] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def _client(self, connect_s: float, read_s: float | None = None) -> Client:
        """One pooled client per (connect timeout, per-read timeout): both fixed per provider, so few."""
        key = (connect_s, read_s)
        client = self._clients.get(key)
        if client is None:
            builder = (
                ClientBuilder()
                .connect_timeout(timedelta(seconds=connect_s))
                .pool_idle_timeout(timedelta(seconds=self._keepalive))
                .follow_redirects(False)
                .no_proxy()  # as aiohttp's session (trust_env=False): no proxy from the environment
                .user_agent(USER_AGENT)
            )
            if read_s is not None:
                builder = builder.read_timeout(timedelta(seconds=read_s))
            client = builder.build()
            self._clients[key] = client
        return client

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        # Both timers run in Rust, not as asyncio timers (an asyncio.timeout and its reschedule cost ~11 us
        # per call on the event loop): the request's total, and the client's per-read timeout, which bounds
        # the wait for the answer's head (the first byte) and any later stall of its body. Where the first
        # byte's bound is not below the total, the total alone applies (then the first byte's is not the
        # provider's fixed value but what is left of the call, and would make a client per call).
        fb = timeouts.first_byte_s
        client = self._client(timeouts.connect_s, fb if fb < timeouts.total_s else None)
        req = (
            client.request(call.method, call.url)
            .headers(call.headers)
            .body_bytes(call.body)
            .timeout(timedelta(seconds=timeouts.total_s))
            .build()
        )
        try:
            # Not a streamed request: the body is read whole in Rust before send() returns (fewer round
            # trips through the event loop than entering, reading and leaving a streamed one). A reset
            # mid-body still maps to connection_error, a body cut short to bad_response (tests/faults,
            # test_transport_pyreqwest.py).
            resp = await req.send()
            return UpstreamResponse(resp.status, dict(resp.headers.items()), bytes(await resp.bytes()))
        except _ERRORS as e:
            raise _map_error(e) from None

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> StreamHandle:
        client = self._client(timeouts.connect_s)
        req = (
            client.request(call.method, call.url)
            .headers(call.headers)
            .body_bytes(call.body)
            .streamed_read_buffer_limit(0)  # hand each chunk on as it arrives
            .build_streamed()
        )
        try:
            async with asyncio.timeout(min(timeouts.first_byte_s, timeouts.total_s)):
                resp = await req.__aenter__()
        except _ERRORS as e:
            raise _map_error(e) from None
        return _ReqwestStream(self, req, resp, timeouts.idle_s)

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
