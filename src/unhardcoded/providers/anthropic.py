"""Anthropic Messages API adapter: OpenAI chat bodies → `POST /v1/messages`, and its JSON / SSE answers back.

`to_messages_body` here and `anthropic_parse` (answers, streams, errors) are reused by the `vertex`
adapter for Claude on Vertex AI. Sans-I/O: builds and parses, never sends.

OpenAI parameters on Anthropic:
- supported: messages (system/developer → top-level `system`; tool messages → a user turn of
  `tool_result` blocks; consecutive same-role turns merged), images (`data:` base64 URLs and http(s) URLs),
  tools, tool_choice auto/none/required(→any)/{function}(→tool), parallel_tool_calls=false
  (→ disable_parallel_tool_use), max_tokens / max_completion_tokens (default 4096: Anthropic requires
  one), temperature (clamped to Anthropic's 0–1, with a warning above 1), top_p, stop (→ stop_sequences),
  user (→ metadata.user_id), stream, stream_options. response_format json_schema / json_object become a
  forced tool named `json_response` (the schema's name and description go in its description) whose
  input is returned as the message content; with client tools the model may call one of those instead.
- dropped with a warning: seed, presence_penalty, frequency_penalty, logit_bias, logprobs,
  top_logprobs, and any other parameter the Messages API has no field for.
- refused (ProviderError client_error): n > 1, content parts other than text and image_url, image URLs
  that are neither data: base64 nor http(s), assistant tool-call arguments that are not a JSON object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from unhardcoded.errors import ProviderError
from unhardcoded.providers.anthropic_parse import AnthropicStream, error_from_body, parse_message
from unhardcoded.providers.base import ChatResult, Credentials, HttpCall, Target, function_tools, json_answer
from unhardcoded.providers.wire import (
    JSON_TOOL,
    add_turn,
    call_arguments,
    clamped_temperature,
    client_error,
    conversation,
    json_tool_spec,
    max_output_tokens,
    named_tool_choice,
    parse_data_url,
    stop_sequences,
    text_parts,
    unsupported_params,
    user_parts,
)

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 4096

_HANDLED = {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "stop", "tools", "tool_choice", "response_format", "n", "parallel_tool_calls", "user",
}  # fmt: skip
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def _tool_id(raw: Any) -> str:
    # Anthropic ids must match ^[A-Za-z0-9_-]+$; ids minted by other providers may not.
    return _BAD_ID_CHARS.sub("_", str(raw)) if raw else "call"


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    return [_text_block(part) for part in text_parts(content, where)]


def _text_block(part: Mapping[str, Any]) -> dict[str, Any]:
    return _with_cache_control({"type": "text", "text": part["text"]}, part)


def _with_cache_control(block: dict[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    # Anthropic-aware clients mark prompt-cache breakpoints on OpenAI parts; keep them.
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _image(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(url, str) and url.startswith("data:"):
        mime, data = parse_data_url(url, where)
        source = {"type": "base64", "media_type": mime, "data": data}
    elif isinstance(url, str) and url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise client_error(f"{where}.image_url.url must be a data: or http(s) URL")
    return _with_cache_control({"type": "image", "source": source}, part)


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = _text_blocks(message.get("content"), where)
    for k, call in enumerate(message.get("tool_calls") or []):
        name, args = call_arguments(call, f"{where}.tool_calls[{k}]")
        blocks.append({"type": "tool_use", "id": _tool_id(call.get("id")), "name": name, "input": args})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(message.get("tool_call_id"))}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        texts = _text_blocks(content, where)
        if texts:
            block["content"] = texts
    return block


def to_turns(messages: Any, warnings: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages → (system text blocks, Anthropic turns with same-role neighbours merged)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for where, role, message in conversation(messages, "Anthropic", warnings):
        if role == "system":
            system.extend(_text_blocks(message.get("content"), where))
        elif role == "user":
            content = message.get("content")
            add_turn(turns, role, user_parts(content, where, "Anthropic", text=_text_block, image=_image))
        elif role == "assistant":
            add_turn(turns, role, _assistant_blocks(message, where))
        else:
            add_turn(turns, "user", [_tool_result(message, where)])
    for turn in turns:  # tool results must open their user turn
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    last = turns[-1]["content"][-1] if turns and turns[-1]["role"] == "assistant" else None
    if last is not None and last["type"] == "text":
        # A prefilled assistant turn may not end in white space.
        last["text"] = last["text"].rstrip() or "."
    return system, turns


def _json_tool(response_format: Any) -> dict[str, Any] | None:
    spec = json_tool_spec(response_format, "Anthropic")
    if spec is None:
        return None
    description, schema = spec
    return {"name": JSON_TOOL, "description": description, "input_schema": schema}


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for fn in function_tools(tools, "Anthropic", reserved=JSON_TOOL):
        spec: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        spec["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        out.append(spec)
    return out


def _tool_choice(
    choice: Any, tools: list[dict[str, Any]], json_tool: dict[str, Any] | None
) -> dict[str, Any] | None:
    named = named_tool_choice(choice)
    if named:
        return {"type": "tool", "name": named}
    if json_tool is not None:
        # With client tools the model may call one of them, or answer through the JSON tool.
        return {"type": "any"} if tools and choice != "none" else {"type": "tool", "name": JSON_TOOL}
    if not tools or choice is None:
        return None
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}


def to_messages_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An OpenAI chat body → (the Messages API body without `model` / `stream`, warnings)."""
    n = body.get("n")
    if n is not None and n != 1:
        raise client_error(f"n={n}: Anthropic returns one choice; n > 1 is not supported")
    warnings = unsupported_params(body, _HANDLED, "Anthropic")
    system, turns = to_turns(body.get("messages"), warnings)
    out: dict[str, Any] = {"max_tokens": max_output_tokens(body) or DEFAULT_MAX_TOKENS}
    out["messages"] = turns
    if system:
        out["system"] = system
    temperature = clamped_temperature(body, "Anthropic", warnings)
    if temperature is not None:
        out["temperature"] = temperature
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = stop_sequences(body)
    if stop:
        out["stop_sequences"] = stop
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    tools = _tools(body.get("tools"))
    json_tool = _json_tool(body.get("response_format"))
    choice = _tool_choice(body.get("tool_choice"), tools, json_tool)
    if json_tool is not None:
        tools.append(json_tool)
    if tools:
        out["tools"] = tools
        if body.get("parallel_tool_calls") is False or (choice or {}).get("name") == JSON_TOOL:
            choice = choice or {"type": "auto"}
            if choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
        if choice is not None:
            out["tool_choice"] = choice
    return out, warnings


