"""Bedrock answers → OpenAI: the ConverseStream translator (binary AWS event-stream frames in, OpenAI
`chat.completion.chunk` SSE bytes out), the AWS error-type mapping, stop reasons and usage. No I/O.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from typing import Any

import orjson
from botocore.eventstream import EventStreamBuffer, ParserError

from unhardcoded.errors import ErrorClass, ProviderError
from unhardcoded.providers.base import Usage, error_class_for_status, parse_retry_after
from unhardcoded.providers.sse import DONE
from unhardcoded.providers.wire import (
    JSON_TOOL,
    chunk_head,
    clip,
    delta_event,
    header,
    openai_usage,
    stream_event,
    usage_event,
)

_ERROR_CLASSES: dict[str, ErrorClass] = {
    "throttlingexception": "rate_limited",
    # "You can resubmit your request later": a quota, not a malformed request.
    "servicequotaexceededexception": "rate_limited",
    "accessdeniedexception": "auth_error",
    "unrecognizedclientexception": "auth_error",
    "expiredtokenexception": "auth_error",
    "invalidsignatureexception": "auth_error",
    "incompletesignatureexception": "auth_error",
    "missingauthenticationtokenexception": "auth_error",
    "validationexception": "client_error",
    "resourcenotfoundexception": "client_error",
    "conflictexception": "client_error",
    "serviceunavailableexception": "server_error",
    "internalserverexception": "server_error",
    "internalfailure": "server_error",
    "modelnotreadyexception": "server_error",
    "modelerrorexception": "server_error",
    "modelstreamerrorexception": "server_error",
    "modeltimeoutexception": "timeout",
}

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


def short_error_type(raw: str | None) -> str:
    """`ThrottlingException:http://internal...` or `com.amazon.coral#X` → the bare type name."""
    if not raw:
        return ""
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def aws_error_class(error_type: str | None, status: int | None = None) -> ErrorClass:
    """The error class for an AWS error type (any case, with or without namespace), else by status."""
    found = _ERROR_CLASSES.get(short_error_type(error_type).lower())
    if found is not None:
        return found
    return error_class_for_status(status) if status is not None else "server_error"


def error_from_answer(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """A non-2xx Bedrock answer: the type is in `x-amzn-ErrorType` or the body's `__type`."""
    error_type = header(headers, "x-amzn-ErrorType")
    message = ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error_type = error_type or data.get("__type") or data.get("code")
        message = str(data.get("message") or data.get("Message") or "")
    return ProviderError(
        aws_error_class(error_type, status),
        f"bedrock {status} {short_error_type(error_type) or 'error'}: {clip(message, first_line=True)}",
        status=status,
        retry_after=parse_retry_after(headers),
    )


def finish_reason_for(stop_reason: Any, *, json_answer: bool = False) -> str:
    """OpenAI's finish_reason for a Bedrock stopReason; a JSON answer's forced tool call is a plain stop."""
    if stop_reason in ("malformed_model_output", "malformed_tool_use"):
        raise ProviderError("bad_response", f"bedrock stopped with {stop_reason}")
    reason = _FINISH.get(stop_reason if isinstance(stop_reason, str) else "", "stop")
    return "stop" if json_answer and reason == "tool_calls" else reason


def usage_from(raw: Any) -> Usage:
    """Bedrock `usage` → Usage. input_tokens includes cache reads and writes, as OpenAI prompt_tokens does."""
    if not isinstance(raw, dict):
        raise ProviderError("bad_response", "bedrock answer has no usage")
    keys = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    values: list[Any] = [raw.get(k, 0 if k.startswith("cache") else None) for k in keys]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ProviderError("bad_response", "bedrock usage is not a set of token counts")
    inp, out, read, write = (int(v) for v in values)
    return Usage(
        input_tokens=inp + read + write, output_tokens=out, cached_input_tokens=read, cache_write_tokens=write
    )


class FrameDecoder:
    """Bytes in any split → complete event-stream frames as (headers, payload); both CRCs are checked."""

    __slots__ = ("_buffer", "_held")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._held = 0

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        self._buffer.add_data(data)
        self._held += len(data)
        frames: list[tuple[dict[str, Any], bytes]] = []
        try:
            for message in self._buffer:
                self._held -= message.prelude.total_length
                frames.append((message.headers, message.payload))
        except (ParserError, struct.error, KeyError, IndexError, ValueError) as exc:
            raise ProviderError(
                "bad_response", f"bedrock event stream is corrupt ({type(exc).__name__})"
            ) from None
        return frames

    def pending(self) -> bool:
        """True when part of a frame is held: the stream ended mid-frame."""
        return self._held > 0


