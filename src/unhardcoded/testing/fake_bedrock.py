"""A fake Bedrock Runtime: Converse and ConverseStream byte for byte, with AWS's SigV4 check and errors.

Every request must carry a SigV4 signature from the test credentials (recomputed here with botocore;
`X-Amz-Date` within 5 minutes, scope service `bedrock`, and the fake's region when it has one) or a
Bedrock API key as a Bearer token; otherwise AWS's 403 JSON. Answers follow the Script; on a streaming
call a Step whose `error_type` is an event-stream exception name (`throttlingException`, ...) sends that
exception frame after the first content event (after `error_after` of them when that is set).

    python -m unhardcoded.testing.fake_bedrock --port 9002 [--region eu-central-1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import re
import struct
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from unhardcoded.testing.script import Script, Step

# The example keys from AWS's own SigV4 documentation: obviously not real.
TEST_ACCESS_KEY_ID = "AKIDEXAMPLE"
TEST_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TEST_API_KEY = "ABSKZmFrZS1iZWRyb2NrLWFwaS1rZXk="

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})"
)
_PATH = re.compile(r"/model/([^/]+)/(converse|converse-stream)")
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_SECRET_HEADERS = {"authorization", "x-amz-security-token"}
_BAD_TOKEN = "The security token included in the request is invalid."
_ERRORS = {
    400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
    401: ("UnrecognizedClientException", _BAD_TOKEN),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The requested resource could not be found."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request."),
    424: ("ModelErrorException", "The model encountered an error while processing the request."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC), string headers, payload, message CRC."""
    raw = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        raw += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    prelude = struct.pack(">II", 12 + len(raw) + len(payload) + 4, len(raw))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, body: dict[str, Any]) -> bytes:
    # Bedrock pads each event with a "p" field so that payload sizes do not reveal the text.
    padded = body | {"p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"[: 1 + len(event_type) * 2]}
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, orjson.dumps(padded))


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, orjson.dumps({"message": message}))


@dataclass(frozen=True, slots=True)
class _Config:
    script: Script
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    api_key: str | None
    region: str | None


_CONFIG = web.AppKey("fake_bedrock_config", _Config)
_CLOSING = web.AppKey("fake_bedrock_closing", asyncio.Event)


