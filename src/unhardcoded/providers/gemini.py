"""Google AI Studio (Gemini API) adapter: OpenAI chat bodies → `generateContent` / `streamGenerateContent`.

`to_gemini_body` here and `gemini_parse` (answers, streams, errors) are reused by the `vertex` adapter
for Gemini on Vertex AI. Sans-I/O: builds and parses, never sends.

OpenAI parameters on Gemini:
- supported: messages (system/developer → `systemInstruction`; assistant → role `model`; tool messages →
  `functionResponse` parts named from the assistant's earlier tool call; consecutive same-role turns
  merged), images (`data:` URLs → `inlineData`; gs:// URLs → `fileData`), tools (JSON Schema reduced to
  Gemini's OpenAPI subset: `$ref` inlined, `additionalProperties`, `$schema`, `strict`... dropped),
  tool_choice (AUTO / NONE / ANY, a named function → ANY + allowedFunctionNames), max_tokens /
  max_completion_tokens, temperature, top_p, stop, seed, presence_penalty, frequency_penalty, n
  (→ candidateCount), response_format json_object / json_schema (→ responseMimeType + responseSchema),
  stream, stream_options. Gemini 3 thought signatures ride on tool calls as
  `extra_content.google.thought_signature` (Google's own OpenAI-compatible field) and are sent back.
- dropped with a warning: logprobs, top_logprobs, logit_bias, user, parallel_tool_calls=false, and any
  other parameter generateContent has no field for; http(s) image URLs are sent as `fileData` with a
  warning (Gemini fetches only URLs it can reach; the MIME type is guessed from the extension).
- refused (ProviderError client_error): content parts other than text and image_url, a tool message
  whose function name cannot be found, assistant tool-call arguments that are not a JSON object.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote, urlparse

import orjson

from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import ChatResult, Credentials, HttpCall, Target, function_tools, json_answer
from unhardcoded.providers.gemini_parse import GeminiStream, error_from_body, parse_generate
from unhardcoded.providers.wire import (
    add_turn,
    call_arguments,
    client_error,
    conversation,
    max_output_tokens,
    named_tool_choice,
    parse_data_url,
    stop_sequences,
    texts,
    unsupported_params,
    user_parts,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_HANDLED = {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "n", "tools", "tool_choice",
    "response_format", "parallel_tool_calls",
}  # fmt: skip
# The OpenAPI 3.0 subset Gemini's `Schema` accepts; anything else is rejected with a 400.
_SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "propertyOrdering",
    "default", "minimum", "maximum",
}  # fmt: skip
_STRING_FORMATS = {"enum", "date-time"}
_MAX_SCHEMA_DEPTH = 32


def to_gemini_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """A JSON Schema → Gemini's OpenAPI subset: refs inlined, type lists → nullable / anyOf, rest dropped."""
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return {}
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return to_gemini_schema({**(defs.get(ref.rsplit("/", 1)[-1]) or {}), **rest}, defs, depth + 1)
    sub = partial(_sub_schema, defs=defs, depth=depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            _type(value, out)
        elif key == "properties" and isinstance(value, dict):
            props = {name: sub(v) for name, v in value.items()}
            if props:  # Gemini rejects an OBJECT with an empty `properties`
                out["properties"] = props
        elif key == "items":
            out["items"] = sub(value)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            _variants([sub(v) for v in value], out)
        elif key == "allOf" and isinstance(value, list) and len(value) == 1:
            out.update(sub(value[0]))
        elif key == "const" and isinstance(value, str):
            out["enum"] = [value]
        elif key in _SCHEMA_KEYS and not (key == "format" and _bad_format(schema)):
            out[key] = value
    if "required" in out:
        out["required"] = [name for name in out["required"] if name in (out.get("properties") or {})]
        if not out["required"]:
            del out["required"]
    return out


def _sub_schema(schema: Any, *, defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    return to_gemini_schema(schema, defs, depth)


def _type(value: Any, out: dict[str, Any]) -> None:
    types = value if isinstance(value, list) else [value]
    kept = [t for t in types if t != "null"]
    if len(kept) < len(types):
        out["nullable"] = True
    if len(kept) == 1:
        out["type"] = kept[0]
    elif kept:
        out["anyOf"] = [{"type": t} for t in kept]


def _variants(variants: list[dict[str, Any]], out: dict[str, Any]) -> None:
    if {"nullable": True} in variants:  # anyOf [X, null] is Gemini's nullable X
        out["nullable"] = True
        variants = [v for v in variants if v != {"nullable": True}]
    if len(variants) == 1:
        out.update(variants[0])
    elif variants:
        out["anyOf"] = variants


def _bad_format(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "string" and schema.get("format") not in _STRING_FORMATS


def _image(part: Mapping[str, Any], where: str, *, warnings: list[str]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise client_error(f"{where}.image_url.url must be a string")
    if url.startswith("data:"):
        mime, data = parse_data_url(url, where)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if not url.startswith(("https://", "http://", "gs://")):
        raise client_error(f"{where}.image_url.url must be a data:, http(s) or gs:// URL")
    mime = mimetypes.guess_type(urlparse(url).path)[0] or "image/jpeg"
    if not url.startswith("gs://") and not any("fileData" in w for w in warnings):
        warnings.append("image URLs were sent to Gemini as fileData; Gemini fetches only URLs it can reach")
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _text(part: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": part["text"]}


def _model_parts(message: Mapping[str, Any], where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": t} for t in texts(message.get("content"), where)]
    for k, call in enumerate(message.get("tool_calls") or []):
        name, args = call_arguments(call, f"{where}.tool_calls[{k}]")
        if not isinstance(name, str):
            raise client_error(f"{where}.tool_calls[{k}].function.name must be a string")
        names[str(call.get("id"))] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        google = (call.get("extra_content") or {}).get("google") or {}
        if isinstance(google, dict) and google.get("thought_signature"):
            part["thoughtSignature"] = google["thought_signature"]
        parts.append(part)
    return parts


def _function_response(message: Mapping[str, Any], where: str, names: Mapping[str, str]) -> dict[str, Any]:
    name = names.get(str(message.get("tool_call_id"))) or message.get("name")
    if not isinstance(name, str) or not name:
        raise client_error(
            f"{where}: tool_call_id {message.get('tool_call_id')!r} matches no earlier tool call"
        )
    content = message.get("content")
    text = content if isinstance(content, str) else "".join(texts(content, where))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    # functionResponse.response must be a JSON object.
    return {
        "functionResponse": {
            "name": name,
            "response": value if isinstance(value, dict) else {"result": value},
        }
    }


def to_contents(messages: Any, warnings: list[str]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """OpenAI messages → (systemInstruction parts, Gemini contents with same-role neighbours merged)."""
    system: list[dict[str, str]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool-call id → function name, for the functionResponse parts
    image = partial(_image, warnings=warnings)
    for where, role, message in conversation(messages, "Gemini", warnings):
        if role == "system":
            system.extend({"text": t} for t in texts(message.get("content"), where))
        elif role == "user":
            parts = user_parts(message.get("content"), where, "Gemini", text=_text, image=image)
            add_turn(contents, "user", parts, "parts")
        elif role == "assistant":
            add_turn(contents, "model", _model_parts(message, where, names), "parts")
        else:
            add_turn(contents, "user", [_function_response(message, where, names)], "parts")
    return system, contents


def _tools(tools: Any) -> list[dict[str, Any]]:
    declarations = []
    for fn in function_tools(tools, "Gemini"):
        declaration: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            declaration["description"] = fn["description"]
        parameters = to_gemini_schema(fn.get("parameters"))
        if parameters.get("properties"):  # a function without arguments has no `parameters`
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return declarations


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    named = named_tool_choice(choice)
    if named is not None:
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [named]}}
    return {"functionCallingConfig": {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}}


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = max_output_tokens(body)
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stop = stop_sequences(body)
    if stop:
        config["stopSequences"] = stop
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        config["candidateCount"] = n
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if kind == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            config["responseSchema"] = to_gemini_schema(spec["schema"])
    elif kind not in (None, "text"):
        raise client_error(f"response_format type {kind!r} is not supported on Gemini")
    return config


def to_gemini_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An OpenAI chat body → (a generateContent body, warnings about what was dropped)."""
    warnings = unsupported_params(body, _HANDLED, "Gemini")
    if body.get("parallel_tool_calls") is False:
        warnings.append("parallel_tool_calls=false has no Gemini equivalent; dropped")
    system, contents = to_contents(body.get("messages"), warnings)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    declarations = _tools(body.get("tools"))
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = config
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out, warnings


def model_path(model: str) -> str:
    return quote(model.removeprefix("models/"), safe="@.-_")


class GeminiAdapter:
    """Google AI Studio's Gemini API (generativelanguage.googleapis.com), `x-goog-api-key` auth."""

    kind: ClassVar[str] = "gemini"

    def build_request(
        self, body: Mapping[str, Any], target: Target, credentials: Credentials, *, stream: bool
    ) -> HttpCall:
        payload, _ = to_gemini_body(body)
        if not credentials.api_key:
            raise ProviderError("auth_error", f"no Gemini API key for deployment {target.deployment_id}")
        base = (target.base_url or DEFAULT_BASE_URL).rstrip("/")
        if not base.endswith(("/v1beta", "/v1")):
            base += "/v1beta"
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {
            "content-type": "application/json",
            "x-goog-api-key": credentials.api_key,
            "accept": "text/event-stream" if stream else "application/json",
        }
        url = f"{base}/models/{model_path(target.upstream_model)}:{action}"
        return HttpCall("POST", url, headers, orjson.dumps(payload))

    def request_warnings(self, body: Mapping[str, Any], target: Target) -> tuple[str, ...]:
        return tuple(to_gemini_body(body)[1])

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, target: Target
    ) -> ChatResult:
        if not 200 <= status < 300:
            raise self.parse_error(status, headers, body)
        data = json_answer(body, status, "Gemini")
        return parse_generate(data, target)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_body(status, headers, body)

    def stream_translator(self, target: Target, *, include_usage: bool, request_id: str) -> GeminiStream:
        return GeminiStream(target, include_usage=include_usage, request_id=request_id)


ADAPTER = GeminiAdapter()
