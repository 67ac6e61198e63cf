"""Scripted upstream failures: each error class falls back (or not) as documented, and the receipt says so."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.harness import ALPHA_KEY, BETA_KEY, Harness
from unhardcoded.testing.script import Step

# alpha/mid (cheapest passer) then beta/mid2: the plan for this policy.
EU60 = {"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 60}]}


def call(client: openai.OpenAI, policy: dict = EU60, **kw: object):
    return client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], extra_body={"policy": policy}, **kw
    )


@pytest.mark.parametrize(
    ("step", "error_class"),
    [
        (Step(status=503), "server_error"),
        (Step(status=500), "server_error"),
        (Step(status=429), "rate_limited"),
        (Step(hang=True), "timeout"),
        (Step(reset=True), "connection_error"),
    ],
)
def test_fallback_classes(harness: Harness, client: openai.OpenAI, step: Step, error_class: str) -> None:
    harness.alpha.push(step)
    raw = call(client)
    assert raw.headers["x-unhardcoded-deployment"] == "beta/mid2"
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    a0, a1 = r["attempts"]
    assert (a0["deployment"], a0["error_class"], a0["fell_back"]) == ("alpha/mid", error_class, True)
    assert (a1["deployment"], a1["error_class"], a1["fell_back"]) == ("beta/mid2", None, False)
    statuses = {c["deployment"]: c["status"] for c in r["candidates"]}
    assert statuses["alpha/mid"] == "attempted" and statuses["beta/mid2"] == "won"
    assert "after 1 fallback" in r["explanation"]


def test_malformed_json_is_bad_response_and_only_falls_back_when_the_policy_says(
    harness: Harness, client: openai.OpenAI
) -> None:
    harness.alpha.push(Step(malformed=True))
    with pytest.raises(openai.APIStatusError) as exc:
        call(client)
    assert exc.value.status_code == 502
    r = harness.receipt(exc.value.response.headers["x-unhardcoded-request-id"])
    assert r["status"] == "error" and [a["error_class"] for a in r["attempts"]] == ["bad_response"]

    harness.alpha.push(Step(malformed=True))
    policy = {**EU60, "fallback": {"on": ["bad_response", "server_error"]}}
    raw = call(client, policy)
    assert raw.headers["x-unhardcoded-deployment"] == "beta/mid2"


def test_client_error_does_not_fall_back(harness: Harness, client: openai.OpenAI) -> None:
    harness.alpha.push(Step(status=400))
    with pytest.raises(openai.BadRequestError) as exc:
        call(client)
    r = harness.receipt(exc.value.response.headers["x-unhardcoded-request-id"])
    assert [a["error_class"] for a in r["attempts"]] == ["client_error"]
    assert r["outcome"]["error"]["error_class"] == "client_error"


def test_auth_error_moves_to_another_provider(tmp_path) -> None:
    h = Harness.start(tmp_path, env={"ALPHA_KEY": "sk-wrong-ALPHA", "BETA_KEY": BETA_KEY})
    try:
        client = openai.OpenAI(base_url=h.url + "/v1", api_key="unused", max_retries=0)
        policy = {
            "rules": [{"field": "bench_intelligence", "op": ">=", "value": 50}],
            "select": {"max_candidates": 4},
        }
        raw = call(client, policy)
        r = h.receipt(raw.headers["x-unhardcoded-request-id"])
        # alpha/cheap fails auth; alpha/mid (same provider) is skipped; beta/mid2 answers.
        assert [(a["deployment"], a["error_class"]) for a in r["attempts"]] == [
            ("alpha/cheap", "auth_error"),
            ("beta/mid2", None),
        ]
        assert "sk-wrong-ALPHA" not in str(r)
    finally:
        h.stop()


def test_all_attempts_fail_rate_limited_is_429(harness: Harness, client: openai.OpenAI) -> None:
    harness.alpha.push(Step(status=429))
    harness.beta.push(Step(status=429))
    with pytest.raises(openai.RateLimitError) as exc:
        call(client, {**EU60, "select": {"max_candidates": 2}})
    r = harness.receipt(exc.value.response.headers["x-unhardcoded-request-id"])
    assert r["status"] == "error"
    assert [a["error_class"] for a in r["attempts"]] == ["rate_limited", "rate_limited"]


def test_retry_after_is_honoured_when_no_other_candidate(harness: Harness, client: openai.OpenAI) -> None:
    harness.alpha.push(Step(status=429, retry_after=0.2))
    pinned = {"rules": [{"field": "id", "op": "==", "value": "alpha/mid"}]}
    raw = call(client, pinned)
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert [a["deployment"] for a in r["attempts"]] == ["alpha/mid", "alpha/mid"]
    assert r["attempts"][1]["waited_s"] == pytest.approx(0.2)
    assert r["attempts"][0]["fell_back"] is False and r["status"] == "ok"


def test_retry_after_cools_the_deployment_down(harness: Harness, client: openai.OpenAI) -> None:
    harness.alpha.push(Step(status=429, retry_after=20))
    call(client)
    raw = call(client)  # the next call skips alpha/mid while it cools down
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert raw.headers["x-unhardcoded-deployment"] == "beta/mid2"
    mid = next(c for c in r["candidates"] if c["deployment"] == "alpha/mid")
    assert mid["rejected_by"][0]["rule_id"] == "rt:circuit-open"
    assert "Retry-After" in mid["rejected_by"][0]["actual"]


def test_circuit_opens_after_consecutive_failures_and_never_empties_the_plan(
    harness: Harness, client: openai.OpenAI
) -> None:
    pinned = {"rules": [{"field": "id", "op": "==", "value": "alpha/mid"}], "fallback": {"max_attempts": 1}}
    for _ in range(3):  # the harness opens a circuit after 3 consecutive failures
        harness.alpha.push(Step(status=500))
        with pytest.raises(openai.APIStatusError):
            call(client, pinned)
    raw = call(client)
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert raw.headers["x-unhardcoded-deployment"] == "beta/mid2"
    assert any(f["rule_id"] == "rt:circuit-open" for c in r["candidates"] for f in c.get("rejected_by", []))
    # Pinned to the open deployment alone: the breaker is waived rather than leaving nothing.
    raw = call(client, pinned)
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["waived"] == ["rt:circuit-open"] and r["status"] == "ok"


def test_stream_falls_back_before_the_first_byte(harness: Harness, client: openai.OpenAI) -> None:
    harness.alpha.push(Step(status=503))
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "stream"}],
        stream=True,
        extra_body={"policy": EU60},
    )
    text = "".join((c.choices[0].delta.content or "") for c in raw.parse() if c.choices)
    assert "stream" in text
    assert raw.headers["x-unhardcoded-deployment"] == "beta/mid2"
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert [a["error_class"] for a in r["attempts"]] == ["server_error", None]


def test_stream_cut_after_first_byte_is_partial(harness: Harness, client: openai.OpenAI) -> None:
    harness.alpha.push(Step(cut_after=1, text="one two three four five six"))
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "stream"}],
        stream=True,
        extra_body={"policy": EU60},
    )
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["status"] == "partial"
    assert len(r["attempts"]) == 1  # no fallback once bytes reached the client
    assert r["outcome"]["error"]["error_class"] == "bad_response"


def test_keys_never_leak(harness: Harness, client: openai.OpenAI, caplog: pytest.LogCaptureFixture) -> None:
    harness.alpha.push(Step(status=401, echo_key="invalid api key ({key})"))
    first = call(client)
    harness.alpha.push(Step(status=500, echo_key="upstream echoed {key}"))
    raw = call(client)
    seen = [harness.get(f"/x/receipts/{r.headers['x-unhardcoded-request-id']}")[1] for r in (first, raw)]
    errors = [a["error"] for r in seen for a in r["attempts"] if a["error"]]
    assert any("invalid api key (" in e for e in errors)  # the echo reached the receipt, without the key
    seen.append(harness.get("/metrics")[1])
    seen.append(harness.get(f"/x/traces/{raw.headers['x-unhardcoded-trace-id']}")[1])
    seen.append(caplog.text)
    blob = repr(seen)
    assert ALPHA_KEY not in blob and BETA_KEY not in blob


def test_client_leaving_mid_stream_leaves_a_partial_receipt(tmp_path) -> None:
    import http.client
    import json
    import time

    h = Harness.start(tmp_path, alpha_options={"chunk_delay_ms": 200})
    try:
        host, port = h.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        body = {
            "model": "auto",
            "stream": True,
            "policy": EU60,
            "messages": [{"role": "user", "content": "a long enough answer to stream slowly"}],
        }
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"})
        resp = conn.getresponse()
        rid = resp.getheader("x-unhardcoded-request-id")
        assert resp.read1(100)  # the first bytes reached us
        resp.close()  # and we leave
        conn.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            r = h.receipt(rid)
            if r["status"] != "started":
                break
            time.sleep(0.1)
        assert r["status"] == "partial"
        assert r["outcome"]["error"]["error_class"] == "client_closed"
        assert h.get("/healthz")[0] == 200
    finally:
        h.stop()
