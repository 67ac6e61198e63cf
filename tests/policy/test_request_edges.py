"""features_from_body on bodies a client may really send: stray values in lists, tool calls without
arguments, an empty tool list, the smallest max_tokens. Each changes the token estimate or a flag that
the receipt shows and the request rules use."""

from __future__ import annotations

from typing import Any

from unhardcoded.policy.request import MESSAGE_OVERHEAD, features_from_body, text_tokens


def _body(*messages: Any, **kw: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": list(messages), **kw}


TEXT = {"role": "user", "content": "a" * 40}  # 10 tokens + framing


def test_a_stray_message_does_not_stop_the_count() -> None:
    f = features_from_body(_body("not a message", 7, TEXT))
    assert f.est_input_tokens == 10 + MESSAGE_OVERHEAD


def test_a_stray_content_part_does_not_stop_the_count() -> None:
    content = ["junk", {"type": "text", "text": "a" * 40}, {"type": "text", "text": "b" * 20}]
    f = features_from_body(_body({"role": "user", "content": content}))
    assert f.est_input_tokens == 10 + 5 + MESSAGE_OVERHEAD


def test_a_tool_call_without_arguments_counts_its_framing_only() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup"}}
    f = features_from_body(_body({"role": "assistant", "content": "", "tool_calls": [call]}))
    assert f.needs_tools
    assert f.est_input_tokens == MESSAGE_OVERHEAD + 8


def test_a_tool_call_without_a_function_counts_its_framing_only() -> None:
    f = features_from_body(_body({"role": "assistant", "content": "", "tool_calls": [{"id": "c1"}]}))
    assert f.est_input_tokens == MESSAGE_OVERHEAD + 8


def test_tool_call_arguments_count_like_text() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "x" * 40}}
    f = features_from_body(_body({"role": "assistant", "content": "", "tool_calls": [call]}))
    assert f.est_input_tokens == MESSAGE_OVERHEAD + 10 + 8


def test_an_empty_tool_list_adds_no_tokens_and_needs_no_tools() -> None:
    f = features_from_body(_body(TEXT, tools=[]))
    assert f.est_input_tokens == 10 + MESSAGE_OVERHEAD
    assert f.needs_tools is False


def test_tool_definitions_add_to_the_messages() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    f = features_from_body(_body(TEXT, tools=tools))
    assert f.est_input_tokens == 10 + MESSAGE_OVERHEAD + text_tokens(repr(tools))


def test_tool_choice_none_shows_needs_tools_false_on_the_receipt() -> None:
    f = features_from_body(_body({"role": "tool", "content": "42"}, tool_choice="none"))
    assert f.to_dict()["needs_tools"] is False


def test_max_tokens_of_one_is_a_limit() -> None:
    f = features_from_body(_body(TEXT, max_tokens=1))
    assert (f.max_output_tokens, f.est_output_tokens) == (1, 1)
