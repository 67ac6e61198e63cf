"""Every upstream fault of issue 10 item 2, against real fakes on 127.0.0.1 and the fault relay: each ends in
the documented fallback (README "How calls fall back") or an OpenAI-shaped error, with a true receipt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.faults.conftest import sdk
from tests.faults.harness import ALPHA_ONLY, Q60, FaultHarness
from unhardcoded.testing.relay import Fault, stalled_port
from unhardcoded.testing.script import Step

TWO = {**Q60, "select": {"max_candidates": 2}}  # alpha/mid, beta/mid2 (beta/top would be third)
FALLBACK_ON_ALL = {"on": ["rate_limited", "server_error", "timeout", "connection_error", "bad_response"]}


# No timing assertions: a timer under test is 0.3-0.5 s and every other one 30 s, so "which one fired" is
# told apart by a bound (15 s) that no loaded machine comes near.
LONG = {"first_byte_timeout_s": 30, "idle_timeout_s": 30, "timeout_s": 30}


@pytest.fixture
def fh_long(tmp_path: Path) -> Iterator[FaultHarness]:
    """Only the timer a test names is short (0.5 s); the attempt's and the call's totals are 30-40 s."""
    h = FaultHarness.start_faulty(tmp_path, timeouts={"timeout_s": 30}, config={"call_timeout_s": 40})
    yield h
    h.stop()


def chat(h: FaultHarness, policy: dict[str, Any] = Q60, *, stream: bool = False, text: str = "hi") -> Any:
    return sdk(h).chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": text}],
        extra_body={"policy": policy},
        stream=stream,
    )


def streamed_text(raw: Any) -> str:
    return "".join((c.choices[0].delta.content or "") for c in raw.parse() if c.choices)


def attempts(r: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    return [(a["deployment"], a["error_class"], a["fell_back"]) for a in r["attempts"]]


def fell_back_to_beta(h: FaultHarness, raw: Any, error_class: str) -> dict[str, Any]:
    assert raw.headers["x-unhardcoded-deployment"] == "beta/mid2"
    r = h.receipt(raw.headers["x-unhardcoded-request-id"])
    assert attempts(r) == [("alpha/mid", error_class, True), ("beta/mid2", None, False)]
    assert r["status"] == "ok" and r["outcome"]["deployment"] == "beta/mid2"
    assert "after 1 fallback" in r["explanation"]
    return r


def error_of(exc: openai.APIStatusError) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(status, the OpenAI-shaped error object, the receipt's... request id header)."""
    body = exc.response.json()
    assert set(body["error"]) >= {"message", "type", "param", "code"}
    return exc.status_code, body["error"], dict(exc.response.headers)


# -- HTTP statuses ---------------------------------------------------------------------------------


# An upstream 504 is classed `timeout` (providers/base.py error_class_for_status), not `server_error` as the
# README's "5xx" row reads: both fall back; a call that ends on it answers 504.
FIVES = [(500, "server_error", 502), (502, "server_error", 502), (503, "server_error", 502),
         (504, "timeout", 504)]  # fmt: skip


@pytest.mark.parametrize(("status", "error_class", "_"), FIVES)
def test_5xx_falls_back(fh: FaultHarness, status: int, error_class: str, _: int) -> None:
    fh.alpha.push(Step(status=status))
    r = fell_back_to_beta(fh, chat(fh), error_class)
    assert r["attempts"][0]["http_status"] == status


@pytest.mark.parametrize(("status", "error_class", "answered"), FIVES)
def test_5xx_with_nowhere_to_go_is_an_error(
    fh: FaultHarness, status: int, error_class: str, answered: int
) -> None:
    fh.alpha.push(Step(status=status))
    with pytest.raises(openai.APIStatusError) as exc:
        chat(fh, {**ALPHA_ONLY, "fallback": {"max_attempts": 1}})
    code, err, headers = error_of(exc.value)
    assert code == answered and err["code"] == error_class
    r = fh.receipt(headers["x-unhardcoded-request-id"])
    assert r["status"] == "error" and attempts(r) == [("alpha/mid", error_class, False)]
    assert r["outcome"]["error"]["error_class"] == error_class


