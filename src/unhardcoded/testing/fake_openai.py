"""A fake OpenAI-compatible server (and Azure OpenAI's deployment paths), played by a `Script`.

Speaks chat completions byte for byte: JSON and SSE answers, tool calls, JSON mode, usage computed from the
request, OpenAI's error bodies. Used by tests and by `unhardcoded demo` as the simulated upstream.

    python -m unhardcoded.testing.fake_openai --port 9000 [--delay-ms 50] [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from unhardcoded.testing.script import Script, Step

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "sim-429", "sim-500", "sim-hang")
_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_AUTH_HEADERS = {"authorization", "api-key", "x-api-key", "proxy-authorization"}
_AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
_UNPARSABLE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly.)"
)
_ERRORS: dict[int, tuple[str, str, str | None]] = {  # status → (message, type, code)
    400: (
        "Invalid value for 'messages': the request was rejected (scripted).",
        "invalid_request_error",
        None,
    ),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model", "invalid_request_error", "model_not_allowed"),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
        "Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later", "server_error", None),
}


@dataclass(frozen=True, slots=True)
class FakeOptions:
    api_key: str | None = None  # when set, requests must carry it (Bearer, or api-key on Azure paths)
    delay_ms: float = 0.0  # added before every answer (a stand-in for time to first byte)
    chunk_delay_ms: float = 0.0  # between stream events
    models: tuple[str, ...] = DEFAULT_MODELS


SCRIPT_KEY = web.AppKey("script", Script)
OPTIONS_KEY = web.AppKey("options", FakeOptions)


def make_app(script: Script | None = None, **options: Any) -> web.Application:
    """The fake server. Options: `api_key`, `delay_ms`, `chunk_delay_ms`, `models` (see FakeOptions)."""
    if "models" in options:
        options["models"] = tuple(options["models"])
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[SCRIPT_KEY] = script if script is not None else Script()
    app[OPTIONS_KEY] = FakeOptions(**options)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/_script", _push_script)
    app.router.add_get("/_seen", _seen)
    app.router.add_post("/_reset", _reset)
    return app


async def start(
    host: str = "127.0.0.1", port: int = 0, script: Script | None = None, **options: Any
) -> tuple[web.AppRunner, str, Script]:
    """Start the fake; returns (runner, base_url ending in /v1, script). Azure's root is base_url minus /v1.
    Stop it with `await runner.cleanup()`."""
    app = make_app(script, **options)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}/v1", app[SCRIPT_KEY]


def openai_error(
    status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), content_type=_JSON)


def _auth_failure(request: web.Request, azure: bool) -> web.Response | None:
    key = request.app[OPTIONS_KEY].api_key
    if key is None:
        return None
    if azure:
        if request.headers.get("api-key") == key:
            return None
        body = orjson.dumps({"error": {"code": "401", "message": _AZURE_401}})
        return web.Response(status=401, body=body, content_type=_JSON)
    header = request.headers.get("Authorization", "")
    if header == f"Bearer {key}":
        return None
    if not header.startswith("Bearer ") or not header[7:].strip():
        message = (
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        return openai_error(401, message, "invalid_request_error", None)
    given = header[7:].strip()
    masked = given[:3] + "*" * max(0, len(given) - 7) + given[-4:]
    message = (
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    return openai_error(401, message, "invalid_request_error", "invalid_api_key")


async def _chat(request: web.Request) -> web.StreamResponse:
    deployment = request.match_info.get("deployment")
    azure = deployment is not None
    if azure and "api-version" not in request.query:
        body = b'{"error":{"code":"404","message":"Resource not found"}}'
        return web.Response(status=404, body=body, content_type=_JSON)
    denied = _auth_failure(request, azure)
    if denied is not None:
        return denied
    script = request.app[SCRIPT_KEY]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return openai_error(400, _UNPARSABLE, "invalid_request_error", None)
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _AUTH_HEADERS}
    script.seen.append({"method": request.method, "path": request.path, "query": dict(request.query),
                        "headers": headers, "body": body})  # fmt: skip
    invalid = _validate(body, azure)
    if invalid is not None:
        return invalid
    model = deployment or body["model"]
    step = script.next(model)
    opts = request.app[OPTIONS_KEY]
    if opts.delay_ms or step.delay_s:
        await asyncio.sleep(opts.delay_ms / 1000.0 + step.delay_s)
    if step.hang:
        await asyncio.sleep(3600)
    if step.reset:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    if step.status >= 400:
        return _scripted_error(step, model, _carried_key(request))
    stream = body.get("stream") is True
    if step.malformed:
        if stream:
            return web.Response(body=b"data: {not json\n\n", content_type="text/event-stream")
        return web.Response(body=b'{"choices": [', content_type=_JSON)
    answer = _answer(body, step)
    model = step.model or model  # a step can answer as another model, as a misrouted upstream does
    if stream:
        return await _stream(request, body, model, answer, step, opts, azure)
    return web.Response(body=orjson.dumps(_completion(body, model, answer, azure)), content_type=_JSON)


def _validate(body: Any, azure: bool) -> web.Response | None:
    if not isinstance(body, dict):
        return openai_error(400, "The request body must be a JSON object.", "invalid_request_error", None)
    if not azure and not body.get("model"):
        msg = "you must provide a model parameter"
        return openai_error(400, msg, "invalid_request_error", None)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        msg = "Missing required parameter: 'messages'."
        return openai_error(400, msg, "invalid_request_error", "missing_required_parameter", "messages")
    if "stream_options" in body and body.get("stream") is not True:
        msg = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return openai_error(400, msg, "invalid_request_error", None, "stream_options")
    return None


def _carried_key(request: web.Request) -> str | None:
    """The key the caller sent (Bearer, or Azure's api-key), for a step that echoes it back."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else request.headers.get("api-key")


def _scripted_error(step: Step, model: str, key: str | None) -> web.Response:
    message, type_, code = _ERRORS.get(step.status, (f"Scripted error {step.status}", "server_error", None))
    if step.status == 404:
        message = f"The model `{model}` does not exist or you do not have access to it."
    message = step.message(key, message)
    response = openai_error(step.status, message, step.error_type or type_, code)
    if step.retry_after is not None and step.retry_after_date:
        when = time.time() + step.retry_after
        response.headers["retry-after"] = email.utils.formatdate(math.ceil(when), usegmt=True)
    elif step.retry_after is not None:
        response.headers["retry-after-ms"] = str(round(step.retry_after * 1000))
        response.headers["retry-after"] = str(math.ceil(step.retry_after))
    return response


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str | None
    tool_call: dict[str, Any] | None  # {"id", "name", "arguments" (a JSON string)}
    finish_reason: str
    input_tokens: int
    output_tokens: int


def _text_of(content: Any) -> tuple[str, int]:
    """The text of a message's content, and how many images it carries."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    images = sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return " ".join(t for t in texts if isinstance(t, str)), images


def _answer(body: dict[str, Any], step: Step) -> _Answer:
    chars, images, last_user, last_role, last_text = 0, 0, "", "", ""
    for message in body["messages"]:
        if not isinstance(message, dict):
            continue
        text, n_images = _text_of(message.get("content"))
        chars += len(text) + sum(len(str(c)) for c in message.get("tool_calls") or ())
        images += n_images
        last_role, last_text = message.get("role", ""), text
        if last_role == "user":
            last_user = text
    input_tokens = max(1, math.ceil(chars / 4)) + 85 * images
    # After a tool result the model answers in text, so an agent loop against the fake ends.
    tool = _tool_to_call(body, step, last_user, after_tool=last_role == "tool")
    if tool is not None:
        return _Answer(None, tool, "tool_calls", input_tokens, max(1, math.ceil(len(tool["arguments"]) / 4)))
    echo = f"The tool returned: {last_text}" if last_role == "tool" else last_user
    text = step.text if step.text is not None else (echo or "Hello from the fake provider.")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        text = orjson.dumps({"answer": text}).decode()
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        text = orjson.dumps(_example(schema, text)).decode()
    words = re.findall(r"\s*\S+", text) or [text]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    finish = "stop"
    if isinstance(limit, int) and 0 < limit < len(words):
        text, words, finish = "".join(words[:limit]), words[:limit], "length"
    return _Answer(text, None, finish, input_tokens, max(1, len(words)))


def _tool_to_call(
    body: dict[str, Any], step: Step, last_user: str, *, after_tool: bool
) -> dict[str, Any] | None:
    tools = [t["function"] for t in body.get("tools") or () if isinstance(t, dict) and "function" in t]
    choice = body.get("tool_choice", "auto")
    if step.tool_call is not None:
        name, args = step.tool_call["name"], step.tool_call.get("arguments", {})
    elif (
        tools
        and not after_tool
        and choice != "none"
        and (choice != "auto" or "use a tool" in last_user.lower())
    ):
        wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        fn = next((t for t in tools if t.get("name") == wanted), tools[0])
        name, args = fn["name"], _example(fn.get("parameters") or {"type": "object"}, last_user)
    else:
        return None
    arguments = args if isinstance(args, str) else orjson.dumps(args).decode()
    digest = _digest(orjson.dumps([name, arguments, len(body["messages"])]))
    return {"id": f"call_{digest[:24]}", "name": name, "arguments": arguments}


def _example(schema: Any, text: str) -> Any:
    """A small deterministic value that satisfies a simple JSON Schema; strings echo `text`."""
    if not isinstance(schema, dict):
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return {"answer": text}
        return {k: _example(v, text) for k, v in props.items()}
    if kind == "array":
        return [_example(schema.get("items", {}), text)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, text)


def _usage(answer: _Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and n > 1 else 1


def _completion_id(body: dict[str, Any]) -> str:
    return "chatcmpl-" + _digest(orjson.dumps(body))[:29]


def _completion(body: dict[str, Any], model: str, answer: _Answer, azure: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text,
        "refusal": None,
        "annotations": [],
    }
    if answer.tool_call is not None:
        call = answer.tool_call
        fn = {"name": call["name"], "arguments": call["arguments"]}
        message["tool_calls"] = [{"id": call["id"], "type": "function", "function": fn}]
    n = _choices(body)
    out: dict[str, Any] = {
        "id": _completion_id(body),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}
            for i in range(n)
        ],
        "usage": _usage(answer),
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }
    if azure:
        out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
    return out


def _stream_events(body: dict[str, Any], model: str, answer: _Answer) -> tuple[list[bytes], list[bytes]]:
    """(content events, closing events): the closing ones are the finish chunk, the usage chunk and [DONE]."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    head = {"id": _completion_id(body), "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "service_tier": "default", "system_fingerprint": "fp_fake0001"}  # fmt: skip
    n = _choices(body)

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        choices = [{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish} for i in range(n)]
        data = {**head, "choices": choices, **({"usage": None} if include_usage else {})}
        return b"data: " + orjson.dumps(data) + b"\n\n"

    content: list[bytes] = []
    if answer.tool_call is not None:
        call = answer.tool_call
        first = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        content.append(
            chunk({"role": "assistant", "content": None, "tool_calls": [first], "refusal": None}, None)
        )
        args = call["arguments"]
        step = max(1, math.ceil(len(args) / 3))
        for i in range(0, len(args), step):
            content.append(
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + step]}}]}, None)
            )
    else:
        content.append(chunk({"role": "assistant", "content": "", "refusal": None}, None))
        for piece in re.findall(r"\s*\S+", answer.text or ""):
            content.append(chunk({"content": piece}, None))
    closing = [chunk({}, answer.finish_reason)]
    if include_usage:
        closing.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": _usage(answer)}) + b"\n\n")
    closing.append(b"data: [DONE]\n\n")
    return content, closing