def stream_exception(headers: dict[str, Any], payload: bytes) -> ProviderError:
    """An `exception` or `error` frame as a ProviderError."""
    if headers.get(":message-type") == "error":
        etype, message = headers.get(":error-code"), headers.get(":error-message") or ""
    else:
        etype, message = headers.get(":exception-type"), ""
        try:
            body = orjson.loads(payload)
            message = body.get("message", "") if isinstance(body, dict) else ""
        except orjson.JSONDecodeError:
            pass
    etype = str(etype or "")
    return ProviderError(aws_error_class(etype), f"bedrock stream {etype}: {clip(message, first_line=True)}")


class BedrockStreamTranslator:
    """One ConverseStream attempt → OpenAI chunks. Text blocks have no start event; tool blocks do."""

    def __init__(self, model: str, *, include_usage: bool, request_id: str) -> None:
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = model
        self.warnings: tuple[str, ...] = ()
        self._head = chunk_head(request_id, int(time.time()), model)
        self._include_usage = include_usage
        self._frames = FrameDecoder()
        self._tools: dict[int, int] = {}  # contentBlockIndex → OpenAI tool_calls index
        self._json_blocks: set[int] = set()
        self._started = False
        self._stopped = False

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for headers, payload in self._frames.feed(data):
            out += self._frame(headers, payload)
        return bytes(out)

    def finish(self) -> bytes:
        if self._frames.pending():
            raise ProviderError("bad_response", "bedrock stream ended in the middle of a frame")
        if not self._stopped:
            raise ProviderError("bad_response", "bedrock stream ended before messageStop")
        if self.usage is None:
            raise ProviderError("bad_response", "bedrock stream ended before its metadata (usage)")
        out = b""
        if self._include_usage:
            out = usage_event(self._head, openai_usage(self.usage))
        return out + DONE

    def _frame(self, headers: dict[str, Any], payload: bytes) -> bytes:
        kind = headers.get(":message-type")
        if kind in ("exception", "error"):
            raise stream_exception(headers, payload)
        if kind != "event":
            return b""
        body = stream_event(payload, "Bedrock")
        event = headers.get(":event-type")
        if event == "contentBlockStart":
            return self._block_start(body)
        if event == "contentBlockDelta":
            return self._block_delta(body)
        if event == "messageStop":
            self.finish_reason = finish_reason_for(body.get("stopReason"), json_answer=self._answered_json())
            self._stopped = True
            return self._role() + self._choice({}, self.finish_reason)
        if event == "metadata":
            self.usage = usage_from(body.get("usage"))
        elif event == "messageStart":
            return self._role()
        return b""

    def _answered_json(self) -> bool:
        return bool(self._json_blocks) and not self._tools

    def _block_start(self, body: dict[str, Any]) -> bytes:
        start = body.get("start")
        tool = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(tool, dict):
            return b""
        block = body.get("contentBlockIndex")
        if not isinstance(block, int):
            raise ProviderError("bad_response", "bedrock contentBlockStart has no contentBlockIndex")
        if tool.get("name") == JSON_TOOL:
            self._json_blocks.add(block)
            return self._role()
        index = self._tools[block] = len(self._tools)
        call = {"index": index, "id": tool.get("toolUseId"), "type": "function"}
        call["function"] = {"name": tool.get("name"), "arguments": ""}
        return self._role() + self._choice({"tool_calls": [call]})

    def _block_delta(self, body: dict[str, Any]) -> bytes:
        delta = body.get("delta")
        if not isinstance(delta, dict):
            raise ProviderError("bad_response", "bedrock contentBlockDelta has no delta")
        if isinstance(delta.get("text"), str):
            return self._role() + self._choice({"content": delta["text"]})
        tool = delta.get("toolUse")
        if not isinstance(tool, dict):
            return b""  # reasoning, citations: nothing in the OpenAI shape carries them
        fragment = tool.get("input")
        block = body.get("contentBlockIndex")
        if not isinstance(fragment, str):
            raise ProviderError("bad_response", "bedrock toolUse delta has no input string")
        if block in self._json_blocks:
            return self._choice({"content": fragment})
        if block not in self._tools:
            raise ProviderError("bad_response", "bedrock toolUse delta for a block that never started")
        return self._choice(
            {"tool_calls": [{"index": self._tools[block], "function": {"arguments": fragment}}]}
        )

    def _role(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._choice({"role": "assistant", "content": ""})

    def _choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return delta_event(self._head, 0, delta, finish_reason)
