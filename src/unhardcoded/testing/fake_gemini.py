"""A fake Google AI for tests and the demo: the Gemini API (AI Studio), Vertex AI (Gemini and Claude) and
an OAuth token endpoint that verifies RS256 JWT assertions, speaking Google's formats byte for byte.

AI Studio paths take `x-goog-api-key` (or `?key=`); Vertex paths take a Bearer token issued by `POST /token`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
import orjson
from aiohttp import web

from unhardcoded.testing import fake_anthropic
from unhardcoded.testing.fake_anthropic import (
    SCRIPT,
    carried_key,
    count_tokens,
    fake_id,
    pieces,
    play_effects,
    sample_for_schema,
    script_routes,
    send_failing_stream,
    send_stream,
    start_app,
)
from unhardcoded.testing.google_sa import FakeServiceAccount, default_service_account
from unhardcoded.testing.script import Script, Step

API_KEY = "test-gemini-key"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_KEY = web.AppKey("api_key", str)
_TRUSTED = web.AppKey("trusted", dict[str, str])  # client_email → public key PEM
_TOKENS = web.AppKey("tokens", set[str])
_TOKEN_PREFIX = web.AppKey("token_prefix", str)
_STATUSES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "models/unknown is not found for API version v1beta."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
# Gemini's Schema fields: anything else in a function declaration or responseSchema is a 400.
_SCHEMA_FIELDS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
}  # fmt: skip


def google_error(
    status: int,
    error_type: str | None = None,
    retry_after: float | None = None,
    message: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> web.Response:
    """Google's error body for `status` (`error_type` overrides the status name); RetryInfo on request."""
    name, default_message = _STATUSES.get(status, ("INTERNAL", "An internal error has occurred."))
    error: dict[str, Any] = {
        "code": status,
        "message": message or default_message,
        "status": error_type or name,
    }
    details = list(details or [])
    if retry_after is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        )
    if details:
        error["details"] = details
    body = json.dumps({"error": error}, indent=2).encode()
    return web.Response(status=status, body=body, content_type="application/json", charset="UTF-8")


def _key_error(present: bool) -> web.Response:
    if not present:
        message = (
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API."
        )
        return google_error(403, message=message)
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    return google_error(400, message="API key not valid. Please pass a valid API key.", details=[info])


def _schema_problem(schema: Any, where: str) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    for key, value in schema.items():
        if key not in _SCHEMA_FIELDS:
            return f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
        subs = list(value.values()) if key == "properties" and isinstance(value, Mapping) else []
        subs += value if key == "anyOf" and isinstance(value, list) else []
        subs += [value] if key == "items" else []
        for sub in subs:
            problem = _schema_problem(sub, f"{where}.{key}")
            if problem:
                return problem
    return None


def _request_problem(body: Mapping[str, Any]) -> str | None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, content in enumerate(contents):
        if not isinstance(content, Mapping) or content.get("role") not in ("user", "model"):
            return f"Please use a valid role: user, model. (contents[{i}])"
        if not content.get("parts"):
            return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
    for t, tool in enumerate(body.get("tools") or []):
        for d, decl in enumerate(tool.get("functionDeclarations") or []):
            problem = _schema_problem(
                decl.get("parameters"), f"tools[{t}].function_declarations[{d}].parameters"
            )
            if problem:
                return problem
    schema = (body.get("generationConfig") or {}).get("responseSchema")
    return _schema_problem(schema, "generation_config.response_schema")


