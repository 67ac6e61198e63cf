"""AiohttpTransport (gateway/transport.py) against real HTTP servers on 127.0.0.1: answers, streams chunk by
chunk, each timeout bounded by the smaller of its own limit and the attempt's total, failures named without
the URL, the pooled session. Every wait on the transport is itself bounded (`guard`), so a timeout that is
not applied fails the test instead of hanging it. Written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import orjson
import pytest

from tests.gateway.test_transport_pyreqwest import aio, call, raw_server, unanswered_port
from unhardcoded.errors import ProviderError
from unhardcoded.gateway.transport import AiohttpTransport, Timeouts

__all__ = ["aio"]  # the fixture, shared with the pyreqwest tests

FAST = Timeouts(connect_s=2.0, first_byte_s=5.0, idle_s=5.0, total_s=10.0)
T = TypeVar("T")


async def guard(aw: Awaitable[T]) -> T:
    """At most 4 s: every timeout under test is well below that."""
    return await asyncio.wait_for(aw, 4)


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport()
    yield t
    await t.close()


async def test_send_returns_status_body_and_lower_cased_headers(
    transport: AiohttpTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, _ = aio
    resp = await guard(transport.send(call(f"{base}/echo?a=1", b'{"q": 1}', {"X-Test": "yes"}), FAST))
    assert resp.status == 200
    assert resp.headers["x-request-id"] == "req-1"
    assert "X-Request-Id" not in resp.headers
    assert resp.headers["content-type"].startswith("application/json")
    assert orjson.loads(resp.body) == {
        "method": "POST",
        "path_qs": "/echo?a=1",
        "body": '{"q": 1}',
        "x-test": "yes",
    }
    again = await guard(transport.send(call(f"{base}/echo?status=429"), FAST))
    assert again.status == 429


async def test_one_pooled_session_until_closed(
    transport: AiohttpTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, _ = aio
    await guard(transport.send(call(f"{base}/echo"), FAST))
    session = transport._session
    assert session is not None
    await guard(transport.send(call(f"{base}/echo"), FAST))
    assert transport._session is session
    assert transport._connect_only(2.0) is transport._connect_only(2.0)
    tmo = transport._connect_only(1.5)
    assert (tmo.total, tmo.sock_connect) == (None, 1.5)
    await transport.close()
    assert transport._session is None and session.closed
    await transport.close()  # twice is harmless
    resp = await guard(transport.send(call(f"{base}/echo"), FAST))  # a new session after close
    assert resp.status == 200 and transport._session is not session


def test_the_session_keeps_the_pool_settings() -> None:
    async def run() -> None:
        t = AiohttpTransport(limit=7, keepalive_s=12.5)
        s = t._get()
        assert s.connector is not None and s.connector.limit == 7
        assert s.connector._keepalive_timeout == 12.5  # type: ignore[attr-defined]
        assert s.connector._cached_hosts._ttl == 300  # type: ignore[attr-defined]  # names re-resolved every 5 min
        assert s.auto_decompress is True
        assert "User-Agent" in s.skip_auto_headers
        await t.close()
        d = AiohttpTransport()
        assert d._get().connector.limit == 0  # type: ignore[union-attr]
        assert d._get().connector._keepalive_timeout == 30.0  # type: ignore[union-attr]
        await d.close()

    asyncio.run(run())


async def test_a_stream_arrives_chunk_by_chunk(
    transport: AiohttpTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, gates = aio
    handle = await guard(transport.open_stream(call(f"{base}/sse"), FAST))
    try:
        assert handle.status == 200 and handle.headers["content-type"] == "text/event-stream"
        chunks = handle.chunks()
        assert await guard(anext(chunks)) == b"data: one\n\n"
        gates["second"].set()
        rest = await guard(_rest(chunks))
        assert b"".join(rest) == b"data: two\n\n"
    finally:
        handle.close()


async def _rest(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


async def test_read_all_of_a_streamed_error(
    transport: AiohttpTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, _ = aio
    handle = await guard(transport.open_stream(call(f"{base}/echo?status=503"), FAST))
    assert handle.status == 503 and handle.headers["x-request-id"] == "req-1"
    body = orjson.loads(await guard(handle.read_all()))
    assert body["path_qs"] == "/echo?status=503"
    handle.close()


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


@pytest.mark.parametrize(
    "tmo",
    [
        Timeouts(connect_s=2.0, first_byte_s=0.2, idle_s=30.0, total_s=30.0),
        Timeouts(connect_s=2.0, first_byte_s=30.0, idle_s=30.0, total_s=0.2),  # the total is the smaller
    ],
    ids=["first-byte", "total"],
)
async def test_no_answer_times_out_at_the_first_byte_limit(
    transport: AiohttpTransport, tmo: Timeouts
) -> None:
    server, base = await raw_server(never_answers)
    try:
        for opener in (transport.send, transport.open_stream):
            with pytest.raises(ProviderError) as e:
                await guard(opener(call(base), tmo))
            assert (e.value.error_class, e.value.message) == ("timeout", "upstream timed out")
    finally:
        server.close()


async def test_the_total_covers_a_body_that_stalls_after_the_headers(transport: AiohttpTransport) -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(30)

    server, base = await raw_server(stalls)
    tmo = Timeouts(connect_s=2.0, first_byte_s=30.0, idle_s=30.0, total_s=0.3)
    try:
        with pytest.raises(ProviderError) as e:
            await guard(transport.send(call(base), tmo))
        assert e.value.error_class == "timeout"
    finally:
        server.close()


async def test_headers_in_time_then_the_body_within_the_total(transport: AiohttpTransport) -> None:
    async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(1.5)  # past the first-byte limit, well within the total
        writer.write(b"def")
        await writer.drain()

    server, base = await raw_server(slow_body)
    tmo = Timeouts(connect_s=2.0, first_byte_s=1.0, idle_s=30.0, total_s=3.5)
    try:
        resp = await guard(transport.send(call(base), tmo))
        assert (resp.status, resp.body) == (200, b"abcdef")
    finally:
        server.close()


async def test_idle_timeout_between_stream_chunks(transport: AiohttpTransport) -> None:
    async def one_chunk_then_silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n")
        await writer.drain()
        await asyncio.sleep(30)

    server, base = await raw_server(one_chunk_then_silence)
    tmo = Timeouts(connect_s=2.0, first_byte_s=30.0, idle_s=0.2, total_s=30.0)
    try:
        handle = await guard(transport.open_stream(call(base), tmo))
        chunks = handle.chunks()
        assert await guard(anext(chunks)) == b"data: "
        with pytest.raises(ProviderError) as e:
            await guard(anext(chunks))
        assert e.value.error_class == "timeout"
        handle.close()
        again = await guard(transport.open_stream(call(base), tmo))
        with pytest.raises(ProviderError) as e:  # read_all is bounded by the idle limit too
            await guard(again.read_all())
        assert e.value.error_class == "timeout"
        again.close()
    finally:
        server.close()


async def test_a_refused_connection_names_no_url(transport: AiohttpTransport) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        for opener in (transport.send, transport.open_stream):
            with pytest.raises(ProviderError) as e:
                await guard(opener(call(f"http://127.0.0.1:{port}/v1?key=sekrit"), FAST))
            assert e.value.error_class == "connection_error"
            assert e.value.message.startswith("cannot connect to upstream: ")
            assert "sekrit" not in e.value.message and "/v1" not in e.value.message  # host:port at most


async def test_a_truncated_body_is_a_bad_response(transport: AiohttpTransport) -> None:
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
        await writer.drain()

    server, base = await raw_server(truncated)
    try:
        with pytest.raises(ProviderError) as e:
            await guard(transport.send(call(base), FAST))
        assert e.value.error_class == "bad_response"
        handle = await guard(transport.open_stream(call(base), FAST))
        with pytest.raises(ProviderError) as e:
            await guard(handle.read_all())
        assert e.value.error_class == "bad_response"
        handle.close()
        handle = await guard(transport.open_stream(call(base), FAST))
        with pytest.raises(ProviderError) as e:
            await guard(_rest(handle.chunks()))
        assert e.value.error_class == "bad_response"
        handle.close()
    finally:
        server.close()


async def test_an_upstream_hanging_up_is_a_connection_error(transport: AiohttpTransport) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server, base = await raw_server(hang_up)
    try:
        for opener in (transport.send, transport.open_stream):
            with pytest.raises(ProviderError) as e:
                await guard(opener(call(base), FAST))
            assert e.value.error_class == "connection_error"
    finally:
        server.close()


async def test_the_connect_limit_applies_to_answers_and_streams(transport: AiohttpTransport) -> None:
    # The first-byte and total limits are far away, so only the connect limit can end the wait within `guard`.
    with unanswered_port() as port:
        tmo = Timeouts(connect_s=0.3, first_byte_s=30.0, idle_s=30.0, total_s=30.0)
        for opener in (transport.send, transport.open_stream):
            with pytest.raises(ProviderError) as e:
                await guard(opener(call(f"http://127.0.0.1:{port}/"), tmo))
            assert e.value.error_class == "timeout"


async def test_a_stream_request_carries_its_method_body_and_headers(
    transport: AiohttpTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, _ = aio
    handle = await guard(
        transport.open_stream(call(f"{base}/echo?s=1", b'{"stream": true}', {"X-Test": "t"}), FAST)
    )
    assert handle.status == 200 and handle.headers["x-request-id"] == "req-1"
    echoed = orjson.loads(await guard(handle.read_all()))
    assert echoed == {"method": "POST", "path_qs": "/echo?s=1", "body": '{"stream": true}', "x-test": "t"}
    handle.close()
