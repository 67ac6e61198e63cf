"""Unit tests for the `openai` adapter beyond the recorded fixtures, and for the adapter registry."""

from __future__ import annotations

import copy
import importlib
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.providers.conftest import FIXTURES, TEST_API_KEY, TEST_CREDENTIALS, assemble_openai_stream
from unhardcoded.errors import ConfigError, ProviderError
from unhardcoded.providers import registry
from unhardcoded.providers.base import Credentials, Target
from unhardcoded.providers.openai_compat import ADAPTER, OpenAICompatAdapter, usage_from

OPENAI = Target("openai/gpt-4.1-mini", "openai", "openai", "gpt-4.1-mini", "https://api.openai.com/v1")
AZURE = Target(
    "azure/gpt-4o@swedencentral",
    "azure",
    "openai",
    "gpt 4o/prod",
    "https://contoso.openai.azure.com",
    region="swedencentral",
    options={"azure": True},
)
BODY: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
STREAM_TEXT = (FIXTURES / "openai" / "stream_text" / "upstream.sse").read_bytes()


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[],'
    b'"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n'
)
SIMPLE_STREAM = (
    chunk({"role": "assistant", "content": ""})
    + chunk({"content": "Hi"})
    + chunk({}, "stop")
    + USAGE_CHUNK
    + b"data: [DONE]\n\n"
)


def translate(data: bytes, *, include_usage: bool) -> tuple[bytes, bytes, Any]:
    translator = ADAPTER.stream_translator(OPENAI, include_usage=include_usage, request_id="req-1")
    fed = translator.feed(data)
    return fed, translator.finish(), translator


class TestBuildRequest:
    def test_model_replaced_and_other_fields_forwarded(self) -> None:
        body = {**BODY, "reasoning_effort": "low"}
        call = ADAPTER.build_request(body, OPENAI, TEST_CREDENTIALS, stream=False)
        sent = orjson.loads(call.body)
        assert sent == {"model": "gpt-4.1-mini", "messages": BODY["messages"], "reasoning_effort": "low"}
        assert call.url == "https://api.openai.com/v1/chat/completions"
        assert call.headers["authorization"] == f"Bearer {TEST_API_KEY}"

    def test_input_body_is_not_mutated(self) -> None:
        body = {**BODY, "stream": True, "stream_options": {"include_usage": False}}
        before = copy.deepcopy(body)
        ADAPTER.build_request(body, OPENAI, TEST_CREDENTIALS, stream=True)
        ADAPTER.build_request(body, OPENAI, TEST_CREDENTIALS, stream=False)
        assert body == before

    def test_stream_forces_usage_and_keeps_other_stream_options(self) -> None:
        body = {**BODY, "stream_options": {"include_obfuscation": False}}
        sent = orjson.loads(ADAPTER.build_request(body, OPENAI, TEST_CREDENTIALS, stream=True).body)
        assert sent["stream"] is True
        assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}

    def test_non_stream_drops_stream_fields(self) -> None:
        body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
        sent = orjson.loads(ADAPTER.build_request(body, OPENAI, TEST_CREDENTIALS, stream=False).body)
        assert "stream" not in sent and "stream_options" not in sent

    def test_stream_usage_option_off_sends_no_stream_options(self) -> None:
        target = Target(
            "m/x",
            "mistral",
            "openai",
            "mistral-small",
            "https://api.mistral.ai/v1",
            options={"stream_usage": False},
        )
        body = {**BODY, "stream_options": {"include_usage": True}}
        sent = orjson.loads(ADAPTER.build_request(body, target, TEST_CREDENTIALS, stream=True).body)
        assert sent["stream"] is True and "stream_options" not in sent

    def test_azure_url_and_header(self) -> None:
        call = ADAPTER.build_request(BODY, AZURE, TEST_CREDENTIALS, stream=False)
        assert call.url == (
            "https://contoso.openai.azure.com/openai/deployments/gpt%204o%2Fprod/chat/completions"
            "?api-version=2024-10-21"
        )
        assert call.headers["api-key"] == TEST_API_KEY
        assert "authorization" not in call.headers

    def test_azure_by_api_version_option(self) -> None:
        target = Target(
            "a/b",
            "azure",
            "openai",
            "gpt4o",
            "https://r.openai.azure.com",
            options={"api_version": "2025-01-01-preview"},
        )
        call = ADAPTER.build_request(BODY, target, TEST_CREDENTIALS, stream=True)
        assert call.url.endswith("/openai/deployments/gpt4o/chat/completions?api-version=2025-01-01-preview")
        assert call.headers["accept"] == "text/event-stream"

    def test_no_key_no_auth_header(self) -> None:
        for target in (OPENAI, AZURE):
            call = ADAPTER.build_request(BODY, target, Credentials(), stream=False)
            assert not {"authorization", "api-key"} & set(call.headers)

    def test_extra_headers_option(self) -> None:
        target = Target(
            "o/x",
            "openrouter",
            "openai",
            "x",
            "https://openrouter.ai/api/v1",
            options={"headers": {"X-Title": "app"}},
        )
        assert ADAPTER.build_request(BODY, target, TEST_CREDENTIALS, stream=False).headers["X-Title"] == "app"

    def test_key_never_in_repr(self) -> None:
        call = ADAPTER.build_request(BODY, AZURE, TEST_CREDENTIALS, stream=False)
        assert TEST_API_KEY not in repr(call)
        assert TEST_API_KEY not in repr(TEST_CREDENTIALS)
        assert TEST_API_KEY not in repr(ADAPTER)