def test_429_retry_after_seconds_falls_back_and_cools_down(fh: FaultHarness) -> None:
    fh.alpha.push(Step(status=429, retry_after=30))
    r = fell_back_to_beta(fh, chat(fh), "rate_limited")
    assert r["attempts"][0]["http_status"] == 429
    r2 = fh.receipt(chat(fh).headers["x-unhardcoded-request-id"])
    mid = next(c for c in r2["candidates"] if c["deployment"] == "alpha/mid")
    assert mid["rejected_by"][0]["rule_id"] == "rt:circuit-open"
    assert "Retry-After 30s" in mid["rejected_by"][0]["actual"]


def test_429_retry_after_seconds_is_waited_for_when_alone(fh: FaultHarness) -> None:
    fh.alpha.push(Step(status=429, retry_after=1))
    r = fh.receipt(chat(fh, ALPHA_ONLY).headers["x-unhardcoded-request-id"])
    assert attempts(r) == [("alpha/mid", "rate_limited", False), ("alpha/mid", None, False)]
    assert r["attempts"][1]["waited_s"] == pytest.approx(1.0)


def test_429_retry_after_http_date_cools_down(fh: FaultHarness) -> None:
    fh.alpha.push(Step(status=429, retry_after=30, retry_after_date=True))
    fell_back_to_beta(fh, chat(fh), "rate_limited")
    r2 = fh.receipt(chat(fh).headers["x-unhardcoded-request-id"])
    mid = next(c for c in r2["candidates"] if c["deployment"] == "alpha/mid")
    assert mid.get("rejected_by") and mid["rejected_by"][0]["rule_id"] == "rt:circuit-open"


def test_429_retry_after_http_date_still_falls_back(fh: FaultHarness) -> None:
    fh.alpha.push(Step(status=429, retry_after=30, retry_after_date=True))
    fell_back_to_beta(fh, chat(fh), "rate_limited")


def test_429_everywhere_is_a_429(fh: FaultHarness) -> None:
    fh.alpha.push(Step(status=429))
    fh.beta.push(Step(status=429))
    with pytest.raises(openai.RateLimitError) as exc:
        chat(fh, TWO)
    code, err, headers = error_of(exc.value)
    assert err["code"] == "rate_limited"
    r = fh.receipt(headers["x-unhardcoded-request-id"])
    assert [a["error_class"] for a in r["attempts"]] == ["rate_limited", "rate_limited"]


# -- the connection --------------------------------------------------------------------------------