def messages_url(base_url: str) -> str:
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


class AnthropicAdapter:
    """The Anthropic Messages API (api.anthropic.com or any server speaking it). Target options:
    `anthropic_version` (header, default 2023-06-01), `anthropic_beta` (the `anthropic-beta` header)."""

    kind: ClassVar[str] = "anthropic"

    def build_request(
        self, body: Mapping[str, Any], target: Target, credentials: Credentials, *, stream: bool
    ) -> HttpCall:
        payload, _ = to_messages_body(body)
        payload = {"model": target.upstream_model, **payload}
        if stream:
            payload["stream"] = True
        if not credentials.api_key:
            raise ProviderError("auth_error", f"no Anthropic API key for deployment {target.deployment_id}")
        headers = {
            "content-type": "application/json",
            "anthropic-version": str(target.options.get("anthropic_version") or ANTHROPIC_VERSION),
            "x-api-key": credentials.api_key,
            "accept": "text/event-stream" if stream else "application/json",
        }
        beta = target.options.get("anthropic_beta")
        if beta:
            headers["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(beta)
        return HttpCall("POST", messages_url(target.base_url), headers, orjson.dumps(payload))

    def request_warnings(self, body: Mapping[str, Any], target: Target) -> tuple[str, ...]:
        return tuple(to_messages_body(body)[1])

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, target: Target
    ) -> ChatResult:
        if not 200 <= status < 300:
            raise self.parse_error(status, headers, body)
        data = json_answer(body, status, "Anthropic")
        return parse_message(data, target)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_body(status, headers, body)

    def stream_translator(self, target: Target, *, include_usage: bool, request_id: str) -> AnthropicStream:
        return AnthropicStream(target, include_usage=include_usage, request_id=request_id)


ADAPTER = AnthropicAdapter()
