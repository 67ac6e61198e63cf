"""The Gemini adapter beyond the recorded fixtures: schemas, tool ids, warnings, refusals, streams."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.providers.conftest import SECRETS, SPLITS, TEST_CREDENTIALS, assemble_openai_stream, run_translator
from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import Credentials, Target
from unhardcoded.providers.gemini import ADAPTER, to_gemini_body, to_gemini_schema
from unhardcoded.providers.gemini_parse import error_from_body

TARGET = Target(
    "gemini/flash", "gemini", "gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com"
)
USER = [{"role": "user", "content": "hi"}]


def body_of(request: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = to_gemini_body(request)[0]
    return out


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\r\n\r\n"


def test_url_and_key_header() -> None:
    call = ADAPTER.build_request({"messages": USER}, TARGET, TEST_CREDENTIALS, stream=True)
    expected = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert call.url == expected
    assert call.headers["x-goog-api-key"] == TEST_CREDENTIALS.api_key
    for secret in SECRETS:
        assert secret not in repr(call) and secret not in call.url and secret.encode() not in call.body


def test_missing_key_is_an_auth_error() -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request({"messages": USER}, TARGET, Credentials(), stream=False)
    assert info.value.error_class == "auth_error"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["integer", "string"]}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        ({"type": "null"}, {"nullable": True}),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        ),
        ({"allOf": [{"type": "string", "minLength": 2}]}, {"type": "string", "minLength": 2}),
        ({"type": "string", "format": "email"}, {"type": "string"}),
        (
            {"type": "string", "format": "enum", "enum": ["a"]},
            {"type": "string", "format": "enum", "enum": ["a"]},
        ),
        (
            {"type": "integer", "format": "int64", "minimum": 0},
            {"type": "integer", "format": "int64", "minimum": 0},
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
            {"type": "object", "properties": {"a": {"type": "string"}}},
        ),
        ({"type": "object", "patternProperties": {"^x": {}}, "strict": True}, {"type": "object"}),
        (
            {"definitions": {"N": {"type": "number"}}, "type": "array", "items": {"$ref": "#/definitions/N"}},
            {"type": "array", "items": {"type": "number"}},
        ),
    ],
)
def test_schema_reduction(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_gemini_schema(schema) == expected


def test_recursive_schema_terminates() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    reduced = to_gemini_schema(schema)
    assert reduced["type"] == "object" and "next" in reduced["properties"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"user": "u-1"}, "user"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.webp"}}],
                    }
                ]
            },
            "fileData",
        ),
    ],
)
def test_dropped_parameters_warn(extra: dict[str, Any], fragment: str) -> None:
    warnings = ADAPTER.request_warnings({"messages": USER, **extra}, TARGET)
    assert any(fragment in w for w in warnings), warnings


def test_supported_parameters_do_not_warn() -> None:
    request = {
        "messages": USER,
        "seed": 1,
        "n": 2,
        "presence_penalty": 0.1,
        "temperature": 1.5,
        "stream_options": {},
    }
    assert ADAPTER.request_warnings(request, TARGET) == ()
    assert body_of(request)["generationConfig"] == {
        "temperature": 1.5,
        "seed": 1,
        "presencePenalty": 0.1,
        "candidateCount": 2,
    }


def test_image_mime_guessed_from_extension_and_gs_urls_do_not_warn() -> None:
    parts = [{"type": "image_url", "image_url": {"url": "gs://bucket/cat.webp"}}]
    request = {"messages": [{"role": "user", "content": parts}]}
    assert body_of(request)["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/webp", "fileUri": "gs://bucket/cat.webp"}}
    ]
    assert ADAPTER.request_warnings(request, TARGET) == ()


@pytest.mark.parametrize(
    "request_body",
    [
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}
            ]
        },
        {"messages": [{"role": "tool", "tool_call_id": "nowhere", "content": "x"}]},
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "1"}}],
                }
            ]
        },
        {"messages": [{"role": "critic", "content": "x"}]},
        {"messages": USER, "tools": [{"type": "code_interpreter"}]},
        {
            "messages": USER,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function"},
        },
        {"messages": USER, "response_format": {"type": "grammar"}},
    ],
)
def test_refused_requests_are_client_errors(request_body: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request(request_body, TARGET, TEST_CREDENTIALS, stream=False)
    assert info.value.error_class == "client_error"


def test_tool_message_name_comes_from_the_latest_matching_call_or_its_name_field() -> None:
    call = {"id": "call_0_f", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    request = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_0_f", "content": "[1, 2]"},
            {"role": "assistant", "tool_calls": [{**call, "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_0_f", "content": ""},
            {"role": "tool", "tool_call_id": "other", "name": "h", "content": "ok"},
        ]
    }
    contents = body_of(request)["contents"]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "f", "response": {"result": [1, 2]}}}]
    assert contents[4]["parts"] == [
        {"functionResponse": {"name": "g", "response": {"result": ""}}},
        {"functionResponse": {"name": "h", "response": {"result": "ok"}}},
    ]


def test_tool_config_only_with_tools() -> None:
    assert "toolConfig" not in body_of({"messages": USER, "tool_choice": "none"})
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert body_of({"messages": USER, "tools": tools, "tool_choice": "none"})["toolConfig"] == {
        "functionCallingConfig": {"mode": "NONE"}
    }
    assert body_of({"messages": USER, "tools": tools})["tools"] == [{"functionDeclarations": [{"name": "f"}]}]


def test_json_object_sets_the_mime_type_only() -> None:
    config = body_of({"messages": USER, "response_format": {"type": "json_object"}})["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_thought_parts_are_not_content() -> None:
    answer = {
        "candidates": [
            {
                "content": {"parts": [{"text": "thinking...", "thought": True}, {"text": "42"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "thoughtsTokenCount": 9},
    }
    result = ADAPTER.parse_response(200, {}, orjson.dumps(answer), TARGET)
    body = orjson.loads(result.body)
    assert body["choices"][0]["message"]["content"] == "42"
    assert result.usage is not None and result.usage.output_tokens == 10


def test_function_call_ids_from_gemini_are_kept() -> None:
    part = {"functionCall": {"id": "fc-7", "name": "f", "args": {}}}
    answer = {"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}]}
    body = orjson.loads(ADAPTER.parse_response(200, {}, orjson.dumps(answer), TARGET).body)
    assert body["choices"][0]["message"]["tool_calls"][0]["id"] == "fc-7"
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_errors_mask_keys_and_read_retry_info() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}
    message = "key AIzaSyA1234567890abcdefghijklmnop"
    error = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": message, "details": [retry]}}
    parsed = error_from_body(429, {}, orjson.dumps(error))
    assert parsed.error_class == "rate_limited" and parsed.retry_after == 1.5 and "AIza" not in str(parsed)
    assert error_from_body(429, {"retry-after": "4"}, orjson.dumps(error)).retry_after == 4.0


def test_error_class_from_code_when_status_is_unknown() -> None:
    body = orjson.dumps({"error": {"code": 503, "message": "?", "status": "SOMETHING_NEW"}})
    assert ADAPTER.parse_error(503, {}, body).error_class == "server_error"
    assert ADAPTER.parse_error(400, {}, b"not json").error_class == "client_error"


@pytest.mark.parametrize("split", SPLITS, ids=lambda s: s.name)
def test_stream_second_candidate_and_usage_chunk(split: Any) -> None:
    data = sse(
        {
            "candidates": [
                {"content": {"parts": [{"text": "a"}]}, "index": 0},
                {"content": {"parts": [{"text": "b"}]}, "index": 1},
            ]
        }
    )
    data += sse(
        {
            "candidates": [
                {"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 0},
                {"finishReason": "MAX_TOKENS", "index": 1},
            ],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
            "modelVersion": "gemini-x",
        }
    )
    translator = ADAPTER.stream_translator(TARGET, include_usage=True, request_id="r")
    out = run_translator(translator, data, split)
    got = assemble_openai_stream(out)
    assert got["content"] == "a!" and got["finish_reason"] == "stop" and translator.finish_reason == "stop"
    assert got["usage"]["completion_tokens"] == 3 and translator.model == "gemini-x"
    second = [
        c
        for c in (orjson.loads(d[6:]) for d in out.split(b"\n\n") if d.startswith(b"data: {"))
        if c["choices"] and c["choices"][0]["index"] == 1
    ]
    assert [c["choices"][0]["delta"].get("content") for c in second][1] == "b"
    assert second[-1]["choices"][0]["finish_reason"] == "length"


def test_stream_waits_for_every_candidate() -> None:
    data = sse(
        {
            "candidates": [
                {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
                {"content": {"parts": [{"text": "b"}]}, "index": 1},
            ]
        }
    )
    translator = ADAPTER.stream_translator(TARGET, include_usage=False, request_id="r")
    translator.feed(data)
    with pytest.raises(ProviderError) as info:
        translator.finish()
    assert info.value.error_class == "bad_response"


def test_stream_malformed_function_call_is_a_bad_response() -> None:
    translator = ADAPTER.stream_translator(TARGET, include_usage=False, request_id="r")
    with pytest.raises(ProviderError) as info:
        translator.feed(sse({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}]}))
    assert info.value.error_class == "bad_response"
