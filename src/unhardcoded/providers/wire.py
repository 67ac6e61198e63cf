"""Wire helpers every adapter shares: OpenAI-side shapes (usage, completions, chunks), request checks and
provider error text. One definition each, so the adapters cannot drift apart. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import orjson

from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import Usage, error_class_for_status, parse_retry_after
from unhardcoded.providers.sse import encode_event

# The forced tool that carries a `response_format` answer (Anthropic, Bedrock); its input is the content.
JSON_TOOL = "json_response"
MAX_MESSAGE = 300
# Provider messages sometimes echo part of a key ("Incorrect API key provided: sk-ab***wxyz").
_SECRETS = re.compile(
    r"(?i)(api key provided:\s*)\S+"
    r"|\b(?:sk|gsk|xai|csk|pplx|fw|nvapi|r8|key)[-_][A-Za-z0-9*_\-.]{6,}"
    r"|AIza[0-9A-Za-z_\-]{20,}|ya29\.[0-9A-Za-z_.\-]+|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
)

PayloadError = Callable[..., ProviderError]  # (payload, *, status, retry_after) → ProviderError


def client_error(message: str) -> ProviderError:
    return ProviderError("client_error", message)


def clip(message: Any, *, first_line: bool = False) -> str:
    """A provider's error message for receipts and clients: one line, short, anything key-shaped masked.
    `first_line`: drop what follows the first newline (AWS appends the canonical request, token included)."""
    text = "" if message is None else str(message)
    if first_line:
        text = text.split("\n", 1)[0]
    text = _SECRETS.sub(lambda m: (m.group(1) or "") + "***", " ".join(text.split()))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def token_count(value: Any) -> int:
    """A token count from JSON: ints as they are, floats truncated, anything else (bool, null) 0."""
    kind = type(value)  # exact types: bool is not a token count
    return value if kind is int else int(value) if kind is float else 0


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name in any case, whatever kind of mapping holds them."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def unsupported_params(body: Mapping[str, Any], handled: Collection[str], provider: str) -> list[str]:
    """One warning per body field the provider has no equivalent for. Unset-looking values (None, False,
    "", 0) are the OpenAI defaults: dropping them changes nothing, so they do not warn."""
    return [
        f"{key} has no {provider} equivalent; dropped"
        for key, value in body.items()
        if key not in handled and value not in (None, False, "")
    ]


def clamped_temperature(body: Mapping[str, Any], provider: str, warnings: list[str]) -> Any:
    """`temperature`, capped at 1 with a warning: OpenAI allows up to 2, Anthropic models take 0–1."""
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and temperature > 1:
        warnings.append(f"temperature {temperature} is above {provider}'s maximum of 1; sent as 1")
        return 1
    return temperature


def stop_sequences(body: Mapping[str, Any]) -> list[str]:
    """`stop` (a string or a list) as a list without empty strings, which providers reject."""
    stop = body.get("stop")
    return [s for s in ([stop] if isinstance(stop, str) else stop or ()) if s]


def max_output_tokens(body: Mapping[str, Any]) -> Any:
    """`max_completion_tokens`, else the older `max_tokens`; None when neither is given."""
    chosen = body.get("max_completion_tokens")
    return body.get("max_tokens") if chosen is None else chosen


def parse_data_url(url: str, where: str) -> tuple[str, str]:
    """`data:<mime>;base64,<data>` → (mime in lower case, data)."""
    meta, _, data = url[5:].partition(",")
    mime, _, encoding = meta.partition(";")
    if encoding.lower() != "base64" or not mime or not data:
        raise client_error(f"{where}: only base64 data: URLs with a media type are supported")
    return mime.lower(), data


def conversation(messages: Any, provider: str, warnings: list[str]) -> Iterator[tuple[str, str, Any]]:
    """Each message as (where, role, message), role one of system/user/assistant/tool (`developer` is
    `system`). Every provider has one top-level system field: a system message after the first turn is
    moved there, with one warning."""
    if not isinstance(messages, list) or not messages:
        raise client_error("messages must be a non-empty list")
    started = moved = False
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            if started and not moved:
                moved = True
                warnings.append("system messages after the first turn were moved into the top-level system")
            yield where, "system", message
        elif role in ("user", "assistant", "tool"):
            started = True
            yield where, role, message
        else:
            raise client_error(f"{where}.role {role!r} is not supported on {provider}")


def add_turn(
    turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], key: str = "content"
) -> None:
    """Append a turn, merged into the previous one when it has the same role (providers want alternation)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(blocks)
    else:
        turns.append({"role": role, key: blocks})


