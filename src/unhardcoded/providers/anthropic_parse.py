"""Anthropic answers → OpenAI: complete messages, the SSE stream translator, usage and errors.

Shared by the `anthropic` adapter and by `vertex` for Claude on Vertex AI. No I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from unhardcoded.errors import ErrorClass, ProviderError
from unhardcoded.providers.base import ChatResult, Target, Usage, error_class_for_status
from unhardcoded.providers.sse import DONE, SseDecoder
from unhardcoded.providers.wire import (
    JSON_TOOL,
    assistant_message,
    choice,
    chunk_head,
    clip,
    completion,
    delta_event,
    http_error,
    openai_usage,
    stream_event,
    token_count,
    usage_event,
)

_ERROR_CLASSES: dict[str, ErrorClass] = {
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "rate_limit_error": "rate_limited",
    "authentication_error": "auth_error",
    "permission_error": "auth_error",
    "billing_error": "auth_error",
    "invalid_request_error": "client_error",
    "not_found_error": "client_error",
    "request_too_large": "client_error",
    "timeout_error": "timeout",
}
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason_for(stop_reason: Any, *, json_answer: bool) -> str:
    """OpenAI's finish_reason; the forced JSON tool's call is a plain stop."""
    reason = _FINISH.get(stop_reason if isinstance(stop_reason, str) else "", "stop")
    return "stop" if json_answer and reason == "tool_calls" else reason


def usage_from(usage: Any) -> Usage | None:
    """Anthropic usage → ours: input counts every prompt token, cache reads and writes included."""
    if not isinstance(usage, dict):
        return None
    read = token_count(usage.get("cache_read_input_tokens"))
    write = token_count(usage.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=token_count(usage.get("input_tokens")) + read + write,
        output_tokens=token_count(usage.get("output_tokens")),
        cached_input_tokens=read,
        cache_write_tokens=write,
    )


def parse_message(data: Any, target: Target, warnings: tuple[str, ...] = ()) -> ChatResult:
    """A Messages API `message` object → an OpenAI `chat.completion`."""
    if not isinstance(data, dict):
        raise ProviderError("bad_response", "the Anthropic answer is not a JSON object")
    if data.get("type") == "error":
        raise error_from_payload(data, status=None)
    blocks = data.get("content")
    if data.get("type") != "message" or not isinstance(blocks, list):
        raise ProviderError("bad_response", "the Anthropic answer is not a message")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    answer: str | None = None
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            if block.get("name") == JSON_TOOL:
                answer = arguments
                continue
            fn = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": fn})
    message = assistant_message(texts, calls, answer)
    finish = finish_reason_for(data.get("stop_reason"), json_answer=answer is not None and not calls)
    usage = usage_from(data.get("usage"))
    named = data.get("model")
    model = named if isinstance(named, str) else target.upstream_model
    out = completion(
        f"chatcmpl-{data.get('id') or int(time.time() * 1000)}",
        int(time.time()),
        model,
        [choice(0, message, finish)],
        None if usage is None else openai_usage(usage),
    )
    return ChatResult(out, usage, model=model, finish_reason=finish, warnings=warnings)


def error_from_payload(
    payload: Mapping[str, Any], *, status: int | None, retry_after: float | None = None
) -> ProviderError:
    """`{"type": "error", "error": {"type", "message"}}` → our error class (by type, else by status)."""
    err = payload.get("error")
    kind = err.get("type") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    cls = _ERROR_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        cls = error_class_for_status(status) if status is not None else "server_error"
    return ProviderError(
        cls, f"anthropic {kind or 'error'}: {clip(message)}", status=status, retry_after=retry_after
    )


def error_from_body(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """A non-2xx Anthropic answer → ProviderError, honouring retry-after."""
    return http_error(status, headers, body, error_from_payload)


class AnthropicStream:
    """Anthropic SSE events (message_start, content_block_*, message_delta, message_stop, ping, error) in,
    OpenAI `chat.completion.chunk` SSE bytes out. The usage chunk and `[DONE]` wait for `finish`."""

    def __init__(self, target: Target, *, include_usage: bool, request_id: str) -> None:
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.warnings: tuple[str, ...] = ()
        self._decoder = SseDecoder()
        self._include_usage = include_usage
        self._head = chunk_head(request_id, int(time.time()), target.upstream_model)
        self._started = False
        self._stopped = False
        self._blocks: dict[int, int] = {}  # block index → OpenAI tool-call index (-1: the JSON answer)
        self._tools = 0
        self._json_answer = False
        self._stop_reason: Any = None
        self._raw_usage: dict[str, Any] = {}

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._decoder.feed(data):
            if not event.data or self._stopped:
                continue
            payload = stream_event(event.data, "Anthropic")
            self._event(payload.get("type") or event.event, payload, out)
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._stopped:
            raise ProviderError("bad_response", "the Anthropic stream ended before message_stop")
        if self._include_usage and self.usage is not None:
            return usage_event(self._head, openai_usage(self.usage)) + DONE
        return DONE

    def _chunk(self, out: list[bytes], delta: dict[str, Any], finish: str | None = None) -> None:
        if not self._started:
            self._started = True
            out.append(delta_event(self._head, 0, {"role": "assistant", "content": ""}))
        if delta or finish:
            out.append(delta_event(self._head, 0, delta, finish))

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = usage_from(self._raw_usage)

    def _event(self, kind: Any, payload: dict[str, Any], out: list[bytes]) -> None:
        if kind == "message_start":
            message = payload.get("message") or {}
            if isinstance(message.get("model"), str):
                self.model = self._head["model"] = message["model"]
            self._usage(message.get("usage"))
            self._chunk(out, {})
        elif kind == "content_block_start":
            self._block_start(payload, out)
        elif kind == "content_block_delta":
            self._block_delta(payload, out)
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            self._stop_reason = delta.get("stop_reason") or self._stop_reason
            self._usage(payload.get("usage"))
        elif kind == "message_stop":
            self._stopped = True
            calls = self._tools > 0
            self.finish_reason = finish_reason_for(
                self._stop_reason, json_answer=self._json_answer and not calls
            )
            self._chunk(out, {}, self.finish_reason)
        elif kind == "error":
            raise error_from_payload(payload, status=None)

    def _block_start(self, payload: dict[str, Any], out: list[bytes]) -> None:
        block = payload.get("content_block") or {}
        index = payload.get("index")
        if block.get("type") == "text" and block.get("text"):
            self._chunk(out, {"content": block["text"]})
        elif block.get("type") == "tool_use" and isinstance(index, int):
            if block.get("name") == JSON_TOOL:
                self._blocks[index] = -1
                self._json_answer = True
                return
            self._blocks[index] = self._tools
            fn = {"name": block.get("name"), "arguments": ""}
            call = {"index": self._tools, "id": block.get("id"), "type": "function", "function": fn}
            self._tools += 1
            self._chunk(out, {"tool_calls": [call]})

    def _block_delta(self, payload: dict[str, Any], out: list[bytes]) -> None:
        delta = payload.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            self._chunk(out, {"content": delta["text"]})
        elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            tool = self._blocks.get(payload.get("index", -2))
            if tool == -1:
                self._chunk(out, {"content": delta["partial_json"]})
            elif tool is not None:
                call = {"index": tool, "function": {"arguments": delta["partial_json"]}}
                self._chunk(out, {"tool_calls": [call]})
