"""What a call leaves behind, field by field: the receipt's attempts and outcome, the headers, the stream the
client reads and the error it gets, for answers, failures, streams cut by either side and spent budgets.

Each test reads only what a user sees (the receipt, the bytes, the exception). Written from the survivors of
`make mutation` on `gateway/call.py` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway.scripted import Answer, Rig, attempts
from unhardcoded.errors import BudgetExceeded, CallFailed, NoRouteError, ProviderError
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.providers.sse import DONE

MSG1 = [{"role": "user", "content": "hi"}]
ONLY_A1 = {"rules": [{"field": "id", "op": "==", "value": "a/one"}]}


def plan(n: int = 4) -> dict[str, Any]:
    return {"select": {"max_candidates": n}, "fallback": {"max_attempts": 4}}


def sse(doc: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def content(text: str, **extra: Any) -> bytes:
    c = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m-up"}
    return sse(c | {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]} | extra)


def stop() -> bytes:
    c = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m-up"}
    return sse(c | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})


USAGE_ONLY = sse(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m-up",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
    }
)


class Sink:
    """The HTTP stream as a test sees it; `gw` lets it read the store the moment `[DONE]` arrives."""

    def __init__(
        self, rig: Rig | None = None, *, write_fails_at: int | None = None, fail: Any = None
    ) -> None:
        self.rig = rig
        self.starts: list[dict[str, str]] = []
        self.writes: list[bytes] = []
        self.failed: tuple[str, str] | None = None
        self.receipt_at_done: Any = "not read"
        self._write_fails_at = write_fails_at
        self._fail = fail

    @property
    def data(self) -> bytes:
        """What the client parses: the SSE events, without comment lines (the receipt's `: x-unhardcoded`)."""
        return b"".join(w for w in self.writes if not w.startswith(b":"))

    async def start(self, headers: dict[str, str]) -> None:
        self.starts.append(dict(headers))

    async def write(self, data: bytes) -> None:
        if self._write_fails_at is not None and len(self.writes) == self._write_fails_at:
            raise ConnectionError("client went away")
        if data == DONE and self.rig is not None:
            self.receipt_at_done = await self.rig.gw.receipt(self.starts[0]["x-unhardcoded-request-id"])
        self.writes.append(data)

    async def fail(self, error_class: str, message: str) -> None:
        self.failed = (error_class, message)
        if self._fail is not None:
            raise self._fail


def stream_request(policy: Any = None, **body: Any) -> ChatRequest:
    doc: dict[str, Any] = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    doc["policy"] = policy if policy is not None else plan()
    return ChatRequest.parse(doc | body, {})


def calls_by_status(rig: Rig) -> dict[str, str]:
    """`unhardcoded_calls_total` per status, from the metrics text."""
    out = {}
    for line in rig.gw.metrics_text().splitlines():
        if line.startswith("unhardcoded_calls_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('status="')[1].split('"')[0]] = value
    return out


async def receipt_of(rig: Rig, sink: Sink) -> dict[str, Any]:
    r = await rig.gw.receipt(sink.starts[0]["x-unhardcoded-request-id"])
    assert r is not None
    return r


def is_ms(v: Any) -> bool:
    """A measured duration as receipts keep it: a non-negative float rounded to the microsecond."""
    return isinstance(v, float) and v >= 0 and round(v, 3) == v


# -- a complete answer -----------------------------------------------------------------------------------


async def test_an_answer_after_a_fallback_is_recorded_field_by_field(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        reply = await rig.gw.chat(
            ChatRequest.parse(
                {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "policy": plan()}, {}
            )
        )
        r = await rig.gw.receipt(reply.headers["x-unhardcoded-request-id"])
    assert r is not None
    assert reply.status == 200 and orjson.loads(reply.body)["choices"][0]["message"]["content"] == "hi"
    assert reply.headers["x-unhardcoded-deployment"] == "a/two"
    failed, ok = r["attempts"]
    assert (failed["provider"], failed["http_status"], failed["ttft_ms"]) == ("a", 503, None)
    assert (ok["deployment"], ok["provider"], ok["http_status"], ok["error"], ok["ttft_ms"]) == (
        "a/two",
        "a",
        200,
        None,
        None,
    )
    assert is_ms(failed["latency_ms"]) and is_ms(ok["latency_ms"])
    out = r["outcome"]
    assert (out["model"], out["finish_reason"], out["ttft_ms"]) == ("m", "stop", None)
    assert out["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert is_ms(out["latency_ms"]) and out["latency_ms"] >= ok["latency_ms"]
    assert out["baseline"]["deployment"] == "c/four"


async def test_a_success_closes_the_count_of_failures_toward_the_breaker(tmp_path: Path) -> None:
    # The rig's breaker opens after 2 failures in a row: fail, succeed, fail leaves it closed.
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        assert (await rig.call(ONLY_A1))[0] == 502
        assert (await rig.call(ONLY_A1))[0] == 200
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        assert (await rig.call(ONLY_A1))[0] == 502
        code, r = await rig.call(plan())  # with the circuit open, a/one would be skipped for a/two
    assert code == 200 and attempts(r) == [("a/one", None, False)]


# -- failures --------------------------------------------------------------------------------------------


async def test_when_all_attempts_fail_the_error_says_how_many_and_the_last(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=500, body=b"{}"))
        with pytest.raises(CallFailed) as e:
            await rig.gw.chat(
                ChatRequest.parse(
                    {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "policy": plan(2)}, {}
                )
            )
        r = await rig.gw.receipt(e.value.request_id)
    assert r is not None
    expected = (
        "all 2 attempt(s) failed; last: server_error: upstream answered 500: HTTP 500 with no error message"
    )
    assert e.value.message == expected
    assert e.value.headers["x-unhardcoded-request-id"] == e.value.request_id
    out = r["outcome"]
    assert out["error"] == {"error_class": "server_error", "message": expected}
    assert out["deployment"] is None and out["ttft_ms"] is None and is_ms(out["latency_ms"])
    assert out["baseline"] == {"deployment": "c/four", "cost_usd": None}


async def test_no_route_keeps_the_baseline_and_a_latency(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        code, r = await rig.call({"rules": [{"field": "id", "op": "==", "value": "nobody"}]})
    assert code == 422
    assert r["outcome"]["baseline"]["deployment"] == "c/four"
    assert is_ms(r["outcome"]["latency_ms"]) and r["outcome"]["deployment"] is None


# -- streams ---------------------------------------------------------------------------------------------


async def test_a_stream_is_forwarded_whole_and_done_comes_after_the_receipt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("hel"), content("lo"), stop(), DONE]))
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert sink.data == content("hel") + content("lo") + stop() + DONE
    assert sink.writes[-1] == DONE and sink.data.count(DONE) == 1
    assert len(sink.starts) == 1 and sink.starts[0]["x-unhardcoded-deployment"] == "a/one"
    assert sink.starts[0]["x-unhardcoded-receipt"] == "pending"  # the proof follows in-stream, before [DONE]
    assert sink.receipt_at_done is not None and sink.receipt_at_done["status"] == "ok"
    (a,) = r["attempts"]
    assert a["http_status"] == 200 and is_ms(a["ttft_ms"]) and 0 < a["ttft_ms"] <= a["latency_ms"]
    assert r["outcome"]["finish_reason"] == "stop" and r["outcome"]["model"] == "m-up"


async def test_after_a_fallback_the_calls_ttft_counts_the_failed_attempt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(chunks=[content("x"), stop(), DONE]))
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert attempts(r) == [("a/one", "server_error", True), ("a/two", None, False)]
    assert r["attempts"][0]["ttft_ms"] is None
    attempt_ttft, call_ttft = r["attempts"][1]["ttft_ms"], r["outcome"]["ttft_ms"]
    assert is_ms(attempt_ttft) and is_ms(call_ttft) and call_ttft > attempt_ttft