def test_connection_refused_falls_back(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        h = FaultHarness.start_faulty(tmp_path, alpha_url=f"http://127.0.0.1:{port}/v1")
        try:
            r = fell_back_to_beta(h, chat(h), "connection_error")
            assert r["attempts"][0]["http_status"] is None
            assert "refused" in r["attempts"][0]["error"]
        finally:
            h.stop()


def test_stall_at_connect_is_the_connect_timeout(tmp_path: Path) -> None:
    with stalled_port() as port:
        # first byte and total are far longer: only the 0.3 s connect timeout can end this attempt
        h = FaultHarness.start_faulty(
            tmp_path,
            alpha_url=f"http://127.0.0.1:{port}/v1",
            timeouts={"connect_timeout_s": 0.3, **LONG},
            config={"call_timeout_s": 40},
        )
        try:
            r = fell_back_to_beta(h, chat(h), "timeout")
            assert r["attempts"][0]["latency_ms"] < 15_000  # not the 30 s ones
        finally:
            h.stop()


def test_reset_at_accept_falls_back(fh: FaultHarness) -> None:
    assert fh.relay is not None
    fh.relay.cue(Fault("reset", 0))
    fell_back_to_beta(fh, chat(fh), "connection_error")


def test_reset_in_the_middle_of_the_body_falls_back(fh: FaultHarness) -> None:
    assert fh.relay is not None
    fh.alpha.push(Step(text="word " * 2000))  # a body of ~10 KB: the reset lands inside it
    fh.relay.cue(Fault("reset", 4000))
    r = fell_back_to_beta(fh, chat(fh), "connection_error")
    assert r["attempts"][0]["http_status"] is None


def test_body_cut_cleanly_is_a_bad_response(fh: FaultHarness) -> None:
    assert fh.relay is not None
    fh.alpha.push(Step(text="word " * 2000))
    fh.relay.cue(Fault("close", 4000))
    raw = chat(fh, {**Q60, "fallback": FALLBACK_ON_ALL})
    r = fh.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["attempts"][0]["error_class"] in ("bad_response", "connection_error")
    assert r["attempts"][0]["fell_back"] and r["status"] == "ok"


def test_stall_before_the_first_byte_is_the_first_byte_timeout(fh_long: FaultHarness) -> None:
    fh = fh_long
    assert fh.relay is not None
    fh.relay.cue(Fault("stall", 0))
    r = fell_back_to_beta(fh, chat(fh), "timeout")
    assert r["attempts"][0]["latency_ms"] < 15_000  # first byte 0.5 s, not the attempt's 30 s


def test_stall_between_chunks_before_the_first_client_byte_falls_back(fh_long: FaultHarness) -> None:
    fh = fh_long
    """The headers and nothing else arrive: the idle timeout ends the attempt before anything was streamed."""
    assert fh.relay is not None
    fh.relay.cue(Fault("stall", 150))  # inside the response head: status line, no event yet
    raw = chat(fh, stream=True, text="stream me")
    assert "stream me" in streamed_text(raw)
    fell_back_to_beta(fh, raw, "timeout")


def test_stall_between_chunks_after_the_first_byte_is_partial(fh_long: FaultHarness) -> None:
    fh = fh_long
    fh.alpha.push(Step(text="one two three four five six seven eight"))
    assert fh.relay is not None
    fh.relay.cue(Fault("stall", 900))  # the head and a few events, then silence
    raw = chat(fh, stream=True)
    with pytest.raises(openai.APIError) as exc:
        for _ in raw.parse():
            pass
    assert "timeout" in str(exc.value.body or exc.value)
    r = fh.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["status"] == "partial" and attempts(r) == [("alpha/mid", "timeout", False)]
    assert r["attempts"][0]["latency_ms"] < 15_000  # idle 0.5 s, not the attempt's 30 s


def test_the_call_budget_ends_one_long_attempt(tmp_path: Path) -> None:
    """An attempt whose own timers are 30 s: the call's 1.2 s budget ends it."""
    h = FaultHarness.start_faulty(tmp_path, relay=False, timeouts=LONG, config={"call_timeout_s": 1.2})
    try:
        h.alpha.push(Step(delay_s=30))
        with pytest.raises(openai.APIStatusError) as exc:
            chat(h, {**Q60, "fallback": FALLBACK_ON_ALL})
        code, err, headers = error_of(exc.value)
        assert code == 504 and err["code"] == "timeout"
        r = h.receipt(headers["x-unhardcoded-request-id"])
        assert r["status"] == "error" and attempts(r) == [("alpha/mid", "timeout", False)]
        assert r["outcome"]["latency_ms"] < 15_000  # the 1.2 s budget, not the 30 s stall
    finally:
        h.stop()


def test_the_call_budget_spans_fallbacks(tmp_path: Path) -> None:
    """alpha fails after 1 s and the call falls back; beta gets what is left of the 1.5 s budget, not 30 s."""
    h = FaultHarness.start_faulty(tmp_path, relay=False, timeouts=LONG, config={"call_timeout_s": 1.5})
    try:
        h.alpha.push(Step(status=500, delay_s=1.0))
        h.beta.push(Step(delay_s=30))
        with pytest.raises(openai.APIStatusError) as exc:
            chat(h, TWO)
        code, err, headers = error_of(exc.value)
        assert code == 504 and err["code"] == "timeout"
        r = h.receipt(headers["x-unhardcoded-request-id"])
        assert attempts(r) == [("alpha/mid", "server_error", True), ("beta/mid2", "timeout", False)]
        assert r["status"] == "error" and r["outcome"]["latency_ms"] < 15_000
    finally:
        h.stop()


# -- what comes back -------------------------------------------------------------------------------


def test_malformed_json_is_bad_response(fh: FaultHarness) -> None:
    fh.alpha.push(Step(malformed=True))
    with pytest.raises(openai.APIStatusError) as exc:
        chat(fh)
    code, err, headers = error_of(exc.value)
    assert code == 502 and err["code"] == "bad_response"
    r = fh.receipt(headers["x-unhardcoded-request-id"])
    assert attempts(r) == [("alpha/mid", "bad_response", False)] and r["status"] == "error"
    fh.alpha.push(Step(malformed=True))
    fell_back_to_beta(fh, chat(fh, {**Q60, "fallback": FALLBACK_ON_ALL}), "bad_response")


def test_in_band_stream_error_before_content_falls_back(fh: FaultHarness) -> None:
    fh.alpha.push(Step(error_after=0))
    raw = chat(fh, stream=True, text="stream me")
    assert "stream me" in streamed_text(raw)
    fell_back_to_beta(fh, raw, "server_error")


def test_in_band_stream_error_after_content_is_partial(fh: FaultHarness) -> None:
    fh.alpha.push(Step(error_after=2, text="one two three four"))
    raw = chat(fh, stream=True)
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    r = fh.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["status"] == "partial" and attempts(r) == [("alpha/mid", "server_error", False)]


@pytest.mark.parametrize("n", [1, 3])
def test_sse_cut_after_n_chunks_is_partial(fh: FaultHarness, n: int) -> None:
    fh.alpha.push(Step(cut_after=n, text="one two three four five six"))
    raw = chat(fh, stream=True)
    got = []
    with pytest.raises(openai.APIError):
        for c in raw.parse():
            got.append(c)
    assert got  # bytes reached the client before the cut
    r = fh.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["status"] == "partial" and attempts(r) == [("alpha/mid", "bad_response", False)]


def test_sse_cut_before_any_content_falls_back_when_listed(fh: FaultHarness) -> None:
    fh.alpha.push(Step(cut_after=0))
    raw = chat(fh, {**Q60, "fallback": FALLBACK_ON_ALL}, stream=True, text="stream me")
    assert "stream me" in streamed_text(raw)
    fell_back_to_beta(fh, raw, "bad_response")


def test_an_answer_for_another_model_is_recorded_as_such(fh: FaultHarness) -> None:
    fh.alpha.push(Step(model="some-other-model"))
    raw = chat(fh)
    r = fh.receipt(raw.headers["x-unhardcoded-request-id"])
    assert raw.parse().model == "some-other-model"  # passed through as the upstream said
    assert r["outcome"]["deployment"] == "alpha/mid"
    assert r["outcome"]["model"] == "some-other-model"  # the receipt tells what actually answered


# -- the circuit breaker ---------------------------------------------------------------------------


def test_breaker_opens_half_opens_and_closes(fh: FaultHarness) -> None:
    import time

    pinned = {**ALPHA_ONLY, "fallback": {"max_attempts": 1}}
    bk = fh.gateway._breakers  # the clock of the open circuit is moved instead of waiting 30 s
    for _ in range(3):  # breaker.failures = 3
        fh.alpha.push(Step(status=500))
        with pytest.raises(openai.APIStatusError):
            chat(fh, pinned)
    r = fh.receipt(chat(fh).headers["x-unhardcoded-request-id"])  # open: alpha/mid skipped
    mid = next(c for c in r["candidates"] if c["deployment"] == "alpha/mid")
    assert mid["rejected_by"][0]["rule_id"] == "rt:circuit-open"
    assert "3 consecutive failures" in mid["rejected_by"][0]["actual"]
    assert r["outcome"]["deployment"] == "beta/mid2" and len(fh.alpha.seen) == 3

    def expire() -> None:
        for s in bk._states.values():
            s.open_until = min(s.open_until, time.time() - 1) if s.open_until else 0.0
        bk._next_expiry = 0.0

    fh.run(_call_soon(expire))
    fh.alpha.push(Step(status=500))  # the half-open probe fails: open again at once
    raw = chat(fh)
    r = fh.receipt(raw.headers["x-unhardcoded-request-id"])
    assert attempts(r)[0] == ("alpha/mid", "server_error", True)
    r = fh.receipt(chat(fh).headers["x-unhardcoded-request-id"])
    assert r["outcome"]["deployment"] == "beta/mid2" and len(r["attempts"]) == 1
    fh.run(_call_soon(expire))
    r = fh.receipt(chat(fh).headers["x-unhardcoded-request-id"])  # the probe succeeds: closed
    assert attempts(r) == [("alpha/mid", None, False)]
    fh.alpha.push(Step(status=500))  # closed again: one failure does not re-open it
    chat(fh)
    r = fh.receipt(chat(fh).headers["x-unhardcoded-request-id"])
    assert attempts(r) == [("alpha/mid", None, False)]


def test_breaker_never_removes_every_candidate(fh: FaultHarness) -> None:
    both = {"rules": [{"id": "two", "field": "id", "op": "in", "value": ["alpha/mid", "beta/mid2"]}]}
    for _ in range(3):
        fh.alpha.push(Step(status=500))
        fh.beta.push(Step(status=500))
        with pytest.raises(openai.APIStatusError):
            chat(fh, both)
    r = fh.receipt(chat(fh, both).headers["x-unhardcoded-request-id"])  # both open: waived, not emptied
    assert r["waived"] == ["rt:circuit-open"] and r["status"] == "ok"


async def _call_soon(fn: Any) -> None:
    fn()
