"""Bedrock adapter: translation, SigV4 signing, event-stream decoding, error mapping, secrets."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.session
import orjson
import pytest
import yarl
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.providers.conftest import FIXTURES, assemble_openai_stream
from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import Credentials, Target
from unhardcoded.providers.bedrock import ADAPTER, to_converse
from unhardcoded.providers.bedrock_parse import FrameDecoder
from unhardcoded.testing.fake_bedrock import encode_frame, event_frame, exception_frame

KEY_ID = "AKIDEXAMPLE0123456789"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENsecret"
API_KEY = "ABSKbedrockapikeySECRET"
CREDS = Credentials(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
EU = Target(
    deployment_id="bedrock/anthropic/claude-3.7-sonnet@eu-central-1",
    provider="bedrock",
    kind="bedrock",
    upstream_model="eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
    base_url="https://bedrock-runtime.eu-central-1.amazonaws.com",
    region="eu-central-1",
)
USER = [{"role": "user", "content": "Hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
BEDROCK_FIXTURES = FIXTURES / "bedrock"


def converse(**body: Any) -> tuple[dict[str, Any], list[str]]:
    return to_converse({"messages": USER} | body)


def refused(body: dict[str, Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        to_converse(body)
    assert info.value.error_class == "client_error"
    return info.value


def test_roles_system_and_merging() -> None:
    out, warnings = to_converse(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "w", "arguments": '{"c":"P"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Thanks. "}, {"type": "text", "text": "More?"}],
                },
                {"role": "developer", "content": "Late instruction."},
            ],
            "tools": [WEATHER],
        }
    )
    assert out["system"] == [{"text": "Be brief."}, {"text": "Late instruction."}]
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "Weather?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "call_1", "name": "w", "input": {"c": "P"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                {"text": "Thanks. "},
                {"text": "More?"},
            ],
        },
    ]
    assert warnings == ["system messages after the first turn were moved into the top-level system"]


def test_temperature_above_one_is_clamped() -> None:
    out, warnings = converse(temperature=1.7)
    assert out["inferenceConfig"]["temperature"] == 1 and "temperature 1.7" in warnings[0]


def test_inference_config() -> None:
    out, _ = converse(max_tokens=10, max_completion_tokens=20, temperature=0, top_p=0.5, stop="END")
    assert out["inferenceConfig"] == {
        "maxTokens": 20,
        "temperature": 0,
        "topP": 0.5,
        "stopSequences": ["END"],
    }
    assert "inferenceConfig" not in converse()[0]
    assert "model" not in converse(model="x")[0]


def test_dropped_parameters_warn() -> None:
    _, warnings = converse(
        seed=1,
        presence_penalty=0.5,
        frequency_penalty=0.1,
        user="u1",
        logprobs=True,
        parallel_tool_calls=False,
    )
    text = " ".join(warnings)
    for name in ("seed", "presence_penalty", "frequency_penalty", "user", "logprobs", "parallel_tool_calls"):
        assert name in text
    assert converse(stream=True, stream_options={"include_usage": True}, n=1, logprobs=False)[1] == []
    assert ADAPTER.request_warnings({"messages": USER, "seed": 3}, EU) == (
        "seed has no Bedrock Converse equivalent; dropped",
    )


def test_n_above_one_refused() -> None:
    assert "n=2" in refused({"messages": USER, "n": 2}).message


def test_https_image_refused_with_path() -> None:
    parts = [
        {"type": "text", "text": "?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
    ]
    error = refused({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": parts}]})
    assert "messages[1].content[1].image_url" in error.message


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("data:image/png;base64,AAAA", "png"),
        ("data:image/jpeg;base64,AAAA", "jpeg"),
        ("data:image/webp;base64,AA", "webp"),
    ],
)
def test_data_url_images(url: str, fmt: str) -> None:
    out, _ = to_converse(
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}
    )
    assert out["messages"][0]["content"] == [
        {"image": {"format": fmt, "source": {"bytes": url.split(",")[1]}}}
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ],
)
def test_unsupported_parts_refused(part: dict[str, Any]) -> None:
    assert "messages[0].content[0]" in refused({"messages": [{"role": "user", "content": [part]}]}).message


def test_bad_tool_arguments_refused() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "w", "arguments": "{not json"}}
    messages = [*USER, {"role": "assistant", "content": None, "tool_calls": [call]}]
    assert "messages[1].tool_calls[0].function.arguments" in refused({"messages": messages}).message


def test_unknown_role_and_empty_messages_refused() -> None:
    refused({"messages": [{"role": "function", "content": "x"}]})
    refused({"messages": []})


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"tools": [WEATHER]}
    if choice is not None:
        body["tool_choice"] = choice
    config = converse(**body)[0]["toolConfig"]
    assert config["tools"][0] == {
        "toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER["function"]["parameters"]}}
    }
    assert config.get("toolChoice") == expected


def test_tool_choice_none() -> None:
    out, warnings = converse(tools=[WEATHER], tool_choice="none")
    assert "toolConfig" not in out and "left out" in warnings[0]
    call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    history = [
        *USER,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c", "content": "x"},
    ]
    out, warnings = to_converse({"messages": history, "tools": [WEATHER], "tool_choice": "none"})
    assert out["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather" and "kept" in warnings[0]
    refused({"messages": USER, "tools": [WEATHER], "tool_choice": "sometimes"})


def test_response_format_becomes_forced_tool() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    rf = {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}}
    config = converse(response_format=rf)[0]["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "json_response"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": schema}
    config = converse(response_format={"type": "json_object"})[0]["toolConfig"]
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}
    # with tools the model may call, it must call one: one of them, or the JSON answer
    config = converse(response_format=rf, tools=[WEATHER])[0]["toolConfig"]
    assert config["toolChoice"] == {"any": {}} and len(config["tools"]) == 2
    assert "toolConfig" not in converse(response_format={"type": "text"})[0]
    reserved = {"type": "function", "function": {"name": "json_response"}}
    refused({"messages": USER, "tools": [reserved]})


def _auth_parts(header: str) -> dict[str, str]:
    algorithm, _, rest = header.partition(" ")
    assert algorithm == "AWS4-HMAC-SHA256"
    return dict(part.strip().split("=", 1) for part in rest.split(","))


def test_signature_scoped_to_target_region() -> None:
    call = ADAPTER.build_request({"messages": USER}, EU, CREDS, stream=True)
    assert call.url == (
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
        "/converse-stream"
    )
    parts = _auth_parts(call.headers["Authorization"])
    day = call.headers["X-Amz-Date"][:8]
    assert parts["Credential"] == f"{KEY_ID}/{day}/eu-central-1/bedrock/aws4_request"
    assert parts["SignedHeaders"] == "accept;content-type;host;x-amz-date"
    assert call.headers["Accept"] == "application/vnd.amazon.eventstream"


def test_signature_equals_botocore_add_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    creds = Credentials(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN)
    call = ADAPTER.build_request({"messages": USER, "max_tokens": 5}, EU, creds, stream=False)
    when = dt.datetime.strptime(call.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    request = AWSRequest(method="POST", url=call.url, data=call.body, headers=headers)
    botocore.auth.SigV4Auth(BotoCredentials(KEY_ID, SECRET, TOKEN), "bedrock", "eu-central-1").add_auth(
        request
    )
    assert call.headers["Authorization"] == request.headers["Authorization"]
    assert call.headers["X-Amz-Security-Token"] == TOKEN
    assert "x-amz-security-token" in _auth_parts(call.headers["Authorization"])["SignedHeaders"]


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse",
        ),
        (
            "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-v1:0",
            "/model/arn:aws:bedrock:eu-central-1:123456789012:inference-profile%2Feu.anthropic.claude-v1:0/converse",
        ),
        ("odd model", "/model/odd%20model/converse"),
    ],
)
def test_model_path_survives_client_requoting(model: str, path: str) -> None:
    target = Target("d", "bedrock", "bedrock", model, "http://127.0.0.1:9", "eu-central-1")
    call = ADAPTER.build_request({"messages": USER}, target, CREDS, stream=False)
    assert call.url == "http://127.0.0.1:9" + path
    # aiohttp sends yarl's normal form of a string URL; it must be the path that was signed
    assert yarl.URL(call.url).raw_path == path


def test_region_and_base_url_defaults() -> None:
    bare = Target("d", "bedrock", "bedrock", "m.x-v1:0", "", "ap-northeast-1")
    assert ADAPTER.build_request({"messages": USER}, bare, CREDS, stream=False).url.startswith(
        "https://bedrock-runtime.ap-northeast-1.amazonaws.com/model/"
    )
    from_host = Target("d", "bedrock", "bedrock", "m", "https://bedrock-runtime.us-west-2.amazonaws.com")
    call = ADAPTER.build_request({"messages": USER}, from_host, CREDS, stream=False)
    assert "/us-west-2/bedrock/aws4_request" in call.headers["Authorization"]
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request(
            {"messages": USER}, Target("d", "bedrock", "bedrock", "m", "http://h"), CREDS, stream=False
        )
    assert info.value.error_class == "client_error"


def test_api_key_and_missing_credentials() -> None:
    call = ADAPTER.build_request({"messages": USER}, EU, Credentials(api_key=API_KEY), stream=False)
    assert call.headers["Authorization"] == f"Bearer {API_KEY}" and "X-Amz-Date" not in call.headers
    with pytest.raises(ProviderError) as info:
        ADAPTER.build_request({"messages": USER}, EU, Credentials(), stream=False)
    assert info.value.error_class == "auth_error"


def test_no_secret_in_reprs_or_errors() -> None:
    creds = Credentials(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN, api_key=API_KEY
    )
    call = ADAPTER.build_request({"messages": USER}, EU, creds, stream=False)
    assert SECRET not in call.headers["Authorization"]
    texts = [repr(call), repr(creds), str(call)]
    canonical = "Canonical String:\nPOST\n/model\nx-amz-security-token:" + TOKEN
    answer = orjson.dumps({"message": "The request signature we calculated does not match.\n\n" + canonical})
    error = ADAPTER.parse_error(403, {"x-amzn-ErrorType": "InvalidSignatureException"}, answer)
    texts += [str(error), repr(error), error.message]
    for text in texts:
        for secret in (SECRET, TOKEN, API_KEY):
            assert secret not in text


def _answer(content: list[dict[str, Any]], stop: str = "end_turn", usage: Any = None) -> bytes:
    usage = usage if usage is not None else {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}
    message = {"role": "assistant", "content": content}
    return orjson.dumps({"output": {"message": message}, "stopReason": stop, "usage": usage, "metrics": {}})


def test_parse_response_tools_and_reasoning() -> None:
    blocks = [
        {"reasoningContent": {"reasoningText": {"text": "thinking"}}},
        {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    result = ADAPTER.parse_response(200, {"X-Amzn-RequestId": "r1"}, _answer(blocks, "tool_use"), EU)
    body = orjson.loads(result.body)
    assert body["id"] == "chatcmpl-r1" and body["model"] == EU.upstream_model
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    assert result.finish_reason == "tool_calls" == body["choices"][0]["finish_reason"]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    assert ADAPTER.parse_response(200, {}, _answer([{"text": "x"}], stop), EU).finish_reason == finish


@pytest.mark.parametrize(
    "body",
    [
        _answer([{"text": "x"}], "malformed_tool_use"),
        _answer([{"text": "x"}], usage={}),
        orjson.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
                "stopReason": "end_turn",
            }
        ),
        b'{"output": {}}',
        b"[]",
    ],
)
def test_bad_answers(body: bytes) -> None:
    with pytest.raises(ProviderError) as info:
        ADAPTER.parse_response(200, {}, body, EU)
    assert info.value.error_class == "bad_response"


@pytest.mark.parametrize(
    ("status", "error_type", "error_class"),
    [
        (429, "ThrottlingException", "rate_limited"),
        (400, "ServiceQuotaExceededException", "rate_limited"),
        (403, "AccessDeniedException", "auth_error"),
        (403, "UnrecognizedClientException", "auth_error"),
        (403, "ExpiredTokenException", "auth_error"),
        (403, "InvalidSignatureException", "auth_error"),
        (400, "ValidationException", "client_error"),
        (404, "ResourceNotFoundException", "client_error"),
        (503, "ServiceUnavailableException", "server_error"),
        (500, "InternalServerException", "server_error"),
        (429, "ModelNotReadyException", "server_error"),
        (424, "ModelErrorException", "server_error"),
        (408, "ModelTimeoutException", "timeout"),
    ],
)
def test_error_types(status: int, error_type: str, error_class: str) -> None:
    body = orjson.dumps({"message": "m"})
    by_header = {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    assert ADAPTER.parse_error(status, by_header, body).error_class == error_class
    by_body = orjson.dumps({"__type": f"com.amazon.coral.service#{error_type}", "message": "m"})
    error = ADAPTER.parse_error(status, {}, by_body)
    assert error.error_class == error_class and error.status == status and error_type in error.message


def test_error_fallbacks_to_status_and_retry_after() -> None:
    assert ADAPTER.parse_error(502, {}, b"<html>bad gateway</html>").error_class == "server_error"
    assert ADAPTER.parse_error(429, {"Retry-After": "3"}, b"{}").retry_after == 3.0
    with pytest.raises(ProviderError) as info:
        ADAPTER.parse_response(429, {"x-amzn-ErrorType": "ThrottlingException"}, b"{}", EU)
    assert info.value.error_class == "rate_limited"


def _frames() -> bytes:
    return b"".join(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "héllo"}}),
            encode_frame(
                {":message-type": "event", ":event-type": "contentBlockStop"}, b'{"contentBlockIndex":0}'
            ),
        ]
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), max_size=40))
def test_frames_decode_across_any_split(sizes: list[int]) -> None:
    data = _frames()
    decoder, got, at = FrameDecoder(), [], 0
    for size in sizes:
        got += decoder.feed(data[at : at + size])
        at += size
    got += decoder.feed(data[at:])
    assert [h[":event-type"] for h, _ in got] == ["messageStart", "contentBlockDelta", "contentBlockStop"]
    assert orjson.loads(got[1][1])["delta"]["text"] == "héllo"
    assert not decoder.pending()


@pytest.mark.parametrize("offset", [8, 9, 20, -1])  # prelude CRC, prelude CRC, a header byte, message CRC
def test_bad_crc_is_bad_response(offset: int) -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[offset] ^= 0x01
    decoder = FrameDecoder()
    with pytest.raises(ProviderError) as info:
        for byte in bytes(frame):
            decoder.feed(bytes([byte]))
    assert info.value.error_class == "bad_response"


def test_half_frame_at_eof_is_bad_response() -> None:
    translator = ADAPTER.stream_translator(EU, include_usage=False, request_id="r")
    whole = (BEDROCK_FIXTURES / "stream_text" / "upstream.bin").read_bytes()
    translator.feed(whole[:-3])
    with pytest.raises(ProviderError) as info:
        translator.finish()
    assert info.value.error_class == "bad_response" and "middle of a frame" in info.value.message


def test_stream_without_metadata_is_bad_response() -> None:
    translator = ADAPTER.stream_translator(EU, include_usage=True, request_id="r")
    out = translator.feed(
        event_frame("messageStart", {"role": "assistant"})
        + event_frame("messageStop", {"stopReason": "end_turn"})
    )
    assert b'"finish_reason":"stop"' in out
    with pytest.raises(ProviderError):
        translator.finish()


def test_tool_delta_without_start_is_bad_response() -> None:
    translator = ADAPTER.stream_translator(EU, include_usage=False, request_id="r")
    with pytest.raises(ProviderError) as info:
        translator.feed(
            event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{"}}})
        )
    assert info.value.error_class == "bad_response"


@pytest.mark.parametrize(
    ("exception", "error_class"),
    [
        ("throttlingException", "rate_limited"),
        ("serviceUnavailableException", "server_error"),
        ("internalServerException", "server_error"),
        ("modelStreamErrorException", "server_error"),
        ("validationException", "client_error"),
        ("modelTimeoutException", "timeout"),
    ],
)
def test_stream_exceptions(exception: str, error_class: str) -> None:
    translator = ADAPTER.stream_translator(EU, include_usage=False, request_id="r")
    data = event_frame("messageStart", {"role": "assistant"}) + exception_frame(exception, "it broke")
    with pytest.raises(ProviderError) as info:
        for i in range(len(data)):
            translator.feed(data[i : i + 1])
    assert info.value.error_class == error_class and exception in info.value.message


def test_stream_error_message_type() -> None:
    frame = encode_frame(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""
    )
    with pytest.raises(ProviderError) as info:
        ADAPTER.stream_translator(EU, include_usage=False, request_id="r").feed(frame)
    assert info.value.error_class == "server_error" and "boom" in info.value.message


def test_stream_ids_and_chunks() -> None:
    translator = ADAPTER.stream_translator(EU, include_usage=True, request_id="chatcmpl-abc")
    data = (BEDROCK_FIXTURES / "stream_usage" / "upstream.bin").read_bytes()
    out = translator.feed(data) + translator.finish()
    got = assemble_openai_stream(out)
    assert got["content"] == "Rain again." and got["model"] == EU.upstream_model
    assert all(orjson.loads(line[6:])["id"] == "chatcmpl-abc" for line in out.split(b"\n\n")[:-2])
    assert translator.usage is not None and translator.usage.cached_input_tokens == 1024


def _stream_cases() -> list[Path]:
    return sorted(p.parent for p in BEDROCK_FIXTURES.glob("*/upstream.bin"))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self) -> Any:
        rng = random.Random(len(self._data))
        at = 0
        while at < len(self._data):
            step = rng.randint(1, 50)
            yield self._data[at : at + step]
            at += step


@pytest.mark.parametrize("case", _stream_cases(), ids=lambda p: p.name)
def test_fixtures_parse_as_converse_stream_in_botocore(case: Path) -> None:
    """Our recorded streams are what AWS's own client expects from ConverseStream."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("ConverseStream").output_shape.members["stream"]
    stream = EventStream(
        _Raw((case / "upstream.bin").read_bytes()), shape, EventStreamJSONParser(), "ConverseStream"
    )
    expected = orjson.loads((case / "expected.json").read_bytes())
    events: list[dict[str, Any]] = []
    try:
        events.extend(stream)
    except EventStreamError as exc:
        assert expected.get("error_class") in ("rate_limited", "server_error"), exc
        return
    except Exception as exc:  # botocore's own CRC check
        assert expected.get("error_class") == "bad_response", exc
        return
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart"
    if "stream" in expected:
        assert names[-2:] == ["messageStop", "metadata"]
        text = "".join(
            e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e
        )
        if not expected["stream"]["tool_calls"] and "json" not in case.name:
            assert text == expected["stream"]["content"]
