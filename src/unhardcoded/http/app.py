"""create_app: the aiohttp application with every route; everything injected, nothing global."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from aiohttp import web

from unhardcoded.errors import RequestError, UserError
from unhardcoded.gateway.service import Gateway
from unhardcoded.http.chat import make_handler
from unhardcoded.http.errors import error_response, user_error

GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _ts(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(f"{name}: expected an ISO 8601 timestamp, got {value!r}", path=name) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return d.timestamp()


class Routes:
    """The read-side and dry-run endpoints; the chat endpoint lives in chat.py."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def list_models(self, request: web.Request) -> web.Response:
        return web.Response(body=self.gw.models(), content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        return _json(self.gw.health())

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.gw.metrics_text(),
            content_type="text/plain",
            charset="utf-8",
            headers={"x-content-type-options": "nosniff"},
        )

    async def rank(self, request: web.Request) -> web.Response:
        try:
            doc = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "body: not valid JSON", "invalid_request_error", code="invalid_json")
        try:
            return _json(self.gw.dry_run(doc))
        except UserError as e:
            return user_error(e)

    async def replay(self, request: web.Request) -> web.Response:
        try:
            doc = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "body: not valid JSON", "invalid_request_error", code="invalid_json")
        try:
            return _json(await self.gw.replay(doc))
        except UserError as e:
            return user_error(e)

    async def fields(self, request: web.Request) -> web.Response:
        return _json(self.gw.fields())

    async def catalog_now(self, request: web.Request) -> web.Response:
        return _json(self.gw.catalog())

    async def catalog_at(self, request: web.Request) -> web.Response:
        version = request.match_info["version"]
        blob = await self.gw.catalog_at(version)
        if blob is None:
            return error_response(
                404,
                f"no catalog with version {version!r} is kept",
                "not_found",
                param="version",
                code="unknown_catalog_version",
            )
        return web.Response(body=blob, content_type="application/json")

    async def receipt(self, request: web.Request) -> web.Response:
        rid = request.match_info["request_id"]
        r = await self.gw.receipt(rid)
        if r is None:
            return error_response(
                404, f"no receipt {rid!r}", "not_found", param="request_id", code="unknown_receipt"
            )
        return _json(r)

    async def trace(self, request: web.Request) -> web.Response:
        tid = request.match_info["trace_id"]
        t = await self.gw.trace(tid)
        if t is None:
            return error_response(
                404, f"no trace {tid!r}", "not_found", param="trace_id", code="unknown_trace"
            )
        return _json(t)

    async def search(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", "100"))
            rows = await self.gw.search(
                workload=q.get("workload"),
                since=_ts(q.get("since"), "since"),
                until=_ts(q.get("until"), "until"),
                deployment=q.get("deployment"),
                fingerprint=q.get("fingerprint"),
                limit=max(1, min(limit, 1000)),
            )
        except ValueError:
            return error_response(400, "limit: expected an integer", "invalid_request_error", param="limit")
        except UserError as e:
            return user_error(e)
        return _json({"receipts": rows})

    async def schema(self, request: web.Request) -> web.Response:
        what = request.match_info["what"]
        if what == "receipt":
            from unhardcoded.gateway.receipt_schema import receipt_schema

            return _json(receipt_schema())
        if what == "policy":
            from unhardcoded.policy.schema import policy_schema

            return _json(policy_schema())
        return error_response(
            404, f"no schema {what!r}", "not_found", param="what", choices=["policy", "receipt"]
        )

    async def openapi(self, request: web.Request) -> web.Response:
        from unhardcoded.http.openapi import openapi_document

        return _json(openapi_document())

    async def on_startup(self, app: web.Application) -> None:
        await self.gw.open()

    async def on_cleanup(self, app: web.Application) -> None:
        await self.gw.close()


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(client_max_size=32 * 1024**2)
    app[GATEWAY_KEY] = gw
    r = Routes(gw)
    app.on_startup.append(r.on_startup)
    app.on_cleanup.append(r.on_cleanup)
    app.router.add_post("/v1/chat/completions", make_handler(gw))
    app.router.add_post("/chat/completions", make_handler(gw))
    app.router.add_get("/v1/models", r.list_models)
    app.router.add_get("/healthz", r.healthz)
    app.router.add_get("/metrics", r.metrics)
    app.router.add_post("/x/rank", r.rank)
    app.router.add_post("/x/replay", r.replay)
    app.router.add_get("/x/fields", r.fields)
    app.router.add_get("/x/catalog", r.catalog_now)
    app.router.add_get("/x/catalog/{version}", r.catalog_at)
    app.router.add_get("/x/receipts/{request_id}", r.receipt)
    app.router.add_get("/x/traces", r.search)
    app.router.add_get("/x/traces/{trace_id}", r.trace)
    app.router.add_get("/x/schema/{what}", r.schema)
    app.router.add_get("/openapi.json", r.openapi)
    return app
