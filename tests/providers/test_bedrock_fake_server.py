"""The Bedrock adapter against fake_bedrock over 127.0.0.1: signed requests, JSON and event-stream answers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import botocore.session
import orjson
import pytest
from botocore.config import Config

from tests.providers.conftest import FakeServer, assemble_openai_stream
from unhardcoded.errors import ProviderError
from unhardcoded.providers import bedrock
from unhardcoded.providers.base import ChatResult, Credentials, Target
from unhardcoded.providers.bedrock import ADAPTER
from unhardcoded.providers.bedrock_parse import BedrockStreamTranslator
from unhardcoded.testing import fake_bedrock
from unhardcoded.testing.script import Step

REGION = "eu-central-1"
MODEL = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
CREDS = Credentials(
    aws_access_key_id=fake_bedrock.TEST_ACCESS_KEY_ID,
    aws_secret_access_key=fake_bedrock.TEST_SECRET_ACCESS_KEY,
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@dataclass
class Fake(FakeServer):
    def target(self, model: str = MODEL, region: str = REGION) -> Target:
        return Target(f"bedrock/x@{region}", "bedrock", "bedrock", model, self.base_url, region)

    async def complete(
        self, body: dict[str, Any], *, credentials: Credentials = CREDS, target: Target | None = None
    ) -> ChatResult:
        return await self.round_trip(body, target or self.target(), credentials)

    async def stream(
        self, body: dict[str, Any], *, include_usage: bool = False, target: Target | None = None
    ) -> tuple[bytes, BedrockStreamTranslator]:
        raw, translator = await self.stream_through(
            body | {"stream": True}, target or self.target(), CREDS, include_usage=include_usage
        )
        assert self.stream_content_type == bedrock.EVENT_STREAM
        assert isinstance(translator, BedrockStreamTranslator)
        return raw, translator


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    runner, base_url, script = await fake_bedrock.start(region=REGION)
    async with aiohttp.ClientSession() as session:
        yield Fake(ADAPTER, base_url, script, session)
    await runner.cleanup()


def message(result: ChatResult) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(result.body)
    return body["choices"][0]["message"]


async def test_text(fake: Fake) -> None:
    result = await fake.complete(
        {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello there"}]}
    )
    assert message(result) == {"role": "assistant", "content": "Hello there"}
    assert result.finish_reason == "stop" and result.usage is not None and result.usage.input_tokens == 4
    seen = fake.script.seen[-1]
    assert seen["model"] == MODEL and seen["body"]["system"] == [{"text": "Be kind."}]
    assert "authorization" not in seen["headers"]


async def test_stream_text_with_usage(fake: Fake) -> None:
    out, translator = await fake.stream(
        {"messages": [{"role": "user", "content": "one two three"}]}, include_usage=True
    )
    got = assemble_openai_stream(out)
    assert got["content"] == "one two three" and got["finish_reason"] == "stop"
    assert got["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 3,
        "total_tokens": 6,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert translator.usage is not None and translator.usage.output_tokens == 3


async def test_tools(fake: Fake) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    fake.script.push(Step(tool_call=call), Step(tool_call=call))
    body = {
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    result = await fake.complete(body)
    [tool_call] = message(result)["tool_calls"]
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert result.finish_reason == "tool_calls"
    assert fake.script.seen[-1]["body"]["toolConfig"]["toolChoice"] == {"any": {}}
    out, _ = await fake.stream(body)
    got = assemble_openai_stream(out)
    assert got["finish_reason"] == "tool_calls"
    assert orjson.loads(got["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    # and the round trip: the tool result goes back as a toolResult block
    history = [
        *body["messages"],
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "18C"},
    ]
    result = await fake.complete({"messages": history, "tools": [WEATHER]})
    assert message(result)["content"] == "Weather in Paris?"
    assert (
        fake.script.seen[-1]["body"]["messages"][2]["content"][0]["toolResult"]["toolUseId"]
        == tool_call["id"]
    )


async def test_image(fake: Fake) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    parts = [
        {"type": "text", "text": "Colour?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    result = await fake.complete({"messages": [{"role": "user", "content": parts}]})
    assert message(result)["content"] == "Colour?"
    assert fake.script.seen[-1]["body"]["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": png}}
    }


async def test_json_schema(fake: Fake) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    result = await fake.complete({"messages": [{"role": "user", "content": "hi"}], "response_format": rf})
    assert orjson.loads(message(result)["content"]) == {"answer": "hi"} and result.finish_reason == "stop"
    out, _ = await fake.stream({"messages": [{"role": "user", "content": "hi"}], "response_format": rf})
    got = assemble_openai_stream(out)
    assert orjson.loads(got["content"]) == {"answer": "hi"} and got["tool_calls"] == []


async def test_cross_region_arn_model(fake: Fake) -> None:
    arn = f"arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/a1b2c3"
    result = await fake.complete(
        {"messages": [{"role": "user", "content": "hi"}]}, target=fake.target(model=arn)
    )
    assert message(result)["content"] == "hi" and fake.script.seen[-1]["model"] == arn


@pytest.mark.parametrize(
    ("step", "error_class", "retry_after"),
    [
        (Step(status=429, retry_after=1.5), "rate_limited", 1.5),
        (Step(status=500), "server_error", None),
        (Step(status=503), "server_error", None),
        (Step(status=400), "client_error", None),
        (Step(status=401), "auth_error", None),
        (Step(status=403), "auth_error", None),
        (Step(status=404), "client_error", None),
        (Step(status=408), "timeout", None),
        (Step(status=424), "server_error", None),
        (Step(status=400, error_type="ServiceQuotaExceededException"), "rate_limited", None),
        (Step(status=429, error_type="ModelNotReadyException"), "server_error", None),
        (Step(malformed=True), "bad_response", None),
    ],
)
async def test_scripted_errors(fake: Fake, step: Step, error_class: str, retry_after: float | None) -> None:
    fake.script.push(step)
    with pytest.raises(ProviderError) as info:
        await fake.complete({"messages": [{"role": "user", "content": "hi"}]})
    assert info.value.error_class == error_class and info.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("step", "error_class"),
    [
        (Step(status=429), "rate_limited"),
        (Step(status=500), "server_error"),
        (Step(malformed=True), "bad_response"),
        (Step(cut_after=1), "bad_response"),
        (Step(error_type="throttlingException"), "rate_limited"),
        (Step(error_type="modelStreamErrorException"), "server_error"),
        (Step(error_type="validationException"), "client_error"),
        (Step(error_type="modelTimeoutException"), "timeout"),
    ],
)
async def test_scripted_stream_errors(fake: Fake, step: Step, error_class: str) -> None:
    fake.script.push(step)
    with pytest.raises(ProviderError) as info:
        await fake.stream({"messages": [{"role": "user", "content": "one two three"}]})
    assert info.value.error_class == error_class


@pytest.mark.parametrize(
    ("model", "error_class"),
    [("sim-429", "rate_limited"), ("sim-500", "server_error"), ("sim-malformed", "bad_response")],
)
async def test_scripted_by_model_name(fake: Fake, model: str, error_class: str) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.complete(
            {"messages": [{"role": "user", "content": "hi"}]}, target=fake.target(model=model)
        )
    assert info.value.error_class == error_class


async def test_script_over_http(fake: Fake) -> None:
    async with fake.session.post(f"{fake.base_url}/_script", json=[{"status": 503}]) as response:
        assert response.status == 200
    with pytest.raises(ProviderError) as info:
        await fake.complete({"messages": [{"role": "user", "content": "hi"}]})
    assert info.value.error_class == "server_error"
    async with fake.session.get(f"{fake.base_url}/_seen") as response:
        seen = await response.json()
    assert seen[-1]["model"] == MODEL and "x-amz-date" in seen[-1]["headers"]


async def test_hang_and_reset(fake: Fake) -> None:
    fake.script.push(Step(hang=True), Step(reset=True))
    call = ADAPTER.build_request(
        {"messages": [{"role": "user", "content": "hi"}]}, fake.target(), CREDS, stream=False
    )
    with pytest.raises(asyncio.TimeoutError):
        async with fake.session.post(
            call.url, headers=call.headers, data=call.body, timeout=aiohttp.ClientTimeout(total=0.3)
        ):
            pass
    with pytest.raises(aiohttp.ClientError):
        async with fake.session.post(call.url, headers=call.headers, data=call.body) as response:
            await response.read()


@pytest.mark.parametrize(
    "credentials",
    [
        replace(CREDS, aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY"),
        replace(CREDS, aws_access_key_id="AKIDUNKNOWN"),
        replace(CREDS, aws_session_token="a-token-the-fake-never-issued"),
        Credentials(api_key="ABSKnot-the-right-key"),
    ],
    ids=["wrong-secret", "unknown-key-id", "unknown-token", "wrong-api-key"],
)
async def test_bad_credentials_are_auth_errors(fake: Fake, credentials: Credentials) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.complete({"messages": [{"role": "user", "content": "hi"}]}, credentials=credentials)
    assert info.value.error_class == "auth_error" and info.value.status == 403
    for secret in ("WRONGKEY", "never-issued", "not-the-right-key", fake_bedrock.TEST_SECRET_ACCESS_KEY):
        assert secret not in str(info.value)


async def test_api_key(fake: Fake) -> None:
    result = await fake.complete(
        {"messages": [{"role": "user", "content": "hi"}]},
        credentials=Credentials(api_key=fake_bedrock.TEST_API_KEY),
    )
    assert message(result)["content"] == "hi"


async def test_signature_scoped_to_another_region_is_refused(fake: Fake) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.complete(
            {"messages": [{"role": "user", "content": "hi"}]}, target=fake.target(region="us-east-1")
        )
    assert info.value.error_class == "auth_error" and "region" in info.value.message


async def test_stale_signature_is_refused(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    class Stale(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Stale:
            return cls.fromtimestamp(dt.datetime.now(tz).timestamp() - 600, tz)

    monkeypatch.setattr(bedrock, "datetime", Stale)
    with pytest.raises(ProviderError) as info:
        await fake.complete({"messages": [{"role": "user", "content": "hi"}]})
    assert info.value.error_class == "auth_error" and "expired" in info.value.message


async def test_session_token() -> None:
    runner, base_url, _ = await fake_bedrock.start(session_token="FQoGZXIvYXdzEXAMPLE")
    target = Target("d", "bedrock", "bedrock", MODEL, base_url, REGION)
    try:
        async with aiohttp.ClientSession() as session:
            for token, status in (("FQoGZXIvYXdzEXAMPLE", 200), (None, 403)):
                call = ADAPTER.build_request(
                    {"messages": [{"role": "user", "content": "hi"}]},
                    target,
                    replace(CREDS, aws_session_token=token),
                    stream=False,
                )
                async with session.post(call.url, headers=call.headers, data=call.body) as response:
                    assert response.status == status
    finally:
        await runner.cleanup()


def _boto_client(base_url: str) -> Any:
    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=base_url,
        aws_access_key_id=fake_bedrock.TEST_ACCESS_KEY_ID,
        aws_secret_access_key=fake_bedrock.TEST_SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


async def test_fake_speaks_to_botocore(fake: Fake) -> None:
    """AWS's own client signs requests the fake accepts, and parses the fake's JSON and event streams."""

    def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        client = _boto_client(fake.base_url)
        messages = [{"role": "user", "content": [{"text": "hello from boto"}]}]
        answer = client.converse(modelId=MODEL, messages=messages)
        events = list(client.converse_stream(modelId=MODEL, messages=messages)["stream"])
        client.close()
        return answer, events

    answer, events = await asyncio.to_thread(run)
    assert answer["output"]["message"]["content"] == [{"text": "hello from boto"}]
    assert answer["stopReason"] == "end_turn" and answer["usage"]["totalTokens"] == 6
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    assert (
        "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        == "hello from boto"
    )
    assert fake.script.seen[-1]["model"] == MODEL  # botocore sent it as %3A, the fake decoded it


async def test_fake_validates_like_bedrock(fake: Fake) -> None:
    """Converse refuses tool blocks without a toolConfig; the fake does too (so the adapter keeps tools)."""
    call = {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
    ]
    with pytest.raises(ProviderError) as info:
        await fake.complete({"messages": history})
    assert info.value.error_class == "client_error" and "toolConfig" in info.value.message
    result = await fake.complete({"messages": history, "tools": [WEATHER], "tool_choice": "none"})
    assert result.finish_reason == "stop"