async def test_a_stream_with_nothing_before_its_end_starts_with_the_deployment_header(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[USAGE_ONLY, DONE]))
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(stream_options={"include_usage": True}), sink)
        r = await receipt_of(rig, sink)
    assert len(sink.starts) == 1 and sink.starts[0]["x-unhardcoded-deployment"] == "a/one"
    assert sink.data == USAGE_ONLY + DONE
    assert r["outcome"]["usage"]["input_tokens"] == 7 and r["outcome"]["ttft_ms"] is None


async def test_the_usage_chunk_reaches_only_a_client_that_asked_for_it(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        for ask in (True, False):
            rig.transport.push("a", Answer(chunks=[content("x"), stop(), USAGE_ONLY, DONE]))
            sink = Sink(rig)
            await rig.gw.chat_stream(stream_request(stream_options={"include_usage": ask}), sink)
            assert (USAGE_ONLY in sink.data) is ask


async def test_a_usage_carried_on_a_content_chunk_is_given_the_calls_request_id(tmp_path: Path) -> None:
    # No `id` on the upstream chunks: the usage chunk the gateway writes carries the gateway's request id.
    plain = {"object": "chat.completion.chunk", "model": "m-up"}
    chunks = [
        sse(
            plain
            | {
                "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1},
            }
        ),
        DONE,
    ]
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=chunks))
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(stream_options={"include_usage": True}), sink)
    (last,) = [w for w in sink.writes if b'"choices":[]' in w]
    usage_chunk = orjson.loads(last.removeprefix(b"data: "))
    assert usage_chunk["id"] == sink.starts[0]["x-unhardcoded-request-id"]