def _error(status: int, error_type: str, message: str, retry_after: float | None = None) -> web.Response:
    headers = {
        "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return _json({"message": message}, status, headers)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def _invalid(body: Any) -> str | None:
    """The ValidationException message real Bedrock gives for a malformed Converse body, if any."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return "A conversation must start with a user message."
    uses_tools = False
    for i, message in enumerate(messages):
        if message.get("role") != ("user", "assistant")[i % 2]:
            return "A conversation must alternate between user and assistant roles."
        for j, block in enumerate(message.get("content") or []):
            uses_tools = uses_tools or "toolUse" in block or "toolResult" in block
            if "text" in block and not str(block["text"]).strip():
                return f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank."
    if uses_tools and "toolConfig" not in body:
        return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    return None


def check_signature(request: web.Request, body: bytes, config: _Config) -> web.Response | None:
    """None when the request is signed by the configured credentials; else AWS's 403 answer."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        ok = config.api_key is not None and hmac.compare_digest(auth[7:], config.api_key)
        return None if ok else _error(403, "UnrecognizedClientException", _BAD_TOKEN)
    if not auth:
        return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    found = _AUTH.fullmatch(auth)
    if found is None:
        return _error(
            403, "IncompleteSignatureException", "Authorization header is not a valid SigV4 header."
        )
    key_id, day, region, service, signed, signature = found.groups()
    token = request.headers.get("X-Amz-Security-Token")
    if key_id != config.access_key_id or token != config.session_token:
        return _error(403, "UnrecognizedClientException", _BAD_TOKEN)
    if service != "bedrock" or (config.region is not None and region != config.region):
        return _error(403, "InvalidSignatureException", "Credential should be scoped to a valid region.")
    amz_date = request.headers.get("X-Amz-Date", "")
    try:
        when = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return _error(403, "IncompleteSignatureException", "X-Amz-Date is missing or malformed.")
    now = datetime.now(UTC)
    if abs(now - when) > timedelta(minutes=5) or day != amz_date[:8]:
        return _error(403, "InvalidSignatureException", f"Signature expired: {amz_date} is not within 5 min.")
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return _error(403, "IncompleteSignatureException", "SignedHeaders must include host and x-amz-date.")
    headers = {name: request.headers.get(name, "") for name in names}
    aws = AWSRequest(
        method=request.method, url=f"http://{request.host}{request.raw_path}", data=body, headers=headers
    )
    aws.context["timestamp"] = amz_date
    signer = SigV4Auth(
        BotoCredentials(config.access_key_id, config.secret_access_key, token), service, region
    )
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    return (
        None
        if hmac.compare_digest(expected, signature)
        else _error(403, "InvalidSignatureException", _BAD_SIGNATURE)
    )


def _texts(blocks: Any) -> list[str]:
    out: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            out.append(block["text"])
        elif isinstance(block, dict) and isinstance(block.get("toolResult"), dict):
            out.extend(_texts(block["toolResult"].get("content")))
    return out


def _answer(body: dict[str, Any], step: Step) -> tuple[str | None, dict[str, Any] | None, int]:
    """(text, toolUse block, input token count) for one request, all deterministic."""
    messages = body.get("messages") or []
    words = sum(len(t.split()) for t in _texts(body.get("system")))
    words += sum(len(t.split()) for m in messages for t in _texts(m.get("content")))
    user_texts = [
        m for m in messages if m.get("role") == "user" and any("text" in b for b in m.get("content", []))
    ]
    echo = " ".join(t for t in _texts(user_texts[-1]["content"]) if t) if user_texts else "ok"
    text = step.text if step.text is not None else echo
    forced = ((body.get("toolConfig") or {}).get("toolChoice") or {}).get("tool")
    if step.tool_call is not None:
        name, args = step.tool_call["name"], step.tool_call.get("arguments", {})
    elif isinstance(forced, dict):
        name, args = forced["name"], {"answer": text}
    else:
        return text, None, max(1, words)
    tool_id = "tooluse_" + hashlib.sha256(f"{name}{orjson.dumps(args)!r}".encode()).hexdigest()[:22]
    return None, {"toolUseId": tool_id, "name": name, "input": args}, max(1, words)


def _usage(input_tokens: int, text: str | None, tool: dict[str, Any] | None) -> dict[str, int]:
    produced = text if text is not None else orjson.dumps(tool["input"] if tool else {}).decode()
    output_tokens = max(1, len(produced.split()))
    return {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
    }


def _converse(body: dict[str, Any], step: Step) -> web.Response:
    if step.malformed:
        return web.Response(body=b'{"output": {"message": {"role": "assistant", "content": [{"te', status=200)
    text, tool, input_tokens = _answer(body, step)
    content: list[dict[str, Any]] = [{"text": text}] if tool is None else [{"toolUse": tool}]
    answer = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "end_turn" if tool is None else "tool_use",
        "usage": _usage(input_tokens, text, tool),
        "metrics": {"latencyMs": 42},
    }
    return _json(answer, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _stream_frames(body: dict[str, Any], step: Step, key: str | None) -> list[bytes]:
    """Every frame of one ConverseStream answer, cut or broken as the step says."""
    text, tool, input_tokens = _answer(body, step)
    frames = [event_frame("messageStart", {"role": "assistant"})]
    content: list[bytes] = []
    if tool is None:
        pieces = re.findall(r"\S+\s*|\s+", text or "") or [""]
        content = [
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces
        ]
    else:
        start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
        frames.append(event_frame("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
        raw = orjson.dumps(tool["input"]).decode()
        third = max(1, len(raw) // 3)
        fragments = [raw[i : i + third] for i in range(0, len(raw), third)]
        delta = "contentBlockDelta"
        content = [
            event_frame(delta, {"contentBlockIndex": 0, "delta": {"toolUse": {"input": f}}})
            for f in fragments
        ]
    if step.cut_after is not None:
        return frames + content[: step.cut_after]
    if step.malformed:
        broken = bytearray(content[0])
        broken[-1] ^= 0xFF  # the message CRC no longer matches
        return [*frames, bytes(broken)]
    after = step.error_after
    if after is None and step.error_type and step.error_type[:1].islower():
        after = 1
    if after is not None:
        message = step.message(key, "The stream failed upstream.")
        failure = exception_frame(step.error_type or "internalServerException", message)
        return [*frames, *content[:after], failure]
    stop = "end_turn" if tool is None else "tool_use"
    return [
        *frames,
        *content,
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": stop}),
        event_frame("metadata", {"usage": _usage(input_tokens, text, tool), "metrics": {"latencyMs": 42}}),
    ]


async def _hang(request: web.Request) -> None:
    closing = request.app[_CLOSING]
    while not closing.is_set() and request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.02)


async def _handle(request: web.Request) -> web.StreamResponse:
    config = request.app[_CONFIG]
    body_bytes = await request.read()
    path = _PATH.fullmatch(request.raw_path.split("?", 1)[0])
    if path is None:
        return _error(404, "UnknownOperationException", "Unknown operation.")
    refused = check_signature(request, body_bytes, config)
    if refused is not None:
        return refused
    try:
        body = orjson.loads(body_bytes)
    except orjson.JSONDecodeError:
        return _error(400, "SerializationException", "The request body is not valid JSON.")
    invalid = _invalid(body)
    if invalid is not None:
        return _error(400, "ValidationException", invalid)
    model, stream = unquote(path.group(1)), path.group(2) == "converse-stream"
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS}
    config.script.seen.append(
        {"path": request.path, "model": model, "stream": stream, "headers": headers, "body": body}
    )
    step = config.script.next(model)
    # What a step may echo: the API key, or the secret that signed the request (the fake has checked it).
    auth = request.headers.get("Authorization", "")
    key = auth[7:] if auth.startswith("Bearer ") else config.secret_access_key
    if step.delay_s:
        await asyncio.sleep(step.delay_s)
    if step.hang:
        await _hang(request)
        return web.Response(status=504)
    if step.reset:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)
    if step.status != 200:
        error_type, message = _ERRORS.get(step.status, _ERRORS[500 if step.status >= 500 else 400])
        message = step.message(key, message)
        return _error(step.status, step.error_type or error_type, message, step.retry_after)
    if not stream:
        return _converse(body, step)
    response = web.StreamResponse(
        headers={"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": str(uuid.uuid4())}
    )
    await response.prepare(request)
    frames = _stream_frames(body, step, key)
    for i, frame in enumerate(frames):
        if step.error_after is not None and i == len(frames) - 1:  # the exception frame
            await config.script.wait_released(step)
        await response.write(frame)
    if step.cut_after is not None:
        response.force_close()
    await response.write_eof()
    return response


async def _push_script(request: web.Request) -> web.Response:
    try:
        steps = [Step.from_dict(d) for d in orjson.loads(await request.read())]
    except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
        return _error(400, "ValidationException", f"bad script: {exc}")
    request.app[_CONFIG].script.push(*steps)
    return _json({"queued": len(steps)})


async def _seen(request: web.Request) -> web.Response:
    return _json(request.app[_CONFIG].script.seen)


async def _reset(request: web.Request) -> web.Response:
    request.app[_CONFIG].script.clear()
    return _json({"reset": True})


async def _on_shutdown(app: web.Application) -> None:
    app[_CLOSING].set()


def make_app(
    script: Script | None = None,
    *,
    access_key_id: str = TEST_ACCESS_KEY_ID,
    secret_access_key: str = TEST_SECRET_ACCESS_KEY,
    session_token: str | None = None,
    api_key: str | None = TEST_API_KEY,
    region: str | None = None,
) -> web.Application:
    """The fake's app. `region`: when set, signatures must be scoped to it (as a real endpoint's are)."""
    app = web.Application()
    app[_CONFIG] = _Config(
        script or Script(), access_key_id, secret_access_key, session_token, api_key, region
    )
    app[_CLOSING] = asyncio.Event()
    app.on_shutdown.append(_on_shutdown)
    app.router.add_post("/_script", _push_script)
    app.router.add_get("/_seen", _seen)
    app.router.add_post("/_reset", _reset)
    app.router.add_post("/{tail:.*}", _handle)
    return app


async def start(
    host: str = "127.0.0.1", port: int = 0, script: Script | None = None, **options: Any
) -> tuple[web.AppRunner, str, Script]:
    """Serve the fake on host:port (0: any free port); returns (runner, base_url, script).
    Stop it with `await runner.cleanup()`."""
    app = make_app(script, **options)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}", app[_CONFIG].script


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m unhardcoded.testing.fake_bedrock", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument("--region", default=None, help="require signatures scoped to this region")
    args = parser.parse_args(argv)
    app = make_app(region=args.region)
    print(f"fake Bedrock Runtime on http://{args.host}:{args.port}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, handler_cancellation=True)


if __name__ == "__main__":
    main()
