"""The adapter seam: turn an OpenAI-format chat body into one provider's HTTP request, and its answer back.

Adapters are sans-I/O: they build requests and parse bytes, they never send. `gateway/transport.py`
owns the one HTTP client; `gateway/credentials.py` obtains keys and tokens. Adapters never log and never
put a credential anywhere but the outgoing request's headers or URL.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import orjson

from unhardcoded.errors import ErrorClass, ProviderError


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: a catalog deployment joined with its provider's config."""

    deployment_id: str
    provider: str  # the provider's name in the config / deployment id, e.g. "bedrock"
    kind: str  # the adapter kind: "openai", "anthropic", "gemini", "vertex", "bedrock"
    upstream_model: str  # the model name the provider expects
    base_url: str  # no trailing slash; for regional providers already resolved for endpoint_region
    region: str | None = None  # the concrete region called (endpoint_region), if any
    options: Mapping[str, Any] = field(default_factory=dict)  # provider extras: api_version, project, ...


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """Secrets for one attempt. repr never shows them."""

    api_key: str | None = None  # API key, or an OAuth access token for vertex
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None

    def __repr__(self) -> str:
        return "Credentials(***)"


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One HTTP request, ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:  # headers may carry keys
        return f"HttpCall({self.method} {self.url.split('?')[0]}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one answer. `input_tokens` includes cached reads, as OpenAI's `prompt_tokens` does."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0  # read from cache (billed at the cached price)
    cache_write_tokens: int = 0  # written to cache (Anthropic); billed at the input price here

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A complete, non-streaming answer in OpenAI `chat.completion` form."""

    body: bytes  # the JSON bytes returned to the client
    usage: Usage | None
    model: str | None = None  # the model the provider says answered
    finish_reason: str | None = None
    warnings: tuple[str, ...] = ()  # e.g. a parameter the provider has no equivalent for, dropped


class StreamTranslator(Protocol):
    """Turns streamed provider bytes into OpenAI SSE (`data: {chunk}\\n\\n` ... `data: [DONE]\\n\\n`).

    `feed` may receive any split of the byte stream (half an event, several events). It raises
    ProviderError on an in-band error event. `finish` is called at upstream EOF: it returns the final
    bytes (the usage chunk when the client asked for it, then `data: [DONE]`) or raises
    ProviderError("bad_response") if the stream was cut before its end. The usage chunk and `[DONE]` come
    only from `finish`, never from `feed`: strict durability commits the receipt before the client sees
    the stream end.
    """

    usage: Usage | None
    finish_reason: str | None
    model: str | None
    warnings: tuple[str, ...]

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class Adapter(Protocol):
    """One wire format. Instances are stateless and shared by every call.

    `body` is the client's OpenAI chat-completions body as the HTTP edge leaves it: gateway fields (`policy`,
    `x_unhardcoded*`) already removed, and read-only (a Mapping the adapter must never mutate).
    """

    kind: ClassVar[str]

    def build_request(
        self, body: Mapping[str, Any], target: Target, credentials: Credentials, *, stream: bool
    ) -> HttpCall:
        """The upstream request for `body`; raises ProviderError (client_error, auth_error) when it cannot."""
        ...

    def request_warnings(self, body: Mapping[str, Any], target: Target) -> Sequence[str]:
        """What build_request drops or changes in `body` (a parameter this provider has no equivalent
        for), for the attempt and the receipt; () when nothing is. HttpCall has no field for it."""
        ...

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, target: Target
    ) -> ChatResult:
        """Parse a complete answer; raise ProviderError for an error status or a malformed body."""
        ...

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        """Map a non-2xx answer (before any stream byte) to our error classes."""
        ...

    def stream_translator(self, target: Target, *, include_usage: bool, request_id: str) -> StreamTranslator:
        """A fresh translator per streamed attempt; `include_usage`: the client asked for the usage chunk."""
        ...


def function_tools(tools: Any, provider: str, *, reserved: str | None = None) -> list[dict[str, Any]]:
    """The `function` objects of an OpenAI `tools` list, checked; every adapter that translates tools
    starts here. `reserved`: a tool name the adapter uses itself (for response_format)."""
    out = []
    for k, tool in enumerate(tools or []):
        fn = (
            tool.get("function")
            if isinstance(tool, dict) and tool.get("type", "function") == "function"
            else None
        )
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ProviderError(
                "client_error", f"tools[{k}]: only function tools with a name are supported on {provider}"
            )
        if reserved is not None and fn["name"] == reserved:
            raise ProviderError(
                "client_error", f"tools[{k}]: the name {reserved!r} is reserved for response_format"
            )
        out.append(fn)
    return out


def json_answer(body: bytes, status: int, provider: str) -> Any:
    """A 2xx answer's JSON, or ProviderError("bad_response") naming the provider."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProviderError(
            "bad_response", f"the {provider} answer is not valid JSON", status=status
        ) from None


def error_class_for_status(status: int) -> ErrorClass:
    """The default mapping of an HTTP status to an error class."""
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth_error"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "server_error"
    return "client_error"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` (seconds or an HTTP date) or `retry-after-ms` header; None when absent."""
    ms = headers.get("retry-after-ms") or headers.get("Retry-After-Ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the other form RFC 9110 allows: an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