def _echo(body: Mapping[str, Any]) -> str:
    for content in reversed(body.get("contents") or []):
        if isinstance(content, Mapping) and content.get("role") == "user":
            parts = content.get("parts") or []
            texts = [p["text"] for p in parts if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
            if any(isinstance(p, Mapping) and "functionResponse" in p for p in parts):
                return "function result received"
    return "Hello"


def build_response(body: Mapping[str, Any], step: Step, model: str, *, vertex: bool) -> dict[str, Any]:
    """generateContent's answer to `body`: the step's function call, JSON for a JSON request, or text."""
    config = body.get("generationConfig") or {}
    text = step.text if step.text is not None else _echo(body)
    if step.tool_call is not None:
        call = {"name": step.tool_call["name"], "args": step.tool_call.get("arguments", {})}
        parts: list[dict[str, Any]] = [{"functionCall": call}]
    elif config.get("responseMimeType") == "application/json":
        schema = config.get("responseSchema") or {
            "type": "object",
            "properties": {"text": {"type": "string"}},
        }
        parts = [{"text": json.dumps(sample_for_schema(schema, text))}]
    else:
        parts = [{"text": text}]
    n = config.get("candidateCount") or 1
    candidates = [
        {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": i} for i in range(n)
    ]
    prompt = count_tokens([body.get("systemInstruction"), body.get("contents")]) + 2
    output = max(1, count_tokens(parts)) * n
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if vertex:
        usage["trafficType"] = "ON_DEMAND"
    out: dict[str, Any] = {"candidates": candidates, "usageMetadata": usage, "modelVersion": model}
    if vertex:
        out["createTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    out["responseId"] = fake_id("", body, step)[:22]
    return out


def _sse(data: Mapping[str, Any]) -> bytes:
    # Google's SSE: ", " between items is ",", ": " after keys, CRLF line ends.
    return b"data: " + json.dumps(data, separators=(",", ": ")).encode() + b"\r\n\r\n"


def stream_chunks(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The partial responses streamGenerateContent sends: text in pieces, usage cumulative, finish last."""
    first = response["candidates"][0]
    parts = first["content"]["parts"]
    texts = pieces(parts[0]["text"]) if "text" in parts[0] else [None]
    usage = response["usageMetadata"]
    chunks = []
    for k, piece in enumerate(texts):
        last = k == len(texts) - 1
        candidates = []
        for c in response["candidates"]:
            cand: dict[str, Any] = {
                "content": {"parts": [{"text": piece}] if piece is not None else parts, "role": "model"}
            }
            if last:
                cand["finishReason"] = "STOP"
            cand["index"] = c["index"]
            candidates.append(cand)
        partial = (
            usage
            if last
            else {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
        )
        rest = {k2: v for k2, v in response.items() if k2 not in ("candidates", "usageMetadata")}
        chunks.append({"candidates": candidates, "usageMetadata": partial, **rest})
    return chunks


def _key_of(request: web.Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query.get("key") or carried_key(request)


async def _gemini(request: web.Request, model: str, action: str, *, vertex: bool) -> web.StreamResponse:
    body = await _json_body(request)
    if not isinstance(body, dict):
        return google_error(400, message="Invalid JSON payload received.")
    script = request.app[SCRIPT]
    script.seen.append({"path": request.path, "body": body})
    if action not in ("generateContent", "streamGenerateContent"):
        return google_error(404, message=f"Method {action} not found.")
    problem = _request_problem(body)
    if problem:
        return google_error(400, message=problem)
    step = script.next(model)
    if not await play_effects(request, step):
        return web.Response()
    if step.status >= 400:
        default = _STATUSES.get(step.status, ("", "An internal error has occurred."))[1]
        message = step.message(_key_of(request), default)
        return google_error(step.status, step.error_type, step.retry_after, message)
    sse = request.query.get("alt") == "sse"
    if step.malformed:
        if action == "streamGenerateContent":
            return await send_stream(
                request, [(b'data: {"candidates": [{"content": {"par\r\n\r\n', False)], None
            )
        return web.Response(body=b'{\n  "candidates": [\n    {\n', content_type="application/json")
    response = build_response(body, step, model, vertex=vertex)
    if action == "generateContent":
        return web.Response(body=json.dumps(response, indent=2).encode(), content_type="application/json")
    chunks = stream_chunks(response)
    if not sse:  # without alt=sse Google streams one JSON array
        return web.Response(body=json.dumps(chunks, indent=2).encode(), content_type="application/json")
    events = [(_sse(c), True) for c in chunks]
    if step.error_after is not None:  # Google ends a failing stream with an `error` object as the last event
        message = step.message(_key_of(request), _STATUSES[500][1])
        error = {"code": 500, "message": message, "status": step.error_type or "INTERNAL"}
        return await send_failing_stream(request, events, step, _sse({"error": error}))
    return await send_stream(request, events, step.cut_after)


async def _json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


async def _studio(request: web.Request) -> web.StreamResponse:
    model, _, action = request.match_info["model_action"].rpartition(":")
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if key != request.app[_KEY]:
        await request.read()
        return _key_error(present=bool(key))
    return await _gemini(request, model, action, vertex=False)


async def _vertex(request: web.Request) -> web.StreamResponse:
    model, _, action = request.match_info["model_action"].rpartition(":")
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth[7:] not in request.app[_TOKENS]:
        await request.read()
        return google_error(401)
    publisher = request.match_info["publisher"]
    if publisher == "google":
        return await _gemini(request, model, action, vertex=True)
    if publisher != "anthropic" or action not in ("rawPredict", "streamRawPredict"):
        return google_error(404, message=f"Publisher Model `{publisher}/{model}:{action}` not found.")
    body = await _json_body(request)
    if not isinstance(body, dict):
        return fake_anthropic.error_response(400, message="The request body is not a JSON object.")
    request.app[SCRIPT].seen.append({"path": request.path, "body": body})
    if body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
        return fake_anthropic.error_response(
            400, message="anthropic_version: Input should be 'vertex-2023-10-16'"
        )
    if "model" in body:
        return fake_anthropic.error_response(400, message="model: Extra inputs are not permitted")
    if action == "streamRawPredict":
        body["stream"] = True
    return await fake_anthropic.respond(request, body, request.app[SCRIPT].next(model), model)


def _oauth_error(error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=400)


async def _token(request: web.Request) -> web.Response:
    form = await request.post()
    grant = form.get("grant_type")
    if grant != JWT_BEARER:
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant!s:.80}")
    assertion = str(form.get("assertion") or "")
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "Invalid JWT: could not be parsed.")
    public_key = request.app[_TRUSTED].get(str(issuer))
    if public_key is None:
        return _oauth_error("invalid_grant", "Invalid grant: account not found")
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            audience=str(request.url),
            options={"require": ["exp", "iat", "aud", "iss"]},
        )
    except jwt.InvalidSignatureError:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    except jwt.PyJWTError as exc:
        return _oauth_error("invalid_grant", f"Invalid JWT: {type(exc).__name__}")
    if claims["exp"] - claims["iat"] > 3600 or not claims.get("scope"):
        return _oauth_error(
            "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) with a scope"
        )
    token = request.app[_TOKEN_PREFIX] + secrets.token_urlsafe(24)
    request.app[_TOKENS].add(token)
    return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def make_app(
    script: Script | None = None,
    *,
    api_key: str = API_KEY,
    service_accounts: Iterable[FakeServiceAccount] | None = None,
    access_tokens: Iterable[str] = (),
    token_prefix: str = "ya29.fake-",
) -> web.Application:
    """The fake Google endpoints. `service_accounts` may get tokens at `POST /token` (default: the process's
    `default_service_account()`); `access_tokens` are accepted on Vertex paths without the OAuth step.
    `token_prefix` starts every issued token (a test of redaction may want one no pattern recognises)."""
    app = web.Application()
    script_routes(app, script if script is not None else Script())
    app[_KEY] = api_key
    accounts = list(service_accounts) if service_accounts is not None else [default_service_account()]
    app[_TRUSTED] = {sa.client_email: sa.public_key_pem for sa in accounts}
    app[_TOKENS] = set(access_tokens)
    app[_TOKEN_PREFIX] = token_prefix
    app.router.add_post("/v1beta/models/{model_action}", _studio)
    vertex = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model_action}"
    app.router.add_post(vertex, _vertex)
    app.router.add_post("/token", _token)
    return app


async def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    script: Script | None = None,
    api_key: str = API_KEY,
    service_accounts: Iterable[FakeServiceAccount] | None = None,
    access_tokens: Iterable[str] = (),
    token_prefix: str = "ya29.fake-",
) -> tuple[web.AppRunner, str, Script]:
    """Serve the fake on host:port (0: any free port) → (runner to clean up, base URL, its script).
    The token endpoint is `{base URL}/token`."""
    script = script if script is not None else Script()
    app = make_app(
        script,
        api_key=api_key,
        service_accounts=service_accounts,
        access_tokens=access_tokens,
        token_prefix=token_prefix,
    )
    runner, base_url = await start_app(app, host, port)
    return runner, base_url, script
