"""The `gemini` adapter against the fake Google AI Studio on 127.0.0.1: build, send with aiohttp, parse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.providers.conftest import OneModelFake, check_completion
from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import ChatResult, Credentials
from unhardcoded.providers.gemini import ADAPTER
from unhardcoded.testing import fake_gemini
from unhardcoded.testing.script import Step

KEY = "AIzaSyLiveTest0123456789abcdefghij"
CREDS = Credentials(api_key=KEY)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there, fake Gemini"}]


Fake = OneModelFake


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    runner, base_url, script = await fake_gemini.start(api_key=KEY)
    async with aiohttp.ClientSession() as session:
        yield Fake(
            ADAPTER, base_url, script, session, kind="gemini", default_model="gemini-2.5-flash", creds=CREDS
        )
    await runner.cleanup()


def parsed(result: ChatResult) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(result.body)
    check_completion(body)
    return body


async def test_text_echo_and_usage(fake: Fake) -> None:
    result = await fake.chat({"messages": HELLO, "max_tokens": 32})
    assert parsed(result)["choices"][0]["message"]["content"] == "Hello there, fake Gemini"
    assert result.finish_reason == "stop" and result.model == "gemini-2.5-flash"
    assert result.usage is not None and result.usage.output_tokens == 4
    seen = fake.script.seen[-1]["body"]
    assert seen["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert seen["generationConfig"] == {"maxOutputTokens": 32}


async def test_stream_text_with_usage_chunk(fake: Fake) -> None:
    got, translator = await fake.stream({"messages": HELLO, "stream_options": {"include_usage": True}})
    assert got["content"] == "Hello there, fake Gemini" and got["finish_reason"] == "stop"
    assert translator.usage is not None and got["usage"]["prompt_tokens"] == translator.usage.input_tokens


async def test_tools_are_accepted_and_calls_come_back(fake: Fake) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    fake.script.push(Step(tool_call=call), Step(tool_call=call))
    result = await fake.chat({"messages": HELLO, "tools": [WEATHER], "tool_choice": "required"})
    calls = parsed(result)["choices"][0]["message"]["tool_calls"]
    assert result.finish_reason == "tool_calls" and calls[0]["id"] == "call_0_get_weather"
    got, _ = await fake.stream({"messages": HELLO, "tools": [WEATHER]})
    assert got["finish_reason"] == "tool_calls"
    assert orjson.loads(got["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


async def test_tool_result_roundtrip(fake: Fake) -> None:
    call = {
        "id": "call_0_get_weather",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0_get_weather", "content": '{"temp": 18}'},
    ]
    result = await fake.chat({"messages": messages, "tools": [WEATHER]})
    assert parsed(result)["choices"][0]["message"]["content"] == "function result received"
    contents = fake.script.seen[-1]["body"]["contents"]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]


@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema(fake: Fake, stream: bool) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": False,
    }
    body = {
        "messages": HELLO,
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    }
    if stream:
        got, _ = await fake.stream(body)
        text = got["content"]
    else:
        text = parsed(await fake.chat(body))["choices"][0]["message"]["content"]
    assert orjson.loads(text) == {"name": "Hello there, fake Gemini", "tags": ["Hello there, fake Gemini"]}


async def test_n_candidates(fake: Fake) -> None:
    body = parsed(await fake.chat({"messages": HELLO, "n": 3}))
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]


async def test_bad_and_missing_keys_are_auth_errors(fake: Fake) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO}, creds=Credentials(api_key="AIzaWrongKey0123456789abcdefghij"))
    assert info.value.error_class == "auth_error" and info.value.status == 400
    assert "AIzaWrong" not in str(info.value)
    url = f"{fake.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    async with fake.session.post(
        url, json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    ) as resp:
        error = ADAPTER.parse_error(resp.status, resp.headers, await resp.read())
    assert error.error_class == "auth_error" and error.status == 403


@pytest.mark.parametrize(
    ("step", "error_class"),
    [
        (Step(status=429, retry_after=3), "rate_limited"),
        (Step(status=500), "server_error"),
        (Step(status=503), "server_error"),
        (Step(status=504), "timeout"),
        (Step(status=401), "auth_error"),
        (Step(status=403), "auth_error"),
        (Step(status=400), "client_error"),
        (Step(status=404), "client_error"),
        (Step(status=400, error_type="RESOURCE_EXHAUSTED"), "rate_limited"),
        (Step(malformed=True), "bad_response"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_scripted_errors(fake: Fake, step: Step, error_class: str, stream: bool) -> None:
    error = await fake.scripted_error(step, {"messages": HELLO}, stream=stream)
    assert error.error_class == error_class
    if step.retry_after:
        assert error.retry_after == step.retry_after  # from google.rpc.RetryInfo


async def test_model_named_scripts(fake: Fake) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO}, model="sim-429")
    assert info.value.error_class == "rate_limited" and info.value.retry_after == pytest.approx(0.01)


async def test_cut_stream_never_completes(fake: Fake) -> None:
    fake.script.push(Step(cut_after=1))
    with pytest.raises((ProviderError, aiohttp.ClientPayloadError)):
        await fake.stream({"messages": HELLO})


async def test_the_fake_rejects_schema_keys_gemini_rejects(fake: Fake) -> None:
    declaration = {"name": "f", "parameters": {"type": "object", "additionalProperties": False}}
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
    }
    url = f"{fake.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    async with fake.session.post(url, json=body, headers={"x-goog-api-key": KEY}) as resp:
        error = ADAPTER.parse_error(resp.status, resp.headers, await resp.read())
    assert error.error_class == "client_error" and "additionalProperties" in str(error)
