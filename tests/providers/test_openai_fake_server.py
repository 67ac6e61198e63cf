"""The `openai` adapter against the fake OpenAI server over 127.0.0.1: build, send with aiohttp, parse."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from tests.providers.conftest import FakeServer, assemble_openai_stream, check_completion
from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import ChatResult, Credentials, Target
from unhardcoded.providers.openai_compat import ADAPTER
from unhardcoded.testing.fake_openai import start
from unhardcoded.testing.script import Step

KEY = "sk-live-test-4f8e2a9c1b7d"
CREDS = Credentials(api_key=KEY)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


@dataclass
class Fake(FakeServer):
    def target(self, model: str = "gpt-4o-mini", **options: Any) -> Target:
        return Target(f"fake/{model}", "fake", "openai", model, self.base_url, options=options)

    def azure(self, deployment: str = "gpt-4o-prod") -> Target:
        root = self.base_url.removesuffix("/v1")
        return Target(f"azure/{deployment}", "azure", "openai", deployment, root, options={"azure": True})

    async def chat(
        self, body: dict[str, Any], target: Target | None = None, creds: Credentials = CREDS
    ) -> ChatResult:
        return await self.round_trip(body, target or self.target(), creds)

    async def stream(self, body: dict[str, Any], target: Target | None = None) -> tuple[bytes, Any]:
        return await self.stream_through(body, target or self.target(), CREDS)


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    runner, base_url, script = await start(api_key=KEY)
    async with aiohttp.ClientSession() as session:
        yield Fake(ADAPTER, base_url, script, session)
    await runner.cleanup()


def _body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "auto",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def test_text_round_trip(fake: Fake) -> None:
    result = await fake.chat(_body("Hello there, fake"))
    body = orjson.loads(result.body)
    check_completion(body)
    assert body["choices"][0]["message"]["content"] == "Hello there, fake"
    assert result.model == "gpt-4o-mini" and result.finish_reason == "stop"
    assert result.usage is not None and (result.usage.input_tokens, result.usage.output_tokens) == (5, 3)
    seen = fake.script.seen[-1]
    assert seen["body"]["model"] == "gpt-4o-mini"
    assert "authorization" not in seen["headers"]


async def test_stream_with_and_without_usage_chunk(fake: Fake) -> None:
    for include_usage in (False, True):
        out, translator = await fake.stream(
            _body("one two three", stream=True, stream_options={"include_usage": include_usage})
        )
        got = assemble_openai_stream(out)
        assert got["content"] == "one two three" and got["finish_reason"] == "stop"
        assert got["include_usage_chunk"] is include_usage
        assert translator.usage.output_tokens == 3 and translator.finish_reason == "stop"
    assert all(s["body"]["stream_options"] == {"include_usage": True} for s in fake.script.seen)


async def test_tool_calls(fake: Fake) -> None:
    body = _body("Please use a tool for Paris", tools=[WEATHER])
    result = await fake.chat(body)
    message = orjson.loads(result.body)["choices"][0]["message"]
    assert result.finish_reason == "tool_calls"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {
        "city": "Please use a tool for Paris",
        "days": 1,
    }
    out, _ = await fake.stream({**body, "stream": True})
    got = assemble_openai_stream(out)
    assert got["finish_reason"] == "tool_calls"
    assert got["tool_calls"][0]["function"]["name"] == "get_weather"
    assert got["tool_calls"][0]["function"]["arguments"] == message["tool_calls"][0]["function"]["arguments"]


async def test_tool_result_gets_a_text_answer(fake: Fake) -> None:
    first = await fake.chat(_body("use a tool please", tools=[WEATHER]))
    message = orjson.loads(first.body)["choices"][0]["message"]
    call = message["tool_calls"][0]
    history = [
        {"role": "user", "content": "use a tool please"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    result = await fake.chat({"model": "auto", "messages": history, "tools": [WEATHER]})
    assert result.finish_reason == "stop"
    assert orjson.loads(result.body)["choices"][0]["message"]["content"] == "The tool returned: sunny"


async def test_scripted_tool_call_and_json_schema(fake: Fake) -> None:
    fake.script.push(Step(tool_call={"name": "lookup", "arguments": {"q": "x"}}))
    result = await fake.chat(_body(tools=[WEATHER]))
    assert orjson.loads(result.body)["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "number"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema, "strict": True}}
    result = await fake.chat(_body("yes", response_format=fmt))
    assert json.loads(orjson.loads(result.body)["choices"][0]["message"]["content"]) == {
        "answer": "yes",
        "score": 1.5,
    }


async def test_images_are_accepted(fake: Fake) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    result = await fake.chat({"model": "auto", "messages": [{"role": "user", "content": content}]})
    assert result.usage is not None and result.usage.input_tokens == 4 + 85


@pytest.mark.parametrize(
    ("step", "cls", "retry_after"),
    [
        (Step(status=429, retry_after=0.25), "rate_limited", 0.25),
        (Step(status=500), "server_error", None),
        (Step(status=503), "server_error", None),
        (Step(status=400), "client_error", None),
        (Step(status=401), "auth_error", None),
        (Step(malformed=True), "bad_response", None),
    ],
)
async def test_scripted_errors(fake: Fake, step: Step, cls: str, retry_after: float | None) -> None:
    fake.script.push(step)
    with pytest.raises(ProviderError) as info:
        await fake.chat(_body())
    assert info.value.error_class == cls and info.value.retry_after == retry_after


async def test_model_named_errors(fake: Fake) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.chat(_body(), target=fake.target("sim-429"))
    assert info.value.error_class == "rate_limited" and info.value.retry_after == pytest.approx(0.01)


async def test_wrong_or_missing_key_is_auth_error_without_the_key(fake: Fake) -> None:
    for creds in (Credentials(api_key="sk-wrong-key-1234567890"), Credentials()):
        with pytest.raises(ProviderError) as info:
            await fake.chat(_body(), creds=creds)
        assert info.value.error_class == "auth_error" and info.value.status == 401
        assert "sk-wrong-key-1234567890" not in str(info.value) and "7890" not in str(info.value)


async def test_stream_failures(fake: Fake) -> None:
    fake.script.push(Step(malformed=True), Step(cut_after=2), Step(status=429, retry_after=1))
    for cls in ("bad_response", "bad_response", "rate_limited"):
        with pytest.raises(ProviderError) as info:
            await fake.stream(_body("a b c d e", stream=True))
        assert info.value.error_class == cls
    with pytest.raises(ProviderError, match=r"before \[DONE\]"):
        await fake.stream(_body("a b c", stream=True), target=fake.target("sim-cut"))


async def test_reset_and_hang(fake: Fake) -> None:
    fake.script.push(Step(reset=True), Step(hang=True))
    call = ADAPTER.build_request(_body(), fake.target(), CREDS, stream=False)
    with pytest.raises(aiohttp.ClientConnectionError):
        await fake.send(call)
    with pytest.raises(asyncio.TimeoutError):
        await fake.send(call, timeout=0.3)


async def test_azure_paths(fake: Fake) -> None:
    target = fake.azure()
    result = await fake.chat(_body("hi azure"), target=target)
    assert orjson.loads(result.body)["choices"][0]["message"]["content"] == "hi azure"
    seen = fake.script.seen[-1]
    assert seen["path"] == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert seen["query"] == {"api-version": "2024-10-21"} and "api-key" not in seen["headers"]
    out, translator = await fake.stream(_body("hi azure", stream=True), target=target)
    assert assemble_openai_stream(out)["content"] == "hi azure" and translator.usage is not None
    with pytest.raises(ProviderError) as info:
        await fake.chat(_body(), target=target, creds=Credentials(api_key="wrong"))
    assert info.value.error_class == "auth_error" and "Access denied" in info.value.message


async def test_control_endpoints(fake: Fake) -> None:
    root = fake.base_url.removesuffix("/v1")
    async with fake.session.post(f"{root}/_script", json=[{"status": 500}, {"text": "scripted"}]) as resp:
        assert (await resp.json()) == {"queued": 2}
    with pytest.raises(ProviderError):
        await fake.chat(_body())
    result = await fake.chat(_body())
    assert orjson.loads(result.body)["choices"][0]["message"]["content"] == "scripted"
    async with fake.session.get(f"{root}/_seen") as resp:
        seen = await resp.json()
    assert len(seen) == 2 and all("authorization" not in s["headers"] for s in seen)
    async with fake.session.post(f"{root}/_reset") as resp:
        assert resp.status == 200
    assert fake.script.seen == []
    async with fake.session.get(
        f"{fake.base_url}/models", headers={"Authorization": f"Bearer {KEY}"}
    ) as resp:
        models = await resp.json()
    assert models["object"] == "list" and {"id", "object", "owned_by"} <= set(models["data"][0])


async def test_the_official_sdk_accepts_the_fake(fake: Fake) -> None:
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
    try:
        done = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hey you"}]
        )
        assert done.choices[0].message.content == "hey you" and done.usage is not None
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "use a tool"}],
            tools=[WEATHER],  # type: ignore[list-item]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
        assert chunks[0].choices[0].delta.tool_calls is not None
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="sim-429", messages=[{"role": "user", "content": "x"}])
    finally:
        await client.close()


@pytest.mark.slow
def test_module_entry_point() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "unhardcoded.testing.fake_openai",
        "--port",
        str(port),
        "--delay-ms",
        "1",
    ]
    body = orjson.dumps(_body("ping"))
    request = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and f"127.0.0.1:{port}/v1" in proc.stdout.readline()
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "the fake never listened"
                    time.sleep(0.05)
            with conn:
                conn.sendall(request)
                answer = b"".join(iter(lambda: conn.recv(65536), b""))
            assert answer.startswith(b"HTTP/1.1 200") and b'"content":"ping"' in answer
        finally:
            proc.terminate()
            proc.wait(timeout=10)
