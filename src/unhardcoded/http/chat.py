"""POST /v1/chat/completions: parse the body once into a ChatRequest, hand it to the gateway, answer."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from unhardcoded.errors import CallFailed, UserError
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.http.errors import call_failed, error_response, internal_error, stream_error, user_error

log = logging.getLogger("unhardcoded.http")


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

    async def fail(self, error_class: str, message: str) -> None:
        await self.write(stream_error(error_class, message))


def make_handler(gw: Gateway) -> Any:
    async def chat_completions(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            req = ChatRequest.parse(orjson.loads(raw), request.headers)
        except orjson.JSONDecodeError:
            return error_response(400, "body: not valid JSON", "invalid_request_error", code="invalid_json")
        except UserError as e:
            return user_error(e)
        try:
            if req.stream:
                sink = StreamSink(request)
                await gw.chat_stream(req, sink)
                if sink.response is None:  # the client left before anything was sent
                    return web.Response(status=499)
                await sink.response.write_eof()
                return sink.response
            reply = await gw.chat(req)
        except UserError as e:
            return user_error(e)
        except CallFailed as e:
            return call_failed(e)
        except ConnectionError:  # the client left mid-stream; the receipt already says partial
            return web.Response(status=499)
        except Exception:
            log.exception("unexpected error in chat completions")
            return internal_error()
        return web.Response(
            status=reply.status, body=reply.body, headers=reply.headers, content_type="application/json"
        )

    return chat_completions
