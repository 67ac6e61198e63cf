"""Gemini answers → OpenAI: complete responses, the SSE stream translator, usage and errors.

Shared by the `gemini` adapter and by `vertex` for Gemini on Vertex AI. No I/O.
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

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# The model broke its own tool call: no usable answer, but another deployment may do better.
_BROKEN = {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"}
_STATUS_CLASSES: dict[str, ErrorClass] = {
    "RESOURCE_EXHAUSTED": "rate_limited",
    "UNAVAILABLE": "server_error",
    "INTERNAL": "server_error",
    "UNKNOWN": "server_error",
    "ABORTED": "server_error",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAUTHENTICATED": "auth_error",
    "PERMISSION_DENIED": "auth_error",
    "INVALID_ARGUMENT": "client_error",
    "NOT_FOUND": "client_error",
    "FAILED_PRECONDITION": "client_error",
    "OUT_OF_RANGE": "client_error",
}


def finish_reason_for(reason: Any, *, has_calls: bool) -> str:
    if reason in _BROKEN:
        raise ProviderError("bad_response", f"gemini stopped with {reason}")
    mapped = _FINISH.get(reason if isinstance(reason, str) else "", "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def usage_from(meta: Any) -> Usage | None:
    """usageMetadata → ours: thinking tokens count as output, tool-use prompt tokens as input."""
    if not isinstance(meta, dict) or "promptTokenCount" not in meta:
        return None
    count = {k: token_count(v) for k, v in meta.items()}
    return Usage(
        input_tokens=count["promptTokenCount"] + count.get("toolUsePromptTokenCount", 0),
        output_tokens=count.get("candidatesTokenCount", 0) + count.get("thoughtsTokenCount", 0),
        cached_input_tokens=count.get("cachedContentTokenCount", 0),
    )


def _openai_usage(usage: Usage, meta: Mapping[str, Any]) -> dict[str, Any]:
    return openai_usage(usage, reasoning_tokens=token_count(meta.get("thoughtsTokenCount")))


def tool_call(part: Mapping[str, Any], k: int) -> dict[str, Any] | None:
    """A `functionCall` part → an OpenAI tool call; Gemini has no ids, so `call_<k>_<name>` stands in."""
    fc = part.get("functionCall")
    if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
        return None
    fn = {"name": fc["name"], "arguments": orjson.dumps(fc.get("args") or {}).decode()}
    call: dict[str, Any] = {
        "id": fc.get("id") or f"call_{k}_{fc['name']}",
        "type": "function",
        "function": fn,
    }
    if part.get("thoughtSignature"):
        call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def _parts(candidate: Mapping[str, Any]) -> list[Any]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return parts if isinstance(parts, list) else []


def _text(part: Any) -> str | None:
    # `thought: true` parts are thinking summaries, not the answer.
    if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought"):
        return str(part["text"])
    return None


def _choice(candidate: Mapping[str, Any], position: int) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in _parts(candidate):
        text = _text(part)
        call = tool_call(part, len(calls)) if isinstance(part, dict) else None
        if text is not None:
            texts.append(text)
        elif call is not None:
            calls.append(call)
    finish = finish_reason_for(candidate.get("finishReason"), has_calls=bool(calls))
    return choice(candidate.get("index", position), assistant_message(texts, calls), finish)


def parse_generate(data: Any, target: Target, warnings: tuple[str, ...] = ()) -> ChatResult:
    """A GenerateContentResponse → an OpenAI `chat.completion` (one choice per candidate)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise ProviderError("bad_response", "the Gemini answer is not a JSON object")
    if isinstance(data.get("error"), dict):
        raise error_from_payload(data, status=None)
    candidates = data.get("candidates")
    if isinstance(candidates, list) and candidates:
        choices = [_choice(c if isinstance(c, dict) else {}, i) for i, c in enumerate(candidates)]
    elif (data.get("promptFeedback") or {}).get("blockReason"):
        choices = [choice(0, {"role": "assistant", "content": ""}, "content_filter")]
    else:
        raise ProviderError("bad_response", "the Gemini answer has no candidates")
    meta = data.get("usageMetadata")
    meta = meta if isinstance(meta, dict) else {}
    usage = usage_from(meta)
    named = data.get("modelVersion")
    model = named if isinstance(named, str) else target.upstream_model
    out = completion(
        f"chatcmpl-{data.get('responseId') or int(time.time() * 1000)}",
        int(time.time()),
        model,
        choices,
        None if usage is None else _openai_usage(usage, meta),
    )
    finish = choices[0]["finish_reason"]
    return ChatResult(out, usage, model=model, finish_reason=finish, warnings=warnings)