async def test_a_stream_failing_after_its_first_byte_tells_the_client_and_the_receipt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push(
            "a",
            Answer(
                chunks=[content("hel")],
                raises_after_chunks=ProviderError("connection_error", "reset by peer"),
            ),
        )
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    message = "the stream failed after it started: connection_error: reset by peer"
    assert sink.failed == ("connection_error", message)
    out = r["outcome"]
    assert r["status"] == "partial" and out["error"] == {
        "error_class": "connection_error",
        "message": message,
    }
    assert out["deployment"] == "a/one" and is_ms(out["ttft_ms"]) and is_ms(out["latency_ms"])
    assert out["baseline"]["deployment"] == "c/four"


@pytest.mark.parametrize("raised", [ConnectionError("gone"), asyncio.CancelledError()])
async def test_a_client_leaving_while_told_of_a_failure_keeps_the_partial_receipt(
    tmp_path: Path, raised: BaseException
) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push(
            "a",
            Answer(chunks=[content("hel")], raises_after_chunks=ProviderError("connection_error", "reset")),
        )
        sink = Sink(rig, fail=raised)
        if isinstance(raised, ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)  # nobody left to tell: not an error
        else:
            with pytest.raises(asyncio.CancelledError):
                await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
        calls = calls_by_status(rig)
    assert r["status"] == "partial" and r["outcome"]["error"]["error_class"] == "connection_error"
    assert calls == {"partial": "1"}  # recorded once: the client leaving does not record the call again


async def test_a_client_leaving_mid_stream_is_recorded_as_client_closed(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("hel"), content("lo"), stop(), DONE]))
        sink = Sink(rig, write_fails_at=1)
        with pytest.raises(ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert r["status"] == "partial"
    assert r["outcome"]["error"] == {
        "error_class": "client_closed",
        "message": "the client closed the stream",
    }


async def test_a_client_leaving_after_a_fallback_keeps_the_failed_attempt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push(
            "a", Answer(status=503, body=b"{}"), Answer(chunks=[content("hel"), content("lo"), stop(), DONE])
        )
        sink = Sink(rig, write_fails_at=1)
        with pytest.raises(ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert r["status"] == "partial" and r["outcome"]["error"]["error_class"] == "client_closed"
    assert attempts(r)[0] == ("a/one", "server_error", True)


@pytest.mark.parametrize("fallback", [False, True])
async def test_a_client_leaving_mid_stream_names_the_deployment_that_was_streaming(
    tmp_path: Path, fallback: bool
) -> None:
    async with Rig(tmp_path) as rig:
        if fallback:
            rig.transport.push("a", Answer(status=503, body=b"{}"))
        rig.transport.push("a", Answer(chunks=[content("hel"), content("lo"), stop(), DONE]))
        sink = Sink(rig, write_fails_at=1)
        with pytest.raises(ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    serving = sink.starts[0]["x-unhardcoded-deployment"]
    assert r["outcome"]["deployment"] == serving == r["attempts"][-1]["deployment"]
    assert r["attempts"][-1]["error_class"] is None or r["attempts"][-1]["ttft_ms"] is not None


async def test_a_client_leaving_at_done_leaves_the_receipt_ok(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("hel"), stop(), DONE]))
        sink = Sink(rig, write_fails_at=3)  # content, stop, then [DONE]
        with pytest.raises(ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
        calls = calls_by_status(rig)
    assert r["status"] == "ok" and r["outcome"]["error"] is None
    assert calls == {"ok": "1"}  # recorded once, as answered


async def test_a_stream_that_outlives_the_call_budget_is_a_timeout(tmp_path: Path) -> None:
    async with Rig(tmp_path, call_timeout_s=0.2) as rig:
        rig.transport.push("a", Answer(chunks=[content("x"), stop(), DONE], delay_s=0.5))
        with pytest.raises(CallFailed) as e:
            await rig.gw.chat_stream(stream_request(ONLY_A1), Sink(rig))
        r = await rig.gw.receipt(e.value.request_id)
    assert r is not None
    assert [(a["error_class"], a["error"]) for a in r["attempts"]] == [
        ("timeout", "the call's total budget ran out")
    ]
    assert e.value.message == "all 1 attempt(s) failed; last: timeout: the call's total budget ran out"


# -- what the walk records on each attempt -----------------------------------------------------------------

ANTHROPIC_A = {
    "providers": {
        "a": {"kind": "anthropic", "base_url": "http://a.test", "api_key_env": "A_KEY"},
        "b": {"kind": "openai", "base_url": "http://b.test/v1", "api_key_env": "B_KEY"},
        "c": {"kind": "openai", "base_url": "http://c.test/v1", "api_key_env": "C_KEY"},
    }
}
ANTHROPIC_ANSWER = orjson.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}],
        "model": "claude-up",
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
)


