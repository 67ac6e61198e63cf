"""The one place exceptions become OpenAI-shaped error JSON: {"error": {message, type, param, code}}."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from unhardcoded.errors import (
    CallFailed,
    ConfigError,
    ErrorClass,
    NoRouteError,
    PolicyError,
    RequestError,
    UpstreamFailed,
    UserError,
)
from unhardcoded.providers.sse import DONE, encode_event

# The status a failed call answers with, by the last attempt's error class (README "Fallback").
STATUS_FOR: dict[ErrorClass, int] = {
    "rate_limited": 429,
    "timeout": 504,
    "server_error": 502,
    "connection_error": 502,
    "bad_response": 502,
    "auth_error": 502,  # the gateway's key for that provider is wrong: not the caller's fault
    "client_error": 400,
}


def error_json(
    message: str, type_: str, *, param: str | None = None, code: str | None = None, **extra: Any
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code, **extra}})


def error_response(
    status: int,
    message: str,
    type_: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    return web.Response(
        status=status,
        body=error_json(message, type_, param=param, code=code, **extra),
        content_type="application/json",
        headers=headers,
    )


def user_error(e: UserError) -> web.Response:
    code = (
        "invalid_policy"
        if isinstance(e, PolicyError)
        else "invalid_config"
        if isinstance(e, ConfigError)
        else "invalid_request"
        if isinstance(e, RequestError)
        else "invalid"
    )
    extra: dict[str, Any] = {}
    if e.choices is not None:
        extra["choices"] = e.choices
    return error_response(e.status, e.message, "invalid_request_error", param=e.path, code=code, **extra)


def call_failed(e: CallFailed) -> web.Response:
    """A call that ended without an answer; its headers name the receipt that says why."""
    if isinstance(e, NoRouteError):
        return error_response(
            422, e.message, "no_route", code="no_route", headers=e.headers, request_id=e.request_id
        )
    assert isinstance(e, UpstreamFailed)
    status = STATUS_FOR[e.error_class]
    if e.error_class == "client_error" and e.status and 400 <= e.status < 500:
        status = e.status  # the upstream's own 4xx: the request itself is wrong
    return error_response(
        status,
        e.message,
        f"upstream_{e.error_class}",
        code=e.error_class,
        headers=e.headers,
        request_id=e.request_id,
    )


def stream_error(error_class: str, message: str) -> bytes:
    """An error after a stream started: one SSE event with the error object, then [DONE]."""
    return encode_event(error_json(message, f"upstream_{error_class}", code=error_class)) + DONE


def internal_error(request_id: str | None = None) -> web.Response:
    # Never echo the exception: it could carry a request header or a key.
    return error_response(
        500,
        "internal error in the gateway; the server is still up",
        "server_error",
        code="internal_error",
        request_id=request_id,
    )
