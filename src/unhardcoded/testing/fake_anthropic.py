"""A fake Anthropic Messages API (`POST /v1/messages`, JSON and SSE) for tests and the demo, byte for byte.

Answers per the `Script` (an echo of the last user message by default) and checks `x-api-key` and
`anthropic-version` as Anthropic does. Its pieces also serve Claude on the fake Vertex AI (`fake_gemini`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from unhardcoded.testing.script import Script, Step

API_KEY = "test-anthropic-key"
SCRIPT = web.AppKey("script", Script)
CLOSING = web.AppKey("closing", asyncio.Event)
_KEY = web.AppKey("api_key", str)
HANG_LIMIT_S = 600.0
_ERRORS = {
    400: ("invalid_request_error", "messages: field required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_WORDS = re.compile(r"\S+\s*")


def count_tokens(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: the words in every string of `value`."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(count_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_tokens(v) for v in value)
    return 0


def pieces(text: str, size: int = 2) -> list[str]:
    """`text` in stream-sized pieces of `size` words (white space kept), never empty."""
    words = _WORDS.findall(text) or [text]
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def sample_for_schema(schema: Any, text: str, depth: int = 0) -> Any:
    """A value of the JSON Schema's shape (strings carry `text`), so structured answers parse."""
    if not isinstance(schema, Mapping) or depth > 8:
        return text
    kind = schema.get("type")
    kind = str(next((t for t in kind if t != "null"), "string") if isinstance(kind, list) else kind).lower()
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: sample_for_schema(sub, text, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [sample_for_schema(schema.get("items"), text, depth + 1)]
    return {"integer": 0, "number": 0, "boolean": False}.get(kind, text)


def fake_id(prefix: str, *parts: Any) -> str:
    digest = hashlib.sha256(orjson.dumps(parts, default=str)).hexdigest()[:24]
    return f"{prefix}{digest}"


def script_routes(app: web.Application, script: Script) -> None:
    """What every fake shares: the script (`POST /_script` pushes steps) and a shutdown signal for hangs."""
    app[SCRIPT] = script
    app[CLOSING] = asyncio.Event()

    async def push(request: web.Request) -> web.Response:
        steps = await request.json()
        script.push(*(Step.from_dict(s) for s in steps))
        return web.json_response({"queued": len(script.steps)})

    async def closing(app: web.Application) -> None:
        app[CLOSING].set()

    app.router.add_post("/_script", push)
    app.on_shutdown.append(closing)


async def play_effects(request: web.Request, step: Step) -> bool:
    """Reset, hang or delay as the step says; False when the connection is gone and nothing may be sent."""
    if step.reset:
        abort(request)
        return False
    if step.hang:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.app[CLOSING].wait(), HANG_LIMIT_S)
        abort(request)
        return False
    if step.delay_s:
        await asyncio.sleep(step.delay_s)
    return True


def abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def start_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    # handler_cancellation: a client that gives up on a hanging call frees its handler.
    runner = web.AppRunner(app, shutdown_timeout=1.0, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    return runner, f"http://{host}:{bound[1]}"


def error_response(
    status: int, error_type: str | None = None, retry_after: float | None = None, message: str | None = None
) -> web.Response:
    """Anthropic's error body for `status` (`error_type` overrides the type), with retry-after if given."""
    kind, default_message = _ERRORS.get(status, ("api_error", "Internal server error"))
    kind, message = error_type or kind, message or default_message
    request_id = fake_id("req_", status)
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [
            b.get("text", "") for b in content or [] if isinstance(b, Mapping) and b.get("type") == "text"
        ]
        results = [b for b in content or [] if isinstance(b, Mapping) and b.get("type") == "tool_result"]
        if texts or results:
            return " ".join(texts) or "tool result received"
    return "Hello"


def build_message(body: Mapping[str, Any], step: Step, model: str) -> dict[str, Any]:
    """The Messages API answer to `body`: the step's tool call, a forced tool's input, or text."""
    text = step.text if step.text is not None else _last_user_text(body)
    choice = body.get("tool_choice") or {}
    tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, Mapping)}
    block: dict[str, Any]
    if step.tool_call is not None or choice.get("type") in ("tool", "any"):
        # "any" must call a tool: a structured-output tool if there is one, else the first.
        forced = choice.get("name") or (
            "json_response" if "json_response" in tools else next(iter(tools), None)
        )
        name = step.tool_call["name"] if step.tool_call else forced
        args = step.tool_call.get("arguments", {}) if step.tool_call else None
        if args is None:
            args = sample_for_schema((tools.get(name) or {}).get("input_schema"), text)
        block = {"type": "tool_use", "id": fake_id("toolu_", name, args), "name": name, "input": args}
        stop_reason, output = "tool_use", count_tokens(args) + 5
    else:
        block = {"type": "text", "text": text}
        stop_reason, output = "end_turn", max(1, count_tokens(text))
    usage = {
        "input_tokens": count_tokens([body.get("system"), body.get("messages")]) + 8,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
    }
    return {
        "id": fake_id("msg_", body, step),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _event(kind: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stream_events(message: Mapping[str, Any]) -> list[tuple[bytes, bool]]:
    """The SSE events Anthropic sends for `message`, each flagged when it is a content event."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [(_event("message_start", {"type": "message_start", "message": start}), False)]
    for index, block in enumerate(message["content"]):
        opening: dict[str, Any]
        if block["type"] == "text":
            opening, deltas = {"type": "text", "text": ""}, pieces(block["text"])
            delta_kind, field = "text_delta", "text"
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            arguments = orjson.dumps(block["input"]).decode()
            deltas = ["", *(arguments[i : i + 12] for i in range(0, len(arguments), 12))]
            delta_kind, field = "input_json_delta", "partial_json"
        start_block = {"type": "content_block_start", "index": index, "content_block": opening}
        events.append((_event("content_block_start", start_block), False))
        if index == 0:
            events.append((_event("ping", {"type": "ping"}), False))
        for piece in deltas:
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": delta_kind, field: piece},
            }
            events.append((_event("content_block_delta", delta), True))
        events.append((_event("content_block_stop", {"type": "content_block_stop", "index": index}), False))
    final = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    end_usage = {"output_tokens": usage["output_tokens"]}
    events.append(
        (_event("message_delta", {"type": "message_delta", "delta": final, "usage": end_usage}), False)
    )
    events.append((_event("message_stop", {"type": "message_stop"}), False))
    return events


def carried_key(request: web.Request) -> str | None:
    """The credential the caller sent (x-api-key here, a Bearer token on Vertex), for a step to echo."""
    auth = request.headers.get("authorization", "")
    return request.headers.get("x-api-key") or (auth[7:] if auth.startswith("Bearer ") else None)


async def send_failing_stream(
    request: web.Request, events: list[tuple[bytes, bool]], step: Step, error: bytes
) -> web.StreamResponse:
    """`events` up to `step.error_after` content events, then (once released, if the step waits) `error`."""
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    )
    await response.prepare(request)
    sent = 0
    for data, is_content in events:
        if is_content and sent >= (step.error_after or 0):
            break
        await response.write(data)
        sent += is_content
    await request.app[SCRIPT].wait_released(step)
    await response.write(error)
    await response.write_eof()
    return response


async def send_stream(
    request: web.Request, events: list[tuple[bytes, bool]], cut_after: int | None
) -> web.StreamResponse:
    """Write `events` as an SSE response, closing the connection after `cut_after` content events."""
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    )
    await response.prepare(request)
    sent = 0
    for data, is_content in events:
        if cut_after is not None and is_content and sent >= cut_after:
            abort(request)
            return response
        await response.write(data)
        sent += is_content
    await response.write_eof()
    return response


async def respond(
    request: web.Request, body: Mapping[str, Any], step: Step, model: str
) -> web.StreamResponse:
    """Play `step` for a Messages API `body` (on api.anthropic.com or Vertex AI's rawPredict)."""
    if not await play_effects(request, step):
        return web.Response()
    if step.status >= 400:
        default = _ERRORS.get(step.status, ("", "Internal server error"))[1]
        text = step.message(carried_key(request), default)
        return error_response(step.status, step.error_type, step.retry_after, text)
    stream = bool(body.get("stream"))
    if step.malformed:
        if stream:
            return await send_stream(
                request, [(b'event: message_start\ndata: {"type":"message_start","mess\n\n', False)], None
            )
        return web.Response(
            body=b'{"id":"msg_01","type":"message","content":[{"type":', content_type="application/json"
        )
    message = build_message(body, step, model)
    if stream:
        events = stream_events(message)
        if step.error_after is not None:  # Anthropic reports a failure mid-stream as an `error` event
            text = step.message(carried_key(request), "Overloaded")
            kind = step.error_type or "overloaded_error"
            error = {"type": "error", "error": {"type": kind, "message": text}}
            return await send_failing_stream(request, events, step, _event("error", error))
        return await send_stream(request, events, step.cut_after)
    return web.Response(body=orjson.dumps(message), content_type="application/json")


async def _messages(request: web.Request) -> web.StreamResponse:
    script = request.app[SCRIPT]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return error_response(400, message="There was an error parsing the body of your request.")
    if not isinstance(body, dict):
        return error_response(400, message="The request body is not a JSON object.")
    script.seen.append({"path": request.path, "body": body})
    if request.headers.get("x-api-key") != request.app[_KEY]:
        return error_response(401)
    if not request.headers.get("anthropic-version"):
        return error_response(400, message="anthropic-version: header is required")
    model = str(body.get("model") or "")
    return await respond(request, body, script.next(model), model)


def make_app(script: Script | None = None, *, api_key: str = API_KEY) -> web.Application:
    """The fake Anthropic API: `POST /v1/messages` (key `api_key`) and `POST /_script`."""
    app = web.Application()
    script_routes(app, script if script is not None else Script())
    app[_KEY] = api_key
    app.router.add_post("/v1/messages", _messages)
    return app


async def start(
    host: str = "127.0.0.1", port: int = 0, *, script: Script | None = None, api_key: str = API_KEY
) -> tuple[web.AppRunner, str, Script]:
    """Serve the fake on host:port (0: any free port) → (runner to clean up, base URL, its script)."""
    script = script if script is not None else Script()
    runner, base_url = await start_app(make_app(script, api_key=api_key), host, port)
    return runner, base_url, script
