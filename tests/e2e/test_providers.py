"""OpenAI-SDK calls routed by policy to Anthropic, Gemini, Vertex (OAuth) and Bedrock (SigV4) fakes.

Each fake speaks its provider's wire format byte for byte and checks auth the way the provider does;
the gateway translates both ways, and every receipt carries the same fields whatever the provider.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from unhardcoded.config import parse_settings
from unhardcoded.http.server import build_gateway, start_in_process
from unhardcoded.testing import fake_anthropic, fake_bedrock, fake_gemini, fake_openai
from unhardcoded.testing.google_sa import default_service_account
from unhardcoded.testing.script import Script, Step

CAPS = ["json_schema", "streaming", "tools", "vision"]
PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")).decode()


def _dep(id_: str, provider: str, upstream: str, pin: float, pout: float, region: str | None = None) -> dict:
    d = {
        "id": id_,
        "provider": provider,
        "model": id_.split("@")[0],
        "upstream_model": upstream,
        "price_input_per_mtok": pin,
        "price_output_per_mtok": pout,
        "context_window": 200000,
        "max_output_tokens": 8192,
        "capabilities": CAPS,
        "bench_intelligence": 60,
    }
    if region:
        d |= {"region": region, "endpoint_region": region, "geography": "eu"}
    return d


DEPLOYMENTS = [
    _dep("anthropic/claude-x", "anthropic", "claude-x-1", 3, 15),
    _dep("gemini/google/gemini-x", "gemini", "gemini-x-flash", 0.3, 2.5),
    _dep("vertex/google/gemini-x@europe-west4", "vertex", "gemini-x-flash", 0.33, 2.75, "europe-west4"),
    _dep("vertex/anthropic/claude-x@europe-west1", "vertex", "claude-x-1", 3.3, 16.5, "europe-west1"),
    _dep(
        "bedrock/anthropic/claude-x@eu-central-1", "bedrock", "anthropic.claude-x-v1:0", 3, 15, "eu-central-1"
    ),
    _dep("backup/gpt-x", "backup", "gpt-x", 5, 20),
    _dep("base/gpt-4.1", "base", "gpt-4.1", 2, 8),
]
TARGETS = [d["id"] for d in DEPLOYMENTS[:5]]


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.scripts: dict[str, Script] = {}
        self.runners: list[Any] = []
        self.tmp = tmp
        self.url = ""
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        ra, anthropic_url, self.scripts["anthropic"] = await fake_anthropic.start()
        rg, google_url, self.scripts["google"] = await fake_gemini.start()
        rb, bedrock_url, self.scripts["bedrock"] = await fake_bedrock.start(region="eu-central-1")
        ro, openai_url, self.scripts["backup"] = await fake_openai.start(api_key="sk-backup")
        self.runners += [ra, rg, rb, ro]
        sa = self.tmp / "sa.json"
        sa.write_text(default_service_account().json_text)
        cfg = {
            "providers": {
                "anthropic": {"kind": "anthropic", "base_url": anthropic_url},
                "gemini": {"kind": "gemini", "base_url": google_url},
                "vertex": {
                    "kind": "vertex",
                    "base_url": google_url,
                    "project": "fake-project",
                    "token_uri": google_url + "/token",
                },
                "bedrock": {"kind": "bedrock", "base_url": bedrock_url},
                "backup": {"kind": "openai", "base_url": openai_url, "api_key_env": "BACKUP_KEY"},
            },
            "catalog": {"bundled": False, "deployments": DEPLOYMENTS},
            "default_baseline": "base/gpt-4.1",
            "store": f"sqlite:///{self.tmp / 'r.db'}",
        }
        env = {
            "ANTHROPIC_API_KEY": fake_anthropic.API_KEY,
            "GEMINI_API_KEY": fake_gemini.API_KEY,
            "GOOGLE_APPLICATION_CREDENTIALS": str(sa),
            "AWS_ACCESS_KEY_ID": fake_bedrock.TEST_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": fake_bedrock.TEST_SECRET_ACCESS_KEY,
            "BACKUP_KEY": "sk-backup",
        }
        self.gateway = build_gateway(parse_settings(cfg), env=env)
        runner, self.url = await start_in_process(self.gateway)
        self.runners.insert(0, runner)

    def script(self, deployment: str) -> Script:
        provider = deployment.split("/")[0]
        return self.scripts["google" if provider in ("gemini", "vertex") else provider]

    def receipt(self, rid: str) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/x/receipts/{rid}") as r:
            return json.loads(r.read())

    def stop(self) -> None:
        async def _stop() -> None:
            for r in self.runners:
                await r.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("providers"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key="unused", max_retries=0, timeout=20)


def policy_for(deployment: str) -> dict[str, Any]:
    # Route by policy: this deployment first, the OpenAI-compatible backup second.
    return {
        "rules": [{"id": "here", "field": "id", "op": "in", "value": [deployment, "backup/gpt-x"]}],
        "baseline": "base/gpt-4.1",
        "fallback": {"on": ["rate_limited", "server_error", "timeout", "connection_error", "bad_response"]},
    }


def check_receipt(stack: Stack, rid: str, deployment: str, usage: Any) -> dict[str, Any]:
    r = stack.receipt(rid)
    assert r["status"] == "ok" and r["outcome"]["deployment"] == deployment
    o = r["outcome"]
    assert o["usage"]["input_tokens"] == usage.prompt_tokens
    assert o["usage"]["output_tokens"] == usage.completion_tokens
    dep = next(d for d in DEPLOYMENTS if d["id"] == deployment)
    cost = (
        usage.prompt_tokens * dep["price_input_per_mtok"]
        + usage.completion_tokens * dep["price_output_per_mtok"]
    ) / 1e6
    base = (usage.prompt_tokens * 2 + usage.completion_tokens * 8) / 1e6
    assert o["cost_usd"] == pytest.approx(cost)
    assert o["baseline"] == {"deployment": "base/gpt-4.1", "cost_usd": pytest.approx(base)}
    assert o["savings_usd"] == pytest.approx(base - cost)
    assert {c["deployment"]: c["status"] for c in r["candidates"]}[deployment] == "won"
    return r


@pytest.mark.parametrize("deployment", TARGETS)
def test_plain(stack: Stack, client: openai.OpenAI, deployment: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello from the sdk"},
        ],
        max_tokens=100,
        extra_body={"policy": policy_for(deployment)},
    )
    c = raw.parse()
    assert raw.headers["x-unhardcoded-deployment"] == deployment
    assert "hello from the sdk" in (c.choices[0].message.content or "")
    assert c.choices[0].finish_reason == "stop" and c.usage is not None
    check_receipt(stack, raw.headers["x-unhardcoded-request-id"], deployment, c.usage)


@pytest.mark.parametrize("deployment", TARGETS)
def test_tools(stack: Stack, client: openai.OpenAI, deployment: str) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    stack.script(deployment).push(Step(tool_call={"name": "get_weather", "arguments": {"city": "Paris"}}))
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "use a tool: weather in Paris?"}],
        tools=tools,
        extra_body={"policy": policy_for(deployment)},
    )
    c = raw.parse()
    call = c.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert c.choices[0].finish_reason == "tool_calls"
    r = check_receipt(stack, raw.headers["x-unhardcoded-request-id"], deployment, c.usage)
    assert r["features"]["needs_tools"] is True
    # The round trip: the tool result goes back in the provider's own shape.
    follow = client.chat.completions.create(
        model="auto",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            c.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=tools,
        extra_body={"policy": policy_for(deployment)},
    )
    assert follow.choices[0].message.content


@pytest.mark.parametrize("deployment", TARGETS)
def test_image(stack: Stack, client: openai.OpenAI, deployment: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this picture"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
        extra_body={"policy": policy_for(deployment)},
    )
    c = raw.parse()
    assert raw.headers["x-unhardcoded-deployment"] == deployment
    assert "what is in this picture" in (c.choices[0].message.content or "")
    r = check_receipt(stack, raw.headers["x-unhardcoded-request-id"], deployment, c.usage)
    assert r["features"]["needs_vision"] is True


@pytest.mark.parametrize("deployment", TARGETS)
def test_streaming(stack: Stack, client: openai.OpenAI, deployment: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "stream these words back"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"policy": policy_for(deployment)},
    )
    text, usage, finish = "", None, None
    for chunk in raw.parse():
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "stream these words back" in text and finish == "stop" and usage is not None
    r = check_receipt(stack, raw.headers["x-unhardcoded-request-id"], deployment, usage)
    assert r["attempts"][0]["ttft_ms"] is not None


@pytest.mark.parametrize("deployment", TARGETS)
@pytest.mark.parametrize(
    ("step", "error_class"),
    [
        (Step(status=429, retry_after=0.01), "rate_limited"),
        (Step(status=503), "server_error"),
        (Step(status=500), "server_error"),
    ],
)
def test_errors_fall_back(
    stack: Stack, client: openai.OpenAI, deployment: str, step: Step, error_class: str
) -> None:
    stack.script(deployment).push(step)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"policy": policy_for(deployment)},
    )
    r = stack.receipt(raw.headers["x-unhardcoded-request-id"])
    assert [(a["deployment"], a["error_class"], a["fell_back"]) for a in r["attempts"]] == [
        (deployment, error_class, True),
        ("backup/gpt-x", None, False),
    ]
    stack.gateway._breakers.success(deployment)  # keep the cool-down from leaking into the next case


@pytest.mark.parametrize("deployment", TARGETS)
def test_client_error_does_not_fall_back(stack: Stack, client: openai.OpenAI, deployment: str) -> None:
    stack.script(deployment).push(Step(status=400))
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"policy": policy_for(deployment)},
        )
    r = stack.receipt(exc.value.response.headers["x-unhardcoded-request-id"])
    assert [a["error_class"] for a in r["attempts"]] == ["client_error"]


def test_vertex_token_is_fetched_once_and_cached(stack: Stack, client: openai.OpenAI) -> None:
    for _ in range(2):
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"policy": policy_for(TARGETS[2])},
        )
    assert len(stack.gateway._upstream.credentials._tokens) == 1  # one token for the vertex provider, reused


def test_dropped_parameters_are_warnings_on_the_receipt(stack: Stack, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "x"}],
        seed=7,
        logit_bias={"1": 1},
        extra_body={"policy": policy_for("anthropic/claude-x")},
    )
    r = stack.receipt(raw.headers["x-unhardcoded-request-id"])
    assert any("seed" in w for w in r["warnings"])
    assert any("seed" in w for w in r["attempts"][0]["warnings"])
