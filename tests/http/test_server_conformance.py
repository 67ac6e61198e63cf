"""HTTP/1.1 conformance of the gateway's server (http/h1.py): a toy app on http/wire.py, raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest

from tests.http.rawhttp import RawConn, get, post
from unhardcoded.http import listener
from unhardcoded.http.wire import ClientDisconnected, Request, Response, Router

LIMITS = listener.Limits(max_header_bytes=4096, max_body_bytes=1024, read_timeout_s=0.5, keep_alive_s=30)


@dataclass
class State:
    write_failed: asyncio.Event = field(default_factory=asyncio.Event)
    saw_disconnect: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected_after: list[bool] = field(default_factory=list)


def toy_app(state: State) -> Router:
    r = Router()

    async def echo(req: Request) -> Response:
        return Response.json(
            {
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "body": req.body.decode(),
                "port": req.client[1] if req.client else None,
                "x-multi": req.headers.get("x-multi"),
            }
        )

    async def item(req: Request) -> Response:
        return Response.json({"params": req.params, "path": req.path})

    async def stream(req: Request) -> None:
        await req.sink.start({"content-type": "text/event-stream"})
        try:
            for i in range(10_000):
                await req.sink.write(b"data: %d\n\n" % i)
                await asyncio.sleep(0.005)
        except ClientDisconnected:
            state.write_failed.set()
            raise

    async def watch(req: Request) -> None:
        await req.sink.start({"content-type": "text/event-stream"})
        await req.sink.write(b"data: first\n\n")
        await req.wait_disconnected()
        state.saw_disconnect.set()

    async def slow(req: Request) -> Response:
        state.entered.set()
        await state.release.wait()
        state.disconnected_after.append(req.disconnected)
        state.finished.set()
        return Response.text("done")

    async def boom(req: Request) -> Response:
        raise RuntimeError("handler bug")

    async def boom_mid_stream(req: Request) -> None:
        await req.sink.write(b"data: one\n\n")
        raise RuntimeError("handler bug mid-stream")

    async def bad_header(req: Request) -> Response:
        return Response.text("x", headers={"x-evil": "a\r\nset-cookie: b"})

    async def big_stream(req: Request) -> None:
        await req.sink.start({"content-type": "application/octet-stream"})
        for _ in range(64):
            await req.sink.write(b"x" * 65536)

    r.post("/echo", echo)
    r.get("/echo", echo)
    r.get("/items/{id}", item)
    r.get("/stream", stream)
    r.get("/watch", watch)
    r.get("/slow", slow)
    r.get("/boom", boom)
    r.get("/boom-mid-stream", boom_mid_stream)
    r.get("/bad-header", bad_header)
    r.get("/big-stream", big_stream)
    return r


@dataclass
class Harness:
    server: listener.H1Server
    state: State
    opened: list[RawConn] = field(default_factory=list)

    async def connect(self) -> RawConn:
        conn = await RawConn.open(self.server.host, self.server.port)
        self.opened.append(conn)
        return conn


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    state = State()
    harness = Harness(await listener.start(toy_app(state), limits=LIMITS), state)
    yield harness
    state.release.set()
    for conn in harness.opened:
        conn.close()
    await harness.server.close(grace_s=2)


async def test_keep_alive_serves_several_requests_on_one_connection(h: Harness) -> None:
    conn = await h.connect()
    ports = set()
    for i in range(3):
        await conn.send(post("/echo", b'{"i": %d}' % i))
        resp = await conn.read_response()
        assert resp.status == 200
        doc = orjson.loads(resp.body)
        assert doc["body"] == f'{{"i": {i}}}'
        assert "connection" not in resp.headers
        ports.add(doc["port"])
    assert len(ports) == 1
    conn.close()


async def test_pipelined_requests_are_answered_in_order(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(b"".join(post("/echo", b"%d" % i) for i in range(5)) + get("/items/last"))
    bodies = [orjson.loads((await conn.read_response()).body) for _ in range(6)]
    assert [b["body"] for b in bodies[:5]] == ["0", "1", "2", "3", "4"]
    assert bodies[5]["params"] == {"id": "last"}
    conn.close()


async def test_chunked_request_body_is_reassembled(h: Harness) -> None:
    conn = await h.connect()
    head = b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
    await conn.send(head + b"5\r\nhello\r\n")
    await conn.send(b"6;ext=1\r\n world\r\n0\r\n\r\n")
    resp = await conn.read_response()
    assert orjson.loads(resp.body)["body"] == "hello world"
    conn.close()


async def test_expect_100_continue_is_answered_before_the_body(h: Harness) -> None:
    conn = await h.connect()
    body = b'{"a": 1}'
    await conn.send(
        b"POST /echo HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    interim = await conn.read_response()
    assert interim.status == 100
    await conn.send(body)
    resp = await conn.read_response()
    assert resp.status == 200 and orjson.loads(resp.body)["body"] == body.decode()
    conn.close()


async def test_expect_100_continue_with_too_large_body_gets_413_without_continue(
    h: Harness,
) -> None:
    conn = await h.connect()
    await conn.send(b"POST /echo HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5000\r\n\r\n")
    resp = await conn.read_response()
    assert resp.status == 413
    assert resp.headers["connection"] == "close"
    assert await conn.at_eof()


async def still_up(server: listener.H1Server) -> None:
    conn = await RawConn.open(server.host, server.port)
    try:
        await conn.send(get("/echo"))
        assert (await conn.read_response()).status == 200
    finally:
        conn.close()


async def test_oversize_headers_get_431_and_the_server_stays_up(h: Harness) -> None:
    server = h.server
    conn = await h.connect()
    await conn.send(get("/echo", "x-big: " + "a" * 5000 + "\r\n"))
    resp = await conn.read_response()
    assert resp.status == 431
    assert orjson.loads(resp.body)["error"]["type"] == "invalid_request_error"
    assert await conn.at_eof()
    await still_up(server)


async def test_many_small_headers_over_the_limit_get_431(h: Harness) -> None:
    server = h.server
    conn = await h.connect()
    await conn.send(get("/echo", "".join(f"x-h{i}: {'v' * 40}\r\n" for i in range(200))))
    assert (await conn.read_response()).status == 431
    await still_up(server)


async def test_oversize_body_gets_413_and_the_server_stays_up(h: Harness) -> None:
    server = h.server
    conn = await h.connect()
    await conn.send(post("/echo", b"x" * 2000))
    resp = await conn.read_response()
    assert resp.status == 413
    assert await conn.at_eof()
    await still_up(server)


async def test_oversize_chunked_body_gets_413(h: Harness) -> None:
    server = h.server
    conn = await h.connect()
    await conn.send(b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
    for _ in range(3):
        await conn.send(b"200\r\n" + b"y" * 512 + b"\r\n")
    resp = await conn.read_response()
    assert resp.status == 413
    assert await conn.at_eof()
    await still_up(server)


async def test_a_slow_client_sending_byte_by_byte_is_served(h: Harness) -> None:
    conn = await h.connect()
    for byte in post("/echo?slow=1", b'{"slowly": true}'):
        await conn.send(bytes([byte]))
        await asyncio.sleep(0.002)
    resp = await conn.read_response()
    doc = orjson.loads(resp.body)
    assert doc["body"] == '{"slowly": true}' and doc["query"] == "slow=1"
    conn.close()


async def test_a_stalled_request_gets_408_and_is_closed(h: Harness) -> None:
    server = h.server
    conn = await h.connect()
    await conn.send(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\nabc")
    resp = await conn.read_response()  # read_timeout_s is 0.5 s; the reader waits up to 5 s
    assert resp.status == 408
    assert await conn.at_eof()
    await still_up(server)


async def test_a_request_head_dribbled_past_its_deadline_gets_408() -> None:
    limits = listener.Limits(read_timeout_s=30, head_timeout_s=0.3)
    server = await listener.start(toy_app(State()), limits=limits)
    conn = await RawConn.open(server.host, server.port)
    try:
        await conn.send(b"GET /echo HTTP/1.1\r\nx-slow: ")
        answered = asyncio.create_task(conn.read_response())
        for _ in range(600):  # one byte every 10 ms, never silent for long: only the head deadline ends it
            if answered.done():
                break
            with contextlib.suppress(ConnectionError):  # the server may close between two bytes
                await conn.send(b"a")
            await asyncio.sleep(0.01)
        resp = await answered
        assert resp.status == 408
        assert await conn.at_eof()
    finally:
        conn.close()
        await server.close()


async def test_idle_keep_alive_connection_is_closed() -> None:
    server = await listener.start(toy_app(State()), limits=listener.Limits(keep_alive_s=0.2))
    try:
        conn = await RawConn.open(server.host, server.port)
        await conn.send(get("/echo"))
        assert (await conn.read_response()).status == 200
        assert await conn.at_eof()
        conn.close()
    finally:
        await server.close()


async def test_client_disconnect_mid_stream_reaches_the_handler(h: Harness) -> None:
    state = h.state
    conn = await h.connect()
    await conn.send(get("/stream"))
    status, headers = await conn.read_head()
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert await conn.read_chunk() == b"data: 0\n\n"
    assert await conn.read_chunk() == b"data: 1\n\n"  # chunk by chunk, as written
    conn.close()
    await asyncio.wait_for(state.write_failed.wait(), 5)


async def test_handler_can_wait_for_the_disconnect(h: Harness) -> None:
    state = h.state
    conn = await h.connect()
    await conn.send(get("/watch"))
    await conn.read_head()
    assert await conn.read_chunk() == b"data: first\n\n"
    conn.close()
    await asyncio.wait_for(state.saw_disconnect.wait(), 5)


async def test_a_handler_is_not_cancelled_when_the_client_leaves(h: Harness) -> None:
    state = h.state
    conn = await h.connect()
    await conn.send(get("/slow"))
    await asyncio.wait_for(state.entered.wait(), 5)
    conn.close()
    await asyncio.sleep(0.05)  # let the server see the close
    state.release.set()
    await asyncio.wait_for(state.finished.wait(), 5)
    assert state.disconnected_after == [True]


async def test_connection_close_is_honoured(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(get("/echo", "connection: close\r\n") + get("/echo"))
    resp = await conn.read_response()
    assert resp.status == 200 and resp.headers["connection"] == "close"
    assert await conn.at_eof()  # the second request is not answered


async def test_http_1_0_without_keep_alive_is_closed_and_streams_unchunked(
    h: Harness,
) -> None:
    conn = await h.connect()
    await conn.send(b"GET /boom-mid-stream HTTP/1.0\r\n\r\n")
    status, headers = await conn.read_head()
    assert status == 200 and "transfer-encoding" not in headers
    conn.close()
    conn = await h.connect()
    await conn.send(b"GET /echo HTTP/1.0\r\n\r\n")
    resp = await conn.read_response()
    assert resp.status == 200 and resp.headers["connection"] == "close"
    assert await conn.at_eof()


async def test_malformed_request_gets_400_and_close(h: Harness) -> None:
    server = h.server
    conn = await h.connect()
    await conn.send(b"NOT HTTP AT ALL\r\n\r\n")
    assert (await conn.read_response()).status == 400
    assert await conn.at_eof()
    conn = await h.connect()  # both framings at once: a smuggling attempt
    await conn.send(
        b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    await conn.send(b"0\r\n\r\n")
    assert (await conn.read_response()).status == 400
    await still_up(server)


async def test_handler_error_gets_500_and_the_connection_stays_usable(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(get("/boom"))
    resp = await conn.read_response()
    assert resp.status == 500 and orjson.loads(resp.body)["error"]["type"] == "server_error"
    await conn.send(get("/echo"))
    assert (await conn.read_response()).status == 200
    conn.close()


async def test_handler_error_mid_stream_cuts_the_connection(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(get("/boom-mid-stream"))
    await conn.read_head()
    assert await conn.read_chunk() == b"data: one\n\n"
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await conn.read_chunk()  # no terminating chunk: the client can tell the stream was cut


async def test_crlf_in_a_response_header_is_refused(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(get("/bad-header"))
    resp = await conn.read_response()
    assert resp.status == 500 and "set-cookie" not in resp.headers
    conn.close()


async def test_a_large_stream_to_a_slow_reader_arrives_whole(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(get("/big-stream"))
    await asyncio.sleep(0.2)  # the server fills the socket buffers and must wait (pause_writing)
    resp = await conn.read_response()
    assert len(resp.body) == 64 * 65536
    conn.close()


async def test_raw_path_is_kept_and_params_are_decoded(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(get("/items/a%2Fb%20c?x=%2F"))
    doc = orjson.loads((await conn.read_response()).body)
    assert doc == {"params": {"id": "a/b c"}, "path": "/items/a%2Fb%20c"}
    await conn.send(get("/echo/../items/x", "x-multi: 1\r\nx-multi: 2\r\n"))
    assert (await conn.read_response()).status == 404  # no normalisation of the raw path
    await conn.send(get("/echo", "x-multi: 1\r\nx-multi: 2\r\n"))
    assert orjson.loads((await conn.read_response()).body)["x-multi"] == "1, 2"
    conn.close()


async def test_unknown_method_gets_405_with_allow(h: Harness) -> None:
    conn = await h.connect()
    await conn.send(b"DELETE /echo HTTP/1.1\r\nhost: t\r\n\r\n")
    resp = await conn.read_response()
    assert resp.status == 405 and resp.headers["allow"] == "GET, POST"
    await conn.send(b"HEAD /echo HTTP/1.1\r\nhost: t\r\n\r\n")
    status, headers = await conn.read_head()  # HEAD: headers only, even on an error
    assert status == 405 and int(headers["content-length"]) > 0
    await conn.send(get("/echo"))
    assert (await conn.read_response()).status == 200  # so no stray body came before this answer
    conn.close()


async def test_close_lets_an_answer_in_progress_finish(h: Harness) -> None:
    server, state = h.server, h.state
    conn = await h.connect()
    await conn.send(get("/slow"))
    await asyncio.wait_for(state.entered.wait(), 5)
    closing = asyncio.create_task(server.close(grace_s=5))
    await asyncio.sleep(0.05)
    with pytest.raises(OSError):
        h.opened.append(await RawConn.open(server.host, server.port))  # no longer accepting
    state.release.set()
    resp = await conn.read_response()
    assert resp.status == 200 and resp.body == b"done" and resp.headers["connection"] == "close"
    await closing


async def test_two_servers_share_a_port_with_reuse_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = await listener.start(toy_app(State()), port=port, reuse_port=True)
    b = await listener.start(toy_app(State()), port=port, reuse_port=True)
    try:
        assert a.port == b.port == port
        await still_up(a)
        await a.close()
        await still_up(b)  # the port is still served by the other one
    finally:
        await b.close()
