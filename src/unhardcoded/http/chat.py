"""POST /v1/chat/completions: parse the body once into a ChatRequest, hand it to the gateway, answer."""

from __future__ import annotations

import logging

import orjson

from unhardcoded.errors import CallFailed, UserError
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.http.errors import (
    call_failed,
    internal_error,
    invalid_json,
    store_unavailable,
    stream_error,
    user_error,
)
from unhardcoded.http.guard import caller_of
from unhardcoded.http.wire import Request, Response, Sink
from unhardcoded.store.base import StoreError

log = logging.getLogger("unhardcoded.http")
_SSE_HEADERS = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


class StreamSink:
    """The gateway's Sink over the server's chunked response; the status line goes at the first byte."""

    __slots__ = ("_sink", "started")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.started = False

    async def start(self, headers: dict[str, str]) -> None:
        await self._sink.start([*headers.items(), *_SSE_HEADERS])
        self.started = True

    async def write(self, data: bytes) -> None:
        if data and self.started:
            await self._sink.write(data)

    async def fail(self, error_class: str, message: str) -> None:
        await self.write(stream_error(error_class, message))


class ChatHandler:
    __slots__ = ("gw",)

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def __call__(self, request: Request) -> Response | None:
        try:
            req = ChatRequest.parse(
                orjson.loads(request.body), request.headers, tenant=caller_of(request).tenant
            )
        except orjson.JSONDecodeError:
            return invalid_json()
        except UserError as e:
            return user_error(e)
        try:
            if req.stream:
                sink = StreamSink(request.sink)
                await self.gw.chat_stream(req, sink)
                return None if sink.started else Response(status=499, content_type=None)
            reply = await self.gw.chat(req)
        except UserError as e:
            return user_error(e)
        except CallFailed as e:
            return call_failed(e)
        except StoreError:  # strict: a call is never made, or answered, without its receipt
            return store_unavailable()
        except ConnectionError:  # the client left mid-stream; the receipt already says partial
            return Response(status=499, content_type=None)
        except Exception:
            log.exception("unexpected error in chat completions")
            return internal_error()
        return Response(reply.body, reply.status, reply.headers)
