"""The wire helpers every adapter shares (providers/wire.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import Usage
from unhardcoded.providers.wire import (
    add_turn,
    call_arguments,
    clip,
    conversation,
    http_error,
    named_tool_choice,
    openai_usage,
    stream_event,
    texts,
    token_count,
    unsupported_params,
    user_parts,
)


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-0123456789abcdef",
        "gsk_0123456789abcdef",
        "AIzaSyA0123456789abcdefghijklmnop",
        "ya29.a0AfH6SMBexampletoken",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_clip_masks_key_shaped_words(secret: str) -> None:
    assert clip(f"bad key {secret} here") == "bad key *** here"


def test_clip_masks_what_follows_api_key_provided_and_keeps_one_short_line() -> None:
    assert (
        clip("Incorrect API key provided: abc123XYZ. Find yours")
        == "Incorrect API key provided: *** Find yours"
    )
    assert clip("a\n  b\tc") == "a b c"
    assert clip("first\nAuthorization: secret-canonical-request", first_line=True) == "first"
    assert clip(None) == ""
    long = clip("x" * 1000)
    assert len(long) == 300 and long.endswith("…")


@pytest.mark.parametrize(("value", "count"), [(7, 7), (7.9, 7), (True, 0), (None, 0), ("7", 0), (-1, -1)])
def test_token_count(value: Any, count: int) -> None:
    assert token_count(value) == count


def test_unsupported_params_skip_handled_and_unset_values() -> None:
    body = {"messages": [], "seed": 1, "user": "", "logprobs": False, "presence_penalty": 0, "n": None}
    assert unsupported_params(body, {"messages"}, "X") == ["seed has no X equivalent; dropped"]


def test_openai_usage_reports_reasoning_only_when_there_is_some() -> None:
    usage = Usage(10, 5, cached_input_tokens=4)
    assert openai_usage(usage) == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    assert openai_usage(usage, reasoning_tokens=3)["completion_tokens_details"] == {"reasoning_tokens": 3}


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ("not a call", "m[0].tool_calls[1] must be a function call"),
        ({"function": {"name": "f", "arguments": "[1]"}}, "arguments must be a JSON object"),
        ({"function": {"name": "f", "arguments": "{bad"}}, "arguments must be a JSON object"),
    ],
)
def test_call_arguments_refuses_what_is_not_a_json_object(call: Any, fragment: str) -> None:
    with pytest.raises(ProviderError) as info:
        call_arguments(call, "m[0].tool_calls[1]")
    assert info.value.error_class == "client_error" and fragment in info.value.message


def test_call_arguments_and_named_choice() -> None:
    assert call_arguments({"function": {"name": "f", "arguments": '{"a": 1}'}}, "w") == ("f", {"a": 1})
    assert call_arguments({"function": {"name": "f"}}, "w") == ("f", {})
    assert named_tool_choice("required") is None
    assert named_tool_choice({"type": "function", "function": {"name": "g"}}) == "g"
    with pytest.raises(ProviderError):
        named_tool_choice("sometimes")


def _from_payload(payload: dict[str, Any], *, status: int, retry_after: float | None) -> ProviderError:
    return ProviderError(
        "rate_limited", f"payload {payload['error']['message']}", status=status, retry_after=retry_after
    )


def test_http_error_unwraps_a_listed_error_and_falls_back_to_the_status() -> None:
    listed = orjson.dumps([{"error": {"message": "slow down"}}])
    error = http_error(429, {"retry-after": "2"}, listed, _from_payload)
    assert (error.message, error.retry_after) == ("payload slow down", 2.0)
    html = http_error(502, {}, b"<html>Bad gateway sk-live-0123456789</html>", _from_payload)
    assert html.error_class == "server_error" and "HTTP 502" in html.message and "sk-live" not in html.message
    assert "no error body" in http_error(500, {}, b"", _from_payload).message


def test_conversation_names_roles_and_warns_once_about_late_system_messages() -> None:
    warnings: list[str] = []
    messages = [
        {"role": "developer", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "system", "content": "c"},
        {"role": "system", "content": "d"},
    ]
    roles = [(where, role) for where, role, _ in conversation(messages, "X", warnings)]
    assert roles == [("messages[0]", "system"), ("messages[1]", "user"), ("messages[2]", "system"),
                     ("messages[3]", "system")]  # fmt: skip
    assert warnings == ["system messages after the first turn were moved into the top-level system"]
    with pytest.raises(ProviderError, match=r"messages\[0\].role 'function' is not supported on X"):
        list(conversation([{"role": "function"}], "X", []))
    with pytest.raises(ProviderError, match="non-empty list"):
        list(conversation([], "X", []))


def test_add_turn_merges_same_role_neighbours_and_skips_empty_ones() -> None:
    turns: list[dict[str, Any]] = []
    add_turn(turns, "user", [{"text": "a"}])
    add_turn(turns, "user", [])
    add_turn(turns, "user", [{"text": "b"}])
    add_turn(turns, "model", [{"text": "c"}], "parts")
    assert turns == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                     {"role": "model", "parts": [{"text": "c"}]}]  # fmt: skip


def test_text_parts_keep_refusals_as_text_and_name_the_bad_part() -> None:
    content = [
        {"type": "text", "text": "a"},
        {"type": "text", "text": ""},
        {"type": "refusal", "refusal": "no"},
    ]
    assert texts(content, "m") == ["a", "no"]
    assert texts("", "m") == [] and texts(None, "m") == [] and texts("x", "m") == ["x"]
    with pytest.raises(ProviderError, match=r"m.content\[1\]: only text parts"):
        texts([{"type": "text", "text": "a"}, {"type": "image_url"}], "m")
    with pytest.raises(ProviderError, match=r"m.content\[1\]: part type 'audio' is not supported on X"):
        user_parts([{"type": "text", "text": "a"}, {"type": "audio"}], "m", "X", text=dict, image=_image)


def _image(part: Any, where: str) -> dict[str, Any]:
    return {"image": where}


def test_user_parts_route_text_and_images() -> None:
    content = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]
    out = user_parts(content, "m", "X", text=lambda p: {"t": p["text"]}, image=_image)
    assert out == [{"t": "a"}, {"image": "m.content[1]"}]


@pytest.mark.parametrize(("data", "fragment"), [(b"{oops", "not valid JSON"), ("[1]", "not a JSON object")])
def test_stream_event_is_one_json_object(data: str | bytes, fragment: str) -> None:
    assert stream_event('{"a": 1}', "X") == {"a": 1}
    with pytest.raises(ProviderError) as info:
        stream_event(data, "X")
    assert (
        info.value.error_class == "bad_response" and f"a X stream event is {fragment}" in info.value.message
    )


def test_retry_after_as_an_http_date_is_seconds_from_now() -> None:
    import email.utils
    import time

    from unhardcoded.providers.base import parse_retry_after

    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (parse_retry_after({"retry-after": later}) or 0) <= 30.5
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
