"""features_from_body and the token estimator."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unhardcoded.policy.request import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    RequestFeatures,
    features_from_body,
    round_up_2sf,
    text_tokens,
)


def _msg(content: Any, role: str = "user", **kw: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **kw}


def test_plain_text() -> None:
    f = features_from_body({"model": "auto", "messages": [_msg("a" * 40)]})
    assert f == RequestFeatures(
        est_input_tokens=10 + MESSAGE_OVERHEAD,
        est_output_tokens=512,
        max_output_tokens=None,
    )
    assert f.to_dict() == {
        "est_input_tokens": 14,
        "est_output_tokens": 512,
        "max_output_tokens": None,
        "needs_tools": False,
        "needs_vision": False,
        "needs_json_schema": False,
        "stream": False,
    }


def test_every_message_counts_with_its_framing() -> None:
    body = {"messages": [_msg("a" * 8, "system"), _msg("b" * 8), _msg("c" * 8, "assistant")]}
    assert features_from_body(body).est_input_tokens == 3 * (2 + MESSAGE_OVERHEAD)


def test_no_messages() -> None:
    f = features_from_body({})
    assert (f.est_input_tokens, f.needs_tools, f.needs_vision, f.stream) == (0, False, False, False)


def test_text_parts() -> None:
    body = {"messages": [_msg([{"type": "text", "text": "a" * 20}, {"type": "text", "text": "b" * 20}])]}
    f = features_from_body(body)
    assert f.est_input_tokens == 10 + MESSAGE_OVERHEAD
    assert not f.needs_vision


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
        {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
    ],
)
def test_image_parts_need_vision_and_count_a_fixed_size(part: dict[str, Any]) -> None:
    body = {"messages": [_msg([{"type": "text", "text": "what is this?"}, part, part])]}
    f = features_from_body(body)
    assert f.needs_vision
    assert f.est_input_tokens == round_up_2sf(
        text_tokens("what is this?") + 2 * IMAGE_TOKENS + MESSAGE_OVERHEAD
    )


def test_unknown_and_malformed_parts_are_skipped() -> None:
    body = {
        "messages": [_msg([{"type": "audio"}, "text", 3, None, {"type": "text", "text": 5}]), "junk", None]
    }
    f = features_from_body(body)
    assert f.est_input_tokens == MESSAGE_OVERHEAD
    assert not f.needs_vision


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_tool_definitions_need_tools_and_count_their_size() -> None:
    plain = features_from_body({"messages": [_msg("hi")]})
    f = features_from_body({"messages": [_msg("hi")], "tools": TOOLS})
    assert f.needs_tools and not plain.needs_tools
    assert f.est_input_tokens > plain.est_input_tokens + 20


def test_legacy_functions_need_tools() -> None:
    assert features_from_body({"messages": [_msg("hi")], "functions": [{"name": "f"}]}).needs_tools


def test_tool_calls_and_tool_messages_in_the_history_need_tools() -> None:
    arguments = '{"city": "Paris"}'
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    with_call = {"messages": [_msg("weather?"), _msg(None, "assistant", tool_calls=[call])]}
    f = features_from_body(with_call)
    assert f.needs_tools
    # each call counts its arguments plus 8 tokens of framing
    assert f.est_input_tokens == text_tokens("weather?") + 2 * MESSAGE_OVERHEAD + text_tokens(arguments) + 8
    tool_msg = {"messages": [_msg("weather?"), _msg("18C and sunny", "tool", tool_call_id="c1")]}
    assert features_from_body(tool_msg).needs_tools


def test_tool_choice_none_without_tools_does_not_need_tools() -> None:
    body = {"messages": [_msg("x"), _msg("y", "tool", tool_call_id="c1")], "tool_choice": "none"}
    assert not features_from_body(body).needs_tools
    assert features_from_body({**body, "tools": TOOLS}).needs_tools


@pytest.mark.parametrize(
    ("response_format", "needs"),
    [
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}, True),
        ({"type": "json_object"}, False),
        ({"type": "text"}, False),
        ("json_schema", False),
        (None, False),
    ],
)
def test_json_schema(response_format: Any, needs: bool) -> None:
    assert features_from_body({"messages": [], "response_format": response_format}).needs_json_schema is needs


@pytest.mark.parametrize(
    ("stream", "expected"), [(True, True), (False, False), ("true", False), (1, False), (None, False)]
)
def test_stream_only_when_true(stream: Any, expected: bool) -> None:
    assert features_from_body({"messages": [], "stream": stream}).stream is expected


@pytest.mark.parametrize(
    ("body", "max_out", "est_out"),
    [
        ({}, None, 512),
        ({"max_tokens": 100}, 100, 100),
        ({"max_completion_tokens": 200}, 200, 200),
        ({"max_tokens": 100, "max_completion_tokens": 200}, 200, 200),  # the newer name wins
        ({"max_tokens": 100, "max_completion_tokens": None}, 100, 100),  # null is absent
        ({"max_tokens": 0}, None, 512),
        ({"max_tokens": -5}, None, 512),
        ({"max_tokens": True}, None, 512),
        ({"max_tokens": 100.0}, None, 512),
        ({"max_tokens": "100"}, None, 512),
    ],
)
def test_max_tokens_vs_max_completion_tokens(body: dict[str, Any], max_out: int | None, est_out: int) -> None:
    f = features_from_body({"messages": [], **body})
    assert (f.max_output_tokens, f.est_output_tokens) == (max_out, est_out)


def test_default_output_tokens_is_the_configs() -> None:
    assert features_from_body({"messages": []}, default_output_tokens=2048).est_output_tokens == 2048
    assert (
        features_from_body({"messages": [], "max_tokens": 9}, default_output_tokens=2048).est_output_tokens
        == 9
    )


def test_features_key_is_hashable_and_distinguishes() -> None:
    a = features_from_body({"messages": [_msg("hi")]})
    b = features_from_body({"messages": [_msg("hi")], "stream": True})
    assert hash(a.key()) is not None
    assert a.key() != b.key()
    assert a.key() == features_from_body({"messages": [_msg("hi")]}).key()


# The estimator.


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("a", 1),
        ("abcd", 1),
        ("abcde", 2),
        ("a" * 400, 100),
        ("你好世界", 4),
        ("日本語のテキスト", 8),
        ("ab你好", 3),  # 2 ASCII -> 1, 2 CJK -> 2
    ],
)
def test_text_tokens(text: str, tokens: int) -> None:
    assert text_tokens(text) == tokens


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_ascii_is_about_four_characters_a_token(text: str) -> None:
    assert text_tokens(text) == -(-len(text) // 4)


@given(st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)))
def test_cjk_is_about_one_token_a_character(text: str) -> None:
    assert text_tokens(text) == len(text)


@given(st.text(st.characters(codec="utf-8")))
def test_any_text_is_between_a_quarter_and_one_token_a_character(text: str) -> None:
    n = len(text)
    assert -(-n // 4) <= text_tokens(text) <= n or n == 0


def test_lone_surrogates_do_not_crash_the_estimator() -> None:
    assert text_tokens("a\ud800b") >= 1


@pytest.mark.parametrize(
    ("n", "rounded"),
    [
        (0, 0),
        (1, 1),
        (87, 87),
        (99, 99),
        (100, 100),
        (101, 110),
        (109, 110),
        (110, 110),
        (999, 1000),
        (1234, 1300),
        (1300, 1300),
        (10_001, 11_000),
        (987_654, 990_000),
    ],
)
def test_round_up_to_two_significant_figures(n: int, rounded: int) -> None:
    assert round_up_2sf(n) == rounded


@given(st.integers(0, 10**9))
def test_rounding_is_up_within_ten_percent_and_two_significant_figures(n: int) -> None:
    r = round_up_2sf(n)
    assert n <= r <= max(n, n * 1.1)
    assert len(str(r).rstrip("0")) <= 2 or r < 100


def test_similar_requests_share_an_estimate() -> None:
    a = features_from_body({"messages": [_msg("x" * 4000)]})
    b = features_from_body({"messages": [_msg("x" * 4010)]})
    assert a.est_input_tokens == b.est_input_tokens == 1100
