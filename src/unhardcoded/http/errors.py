"""The one place exceptions become OpenAI-shaped error JSON: {"error": {message, type, param, code}}."""

from __future__ import annotations

from typing import Any

import orjson

from unhardcoded.errors import (
    BudgetExceeded,
    CallFailed,
    ConfigError,
    ErrorClass,
    NoRouteError,
    PolicyError,
    RequestError,
    UpstreamFailed,
    UserError,
)
from unhardcoded.http.wire import Response
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
) -> Response:
    return Response(error_json(message, type_, param=param, code=code, **extra), status, headers)


def server_error(status: int, message: str) -> Response:
    """What the server and router answer on their own (404, 405, 408, 413, 431, 500)."""
    if status >= 500:
        return error_response(status, message, "server_error", code="internal_error")
    codes = {404: "not_found", 405: "method_not_allowed", 408: "timeout", 413: "too_large", 431: "too_large"}
    type_ = "not_found" if status == 404 else "invalid_request_error"
    return error_response(status, message, type_, code=codes.get(status))


def invalid_json() -> Response:
    return error_response(400, "body: not valid JSON", "invalid_request_error", code="invalid_json")


def user_error(e: UserError) -> Response:
    code = (
        "invalid_policy"
        if isinstance(e, PolicyError)
        else "invalid_config"
        if isinstance(e, ConfigError)
        else "invalid_request"
        if isinstance(e, RequestError)
        else "not_found"
        if e.status == 404
        else "invalid"
    )
    extra: dict[str, Any] = {}
    if e.choices is not None:
        extra["choices"] = e.choices
    type_ = "not_found" if e.status == 404 else "invalid_request_error"
    return error_response(e.status, e.message, type_, param=e.path, code=code, **extra)


def call_failed(e: CallFailed) -> Response:
    """A call that ended without an answer; its headers name the receipt that says why."""
    if isinstance(e, BudgetExceeded):
        return error_response(
            429,
            e.message,
            "budget_exceeded",
            param="budget",
            code="budget_exceeded",
            headers=e.headers,
            request_id=e.request_id,
            budget=e.budget,
        )
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


def store_unavailable() -> Response:
    """The receipt store cannot take a write: nothing was sent upstream; come back shortly."""
    return error_response(
        503,
        "the receipt store is unavailable, so no call is made without its receipt; retry shortly",
        "server_error",
        code="store_unavailable",
        headers={"retry-after": "1"},
    )


def internal_error(request_id: str | None = None) -> Response:
    # Never echo the exception: it could carry a request header or a key.
    return error_response(
        500,
        "internal error in the gateway; the server is still up",
        "server_error",
        code="internal_error",
        request_id=request_id,
    )