async def _stream(
    request: web.Request,
    body: dict[str, Any],
    model: str,
    answer: _Answer,
    step: Step,
    opts: FakeOptions,
    azure: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": _SSE, "Cache-Control": "no-cache"})
    if step.cut_after is not None:
        response.force_close()  # say so in the headers, so the client does not reuse the connection
    await response.prepare(request)
    content, closing = _stream_events(body, model, answer)
    if azure:  # Azure opens every stream with a prompt-filter chunk that has empty choices
        filters = [{"prompt_index": 0, "content_filter_results": {}}]
        prelude = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": filters,
        }
        await response.write(b"data: " + orjson.dumps(prelude) + b"\n\n")
    if step.cut_after is not None:
        content, closing = content[: step.cut_after], []
    if step.error_after is not None:  # OpenAI reports a failure mid-stream as an `error` data event
        message = step.message(_carried_key(request), _ERRORS[500][0])
        error = {"error": {"message": message, "type": step.error_type or "server_error", "param": None,
                           "code": None}}  # fmt: skip
        content, closing = content[: step.error_after], [b"data: " + orjson.dumps(error) + b"\n\n"]
    for event in (*content, *closing):
        if step.error_after is not None and event is closing[0]:
            await request.app[SCRIPT_KEY].wait_released(step)
        await response.write(event)
        if opts.chunk_delay_ms:
            await asyncio.sleep(opts.chunk_delay_ms / 1000.0)
    await response.write_eof()
    return response


