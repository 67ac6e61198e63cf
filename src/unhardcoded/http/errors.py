"""The one place exceptions become OpenAI-shaped error JSON: {"error": {message, type, param, code}}."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from unhardcoded.errors import ConfigError, PolicyError, RequestError, UserError


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
    body = {"error": {"message": message, "type": type_, "param": param, "code": code, **extra}}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
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


def internal_error(request_id: str | None = None) -> web.Response:
    # Never echo the exception: it could carry a request header or a key.
    return error_response(
        500,
        "internal error in the gateway; the server is still up",
        "server_error",
        code="internal_error",
        request_id=request_id,
    )
