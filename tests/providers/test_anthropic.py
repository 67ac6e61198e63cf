"""The Anthropic adapter beyond the recorded fixtures: translation, warnings, refusals, stream details."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.providers.conftest import SECRETS, SPLITS, TEST_CREDENTIALS, assemble_openai_stream, run_translator
from unhardcoded.errors import ProviderError
from unhardcoded.providers.anthropic import ADAPTER, DEFAULT_MAX_TOKENS, to_messages_body
from unhardcoded.providers.anthropic_parse import clip, error_from_body
from unhardcoded.providers.base import Credentials, Target

TARGET = Target(
    "anthropic/claude", "anthropic", "anthropic", "claude-sonnet-4-5", "https://api.anthropic.com"
)
USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


def body_of(request: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    call = ADAPTER.build_request(request, TARGET, TEST_CREDENTIALS, stream=stream)
    out: dict[str, Any] = orjson.loads(call.body)
    return out


def event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {orjson.dumps(data).decode()}\n\n".encode()


def test_max_tokens_default_and_precedence() -> None:
    assert body_of({"messages": USER})["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body_of({"messages": USER, "max_tokens": 50})["max_tokens"] == 50
    assert body_of({"messages": USER, "max_tokens": 50, "max_completion_tokens": 70})["max_tokens"] == 70


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"seed": 1}, "seed"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"temperature": 1.7}, "temperature 1.7"),
        ({"messages": [*USER, {"role": "system", "content": "late"}]}, "moved"),
    ],
)
def test_dropped_parameters_warn(extra: dict[str, Any], fragment: str) -> None:
    request = {"messages": USER, **extra}
    warnings = ADAPTER.request_warnings(request, TARGET)
    assert any(fragment in w for w in warnings), warnings
    payload = body_of(request)
    for key in ("seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias"):
        assert key not in payload


def test_harmless_defaults_do_not_warn() -> None:
    request = {"messages": USER, "logprobs": False, "presence_penalty": 0, "n": 1}
    assert ADAPTER.request_warnings(request, TARGET) == ()


def test_temperature_is_clamped_to_one() -> None:
    assert body_of({"messages": USER, "temperature": 1.7})["temperature"] == 1
    assert body_of({"messages": USER, "temperature": 0})["temperature"] == 0


@pytest.mark.parametrize(
    "request_body",
    [
        {"messages": USER, "n": 2},
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "[1]"}}],
                }
            ]
        },
        {"messages": [{"role": "function", "content": "x"}]},
        {"messages": []},
        {"messages": USER, "tools": [{"type": "retrieval"}]},
        {"messages": USER, "tools": [{"type": "function", "function": {"name": "json_response"}}]},
        {"messages": USER, "tools": [TOOL], "tool_choice": "sometimes"},
        {"messages": USER, "response_format": {"type": "xml"}},
    ],
)
def test_refused_requests_are_client_errors(request_body: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request(request_body, TARGET, TEST_CREDENTIALS, stream=False)
    assert info.value.error_class == "client_error"


def test_n_greater_than_one_names_the_parameter() -> None:
    with pytest.raises(ProviderError, match="n=3"):
        to_messages_body({"messages": USER, "n": 3})


def test_missing_key_is_an_auth_error() -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request({"messages": USER}, TARGET, Credentials(), stream=False)
    assert info.value.error_class == "auth_error"


def test_key_only_in_header_and_never_in_repr() -> None:
    call = ADAPTER.build_request({"messages": USER}, TARGET, TEST_CREDENTIALS, stream=True)
    assert call.headers["x-api-key"] == TEST_CREDENTIALS.api_key
    assert call.headers["accept"] == "text/event-stream"
    for secret in SECRETS:
        assert secret not in repr(call) and secret.encode() not in call.body and secret not in call.url


def test_tool_ids_are_made_safe_for_anthropic() -> None:
    request = {
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "fc:1.2", "function": {"name": "f", "arguments": ""}}],
            },
            {"role": "tool", "tool_call_id": "fc:1.2", "content": "done"},
        ],
        "tools": [TOOL],
    }
    turns = body_of(request)["messages"]
    assert turns[1]["content"][0] == {"type": "tool_use", "id": "fc_1_2", "name": "f", "input": {}}
    assert turns[2]["content"][0]["tool_use_id"] == "fc_1_2"


def test_tool_results_open_their_user_turn_and_consecutive_turns_merge() -> None:
    request = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "and hurry"},
            {"role": "tool", "tool_call_id": "a", "content": "done"},
        ]
    }
    turns = body_of(request)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b["type"] for b in turns[2]["content"]] == ["tool_result", "text"]


def test_prefilled_assistant_turn_loses_trailing_space() -> None:
    turns = body_of({"messages": [*USER, {"role": "assistant", "content": "The answer is "}]})["messages"]
    assert turns[-1]["content"][-1]["text"] == "The answer is"


def test_empty_texts_are_dropped() -> None:
    turns = body_of(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "x"}]}
            ]
        }
    )
    assert turns["messages"][0]["content"] == [{"type": "text", "text": "x"}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "any"}),
        ("auto", {"type": "any"}),
        ("none", {"type": "tool", "name": "json_response", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "f"}},
            {"type": "tool", "name": "f"},
        ),
    ],
)
def test_json_schema_with_client_tools(choice: Any, expected: dict[str, Any]) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    request: dict[str, Any] = {"messages": USER, "tools": [TOOL], "response_format": fmt}
    if choice is not None:
        request["tool_choice"] = choice
    payload = body_of(request)
    assert [t["name"] for t in payload["tools"]] == ["f", "json_response"]
    assert payload["tool_choice"] == expected


def test_tool_choice_without_tools_is_left_out() -> None:
    assert "tool_choice" not in body_of({"messages": USER, "tool_choice": "auto"})


def test_options_version_and_beta_headers() -> None:
    target = Target(
        "a", "a", "anthropic", "m", "", options={"anthropic_version": "2099-01-01", "anthropic_beta": "b1"}
    )
    call = ADAPTER.build_request({"messages": USER}, target, TEST_CREDENTIALS, stream=False)
    assert call.url == "https://api.anthropic.com/v1/messages"
    assert call.headers["anthropic-version"] == "2099-01-01" and call.headers["anthropic-beta"] == "b1"


def test_parse_error_masks_keys_and_clips() -> None:
    body = orjson.dumps(
        {"type": "error", "error": {"type": "authentication_error", "message": "bad sk-ant-api03-XYZ"}}
    )
    error = error_from_body(401, {}, body)
    assert error.error_class == "auth_error" and "sk-ant" not in str(error)
    assert len(clip("x" * 1000)) == 300


def test_unknown_error_type_falls_back_to_status() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "brand_new_error", "message": "?"}})
    assert ADAPTER.parse_error(503, {"retry-after": "3"}, body).error_class == "server_error"
    assert ADAPTER.parse_error(503, {"retry-after": "3"}, body).retry_after == 3.0
    assert ADAPTER.parse_error(408, {}, b"").error_class == "timeout"


def test_response_that_is_not_a_message_is_bad() -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.parse_response(200, {}, b'{"type":"completion"}', TARGET)
    assert info.value.error_class == "bad_response"


def test_non_2xx_parse_response_raises_the_mapped_error() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    with pytest.raises(ProviderError) as info:
        ADAPTER.parse_response(429, {"retry-after": "1.5"}, body, TARGET)
    assert info.value.error_class == "rate_limited" and info.value.retry_after == 1.5


def _stream(*events: bytes) -> bytes:
    return b"".join(events)


START = event(
    "message_start",
    {
        "type": "message_start",
        "message": {"id": "m", "model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}},
    },
)
STOP = event(
    "message_delta",
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
)
END = event("message_stop", {"type": "message_stop"})


@pytest.mark.parametrize("split", SPLITS, ids=lambda s: s.name)
def test_stream_ignores_thinking_and_reads_text_in_block_start(split: Any) -> None:
    data = _stream(
        START,
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
        ),
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hm"},
            },
        ),
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "s"},
            },
        ),
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Hi"}},
        ),
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "!"}},
        ),
        b": a comment line\n\n",
        event("unknown_future_event", {"type": "unknown_future_event"}),
        STOP,
        END,
    )
    translator = ADAPTER.stream_translator(TARGET, include_usage=True, request_id="req-1")
    got = assemble_openai_stream(run_translator(translator, data, split))
    assert got["content"] == "Hi!" and got["finish_reason"] == "stop"
    assert got["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert translator.model == "claude-x" and got["model"] == "claude-x"


def test_stream_chunks_carry_the_request_id() -> None:
    translator = ADAPTER.stream_translator(TARGET, include_usage=False, request_id="req-abc")
    out = translator.feed(_stream(START, STOP, END)) + translator.finish()
    first = orjson.loads(out.split(b"\n\n")[0][6:])
    assert first["id"] == "req-abc" and first["choices"][0]["delta"]["role"] == "assistant"


def test_stream_usage_survives_a_cut() -> None:
    translator = ADAPTER.stream_translator(TARGET, include_usage=False, request_id="r")
    translator.feed(START)
    with pytest.raises(ProviderError):
        translator.finish()
    assert translator.usage is not None and translator.usage.input_tokens == 5


def test_stream_rate_limit_error_event() -> None:
    translator = ADAPTER.stream_translator(TARGET, include_usage=False, request_id="r")
    error = event("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
    with pytest.raises(ProviderError) as info:
        translator.feed(START + error)
    assert info.value.error_class == "rate_limited"
