"""The request features a decision looks at, read from an OpenAI chat-completions body. Pure.

Token estimation needs no tokenizer download: ASCII text counts one token per 4 characters and every
non-ASCII character one token (CJK scripts run near one token per character in the GPT-4o/Claude
vocabularies; accented Latin text is over-counted). Images count 765 tokens each (OpenAI's high-detail
1024x1024 figure), each message 4 tokens of framing, tool definitions by their JSON size. Real
tokenizers differ by model: for English prose this lands within about ±25 % of tiktoken's o200k
count; for code and JSON it tends to over-count by up to ~40 %, which errs on the safe side for
`req:context-fits`. The estimate is rounded up to two significant figures so similar requests share
(and memoise) one decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IMAGE_TOKENS = 765
MESSAGE_OVERHEAD = 4


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    est_input_tokens: int
    est_output_tokens: int  # max_tokens when given, else the config's default_output_tokens
    max_output_tokens: int | None  # what the request asked for, if anything
    needs_tools: bool = False
    needs_vision: bool = False
    needs_json_schema: bool = False
    stream: bool = False

    def key(self) -> tuple[Any, ...]:
        return (
            self.est_input_tokens,
            self.est_output_tokens,
            self.max_output_tokens,
            self.needs_tools,
            self.needs_vision,
            self.needs_json_schema,
            self.stream,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "est_input_tokens": self.est_input_tokens,
            "est_output_tokens": self.est_output_tokens,
            "max_output_tokens": self.max_output_tokens,
            "needs_tools": self.needs_tools,
            "needs_vision": self.needs_vision,
            "needs_json_schema": self.needs_json_schema,
            "stream": self.stream,
        }


def text_tokens(text: str) -> int:
    """Estimated tokens of a text (see the module docstring)."""
    n_chars = len(text)
    n_bytes = len(text.encode("utf-8", "replace"))
    # Non-ASCII characters take 2-4 UTF-8 bytes; assume 3 (CJK) to count them without a Python loop.
    non_ascii = min(n_chars, (n_bytes - n_chars + 1) // 2)
    return (n_chars - non_ascii + 3) // 4 + non_ascii


def round_up_2sf(n: int) -> int:
    """Round up to two significant figures: 1234 -> 1300, 87 -> 87."""
    if n < 100:
        return n
    scale: int = 10 ** (len(str(n)) - 2)
    return -(-n // scale) * scale


def _content_tokens(content: Any) -> tuple[int, bool]:
    if isinstance(content, str):
        return text_tokens(content), False
    tokens, vision = 0, False
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                tokens += text_tokens(part["text"])
            elif kind in ("image_url", "input_image", "image"):
                tokens += IMAGE_TOKENS
                vision = True
    return tokens, vision


def features_from_body(body: Mapping[str, Any], *, default_output_tokens: int = 512) -> RequestFeatures:
    """Read the features from a chat-completions body (assumed shape-checked by the caller)."""
    tokens = 0
    vision = False
    tools = bool(body.get("tools")) or bool(body.get("functions"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if not isinstance(m, Mapping):
                continue
            t, v = _content_tokens(m.get("content"))
            tokens += t + MESSAGE_OVERHEAD
            vision = vision or v
            if m.get("tool_calls") or m.get("role") == "tool":
                tools = True
                calls = m.get("tool_calls")
                if isinstance(calls, list):
                    tokens += sum(
                        text_tokens(str(c.get("function", {}).get("arguments", ""))) + 8
                        for c in calls
                        if isinstance(c, Mapping)
                    )
    tool_defs = body.get("tools")
    if isinstance(tool_defs, list) and tool_defs:
        tokens += text_tokens(repr(tool_defs))
    if body.get("tool_choice") == "none" and not body.get("tools"):
        tools = False
    rf = body.get("response_format")
    json_schema = isinstance(rf, Mapping) and rf.get("type") == "json_schema"
    max_out = body.get("max_completion_tokens")
    if max_out is None:  # absent or null: the older name
        max_out = body.get("max_tokens")
    max_out = max_out if isinstance(max_out, int) and not isinstance(max_out, bool) and max_out > 0 else None
    return RequestFeatures(
        est_input_tokens=round_up_2sf(tokens),
        est_output_tokens=max_out if max_out is not None else default_output_tokens,
        max_output_tokens=max_out,
        needs_tools=tools,
        needs_vision=vision,
        needs_json_schema=json_schema,
        stream=body.get("stream") is True,
    )