async def test_adapter_warnings_are_kept_on_failed_and_answering_attempts(tmp_path: Path) -> None:
    async with Rig(tmp_path, **ANTHROPIC_A) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(body=ANTHROPIC_ANSWER))
        code, r = await rig.call(plan(), seed=7)
    assert code == 200
    failed, ok = r["attempts"]
    assert failed["error_class"] == "server_error" and any("seed" in w for w in failed["warnings"])
    assert ok["warnings"] == failed["warnings"] and r["warnings"] == ok["warnings"]


async def test_an_answer_warning_joins_the_receipts_warnings(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:  # a stream without usage: the gateway says so on the receipt
        rig.transport.push("a", Answer(chunks=[content("x"), stop(), DONE]))
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert r["warnings"] == ["the provider reported no token usage for this stream"]


async def test_a_stream_is_asked_of_the_upstream_as_a_stream(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("x"), stop(), DONE]))
        await rig.gw.chat_stream(stream_request(), Sink(rig))
        await rig.call(plan())
    (_, _, streamed), (_, _, plain) = rig.transport.seen
    assert streamed["stream"] is True and "stream" not in plain


async def test_a_long_upstream_error_is_cut_to_500_characters_on_the_receipt(tmp_path: Path) -> None:
    long = "x" * 2000
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(raises=ProviderError("server_error", long)))
        _, r = await rig.call(ONLY_A1)
    assert r["attempts"][0]["error"] == "x" * 500


