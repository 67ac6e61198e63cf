"""The `openai` kind: any OpenAI-compatible chat-completions endpoint (OpenAI, Groq, Together, vLLM, Ollama,
OpenRouter, ...) and Azure OpenAI. A pass-through: the body goes up as sent, the answer comes back untouched.

Every chat-completions parameter is forwarded as is; none is dropped or rewritten except `model` (set to
the deployment's upstream model) and, for streams,
`stream_options.include_usage` (forced on so the gateway can bill; the usage-only chunk is removed again
when the client did not ask for it). A non-streaming call drops `stream_options`, which OpenAI rejects
without `stream`. Target options: `azure: true` or `api_version` (Azure URL and `api-key` header),
`stream_usage: false` (for servers that reject `stream_options`), `headers` (extra static headers).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from unhardcoded.errors import ErrorClass, ProviderError
from unhardcoded.providers.base import (
    ChatResult,
    Credentials,
    HttpCall,
    Target,
    Usage,
    error_class_for_status,
    json_answer,
    parse_retry_after,
)
from unhardcoded.providers.sse import DONE, SseDecoder
from unhardcoded.providers.wire import clip, openai_usage, stream_event, token_count

DEFAULT_AZURE_API_VERSION = "2024-10-21"
_CLASS_BY_CODE: dict[str, ErrorClass] = {
    "rate_limit_exceeded": "rate_limited",
    "rate_limit_error": "rate_limited",
    "insufficient_quota": "rate_limited",
    "tokens": "rate_limited",
    "requests": "rate_limited",
    "invalid_api_key": "auth_error",
    "authentication_error": "auth_error",
    "permission_error": "auth_error",
    "invalid_request_error": "client_error",
    "context_length_exceeded": "client_error",
    "content_filter": "client_error",
    "timeout": "timeout",
}


class OpenAICompatAdapter:
    """Sans-I/O adapter for the chat-completions wire format. Stateless: one instance serves all calls."""

    kind: ClassVar[str] = "openai"
    __slots__ = ()

    def build_request(
        self, body: Mapping[str, Any], target: Target, credentials: Credentials, *, stream: bool
    ) -> HttpCall:
        payload = dict(body)
        payload["model"] = target.upstream_model
        opts = target.options
        if stream:
            payload["stream"] = True
            if opts.get("stream_usage", True):
                asked = payload.get("stream_options")
                merged = dict(asked) if isinstance(asked, Mapping) else {}
                merged["include_usage"] = True
                payload["stream_options"] = merged
            else:
                payload.pop("stream_options", None)
        else:
            payload.pop("stream", None)
            payload.pop("stream_options", None)
        headers = {"content-type": "application/json"}
        key = credentials.api_key
        if opts.get("azure") or "api_version" in opts:
            version = quote(str(opts.get("api_version") or DEFAULT_AZURE_API_VERSION), safe="")
            deployment = quote(target.upstream_model, safe="")
            url = f"{target.base_url}/openai/deployments/{deployment}/chat/completions?api-version={version}"
            if key:
                headers["api-key"] = key
        else:
            url = target.base_url + "/chat/completions"
            if key:
                headers["authorization"] = "Bearer " + key
        extra = opts.get("headers")
        if extra:
            headers.update({str(k): str(v) for k, v in extra.items()})
        if stream:
            headers["accept"] = "text/event-stream"
        return HttpCall("POST", url, headers, orjson.dumps(payload))

    def request_warnings(self, body: Mapping[str, Any], target: Target) -> Sequence[str]:
        return ()  # a pass-through: nothing is dropped

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, target: Target
    ) -> ChatResult:
        if not 200 <= status < 300:
            raise self.parse_error(status, headers, body)
        data = json_answer(body, status, "upstream")
        if not isinstance(data, dict):
            raise ProviderError("bad_response", "the answer is not a JSON object", status=status)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            if data.get("error"):  # some compatible servers answer 200 with an error body
                raise error_from_payload(data, status=None)
            raise ProviderError("bad_response", "the answer has no choices", status=status)
        for choice in choices:
            if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
                raise ProviderError("bad_response", "a choice has no message", status=status)
        model = data.get("model")
        return ChatResult(
            body=body,
            usage=usage_from(data.get("usage")),
            model=model if isinstance(model, str) and model else None,
            finish_reason=choices[0].get("finish_reason"),
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        message = _error_message(body) or f"HTTP {status} with no error message"
        return ProviderError(
            error_class_for_status(status),
            f"upstream answered {status}: {message}",
            status=status,
            retry_after=parse_retry_after(headers),
        )

    def stream_translator(self, target: Target, *, include_usage: bool, request_id: str) -> OpenAIStream:
        return OpenAIStream(include_usage=include_usage, request_id=request_id)


class OpenAIStream:
    """Forwards an OpenAI SSE stream event by event, reading usage, model and finish_reason on the way.

    The usage chunk (when the client asked for it) and `[DONE]` are held back for `finish`, so the
    gateway can record the receipt before the client sees the stream end.
    """

    __slots__ = (
        "_created",
        "_decoder",
        "_done",
        "_id",
        "_include_usage",
        "_usage_chunk",
        "finish_reason",
        "model",
        "usage",
        "warnings",
    )

    def __init__(self, *, include_usage: bool, request_id: str) -> None:
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.warnings: tuple[str, ...] = ()
        self._decoder = SseDecoder()
        self._include_usage = include_usage
        self._done = False
        self._usage_chunk: bytes | None = None
        self._id = request_id
        self._created = 0

    def feed(self, data: bytes) -> bytes:
        if self._done:
            return b""
        out: list[bytes] = []
        for event in self._decoder.feed(data):
            raw = event.data
            if raw == "[DONE]":
                self._done = True
                break
            if not raw:
                continue
            forwarded = self._event(raw)
            if forwarded is not None:
                out.append(forwarded)
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._done:
            raise ProviderError("bad_response", "stream ended before [DONE]")
        if self.usage is None:
            self.warnings = (*self.warnings, "the provider reported no token usage for this stream")
        if not self._include_usage:
            return DONE
        if self._usage_chunk is not None:
            return self._usage_chunk + DONE
        if self.usage is None:
            return DONE
        # The provider put usage on a content chunk (Mistral, Together): give the client OpenAI's usage chunk.
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created or int(time.time()),
            "model": self.model or "",
            "choices": [],
            "usage": openai_usage(self.usage),
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n" + DONE

    def _event(self, raw: str) -> bytes | None:
        chunk = stream_event(raw, "upstream")
        if chunk.get("error"):
            raise error_from_payload(chunk, status=None)
        usage = chunk.get("usage")
        if not usage:
            groq = chunk.get("x_groq")
            usage = groq.get("usage") if isinstance(groq, dict) else None
        if usage:
            self.usage = usage_from(usage)
        if self.model is None and chunk.get("model"):
            self.model = chunk["model"]
        if chunk.get("id"):
            self._id = chunk["id"]
            self._created = chunk.get("created") or self._created
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise ProviderError("bad_response", "a stream chunk has no choices list")
        if not choices:
            # The usage-only chunk, or Azure's prompt_filter_results chunk (not a valid OpenAI chunk).
            if usage and self._include_usage:
                self._usage_chunk = _encode(raw)
            return None
        has_delta = False
        for choice in choices:
            if not isinstance(choice, dict):
                raise ProviderError("bad_response", "a stream choice is not an object")
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
                has_delta = True
            elif "delta" in choice:
                has_delta = True
        # Azure's asynchronous content filter sends annotation-only chunks with no delta: not for clients.
        return _encode(raw) if has_delta else None


def _encode(raw: str) -> bytes:
    # JSON allows a newline only between tokens, so a multi-line data field joins safely with spaces.
    if "\n" in raw:
        raw = raw.replace("\n", " ")
    return b"data: " + raw.encode() + b"\n\n"


def usage_from(usage: Any) -> Usage | None:
    """OpenAI usage → ours. Cached tokens also come as DeepSeek's `prompt_cache_hit_tokens` or Moonshot's
    top-level `cached_tokens`."""
    if type(usage) is not dict:
        return None
    get = usage.get
    details = get("prompt_tokens_details")
    cached = details.get("cached_tokens") if type(details) is dict else None
    if cached is None:
        cached = get("prompt_cache_hit_tokens", get("cached_tokens"))
    return Usage(
        token_count(get("prompt_tokens")), token_count(get("completion_tokens")), token_count(cached)
    )


def error_from_payload(payload: dict[str, Any], *, status: int | None) -> ProviderError:
    """An `{"error": ...}` object seen inside a 200 answer or a stream → the matching error class."""
    err = payload.get("error")
    cls: ErrorClass = "server_error"
    code = err.get("code") if isinstance(err, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        cls = error_class_for_status(int(code))
    elif isinstance(code, str) and code in _CLASS_BY_CODE:
        cls = _CLASS_BY_CODE[code]
    elif isinstance(kind, str) and kind in _CLASS_BY_CODE:
        cls = _CLASS_BY_CODE[kind]
    message = _message_of(payload) or "the provider reported an error"
    return ProviderError(cls, f"upstream error: {message}", status=status)


def _error_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return clip(body.decode("utf-8", "replace"))
    if isinstance(data, list) and data:  # Gemini's compatible endpoint wraps its error in a list
        data = data[0]
    return _message_of(data) if isinstance(data, dict) else clip(str(data))


def _message_of(data: dict[str, Any]) -> str:
    err = data.get("error", data)
    if isinstance(err, str):
        return clip(err)
    if not isinstance(err, dict):
        return ""
    message = err.get("message", err.get("detail"))
    if message is None:
        return ""
    text = message if isinstance(message, str) else orjson.dumps(message).decode()
    code = err.get("code") or err.get("type")
    return clip(f"{text} ({code})" if isinstance(code, str) and code else text)


ADAPTER = OpenAICompatAdapter()