def _retry_delay(err: Mapping[str, Any]) -> float | None:
    for detail in err.get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def error_from_payload(
    payload: Mapping[str, Any], *, status: int | None, retry_after: float | None = None
) -> ProviderError:
    """`{"error": {"code", "message", "status", "details"}}` → our error class (by status name, else code)."""
    err = payload.get("error")
    err = err if isinstance(err, dict) else {}
    name = err.get("status")
    reasons = {d.get("reason") for d in err.get("details") or [] if isinstance(d, dict)}
    cls = _STATUS_CLASSES.get(name) if isinstance(name, str) else None
    if "API_KEY_INVALID" in reasons:  # Google answers a bad key with 400 INVALID_ARGUMENT
        cls = "auth_error"
    code = err.get("code")
    if cls is None:
        http = code if isinstance(code, int) else status
        cls = error_class_for_status(http) if http is not None else "server_error"
    if retry_after is None:
        retry_after = _retry_delay(err)
    label = name or code or "error"
    return ProviderError(
        cls, f"gemini {label}: {clip(err.get('message'))}", status=status, retry_after=retry_after
    )


def error_from_body(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """A non-2xx Google API answer → ProviderError, honouring Retry-After and RetryInfo."""
    return http_error(status, headers, body, error_from_payload)


class GeminiStream:
    """`streamGenerateContent?alt=sse` events (each a partial GenerateContentResponse) in, OpenAI chunks out.

    Text parts become content deltas; a functionCall part arrives whole and becomes one tool-call delta
    with its full arguments. usageMetadata is cumulative: the last one seen is the usage. Gemini sends no
    end marker, so the stream is complete when every candidate seen has a finishReason.
    """

    def __init__(self, target: Target, *, include_usage: bool, request_id: str) -> None:
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.warnings: tuple[str, ...] = ()
        self._decoder = SseDecoder()
        self._include_usage = include_usage
        self._head = chunk_head(request_id, int(time.time()), target.upstream_model)
        self._meta: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # candidate index → tool calls so far
        self._finished: dict[int, bool] = {}  # candidate index → finishReason seen

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._decoder.feed(data):
            if not event.data:
                continue
            self._event(stream_event(event.data, "Gemini"), out)
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._finished or not all(self._finished.values()):
            raise ProviderError("bad_response", "the Gemini stream ended before a finishReason")
        if self._include_usage and self.usage is not None:
            return usage_event(self._head, _openai_usage(self.usage, self._meta)) + DONE
        return DONE

    def _chunk(self, out: list[bytes], index: int, delta: dict[str, Any], finish: str | None = None) -> None:
        if index not in self._finished:
            self._finished[index] = False
            self._tools[index] = 0
            out.append(delta_event(self._head, index, {"role": "assistant", "content": ""}))
        if delta or finish:
            out.append(delta_event(self._head, index, delta, finish))

    def _event(self, payload: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(payload.get("error"), dict):
            raise error_from_payload(payload, status=None)
        if isinstance(payload.get("modelVersion"), str):
            self.model = self._head["model"] = payload["modelVersion"]
        meta = payload.get("usageMetadata")
        if isinstance(meta, dict) and usage_from(meta) is not None:
            self._meta = meta
            self.usage = usage_from(meta)
        candidates = payload.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            if (payload.get("promptFeedback") or {}).get("blockReason"):
                self.finish_reason = "content_filter"
                self._chunk(out, 0, {}, "content_filter")
                self._finished[0] = True
            return
        for position, candidate in enumerate(candidates):
            if isinstance(candidate, dict):
                self._candidate(candidate, candidate.get("index", position), out)

    def _candidate(self, candidate: dict[str, Any], index: int, out: list[bytes]) -> None:
        if self._finished.get(index):
            return
        self._chunk(out, index, {})
        for part in _parts(candidate):
            text = _text(part)
            call = tool_call(part, self._tools[index]) if isinstance(part, dict) else None
            if text:
                self._chunk(out, index, {"content": text})
            elif call is not None:
                self._chunk(out, index, {"tool_calls": [{"index": self._tools[index], **call}]})
                self._tools[index] += 1
        if candidate.get("finishReason"):
            finish = finish_reason_for(candidate["finishReason"], has_calls=self._tools[index] > 0)
            self._chunk(out, index, {}, finish)
            self._finished[index] = True
            if index == 0 or self.finish_reason is None:
                self.finish_reason = finish