async def test_an_attempt_after_a_retry_after_wait_says_how_long_it_waited(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        limited = Answer(status=429, body=b"{}", headers={"retry-after": "0.01"})
        rig.transport.push("a", limited, limited)
        _, r = await rig.call(ONLY_A1)
    assert [a["waited_s"] for a in r["attempts"]] == [None, 0.01, 0.01]
    assert [a["error_class"] for a in r["attempts"]] == ["rate_limited", "rate_limited", None]


async def test_a_failed_attempt_after_the_first_byte_has_its_own_ttft(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push(
            "a",
            Answer(chunks=[content("hel")], raises_after_chunks=ProviderError("connection_error", "reset")),
        )
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    (a,) = r["attempts"]
    assert is_ms(a["ttft_ms"]) and a["ttft_ms"] < r["outcome"]["ttft_ms"]


async def test_the_open_circuit_says_why_it_opened(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:  # two failures open a circuit in this rig
        rig.transport.push(
            "a", Answer(status=503, body=b"{}"), Answer(raises=ProviderError("timeout", "slow"))
        )
        await rig.call(ONLY_A1)
        await rig.call(ONLY_A1)
        rules = {r.id: r for r in rig.gw.runtime(time.time()).rules}
    assert dict(rules["rt:circuit-open"].excluded) == {"a/one": "2 consecutive failures, last: timeout"}


async def test_retry_after_keeps_the_deployment_that_asked_out_of_the_next_calls(tmp_path: Path) -> None:
    async with Rig(tmp_path, call_timeout_s=1) as rig:
        rig.transport.push("a", Answer(status=429, body=b"{}", headers={"retry-after": "30"}))
        await rig.call(ONLY_A1)
        rules = {r.id: r for r in rig.gw.runtime(time.time()).rules}
        code, r = await rig.call(plan())
    assert dict(rules["rt:circuit-open"].excluded) == {"a/one": "Retry-After 30s"}
    assert code == 200 and attempts(r) == [("a/two", None, False)]


# -- calls that never reach a provider -----------------------------------------------------------------------


async def test_no_route_says_why_on_the_receipt_and_to_the_client(tmp_path: Path) -> None:
    nobody = {"rules": [{"id": "nope", "field": "id", "op": "==", "value": "nobody"}]}
    async with Rig(tmp_path) as rig:
        with pytest.raises(NoRouteError) as e:
            await rig.gw.chat(ChatRequest.parse({"model": "auto", "messages": MSG1, "policy": nobody}, {}))
        r = await rig.gw.receipt(e.value.request_id)
    assert r is not None
    error = r["outcome"]["error"]
    assert error["error_class"] == "no_route" and "nope" in error["message"]
    assert e.value.message == (
        f"no deployment passed the policy: {error['message']}. "
        f"GET /x/receipts/{e.value.request_id} shows every candidate."
    )
    assert e.value.headers["x-unhardcoded-request-id"] == e.value.request_id


async def test_a_spent_cap_says_which_on_the_receipt_and_to_the_client(tmp_path: Path) -> None:
    cap = {"id": "daily", "usd": 1e-9, "period": "day"}
    async with Rig(tmp_path, budgets=[cap]) as rig:
        await rig.call({"on_budget": "reject"}, max_tokens=5)
        with pytest.raises(BudgetExceeded) as e:
            await rig.gw.chat(
                ChatRequest.parse(
                    {"model": "auto", "messages": MSG1, "max_tokens": 5, "policy": {"on_budget": "reject"}},
                    {},
                )
            )
        r = await rig.gw.receipt(e.value.request_id)
    assert r is not None
    error = r["outcome"]["error"]
    assert error["error_class"] == "budget_exceeded" and error["message"].startswith(
        "spend cap 'daily' reached: "
    )
    assert e.value.budget == "daily"
    assert e.value.message == f"{error['message']}. GET /x/budgets shows every cap and what is left."
    assert e.value.headers["x-unhardcoded-request-id"] == e.value.request_id


async def test_a_client_leaving_while_the_tail_is_written_is_partial(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("hel"), stop(), DONE]))
        sink = Sink(rig, write_fails_at=2)  # content, stop, then the tail the translator held back
        with pytest.raises(ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert r["status"] == "partial" and r["outcome"]["error"]["error_class"] == "client_closed"
    assert r["outcome"]["deployment"] == "a/one"


async def test_a_client_leaving_during_a_retry_after_wait_still_gets_a_receipt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=429, body=b"{}", headers={"retry-after": "5"}))
        sink = Sink(rig)
        task = asyncio.create_task(rig.gw.chat_stream(stream_request(ONLY_A1), sink))
        while not rig.transport.seen:  # the first attempt ran and failed: the call now waits 5 s
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (row,) = await rig.gw.search()
        r = await rig.gw.receipt(row["request_id"])
    assert r is not None and r["status"] == "partial"
    assert r["outcome"]["error"]["error_class"] == "client_closed"
    assert [a["error_class"] for a in r["attempts"]] == ["rate_limited"]


async def test_the_attempt_a_client_cut_short_is_on_the_receipt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("hel"), content("lo"), stop(), DONE]))
        sink = Sink(rig, write_fails_at=1)
        t0 = time.perf_counter()
        with pytest.raises(ConnectionError):
            await rig.gw.chat_stream(stream_request(), sink)
        outer_ms = (time.perf_counter() - t0) * 1000
        r = await receipt_of(rig, sink)
    (a,) = r["attempts"]
    assert (a["deployment"], a["provider"], a["error_class"], a["error"]) == (
        "a/one",
        "a",
        "client_closed",
        "the client closed the stream",
    )
    assert is_ms(a["latency_ms"]) and is_ms(a["ttft_ms"]) and a["ttft_ms"] <= a["latency_ms"] <= outer_ms


async def test_a_client_leaving_before_the_first_byte_leaves_an_attempt_without_ttft(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("x"), stop(), DONE], delay_s=5))
        sink = Sink(rig)
        task = asyncio.create_task(rig.gw.chat_stream(stream_request(ONLY_A1), sink))
        while not rig.transport.seen:  # the attempt is under way: the upstream answers in 5 s
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (row,) = await rig.gw.search()
        r = await rig.gw.receipt(row["request_id"])
    assert r is not None and r["outcome"]["error"]["error_class"] == "client_closed"
    (a,) = r["attempts"]
    assert (a["error_class"], a["ttft_ms"]) == ("client_closed", None) and is_ms(a["latency_ms"])