def text_parts(content: Any, where: str) -> list[Mapping[str, Any]]:
    """The non-empty text parts of a message's content (a string is one part; a refusal part counts as the
    text it holds). Any other part type raises client_error."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise client_error(f"{where}.content must be a string or a list of parts")
    out: list[Mapping[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get(kind) if kind in ("text", "refusal") else None
        if kind not in ("text", "refusal") or not isinstance(text, str):
            raise client_error(f"{where}.content[{j}]: only text parts are allowed here")
        if text:
            out.append(part if kind == "text" else {"type": "text", "text": text})
    return out


def texts(content: Any, where: str) -> list[str]:
    return [part["text"] for part in text_parts(content, where)]


def user_parts(
    content: Any,
    where: str,
    provider: str,
    *,
    text: Callable[[Mapping[str, Any]], dict[str, Any]],
    image: Callable[[Mapping[str, Any], str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A user message's content → the provider's blocks: text parts through `text`, image_url parts
    through `image(part, where)`; any other part type is refused."""
    if not isinstance(content, list):
        return [text(part) for part in text_parts(content, where)]
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            out.append(image(part, f"{where}.content[{j}]"))
        elif kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                out.append(text(part))
        else:
            raise client_error(f"{where}.content[{j}]: part type {kind!r} is not supported on {provider}")
    return out


def call_arguments(call: Any, where: str) -> tuple[Any, dict[str, Any]]:
    """An assistant tool call's (function name, arguments parsed as a JSON object); raises client_error."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        raise client_error(f"{where} must be a function call")
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise client_error(f"{where}.function.arguments must be a JSON object")
    return fn.get("name"), args


def named_tool_choice(choice: Any) -> str | None:
    """The function a tool_choice names, None for the string modes; raises for anything else."""
    if choice in (None, "auto", "none", "required"):
        return None
    fn = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise client_error("tool_choice must be 'auto', 'none', 'required' or a function")
    return str(fn["name"])


def json_tool_spec(response_format: Any, provider: str) -> tuple[str, Any] | None:
    """response_format → (description, JSON schema) of the forced JSON tool, or None for plain text."""
    kind = response_format.get("type") if isinstance(response_format, dict) else response_format
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return "Give your answer as a JSON object.", {"type": "object"}
    if kind != "json_schema":
        raise client_error(f"response_format type {kind!r} is not supported on {provider}")
    spec = response_format.get("json_schema") or {}
    description = f"Give your answer as JSON matching the `{spec.get('name', 'response')}` schema."
    if spec.get("description"):
        description += " " + str(spec["description"])
    return description, spec.get("schema") or {"type": "object"}


def openai_usage(usage: Usage, *, reasoning_tokens: int = 0) -> dict[str, Any]:
    """Ours → OpenAI's `usage` object."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }
    if reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return out


def assistant_message(
    texts: list[str], calls: list[dict[str, Any]], answer: str | None = None
) -> dict[str, Any]:
    """The OpenAI assistant message: the JSON tool's answer, else the texts (null beside tool calls)."""
    message: dict[str, Any] = {"role": "assistant"}
    message["content"] = answer if answer is not None else "".join(texts) if texts or not calls else None
    if calls:
        message["tool_calls"] = calls
    return message


def completion(
    completion_id: str, created: int, model: str, choices: list[dict[str, Any]], usage: dict[str, Any] | None
) -> bytes:
    """An OpenAI `chat.completion` body; each choice from `choice()`."""
    out: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    return orjson.dumps(out)


def choice(index: int, message: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def chunk_head(request_id: str, created: int, model: str | None) -> dict[str, Any]:
    """The fields every `chat.completion.chunk` of one stream repeats."""
    return {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model}


def delta_event(
    head: Mapping[str, Any], index: int, delta: dict[str, Any], finish_reason: str | None = None
) -> bytes:
    """One SSE chunk event carrying one choice's delta."""
    one = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return encode_event(orjson.dumps({**head, "choices": [one]}))


def usage_event(head: Mapping[str, Any], usage: dict[str, Any]) -> bytes:
    """The usage-only chunk OpenAI sends last when `stream_options.include_usage` is set."""
    return encode_event(orjson.dumps({**head, "choices": [], "usage": usage}))


def stream_event(data: str | bytes, provider: str) -> dict[str, Any]:
    """One streamed event's JSON object, or ProviderError("bad_response") naming the provider."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderError("bad_response", f"a {provider} stream event is not valid JSON") from None
    if not isinstance(event, dict):
        raise ProviderError("bad_response", f"a {provider} stream event is not a JSON object")
    return event


def http_error(
    status: int, headers: Mapping[str, str], body: bytes, from_payload: PayloadError
) -> ProviderError:
    """A non-2xx answer whose body is `{"error": {...}}` (possibly wrapped in a list, as Google's stream
    endpoint does) → `from_payload`; any other body → a class by status. Honours Retry-After."""
    retry_after = parse_retry_after(headers)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return from_payload(payload, status=status, retry_after=retry_after)
    text = clip(body.decode("utf-8", "replace")) or "no error body"
    return ProviderError(
        error_class_for_status(status), f"HTTP {status}: {text}", status=status, retry_after=retry_after
    )