class TestParseResponse:
    def test_body_is_returned_untouched(self) -> None:
        raw = (FIXTURES / "openai" / "text" / "upstream.json").read_bytes()
        result = ADAPTER.parse_response(200, {}, raw, OPENAI)
        assert result.body is raw
        assert result.model == "gpt-4.1-mini-2025-04-14" and result.finish_reason == "stop"
        assert result.usage is not None and result.usage.input_tokens == 13 and result.warnings == ()

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"not json",
            b"[1, 2]",
            b'{"choices": []}',
            b'{"choices": [1]}',
            b'{"choices": [{"index": 0}]}',
        ],
    )
    def test_bad_200_bodies(self, raw: bytes) -> None:
        with pytest.raises(ProviderError) as info:
            ADAPTER.parse_response(200, {}, raw, OPENAI)
        assert info.value.error_class == "bad_response"

    def test_error_status_raises_mapped_error(self) -> None:
        body = orjson.dumps(
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}
        )
        with pytest.raises(ProviderError) as info:
            ADAPTER.parse_response(429, {"retry-after-ms": "1500", "retry-after": "2"}, body, OPENAI)
        assert info.value.error_class == "rate_limited"
        assert info.value.retry_after == 1.5 and info.value.status == 429
        assert "slow down" in info.value.message

    def test_usage_mapping_variants(self) -> None:
        assert usage_from(None) is None
        openai = usage_from(
            {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}
        )
        assert openai is not None and (
            openai.input_tokens,
            openai.output_tokens,
            openai.cached_input_tokens,
        ) == (10, 3, 4)
        deepseek = usage_from({"prompt_tokens": 10, "completion_tokens": 3, "prompt_cache_hit_tokens": 8})
        assert deepseek is not None and deepseek.cached_input_tokens == 8
        moonshot = usage_from({"prompt_tokens": 10, "completion_tokens": 3, "cached_tokens": 6})
        assert moonshot is not None and moonshot.cached_input_tokens == 6
        odd = usage_from({"prompt_tokens": True, "completion_tokens": "3"})
        assert odd is not None and (odd.input_tokens, odd.output_tokens) == (0, 0)


