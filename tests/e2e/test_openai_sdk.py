"""The official openai SDK through the gateway: the answer, the headers, and the receipt behind them."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.e2e.harness import DEPLOYMENTS, Harness

POLICY = {
    "rules": [
        {"id": "quality", "field": "bench_intelligence", "op": ">=", "value": 55},
        {"id": "eu", "field": "geography", "op": "==", "value": "eu"},
    ],
    "baseline": "beta/top",
}


def test_sync_call_with_policy_in_extra_body(harness: Harness, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=50,
        extra_body={"policy": POLICY},
    )
    completion = raw.parse()
    assert "hello there" in (completion.choices[0].message.content or "")
    assert raw.headers["x-unhardcoded-deployment"] == "alpha/mid"
    assert len(raw.headers["x-unhardcoded-trace-id"]) == 32
    assert raw.headers["x-unhardcoded-fingerprint"].endswith("(sigma-pol/v1)")

    r = harness.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r["status"] == "ok"
    assert r["trace_id"] == raw.headers["x-unhardcoded-trace-id"]
    assert r["policy"]["fingerprint"] == raw.headers["x-unhardcoded-fingerprint"]
    assert r["policy"]["canonical"]["rules"][0]["id"] == "quality"
    by_id = {c["deployment"]: c for c in r["candidates"]}
    assert set(by_id) == {d["id"] for d in DEPLOYMENTS}
    assert by_id["alpha/mid"]["status"] == "won"
    assert by_id["beta/mid2"]["status"] == "ranked"
    assert [f["rule_id"] for f in by_id["alpha/cheap"]["rejected_by"]] == ["quality"]
    assert by_id["alpha/cheap"]["rejected_by"][0]["actual"] == 50
    assert {f["rule_id"] for f in by_id["beta/top"]["rejected_by"]} == {"eu"}
    assert by_id["gamma/nokey"]["rejected_by"][-1]["rule_id"] == "rt:no-key"
    assert by_id["gamma/nokey"]["rejected_by"][-1]["source"] == "runtime"
    assert len(r["attempts"]) == 1 and r["attempts"][0]["http_status"] == 200
    o = r["outcome"]
    usage = completion.usage
    assert usage is not None
    assert o["usage"]["input_tokens"] == usage.prompt_tokens
    assert o["usage"]["output_tokens"] == usage.completion_tokens
    expected = (usage.prompt_tokens * 0.3 + usage.completion_tokens * 0.6) / 1e6
    assert o["cost_usd"] == pytest.approx(expected)
    baseline = (usage.prompt_tokens * 1.0 + usage.completion_tokens * 4.0) / 1e6
    assert o["baseline"] == {"deployment": "beta/top", "cost_usd": pytest.approx(baseline)}
    assert o["savings_usd"] == pytest.approx(baseline - expected)
    assert "alpha/mid won" in r["explanation"] and "cheaper than beta/top" in r["explanation"]


def test_async_streaming_with_usage(harness: Harness) -> None:
    async def go() -> tuple[str, object, str]:
        client = openai.AsyncOpenAI(base_url=harness.url + "/v1", api_key="unused", max_retries=0)
        raw = await client.chat.completions.with_raw_response.create(
            model="policy:eu-quality",
            messages=[{"role": "user", "content": "stream me a few words please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        stream = raw.parse()
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                usage = chunk.usage
        await client.close()
        return text, usage, raw.headers["x-unhardcoded-request-id"]

    text, usage, rid = asyncio.run(go())
    assert "stream me a few words please" in text
    assert usage is not None
    r = harness.receipt(rid)
    assert r["status"] == "ok" and r["outcome"]["deployment"] == "alpha/mid"
    assert r["features"]["stream"] is True
    assert r["attempts"][0]["ttft_ms"] is not None
    assert r["outcome"]["usage"]["output_tokens"] == usage.completion_tokens  # type: ignore[attr-defined]
    assert r["policy"]["name"] == "eu-quality" and r["policy"]["workload"] == "support"
    assert any(rule["id"] == "req:streaming" for rule in r["rules"])


def test_sync_streaming_without_usage_chunk(harness: Harness, client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "abc def"}],
            stream=True,
            extra_body={"policy": POLICY},
        )
    )
    assert all(c.usage is None for c in chunks)  # the client did not ask for it
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_async_non_streaming_pinned(harness: Harness) -> None:
    async def go() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=harness.url + "/v1", api_key="unused", max_retries=0)
        raw = await client.chat.completions.with_raw_response.create(
            model="beta/top", messages=[{"role": "user", "content": "pinned"}]
        )
        await client.close()
        return raw.headers["x-unhardcoded-deployment"], raw.headers["x-unhardcoded-request-id"]

    deployment, rid = asyncio.run(go())
    assert deployment == "beta/top"
    r = harness.receipt(rid)
    assert r["pinned"] == "beta/top"
    assert r["outcome"]["savings_usd"] == 0
    assert sum(1 for c in r["candidates"] if c["status"] == "rejected") == len(DEPLOYMENTS) - 1


def test_named_policy_by_header(harness: Harness, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "x"}],
        extra_headers={"x-unhardcoded-policy": "eu-quality"},
    )
    assert raw.headers["x-unhardcoded-deployment"] == "alpha/mid"


def test_bad_policy_is_a_400_naming_the_path_and_choices(harness: Harness, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"policy": {"rules": [{"field": "bench", "op": ">=", "value": 5}]}},
        )
    err = exc.value.body
    assert isinstance(err, dict)
    assert err["param"] == "$.rules[0].field"
    assert "bench_intelligence" in err["choices"]
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"policy": {"rules": [{"field": "region", "op": ">", "value": 5}]}},
        )
    assert exc.value.body["choices"] == ["==", "!=", "in", "not_in", "exists"]  # type: ignore[index]
    # The server is still up and serving.
    assert client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "ok"}]).choices


def test_no_route_is_a_422_with_a_receipt(harness: Harness, client: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "x"}],
            extra_body={
                "policy": {
                    "rules": [{"id": "impossible", "field": "bench_intelligence", "op": ">", "value": 99}]
                }
            },
        )
    rid = exc.value.response.headers["x-unhardcoded-request-id"]
    r = harness.receipt(rid)
    assert r["status"] == "no_route"
    assert r["attempts"] == []
    assert all(c["status"] == "rejected" and c["rejected_by"] for c in r["candidates"])
