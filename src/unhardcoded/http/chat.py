"""POST /v1/chat/completions: parse only what routing needs, hand the rest through untouched."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from unhardcoded.errors import RequestError, UserError
from unhardcoded.gateway.loop import chat, chat_stream
from unhardcoded.gateway.service import Gateway
from unhardcoded.http.errors import error_response, internal_error, user_error

log = logging.getLogger("unhardcoded.http")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class StreamSink:
    """The gateway's Sink over an aiohttp streaming response; prepared only at the first byte."""

    __slots__ = ("request", "response")

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None

    async def start(self, headers: dict[str, str]) -> None:
        resp = web.StreamResponse(status=200, headers=headers)
        resp.content_type = "text/event-stream"
        resp.headers["cache-control"] = "no-cache"
        await resp.prepare(self.request)
        self.response = resp

    async def write(self, data: bytes) -> None:
        if data and self.response is not None:
            await self.response.write(data)


def check_body(body: Any) -> dict[str, Any]:
    """The few shape checks routing depends on; the provider validates the rest."""
    if not isinstance(body, dict):
        raise RequestError("body: expected a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: required, a non-empty array of messages", path="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(
                f"messages[{i}].role: expected one of {', '.join(ROLES)}",
                path=f"messages[{i}].role",
                choices=list(ROLES),
            )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("stream: expected true or false", path="stream")
    for name in ("max_tokens", "max_completion_tokens"):
        v = body.get(name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise RequestError(f"{name}: expected a positive integer", path=name)
    return body


def make_handler(gw: Gateway) -> Any:
    async def chat_completions(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = check_body(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return error_response(400, "body: not valid JSON", "invalid_request_error", code="invalid_json")
        except UserError as e:
            return user_error(e)
        gw.inflight += 1
        try:
            if body.get("stream") is True:
                sink = StreamSink(request)
                reply = await chat_stream(gw, body, request.headers, sink)
                if reply is None:
                    if sink.response is None:  # the client left before anything was sent
                        return web.Response(status=499)
                    await sink.response.write_eof()
                    return sink.response
            else:
                reply = await chat(gw, body, request.headers)
        except UserError as e:
            return user_error(e)
        except ConnectionError:  # the client left mid-stream; the receipt already says partial
            return web.Response(status=499)
        except Exception:
            log.exception("unexpected error in chat completions")
            return internal_error()
        finally:
            gw.inflight -= 1
        return web.Response(
            status=reply.status, body=reply.body, headers=reply.headers, content_type="application/json"
        )

    return chat_completions