async def _models(request: web.Request) -> web.Response:
    denied = _auth_failure(request, azure=False)
    if denied is not None:
        return denied
    models = request.app[OPTIONS_KEY].models
    data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "system"} for m in models]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type=_JSON)


async def _push_script(request: web.Request) -> web.Response:
    try:
        steps = [Step.from_dict(d) for d in orjson.loads(await request.read())]
    except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
        return openai_error(400, f"bad script: {exc}", "invalid_request_error", None)
    request.app[SCRIPT_KEY].push(*steps)
    return web.Response(body=orjson.dumps({"queued": len(steps)}), content_type=_JSON)


async def _seen(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(request.app[SCRIPT_KEY].seen), content_type=_JSON)


async def _reset(request: web.Request) -> web.Response:
    request.app[SCRIPT_KEY].clear()
    return web.Response(body=b'{"reset":true}', content_type=_JSON)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m unhardcoded.testing.fake_openai", description="A fake OpenAI-compatible server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before every answer")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="wait between stream events")
    parser.add_argument("--api-key", default=None, help="require this key (default: accept any)")
    args = parser.parse_args(argv)
    app = make_app(api_key=args.api_key, delay_ms=args.delay_ms, chunk_delay_ms=args.chunk_delay_ms)
    print(f"fake OpenAI server on http://{args.host}:{args.port}/v1", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, handler_cancellation=True)


if __name__ == "__main__":
    main()
