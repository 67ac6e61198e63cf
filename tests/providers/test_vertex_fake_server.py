"""The `vertex` adapter against the fake Vertex AI on 127.0.0.1, after a real service-account OAuth exchange
with the fake's token endpoint (which verifies the JWT's RS256 signature)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from tests.providers.conftest import FakeServer, assemble_openai_stream, check_completion
from unhardcoded.errors import ProviderError
from unhardcoded.providers import google_auth
from unhardcoded.providers.base import ChatResult, Credentials, HttpCall, Target
from unhardcoded.providers.vertex import ADAPTER
from unhardcoded.testing import fake_gemini
from unhardcoded.testing.google_sa import default_service_account, make_service_account
from unhardcoded.testing.script import Script, Step

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-5@20250929"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there, fake Vertex"}]


@dataclass
class Fake(FakeServer):
    token: str = ""

    def target(self, model: str, region: str = "europe-west4") -> Target:
        return Target(
            f"vertex/{model}", "vertex", "vertex", model, self.base_url, region, {"project": "acme-prod"}
        )

    async def login(self, service_account_json: str) -> str:
        sa = google_auth.load_service_account(service_account_json)
        call = google_auth.build_token_request(sa, now=int(time.time()), token_uri=f"{self.base_url}/token")
        status, _, body = await self.send(call)
        token, expires_in = google_auth.parse_token_response(status, body)
        assert expires_in > 3000
        return token

    async def chat(self, body: dict[str, Any], model: str, token: str | None = None) -> ChatResult:
        return await self.round_trip(body, self.target(model), Credentials(api_key=token or self.token))

    async def stream(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        raw, translator = await self.stream_through(body, self.target(model), Credentials(api_key=self.token))
        assert translator.usage is not None
        return assemble_openai_stream(raw)


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    runner, base_url, script = await fake_gemini.start()
    async with aiohttp.ClientSession() as session:
        fake = Fake(ADAPTER, base_url, script, session)
        fake.token = await fake.login(default_service_account().json_text)
        yield fake
    await runner.cleanup()


def message(result: ChatResult) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(result.body)
    check_completion(body)
    out: dict[str, Any] = body["choices"][0]["message"]
    return out


@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_chat_after_oauth(fake: Fake, model: str) -> None:
    result = await fake.chat({"messages": HELLO}, model)
    assert message(result)["content"] == "Hello there, fake Vertex" and result.finish_reason == "stop"
    assert result.usage is not None and result.usage.output_tokens == 4
    path = fake.script.seen[-1]["path"]
    publisher = "anthropic" if model == CLAUDE else "google"
    assert path.startswith(
        f"/v1/projects/acme-prod/locations/europe-west4/publishers/{publisher}/models/{model}:"
    )


@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_stream_after_oauth(fake: Fake, model: str) -> None:
    got = await fake.stream({"messages": HELLO, "stream_options": {"include_usage": True}}, model)
    assert got["content"] == "Hello there, fake Vertex" and got["finish_reason"] == "stop" and got["usage"]


@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_tool_calls(fake: Fake, model: str) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    fake.script.push(Step(tool_call={"name": "lookup", "arguments": {"q": "x"}}))
    result = await fake.chat({"messages": HELLO, "tools": [tool]}, model)
    assert (
        result.finish_reason == "tool_calls"
        and message(result)["tool_calls"][0]["function"]["name"] == "lookup"
    )


async def test_claude_json_schema_on_vertex(fake: Fake) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "p", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
    }
    result = await fake.chat({"messages": HELLO, "response_format": fmt}, CLAUDE)
    assert orjson.loads(message(result)["content"]) == {"ok": False} and result.finish_reason == "stop"


@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_bad_token_is_an_auth_error(fake: Fake, model: str) -> None:
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO}, model, token="ya29.not-issued")
    assert info.value.error_class == "auth_error" and info.value.status == 401
    assert "not-issued" not in str(info.value)


async def test_token_endpoint_checks_the_signature(fake: Fake) -> None:
    trusted = default_service_account()
    impostor = json.loads(make_service_account().json_text)
    impostor["client_email"] = trusted.client_email  # right name, wrong key
    with pytest.raises(ProviderError) as info:
        await fake.login(json.dumps(impostor))
    assert info.value.error_class == "auth_error" and "Invalid JWT Signature" in str(info.value)


async def test_token_endpoint_rejects_unknown_accounts(fake: Fake) -> None:
    stranger = make_service_account(client_email="stranger@elsewhere.iam.gserviceaccount.com")
    with pytest.raises(ProviderError) as info:
        await fake.login(stranger.json_text)
    assert info.value.error_class == "auth_error"


async def test_token_endpoint_checks_the_audience(fake: Fake) -> None:
    sa = google_auth.load_service_account(default_service_account().json_text)
    call = google_auth.build_token_request(
        sa, now=int(time.time()), token_uri="https://oauth2.googleapis.com/token"
    )
    status, _, body = await fake.send(
        HttpCall(call.method, f"{fake.base_url}/token", call.headers, call.body)
    )
    with pytest.raises(ProviderError) as info:
        google_auth.parse_token_response(status, body)
    assert info.value.error_class == "auth_error"


@pytest.mark.parametrize(
    ("model", "step", "error_class"),
    [
        (GEMINI, Step(status=429, retry_after=1), "rate_limited"),
        (GEMINI, Step(status=503), "server_error"),
        (GEMINI, Step(status=400), "client_error"),
        (CLAUDE, Step(status=529), "server_error"),
        (CLAUDE, Step(status=429, retry_after=2), "rate_limited"),
        (CLAUDE, Step(status=400), "client_error"),
        (CLAUDE, Step(malformed=True), "bad_response"),
    ],
)
async def test_scripted_errors(fake: Fake, model: str, step: Step, error_class: str) -> None:
    fake.script.push(step)
    with pytest.raises(ProviderError) as info:
        await fake.chat({"messages": HELLO}, model)
    assert info.value.error_class == error_class
    if step.retry_after:
        assert info.value.retry_after == step.retry_after


async def test_static_access_tokens_skip_oauth() -> None:
    runner, base_url, _ = await fake_gemini.start(access_tokens=["ya29.static"], service_accounts=[])
    try:
        async with aiohttp.ClientSession() as session:
            fake = Fake(ADAPTER, base_url, Script(), session, token="ya29.static")
            result = await fake.chat({"messages": HELLO}, GEMINI)
            assert result.finish_reason == "stop"
            with pytest.raises(ProviderError):
                await fake.login(default_service_account().json_text)
    finally:
        await runner.cleanup()
