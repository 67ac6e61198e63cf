"""AWS Bedrock Runtime adapter: OpenAI chat bodies ↔ the Converse / ConverseStream APIs, SigV4-signed.

Sans-I/O: builds and signs requests (botocore's signer; the clock is read here) and parses answers.

OpenAI parameters on Bedrock:
- supported: messages (system/developer → `system`; tool messages → a user turn of toolResult blocks;
  consecutive same-role turns merged), images as `data:` URLs (png/jpeg/gif/webp), tools, tool_choice
  auto/required/{function}, max_tokens / max_completion_tokens, temperature (above 1: sent as 1, with a
  warning), top_p, stop, stream, stream_options; response_format json_schema / json_object become a
  forced tool (`json_response`, the Anthropic structured-output pattern) whose input is returned as the
  message content. System messages after the first turn move into `system`, with a warning.
- dropped with a warning: seed, presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs,
  user, parallel_tool_calls=false, and any other parameter Converse has no field for; tool_choice "none"
  (Converse has no such mode: the tools are left out, or kept when the history already holds tool calls,
  because Converse rejects toolUse blocks without a toolConfig).
- refused (ProviderError client_error): n > 1; https image URLs (Converse takes image bytes only);
  content parts other than text and image_url; assistant tool-call arguments that are not a JSON object.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import orjson
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import ChatResult, Credentials, HttpCall, Target, function_tools
from unhardcoded.providers.bedrock_parse import (
    BedrockStreamTranslator,
    error_from_answer,
    finish_reason_for,
    usage_from,
)
from unhardcoded.providers.wire import (
    JSON_TOOL,
    add_turn,
    assistant_message,
    call_arguments,
    choice,
    clamped_temperature,
    client_error,
    completion,
    conversation,
    header,
    json_tool_spec,
    max_output_tokens,
    named_tool_choice,
    openai_usage,
    parse_data_url,
    stop_sequences,
    texts,
    unsupported_params,
    user_parts,
)

EVENT_STREAM = "application/vnd.amazon.eventstream"
_HANDLED = {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "stop", "tools", "tool_choice", "response_format", "n", "parallel_tool_calls",
}  # fmt: skip
_IMAGE_FORMATS = {"image/" + k: k for k in ("png", "jpeg", "gif", "webp")} | {"image/jpg": "jpeg"}
# Every RFC 3986 pchar but "/" stays literal, so no HTTP client re-quotes the path after it was signed.
_PATH_SAFE = ":@!$&'()*+,;=-._~"
_REGION_IN_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


def _image(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url.startswith("data:"):
        raise client_error(
            f"{where}.image_url: Bedrock Converse takes image bytes only, not image URLs; send a data: URL"
        )
    mime, data = parse_data_url(url, f"{where}.image_url")
    fmt = _IMAGE_FORMATS.get(mime)
    if fmt is None:
        raise client_error(f"{where}.image_url: Bedrock takes base64 png, jpeg, gif or webp images")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _text(part: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": part["text"]}


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"text": t} for t in texts(message.get("content"), where)]
    for k, call in enumerate(message.get("tool_calls") or []):
        name, args = call_arguments(call, f"{where}.tool_calls[{k}]")
        blocks.append({"toolUse": {"toolUseId": call.get("id"), "name": name, "input": args}})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    # No `status`: only some model families accept it, and an OpenAI tool message carries no error flag.
    content = [{"text": t} for t in texts(message.get("content"), where)]
    return {"toolResult": {"toolUseId": message.get("tool_call_id"), "content": content}}


def _messages(messages: Any, warnings: list[str]) -> tuple[list[dict[str, str]], list[dict[str, Any]], bool]:
    """OpenAI messages → (system blocks, Converse turns, whether the history holds tool blocks)."""
    system: list[dict[str, str]] = []
    turns: list[dict[str, Any]] = []
    has_tools = False
    for where, role, message in conversation(messages, "Bedrock", warnings):
        if role == "system":
            system.extend({"text": t} for t in texts(message.get("content"), where))
            continue
        if role == "user":
            blocks = user_parts(message.get("content"), where, "Bedrock", text=_text, image=_image)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        else:
            role, blocks = "user", [_tool_result(message, where)]
        has_tools = has_tools or any("toolUse" in b or "toolResult" in b for b in blocks)
        add_turn(turns, role, blocks)
    return system, turns, has_tools


def _json_tool(response_format: Any) -> dict[str, Any] | None:
    """response_format → the forced tool that carries the answer, or None for plain text."""
    spec = json_tool_spec(response_format, "Bedrock")
    if spec is None:
        return None
    description, schema = spec
    return {"toolSpec": {"name": JSON_TOOL, "description": description, "inputSchema": {"json": schema}}}


def _tool_specs(tools: Any) -> list[dict[str, Any]]:
    specs = []
    for fn in function_tools(tools, "Bedrock", reserved=JSON_TOOL):
        spec: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        spec["inputSchema"] = {"json": fn.get("parameters") or {"type": "object", "properties": {}}}
        specs.append({"toolSpec": spec})
    return specs


def _tool_config(body: Mapping[str, Any], has_tools: bool, warnings: list[str]) -> dict[str, Any] | None:
    specs = _tool_specs(body.get("tools"))
    json_tool = _json_tool(body.get("response_format"))
    choice = body.get("tool_choice")
    named = named_tool_choice(choice)
    callable_tools = bool(specs) and choice != "none"
    if choice == "none" and specs:
        if has_tools:
            warnings.append(
                "tool_choice 'none' has no Bedrock equivalent; tools kept (the history has tool calls)"
            )
        else:
            warnings.append("tool_choice 'none' has no Bedrock equivalent; the tools were left out")
            specs = []
    tool_choice: dict[str, Any] | None = None
    if json_tool is not None:
        # With tools the model may call, "any" lets it call one of them or answer through the JSON tool.
        name = named or (None if callable_tools else JSON_TOOL)
        tool_choice = {"tool": {"name": name}} if name else {"any": {}}
        specs.append(json_tool)
    elif not specs:
        return None
    elif named:
        tool_choice = {"tool": {"name": named}}
    elif choice in ("required", "auto"):
        # Left out unless asked for: several Bedrock model families reject any toolChoice field.
        tool_choice = {"any": {}} if choice == "required" else {"auto": {}}
    config: dict[str, Any] = {"tools": specs}
    if tool_choice is not None:
        config["toolChoice"] = tool_choice
    return config


def _inference_config(body: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = max_output_tokens(body)
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    temperature = clamped_temperature(body, "Bedrock", warnings)
    if temperature is not None:
        config["temperature"] = temperature
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = stop_sequences(body)
    if stop:
        config["stopSequences"] = stop
    return config


def to_converse(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An OpenAI chat body → (the Converse request body, warnings about what was dropped)."""
    n = body.get("n")
    if n is not None and n != 1:
        raise client_error(f"n={n}: Bedrock Converse returns one choice; n > 1 is not supported")
    warnings = unsupported_params(body, _HANDLED, "Bedrock Converse")
    if body.get("parallel_tool_calls") is False:
        warnings.append("parallel_tool_calls=false has no Bedrock Converse equivalent; dropped")
    system, turns, has_tools = _messages(body.get("messages"), warnings)
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    inference = _inference_config(body, warnings)
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(body, has_tools, warnings)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    return out, warnings