class TestParseError:
    @pytest.mark.parametrize(
        ("status", "cls"),
        [(400, "client_error"), (401, "auth_error"), (403, "auth_error"), (404, "client_error"),
         (408, "timeout"), (429, "rate_limited"), (500, "server_error"), (503, "server_error"),
         (504, "timeout")],
    )  # fmt: skip
    def test_status_mapping(self, status: int, cls: str) -> None:
        assert ADAPTER.parse_error(status, {}, b"{}").error_class == cls

    def test_key_fragments_are_redacted(self) -> None:
        body = orjson.dumps(
            {"error": {"message": f"Incorrect API key provided: {TEST_API_KEY}; gsk_abcdefghijklmnop too.",
                       "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
        )  # fmt: skip
        error = ADAPTER.parse_error(401, {}, body)
        assert TEST_API_KEY not in str(error) and "gsk_abcdefghijklmnop" not in str(error)
        assert "provided: ***" in error.message and "invalid_api_key" in error.message

    def test_long_text_bodies_are_cut(self) -> None:
        error = ADAPTER.parse_error(502, {}, b"<html>" + b"x" * 5000 + b"</html>")
        assert error.error_class == "server_error" and len(error.message) < 400

    def test_message_shapes(self) -> None:
        detail = {"detail": [{"msg": "Extra inputs are not permitted"}]}
        mistral = orjson.dumps({"object": "error", "message": detail, "type": "invalid_request_error"})
        assert "Extra inputs are not permitted" in ADAPTER.parse_error(422, {}, mistral).message
        gemini = b'[{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}]'
        assert "API key not valid." in ADAPTER.parse_error(400, {}, gemini).message
        assert "HTTP 500" in ADAPTER.parse_error(500, {}, b"").message
        # An HTTP date in the past means "now"; an unreadable value is no Retry-After at all.
        assert (
            ADAPTER.parse_error(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"").retry_after == 0.0
        )
        assert ADAPTER.parse_error(429, {"Retry-After": "tomorrow-ish"}, b"").retry_after is None


class TestStream:
    def test_usage_chunk_dropped_when_not_asked(self) -> None:
        fed, tail, translator = translate(SIMPLE_STREAM, include_usage=False)
        assert fed == chunk({"role": "assistant", "content": ""}) + chunk({"content": "Hi"}) + chunk(
            {}, "stop"
        )
        assert tail == b"data: [DONE]\n\n"
        assert translator.usage is not None and translator.usage.input_tokens == 5
        assert translator.finish_reason == "stop" and translator.model == "m-1"

    def test_usage_chunk_and_done_held_for_finish(self) -> None:
        fed, tail, _ = translate(SIMPLE_STREAM, include_usage=True)
        assert b"[DONE]" not in fed and b'"choices":[]' not in fed
        assert tail == USAGE_CHUNK + b"data: [DONE]\n\n"

    def test_forwarded_bytes_are_the_upstream_events(self) -> None:
        fed, tail, _ = translate(STREAM_TEXT, include_usage=False)
        upstream_events = STREAM_TEXT.split(b"\n\n")
        assert fed + tail == b"\n\n".join(e for e in upstream_events if b'"choices":[]' not in e)

    def test_usage_on_a_content_chunk_becomes_a_usage_chunk_when_asked(self) -> None:
        stream = (
            chunk({"role": "assistant", "content": "Hi"})
            + chunk({}, "stop", usage=USAGE)
            + b"data: [DONE]\n\n"
        )
        _, tail, translator = translate(stream, include_usage=True)
        usage_event = orjson.loads(tail.split(b"\n\n")[0][6:])
        assert usage_event["choices"] == [] and usage_event["usage"]["total_tokens"] == 7
        assert usage_event["id"] == "chatcmpl-1" and usage_event["model"] == "m-1"
        assert translator.usage.output_tokens == 2

    def test_missing_usage_is_a_warning(self) -> None:
        stream = chunk({"role": "assistant", "content": "Hi"}) + chunk({}, "stop") + b"data: [DONE]\n\n"
        _, tail, translator = translate(stream, include_usage=True)
        assert tail == b"data: [DONE]\n\n" and translator.usage is None
        assert any("no token usage" in w for w in translator.warnings)

    def test_eof_without_done_is_bad_response(self) -> None:
        translator = ADAPTER.stream_translator(OPENAI, include_usage=False, request_id="r")
        translator.feed(chunk({"role": "assistant", "content": "Hi"}))
        with pytest.raises(ProviderError, match="stream ended before \\[DONE\\]") as info:
            translator.finish()
        assert info.value.error_class == "bad_response"

    def test_bytes_after_done_are_ignored(self) -> None:
        fed, tail, _ = translate(SIMPLE_STREAM + b"data: {not json\n\n", include_usage=False)
        assert tail == b"data: [DONE]\n\n" and b"not json" not in fed

    @pytest.mark.parametrize(
        ("error", "cls"),
        [({"message": "boom", "type": "server_error", "code": None}, "server_error"),
         ({"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}, "rate_limited"),
         ({"message": "Provider returned error", "code": 502}, "server_error"),
         ({"message": "too many", "code": "429"}, "rate_limited"),
         ("plain string error", "server_error")],
    )  # fmt: skip
    def test_in_stream_error(self, error: Any, cls: str) -> None:
        translator = ADAPTER.stream_translator(OPENAI, include_usage=False, request_id="r")
        translator.feed(chunk({"role": "assistant", "content": ""}))
        with pytest.raises(ProviderError) as info:
            translator.feed(b"data: " + orjson.dumps({"error": error}) + b"\n\n")
        assert info.value.error_class == cls

    def test_multiline_data_is_rejoined(self) -> None:
        event = (
            b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",\n'
            b'data: "choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},\n'
            b'data: "finish_reason":"stop"}],\n'
            b'data: "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
        )
        fed, tail, _ = translate(event + b"data: [DONE]\n\n", include_usage=False)
        assert assemble_openai_stream(fed + tail)["content"] == "Hi"

    def test_azure_annotation_chunks_are_dropped(self) -> None:
        prelude = (
            b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}\n\n'
        )
        annotation = (
            b'data: {"choices":[{"index":0,"finish_reason":null,"content_filter_results":{}}],'
            b'"created":0,"id":"","model":"","object":""}\n\n'
        )
        stream = (
            prelude
            + chunk({"role": "assistant", "content": "Hi"})
            + annotation
            + chunk({}, "stop", usage=USAGE)
        )
        fed, tail, translator = translate(stream + b"data: [DONE]\n\n", include_usage=False)
        assert b"prompt_filter_results" not in fed and b"content_filter_results" not in fed
        assert translator.model == "m-1"
        assert assemble_openai_stream(fed + tail)["content"] == "Hi"

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(min_value=0, max_value=len(STREAM_TEXT)), max_size=30))
    def test_any_split_gives_the_same_bytes(self, cuts: list[int]) -> None:
        whole_fed, whole_tail, _ = translate(STREAM_TEXT, include_usage=True)
        translator = ADAPTER.stream_translator(OPENAI, include_usage=True, request_id="req-1")
        points = [0, *sorted(cuts), len(STREAM_TEXT)]
        out = b"".join(translator.feed(STREAM_TEXT[a:b]) for a, b in zip(points, points[1:], strict=False))
        assert out + translator.finish() == whole_fed + whole_tail


class TestRegistry:
    def test_builtin_has_openai(self) -> None:
        adapters = registry.builtin_adapters()
        assert isinstance(adapters["openai"], OpenAICompatAdapter)
        assert all(kind == adapter.kind for kind, adapter in adapters.items())

    def test_missing_builtin_module_is_skipped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        modules = (*registry.BUILTIN_MODULES, ("nope", "unhardcoded.providers.does_not_exist"))
        monkeypatch.setattr(registry, "BUILTIN_MODULES", modules)
        assert "nope" not in registry.builtin_adapters()

    def test_broken_builtin_module_raises(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def fake_import(name: str) -> Any:
            if name == "unhardcoded.providers.broken":
                raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")
            return importlib.import_module(name)

        monkeypatch.setattr(registry, "BUILTIN_MODULES", (("broken", "unhardcoded.providers.broken"),))
        monkeypatch.setattr(registry.importlib, "import_module", fake_import)
        with pytest.raises(ModuleNotFoundError):
            registry.builtin_adapters()

    def _entry_points(self, monkeypatch: pytest.MonkeyPatch, *objs: Any) -> None:
        eps = [
            SimpleNamespace(name=f"p{i}", value=f"pkg:obj{i}", load=lambda o=o: o) for i, o in enumerate(objs)
        ]
        monkeypatch.setattr(
            registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else []
        )

    def test_plugins_instance_and_class(self, monkeypatch: pytest.MonkeyPatch) -> None:
        class Custom(OpenAICompatAdapter):
            kind = "custom"

        class Other(OpenAICompatAdapter):
            kind = "other"

        self._entry_points(monkeypatch, Custom(), Other)
        adapters = registry.load_adapters()
        assert isinstance(adapters["custom"], Custom) and isinstance(adapters["other"], Other)
        assert "custom" not in registry.load_adapters(include_plugins=False)

    def test_plugin_cannot_replace_a_builtin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._entry_points(monkeypatch, OpenAICompatAdapter())
        with pytest.raises(ConfigError, match="already registered"):
            registry.load_adapters()

    def test_plugin_must_be_an_adapter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._entry_points(monkeypatch, SimpleNamespace(kind="half", build_request=print))
        with pytest.raises(ConfigError, match="missing request_warnings, parse_response"):
            registry.load_adapters()
