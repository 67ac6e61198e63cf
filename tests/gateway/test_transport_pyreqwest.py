"""ReqwestTransport against real local HTTP servers: answers, streams chunk by chunk, timeouts, errors."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import orjson
import pytest
from aiohttp import web

from unhardcoded.errors import ProviderError
from unhardcoded.gateway.transport import Timeouts
from unhardcoded.gateway.transport_pyreqwest import ReqwestTransport
from unhardcoded.providers.base import HttpCall

FAST = Timeouts(connect_s=2.0, first_byte_s=5.0, idle_s=5.0, total_s=10.0)
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def transport() -> AsyncIterator[ReqwestTransport]:
    t = ReqwestTransport()
    yield t
    await t.close()


@pytest.fixture
async def aio() -> AsyncIterator[tuple[str, dict[str, asyncio.Event]]]:
    """An aiohttp server: /echo answers what it got, /sse streams two events with a gate between them,
    /slow answers after a second."""
    gates = {"second": asyncio.Event(), "first_read": asyncio.Event()}

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        doc = {"method": request.method, "path_qs": request.path_qs, "body": body.decode()}
        doc["x-test"] = request.headers.get("X-Test")
        return web.Response(
            body=orjson.dumps(doc),
            status=int(request.query.get("status", "200")),
            content_type="application/json",
            headers={"X-Request-Id": "req-1"},
        )

    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: one\n\n")
        await gates["second"].wait()  # only after the client has seen the first event
        await resp.write(b"data: two\n\n")
        await resp.write_eof()
        return resp

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/slow", slow)
    app.router.add_post("/sse", sse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", gates
    gates["second"].set()
    await runner.cleanup()


async def raw_server(handler: RawHandler) -> tuple[asyncio.Server, str]:
    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def call(url: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> HttpCall:
    return HttpCall("POST", url, {"content-type": "application/json", **(headers or {})}, body)


async def test_send_returns_status_body_and_lower_cased_headers(
    transport: ReqwestTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, _ = aio
    resp = await transport.send(call(f"{base}/echo?a=1", b'{"q": 1}', {"X-Test": "yes"}), FAST)
    assert resp.status == 200
    assert resp.headers["x-request-id"] == "req-1"
    assert resp.headers["content-type"].startswith("application/json")
    assert orjson.loads(resp.body) == {
        "method": "POST",
        "path_qs": "/echo?a=1",
        "body": '{"q": 1}',
        "x-test": "yes",
    }
    again = await transport.send(call(f"{base}/echo?status=429"), FAST)  # an error status is an answer
    assert again.status == 429


async def test_stream_arrives_chunk_by_chunk(
    transport: ReqwestTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, gates = aio
    handle = await transport.open_stream(call(f"{base}/sse"), FAST)
    try:
        assert handle.status == 200 and handle.headers["content-type"] == "text/event-stream"
        chunks = handle.chunks()
        # The server holds the second event until this first one was read: a buffered client would hang here.
        assert await asyncio.wait_for(anext(chunks), 5) == b"data: one\n\n"
        gates["second"].set()
        rest = [c async for c in chunks]
        assert b"".join(rest) == b"data: two\n\n"
    finally:
        handle.close()


async def test_first_byte_timeout(transport: ReqwestTransport) -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    server, base = await raw_server(never_answers)
    tmo = Timeouts(connect_s=2.0, first_byte_s=0.2, idle_s=5.0, total_s=10.0)
    try:
        for opener in (transport.send, transport.open_stream):
            with pytest.raises(ProviderError) as e:
                await opener(call(base), tmo)
            assert e.value.error_class == "timeout"
    finally:
        server.close()


async def test_total_timeout_covers_a_body_that_stalls(transport: ReqwestTransport) -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(10)

    server, base = await raw_server(stalls)
    tmo = Timeouts(connect_s=2.0, first_byte_s=5.0, idle_s=5.0, total_s=0.3)
    try:
        with pytest.raises(ProviderError) as e:
            await transport.send(call(base), tmo)
        assert e.value.error_class == "timeout"
    finally:
        server.close()


async def test_a_body_stalling_past_the_first_byte_bound_times_out_before_the_total(
    transport: ReqwestTransport,
) -> None:
    """A complete answer's timers run in Rust: the first-byte bound is a per-read timeout, so it also ends a
    body that stalls longer than it, well before the total."""

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(10)

    server, base = await raw_server(stalls)
    loop = asyncio.get_running_loop()
    tmo = Timeouts(connect_s=2.0, first_byte_s=0.2, idle_s=30.0, total_s=30.0)
    try:
        t0 = loop.time()
        with pytest.raises(ProviderError) as e:
            await transport.send(call(base), tmo)
        assert e.value.error_class == "timeout"
        assert loop.time() - t0 < 9  # the server's 10 s stall, not the 30 s total, would end it otherwise
    finally:
        server.close()


async def test_idle_timeout_between_stream_chunks(transport: ReqwestTransport) -> None:
    async def one_chunk_then_silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n")
        await writer.drain()
        await asyncio.sleep(10)

    server, base = await raw_server(one_chunk_then_silence)
    tmo = Timeouts(connect_s=2.0, first_byte_s=5.0, idle_s=0.2, total_s=10.0)
    try:
        handle = await transport.open_stream(call(base), tmo)
        chunks = handle.chunks()
        assert await anext(chunks) == b"data: "
        with pytest.raises(ProviderError) as e:
            await anext(chunks)
        assert e.value.error_class == "timeout"
        handle.close()
    finally:
        server.close()


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A listening socket whose accept queue is full and never drained: the next SYN gets no answer, so
    only a connect limit can end a wait on it."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        port = lsock.getsockname()[1]
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            fillers.append(s)
        try:
            yield port
        finally:
            for s in fillers:
                s.close()


async def test_connect_timeout(transport: ReqwestTransport) -> None:
    with unanswered_port() as port:
        tmo = Timeouts(connect_s=0.3, first_byte_s=5.0, idle_s=5.0, total_s=10.0)
        with pytest.raises(ProviderError) as e:
            await transport.send(call(f"http://127.0.0.1:{port}/"), tmo)
        assert e.value.error_class == "timeout"


async def test_connection_refused_names_no_url(transport: ReqwestTransport) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(ProviderError) as e:
            await transport.send(call(f"http://127.0.0.1:{port}/v1?key=SECRET-KEY"), FAST)
    assert e.value.error_class == "connection_error"
    assert e.value.message == "cannot connect to upstream: refused"
    assert "SECRET" not in str(e.value)


async def test_truncated_body_is_a_bad_response(transport: ReqwestTransport) -> None:
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial')
        await writer.drain()

    server, base = await raw_server(truncated)
    try:
        with pytest.raises(ProviderError) as e:
            await transport.send(call(base), FAST)
        assert e.value.error_class == "bad_response"
        handle = await transport.open_stream(call(base), FAST)
        with pytest.raises(ProviderError) as e:
            async for _ in handle.chunks():
                pass
        assert e.value.error_class == "bad_response"
        handle.close()
    finally:
        server.close()


async def test_upstream_closing_without_an_answer_is_a_connection_error(transport: ReqwestTransport) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return

    server, base = await raw_server(hang_up)
    try:
        with pytest.raises(ProviderError) as e:
            await transport.send(call(base), FAST)
        assert e.value.error_class == "connection_error"
    finally:
        server.close()


async def test_a_garbled_answer_is_a_bad_response(transport: ReqwestTransport) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SPDY/9 what\r\n\r\n")
        await writer.drain()

    server, base = await raw_server(garbage)
    try:
        with pytest.raises(ProviderError) as e:
            await transport.send(call(base), FAST)
        assert e.value.error_class == "bad_response"
    finally:
        server.close()


async def test_read_all_of_an_error_stream_and_reuse_after_timeouts(
    transport: ReqwestTransport, aio: tuple[str, dict[str, asyncio.Event]]
) -> None:
    base, _ = aio
    handle = await transport.open_stream(call(f"{base}/echo?status=503"), FAST)
    assert handle.status == 503
    assert orjson.loads(await handle.read_all())["path_qs"] == "/echo?status=503"
    handle.close()
    # a cancelled request (timeout) leaves the pool usable
    tmo = Timeouts(connect_s=2.0, first_byte_s=0.05, idle_s=5.0, total_s=10.0)
    sse = await transport.open_stream(call(f"{base}/sse"), FAST)
    sse.close()  # closed before its end
    for opener in (transport.send, transport.open_stream, transport.send):
        with pytest.raises(ProviderError) as e:
            await opener(call(f"{base}/slow"), tmo)
        assert e.value.error_class == "timeout"
    assert (await transport.send(call(f"{base}/echo"), FAST)).status == 200