def _region(target: Target) -> str:
    region = target.region or target.options.get("region")
    if not region and target.base_url:
        found = _REGION_IN_HOST.search(target.base_url)
        region = found.group(1) if found else None
    if not isinstance(region, str) or not region:
        raise client_error(f"deployment {target.deployment_id} has no AWS region for Bedrock")
    return region


def _sign(url: str, body: bytes, headers: dict[str, str], region: str, credentials: Credentials) -> None:
    """Add SigV4 headers (X-Amz-Date, X-Amz-Security-Token, Authorization) to `headers`."""
    key_id, secret = credentials.aws_access_key_id, credentials.aws_secret_access_key
    if not key_id or not secret:
        if not credentials.api_key:
            raise ProviderError("auth_error", "no AWS credentials or Bedrock API key for this deployment")
        headers["Authorization"] = f"Bearer {credentials.api_key}"  # a Bedrock API key
        return
    token = credentials.aws_session_token
    amz_date = datetime.now(UTC).strftime(SIGV4_TIMESTAMP)
    headers["X-Amz-Date"] = amz_date
    if token:
        headers["X-Amz-Security-Token"] = token
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(BotoCredentials(key_id, secret, token), "bedrock", region)
    # add_auth's steps, minus its debug logging of the canonical request (which holds the session token).
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, Signature={signature}"
    )


class BedrockAdapter:
    """AWS Bedrock Runtime, Converse and ConverseStream."""

    kind: ClassVar[str] = "bedrock"

    def build_request(
        self, body: Mapping[str, Any], target: Target, credentials: Credentials, *, stream: bool
    ) -> HttpCall:
        payload = orjson.dumps(to_converse(body)[0])
        region = _region(target)
        base = (target.base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        model = quote(target.upstream_model, safe=_PATH_SAFE)
        url = f"{base}/model/{model}/{'converse-stream' if stream else 'converse'}"
        headers = {
            "Content-Type": "application/json",
            "Accept": EVENT_STREAM if stream else "application/json",
        }
        _sign(url, payload, headers, region, credentials)
        return HttpCall("POST", url, headers, payload)

    def request_warnings(self, body: Mapping[str, Any], target: Target) -> tuple[str, ...]:
        return tuple(to_converse(body)[1])

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, target: Target
    ) -> ChatResult:
        if not 200 <= status < 300:
            raise self.parse_error(status, headers, body)
        try:
            data = orjson.loads(body)
            blocks = data["output"]["message"]["content"]
            if not isinstance(blocks, list):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise ProviderError("bad_response", "bedrock answer is not a Converse response") from None
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        answer: str | None = None
        for block in blocks:
            tool = block.get("toolUse") if isinstance(block, dict) else None
            if isinstance(tool, dict):
                arguments = orjson.dumps(tool.get("input", {})).decode()
                if tool.get("name") == JSON_TOOL:
                    answer = arguments
                    continue
                call = {"id": tool.get("toolUseId"), "type": "function"}
                calls.append(call | {"function": {"name": tool.get("name"), "arguments": arguments}})
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
        finish = finish_reason_for(data.get("stopReason"), json_answer=answer is not None and not calls)
        usage = usage_from(data.get("usage"))
        message = assistant_message(texts, calls, answer)
        request_id = header(headers, "x-amzn-RequestId") or uuid.uuid4().hex
        out = completion(
            f"chatcmpl-{request_id}",
            int(time.time()),
            target.upstream_model,
            [choice(0, message, finish)],
            openai_usage(usage),
        )
        return ChatResult(out, usage, model=target.upstream_model, finish_reason=finish)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_answer(status, headers, body)

    def stream_translator(
        self, target: Target, *, include_usage: bool, request_id: str
    ) -> BedrockStreamTranslator:
        return BedrockStreamTranslator(
            target.upstream_model, include_usage=include_usage, request_id=request_id
        )


ADAPTER = BedrockAdapter()
