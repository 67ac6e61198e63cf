"""The Vertex AI adapter: publisher choice, URLs, Bearer auth, and reuse of the Gemini and Anthropic rules."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.providers.conftest import SECRETS, TEST_CREDENTIALS
from unhardcoded.errors import ProviderError
from unhardcoded.providers.anthropic import to_messages_body
from unhardcoded.providers.anthropic_parse import AnthropicStream
from unhardcoded.providers.base import Credentials, Target
from unhardcoded.providers.gemini import to_gemini_body
from unhardcoded.providers.gemini_parse import GeminiStream
from unhardcoded.providers.vertex import ADAPTER, model_url, publisher

USER = [{"role": "user", "content": "hi"}]


def target(model: str = "gemini-2.5-flash", **options: Any) -> Target:
    region = options.pop("region", "europe-west4")
    return Target(
        "vertex/x",
        "vertex",
        "vertex",
        model,
        options.pop("base_url", ""),
        region,
        {"project": "p", **options},
    )


@pytest.mark.parametrize(
    ("model", "options", "expected"),
    [
        ("gemini-2.5-pro", {}, "google"),
        ("claude-opus-4-1@20250805", {}, "anthropic"),
        ("tuned-123", {"publisher": "anthropic"}, "anthropic"),
        ("claude-lookalike", {"publisher": "google"}, "google"),
    ],
)
def test_publisher(model: str, options: dict[str, Any], expected: str) -> None:
    assert publisher(target(model, **options)) == expected


def test_unknown_publisher_is_refused() -> None:
    with pytest.raises(ProviderError) as info:
        publisher(target(publisher="meta"))
    assert info.value.error_class == "client_error"


def test_urls() -> None:
    assert model_url(target(region="global")).startswith(
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
    )
    assert model_url(target(base_url="http://127.0.0.1:9/v1")).startswith("http://127.0.0.1:9/v1/projects/p/")
    assert model_url(target(base_url="http://127.0.0.1:9/v1beta1")).startswith(
        "http://127.0.0.1:9/v1beta1/projects/p/"
    )


def test_project_is_required() -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request({"messages": USER}, target(project=""), TEST_CREDENTIALS, stream=False)
    assert info.value.error_class == "client_error"


def test_no_region_means_the_global_endpoint_and_multi_regions_have_their_own_hosts() -> None:
    assert model_url(target(region=None)).startswith(
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
    )
    assert model_url(target(region="eu")).startswith(
        "https://aiplatform.eu.rep.googleapis.com/v1/projects/p/locations/eu/"
    )
    assert model_url(target(region="us")).startswith(
        "https://aiplatform.us.rep.googleapis.com/v1/projects/p/locations/us/"
    )
    assert model_url(target(region="europe-west1")).startswith(
        "https://europe-west1-aiplatform.googleapis.com/"
    )


def test_missing_token_is_an_auth_error() -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request({"messages": USER}, target(), Credentials(), stream=False)
    assert info.value.error_class == "auth_error"


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-5@20250929"])
def test_bodies_are_the_shared_translations(model: str) -> None:
    request = {"messages": USER, "max_tokens": 9, "temperature": 0.3}
    call = ADAPTER.build_request(request, target(model), TEST_CREDENTIALS, stream=False)
    body = orjson.loads(call.body)
    assert call.headers["authorization"] == f"Bearer {TEST_CREDENTIALS.api_key}"
    for secret in SECRETS:
        assert secret not in repr(call) and secret not in call.url
    if model.startswith("claude"):
        assert body == {"anthropic_version": "vertex-2023-10-16", **to_messages_body(request)[0]}
    else:
        assert body == to_gemini_body(request)[0]


def test_claude_beta_header_and_version_override() -> None:
    t = target("claude-x", anthropic_beta=["a", "b"], anthropic_version="vertex-2099-01-01")
    call = ADAPTER.build_request({"messages": USER}, t, TEST_CREDENTIALS, stream=True)
    assert call.headers["anthropic-beta"] == "a,b"
    assert orjson.loads(call.body)["anthropic_version"] == "vertex-2099-01-01"
    assert call.url.endswith(":streamRawPredict")


def test_request_warnings_follow_the_publisher() -> None:
    request = {"messages": USER, "seed": 3, "user": "u"}
    assert not any("seed" in w for w in ADAPTER.request_warnings(request, target()))  # Gemini takes a seed
    assert any("seed" in w for w in ADAPTER.request_warnings(request, target("claude-x")))
    assert any("user" in w for w in ADAPTER.request_warnings(request, target()))


def test_stream_translator_follows_the_publisher() -> None:
    assert isinstance(ADAPTER.stream_translator(target(), include_usage=False, request_id="r"), GeminiStream)
    assert isinstance(
        ADAPTER.stream_translator(target("claude-x"), include_usage=False, request_id="r"), AnthropicStream
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "server_error"),
        (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}', "client_error"),
        (401, b'{"error":{"code":401,"message":"no","status":"UNAUTHENTICATED"}}', "auth_error"),
        (429, b'[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]', "rate_limited"),
        (503, b"upstream connect error or disconnect/reset before headers", "server_error"),
    ],
)
def test_parse_error_reads_both_shapes(status: int, body: bytes, expected: str) -> None:
    assert ADAPTER.parse_error(status, {}, body).error_class == expected
