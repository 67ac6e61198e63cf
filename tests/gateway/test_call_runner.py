"""The attempt loop, in process, one row per line of the README's fallback table and per timeout kind.

Every test goes through `Gateway.chat` with a scripted transport and a real SQLite store, and reads what a
user sees: the HTTP status the edge would answer, and the stored receipt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import Answer, Rig, attempts, chunk, completion
from unhardcoded.errors import FALLBACK_CLASSES, CallFailed, ProviderError
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.http.errors import call_failed

ALL = ["a/one", "a/two", "b/three", "c/four"]


def err(cls: Any, status: int | None = None, retry_after: float | None = None) -> ProviderError:
    return ProviderError(cls, f"{cls} from the scripted upstream", status=status, retry_after=retry_after)


def plan(n: int = 4, **fallback: Any) -> dict[str, Any]:
    return {"select": {"max_candidates": n}, "fallback": {"max_attempts": 4, **fallback}}


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(503, "server_error"), (500, "server_error"), (502, "server_error"), (429, "rate_limited")],
)
async def test_an_error_in_fallback_on_moves_to_the_next_candidate(
    tmp_path: Path, status: int, error_class: str
) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=status, body=b"{}"))
        code, r = await rig.call(plan())
    assert code == 200
    assert attempts(r) == [("a/one", error_class, True), ("a/two", None, False)]
    assert r["outcome"]["deployment"] == "a/two" and r["status"] == "ok"


@pytest.mark.parametrize(
    ("raised", "error_class", "http"),
    [
        (err("timeout"), "timeout", 504),
        (err("connection_error"), "connection_error", 502),
        (err("bad_response", 200), "bad_response", 502),
        (err("server_error", 503), "server_error", 502),
        (err("rate_limited", 429), "rate_limited", 429),
    ],
)
async def test_when_every_attempt_fails_the_status_follows_the_last_error_class(
    tmp_path: Path, raised: ProviderError, error_class: str, http: int
) -> None:
    async with Rig(tmp_path) as rig:
        for host in "abc":
            rig.transport.push(host, *[Answer(raises=raised)] * 4)
        code, r = await rig.call(plan(2, max_attempts=2, on=list(FALLBACK_CLASSES)))
    assert code == http
    assert r["status"] == "error" and r["outcome"]["error"]["error_class"] == error_class
    assert attempts(r) == [("a/one", error_class, True), ("a/two", error_class, False)]


async def test_max_attempts_caps_the_walk_even_with_candidates_left(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        for host in "abc":
            rig.transport.push(host, *[Answer(status=503, body=b"{}")] * 4)
        code, r = await rig.call(plan(4, max_attempts=2))
    assert code == 502
    assert [a[0] for a in attempts(r)] == ["a/one", "a/two"]
    assert rig.transport.hosts() == ["a", "a"]


async def test_auth_error_skips_every_deployment_of_that_provider(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=401, body=b'{"error": {"message": "bad key"}}'))
        code, r = await rig.call(plan())
    assert code == 200
    assert attempts(r) == [("a/one", "auth_error", True), ("b/three", None, False)]


async def test_auth_error_falls_back_even_when_not_in_fallback_on(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=403, body=b"{}"))
        code, r = await rig.call(plan(on=["server_error"]))
    assert code == 200 and attempts(r)[-1] == ("b/three", None, False)


async def test_an_upstream_client_error_stops_and_keeps_its_status(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=422, body=b'{"error": {"message": "bad field"}}'))
        code, r = await rig.call(plan())
    assert code == 422
    assert attempts(r) == [("a/one", "client_error", False)]


async def test_a_client_error_never_opens_the_circuit(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:  # the breaker opens after 2 failures in this rig
        for _ in range(4):
            rig.transport.push("a", Answer(status=400, body=b"{}"))
            code, _ = await rig.call(plan())
            assert code == 400
        rules = [r.id for r in rig.gw.runtime(time.time()).rules]
    assert "rt:circuit-open" not in rules


async def test_server_errors_open_the_circuit(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        for _ in range(2):
            rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
            await rig.call(plan())
        open_rule = {r.id: r for r in rig.gw.runtime(time.time()).rules}["rt:circuit-open"]
        code, r = await rig.call(plan())
    assert set(open_rule.excluded) == {"a/one", "a/two"}
    assert code == 200 and attempts(r) == [("b/three", None, False)]


async def test_our_adapter_refusing_before_sending_moves_on(tmp_path: Path) -> None:
    # n > 1 is refused by the Anthropic adapter before anything is sent; the OpenAI one takes it.
    extra = {
        "providers": {
            "a": {"kind": "anthropic", "base_url": "http://a.test", "api_key_env": "A_KEY"},
            "b": {"kind": "openai", "base_url": "http://b.test/v1", "api_key_env": "B_KEY"},
            "c": {"kind": "openai", "base_url": "http://c.test/v1", "api_key_env": "C_KEY"},
        }
    }
    async with Rig(tmp_path, **extra) as rig:
        code, r = await rig.call(plan(), n=2)
    assert code == 200
    assert attempts(r) == [
        ("a/one", "client_error", True),
        ("a/two", "client_error", True),
        ("b/three", None, False),
    ]
    assert rig.transport.hosts() == ["b"]


async def test_a_class_not_in_fallback_on_stops(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=429, body=b"{}"))
        code, r = await rig.call(plan(on=["server_error"]))
    assert code == 429
    assert attempts(r) == [("a/one", "rate_limited", False)]


async def test_retry_after_with_nothing_left_waits_and_retries_the_same_deployment(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=429, body=b"{}", headers={"retry-after": "0.05"}))
        code, r = await rig.call({"rules": [{"field": "id", "op": "==", "value": "a/one"}]})
    assert code == 200
    assert attempts(r) == [("a/one", "rate_limited", False), ("a/one", None, False)]
    assert r["attempts"][1]["waited_s"] == pytest.approx(0.05)


async def test_retry_after_longer_than_the_budget_stops(tmp_path: Path) -> None:
    async with Rig(tmp_path, call_timeout_s=1) as rig:
        rig.transport.push("a", Answer(status=429, body=b"{}", headers={"retry-after": "30"}))
        code, r = await rig.call({"rules": [{"field": "id", "op": "==", "value": "a/one"}]})
    assert code == 429 and len(r["attempts"]) == 1


async def test_nothing_left_otherwise_stops_with_the_last_error(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=504, body=b"{}"))
        code, r = await rig.call(plan(2))
    assert code == 504  # the last attempt's class: a 504 upstream is a timeout
    assert attempts(r) == [("a/one", "server_error", True), ("a/two", "timeout", False)]


async def test_a_spent_call_budget_stops_the_walk(tmp_path: Path) -> None:
    async with Rig(tmp_path, call_timeout_s=0.2) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}", delay_s=0.3))
        code, r = await rig.call(plan())
    assert code == 502 and len(r["attempts"]) == 1


async def test_each_attempt_gets_the_providers_timeouts_bounded_by_the_call_budget(tmp_path: Path) -> None:
    async with Rig(tmp_path, call_timeout_s=2.5) as rig:
        await rig.call(plan())
    ((_, tmo, _),) = rig.transport.seen
    assert tmo.connect_s == 1.5  # fixed: the client reuses one connect timeout
    assert 2.0 < tmo.first_byte_s <= 2.5  # min(first_byte 3 s, what is left of 2.5 s)
    assert tmo.idle_s == 2 and 2.0 < tmo.total_s <= 2.5  # idle 2 s is already below the budget


async def test_timeouts_below_the_budget_are_the_providers_own(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await rig.call(plan())
    ((_, tmo, _),) = rig.transport.seen
    assert (tmo.connect_s, tmo.first_byte_s, tmo.idle_s, tmo.total_s) == (1.5, 3, 2, 7)


async def test_cached_input_tokens_are_priced_at_the_cached_price(tmp_path: Path) -> None:
    extra = {
        "catalog": {
            "bundled": False,
            "deployments": [
                {**_one_dep(), "price_cached_input_per_mtok": 0.25},
                {**_one_dep("c/four"), "price_input_per_mtok": 10.0, "price_output_per_mtok": 20.0},
            ],
        }
    }
    async with Rig(tmp_path, **extra) as rig:
        rig.transport.push("a", Answer(body=completion(prompt=1000, completion_tokens=100, cached=800)))
        code, r = await rig.call({"rules": [{"field": "id", "op": "==", "value": "a/one"}]})
    assert code == 200
    # 200 uncached x 1.0 + 800 cached x 0.25 + 100 out x 2.0, per million tokens
    assert r["outcome"]["cost_usd"] == pytest.approx((200 * 1.0 + 800 * 0.25 + 100 * 2.0) / 1e6)
    # the baseline has no cached price: all input at its input price
    assert r["outcome"]["baseline"]["cost_usd"] == pytest.approx((1000 * 10.0 + 100 * 20.0) / 1e6)


def _one_dep(id_: str = "a/one") -> dict[str, Any]:
    from tests.gateway.scripted import dep

    return dep(id_)


async def test_a_stream_falls_back_before_its_first_byte(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        rig.transport.push("a", Answer(chunks=[chunk("hel"), chunk("lo"), b"data: [DONE]\n\n"]))
        sink = Sink()
        await rig.gw.chat_stream(_stream_request(), sink)
        r = await rig.gw.receipt(sink.headers["x-unhardcoded-request-id"])
    assert r is not None and attempts(r) == [("a/one", "server_error", True), ("a/two", None, False)]
    assert sink.headers["x-unhardcoded-deployment"] == "a/two"
    assert b"hel" in sink.data and sink.data.endswith(b"data: [DONE]\n\n")


async def test_a_stream_that_fails_after_its_first_byte_is_partial_and_never_falls_back(
    tmp_path: Path,
) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[chunk("hel")], raises_after_chunks=err("connection_error")))
        sink = Sink()
        await rig.gw.chat_stream(_stream_request(), sink)
        r = await rig.gw.receipt(sink.headers["x-unhardcoded-request-id"])
    assert r is not None and r["status"] == "partial"
    assert attempts(r) == [("a/one", "connection_error", False)]
    assert sink.failed == "connection_error"
    assert rig.transport.hosts() == ["a"]


async def test_calls_in_flight_return_to_zero_whatever_the_outcome(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=400, body=b"{}"))
        await rig.call(plan())  # client error
        await rig.call(plan())  # ok
        await rig.call({"rules": [{"field": "id", "op": "==", "value": "nobody"}]})  # no route
        with pytest.raises(CallFailed):
            await rig.gw.chat_stream(
                _stream_request({"rules": [{"field": "id", "op": "==", "value": "x"}]}), Sink()
            )
        assert rig.gw.health()["calls_in_flight"] == 0


async def test_no_route_is_a_422_with_a_receipt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        code, r = await rig.call({"rules": [{"id": "nope", "field": "id", "op": "==", "value": "nobody"}]})
    assert code == 422 and r["status"] == "no_route" and r["attempts"] == []
    assert rig.transport.seen == []


class Sink:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.data = b""
        self.failed: str | None = None

    async def start(self, headers: dict[str, str]) -> None:
        self.headers = headers

    async def write(self, data: bytes) -> None:
        self.data += data

    async def fail(self, error_class: str, message: str) -> None:
        self.failed = error_class


def _stream_request(policy: Any = None) -> ChatRequest:
    doc: dict[str, Any] = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    doc["policy"] = policy if policy is not None else plan()
    return ChatRequest.parse(doc, {})


def test_the_status_of_each_error_class_is_documented() -> None:
    expected = {
        "rate_limited": 429,
        "timeout": 504,
        "server_error": 502,
        "connection_error": 502,
        "bad_response": 502,
        "auth_error": 502,
        "client_error": 400,
    }
    for cls, status in expected.items():
        e = call_failed(_failed(cls))
        assert e.status == status, cls


def _failed(cls: Any) -> Any:
    from unhardcoded.errors import UpstreamFailed

    return UpstreamFailed(cls, "m", status=None, request_id="req_x", headers={})
