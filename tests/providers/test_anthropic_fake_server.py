"""The `anthropic` adapter against the fake Anthropic server on 127.0.0.1: build, send with aiohttp, parse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.providers.conftest import OneModelFake, check_completion
from unhardcoded.errors import ProviderError
from unhardcoded.providers.anthropic import ADAPTER
from unhardcoded.providers.base import ChatResult, Credentials
from unhardcoded.testing import fake_anthropic
from unhardcoded.testing.script import Step

KEY = "sk-ant-live-test-7c1e9d"
CREDS = Credentials(api_key=KEY)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there, fake Claude"}]


Fake = OneModelFake


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    runner, base_url, script = await fake_anthropic.start(api_key=KEY)
    async with aiohttp.ClientSession() as session:
        yield Fake(
            ADAPTER,
            base_url,
            script,
            session,
            kind="anthropic",
            default_model="claude-sonnet-4-5",
            creds=CREDS,
        )
    await runner.cleanup()


def content(result: ChatResult) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(result.body)
    check_completion(body)
    message: dict[str, Any] = body["choices"][0]["message"]
    return message


async def test_text_echo_and_usage(fake: Fake) -> None:
    result = await fake.chat({"messages": HELLO, "max_tokens": 64})
    assert content(result)["content"] == "Hello there, fake Claude"
    assert result.finish_reason == "stop" and result.model == "claude-sonnet-4-5"
    assert result.usage is not None and result.usage.output_tokens == 4 and result.usage.input_tokens > 4
    seen = fake.script.seen[-1]["body"]
    assert seen["system"] == [{"type": "text", "text": "Be brief."}] and seen["max_tokens"] == 64


async def test_stream_text_with_usage_chunk(fake: Fake) -> None:
    got, translator = await fake.stream({"messages": HELLO, "stream_options": {"include_usage": True}})
    assert got["content"] == "Hello there, fake Claude" and got["finish_reason"] == "stop"
    assert (
        translator.usage is not None
        and got["usage"]["completion_tokens"] == translator.usage.output_tokens == 4
    )


async def test_scripted_text(fake: Fake) -> None:
    fake.script.push(Step(text="Scripted answer"))
    assert content(await fake.chat({"messages": HELLO}))["content"] == "Scripted answer"


async def test_tool_call_plain_and_streamed(fake: Fake) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    fake.script.push(Step(tool_call=call), Step(tool_call=call))
    result = await fake.chat({"messages": HELLO, "tools": [WEATHER]})
    calls = content(result)["tool_calls"]
    assert result.finish_reason == "tool_calls" and orjson.loads(calls[0]["function"]["arguments"]) == {
        "city": "Paris"
    }
    got, _ = await fake.stream({"messages": HELLO, "tools": [WEATHER]})
    assert got["finish_reason"] == "tool_calls" and got["tool_calls"][0]["function"]["name"] == "get_weather"
    assert orjson.loads(got["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


async def test_tool_result_roundtrip(fake: Fake) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 and cloudy"},
    ]
    result = await fake.chat({"messages": messages, "tools": [WEATHER]})
    assert content(result)["content"] == "tool result received"
    turns = fake.script.seen[-1]["body"]["messages"]
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": "18 and cloudy",
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema_through_the_forced_tool(fake: Fake, stream: bool) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    body = {
        "messages": HELLO,
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    }
    if stream:
        got, _ = await fake.stream(body)
        text, finish = got["content"], got["finish_reason"]
    else:
        result = await fake.chat(body)
        text, finish = content(result)["content"], result.finish_reason
    assert orjson.loads(text) == {"name": "Hello there, fake Claude", "age": 0} and finish == "stop"


async def test_wrong_key_is_an_auth_error(fake: Fake) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO}, creds=Credentials(api_key="sk-ant-wrong"))
    assert info.value.error_class == "auth_error" and info.value.status == 401
    assert "sk-ant-wrong" not in str(info.value)


@pytest.mark.parametrize(
    ("step", "error_class"),
    [
        (Step(status=429, retry_after=2), "rate_limited"),
        (Step(status=500), "server_error"),
        (Step(status=529), "server_error"),
        (Step(status=401), "auth_error"),
        (Step(status=403), "auth_error"),
        (Step(status=400), "client_error"),
        (Step(status=404), "client_error"),
        (Step(status=500, error_type="overloaded_error"), "server_error"),
        (Step(malformed=True), "bad_response"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_scripted_errors(fake: Fake, step: Step, error_class: str, stream: bool) -> None:
    error = await fake.scripted_error(step, {"messages": HELLO}, stream=stream)
    assert error.error_class == error_class
    if step.retry_after:
        assert error.retry_after == step.retry_after


async def test_model_named_scripts(fake: Fake) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO}, model="sim-429")
    assert info.value.error_class == "rate_limited" and info.value.retry_after == pytest.approx(0.01)


async def test_script_over_http(fake: Fake) -> None:
    async with fake.session.post(f"{fake.base_url}/_script", json=[{"status": 503}]) as resp:
        assert resp.status == 200
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO})
    assert info.value.error_class == "server_error" and info.value.status == 503


async def test_cut_stream_never_completes(fake: Fake) -> None:
    fake.script.push(Step(cut_after=1))
    with pytest.raises((ProviderError, aiohttp.ClientPayloadError)):
        await fake.stream({"messages": HELLO})


async def test_reset_and_hang_surface_as_transport_errors(fake: Fake) -> None:
    fake.script.push(Step(reset=True))
    with pytest.raises(aiohttp.ClientError):
        await fake.chat({"messages": HELLO})
    fake.script.push(Step(hang=True))
    call = ADAPTER.build_request({"messages": HELLO}, fake.target(), CREDS, stream=False)
    with pytest.raises(asyncio.TimeoutError):
        async with fake.session.post(
            call.url, headers=call.headers, data=call.body, timeout=aiohttp.ClientTimeout(total=0.2)
        ):
            pass
