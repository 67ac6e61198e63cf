"""create_app: every route of the gateway on the server-neutral Router; everything injected."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from unhardcoded.errors import RequestError
from unhardcoded.gateway.auth import Caller, KeyRing
from unhardcoded.gateway.service import Gateway
from unhardcoded.http.chat import ChatHandler
from unhardcoded.http.checkpoints import add_checkpoint_routes
from unhardcoded.http.errors import error_response, invalid_json, server_error
from unhardcoded.http.guard import Guard, caller_of
from unhardcoded.http.ui import add_ui_routes
from unhardcoded.http.wire import Handler, Request, Response, Router

_METRICS_HEADERS = {"x-content-type-options": "nosniff"}


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


def _cursor(value: str | None) -> tuple[float, str] | None:
    """`next_cursor` of the previous page: the last row's created_at and request id."""
    if value is None:
        return None
    ts, _, rid = value.partition("~")
    try:
        return float(ts), rid
    except ValueError:
        raise RequestError("cursor: not a next_cursor this endpoint gave", path="cursor") from None


def _query(req: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}


def _json_body(
    handler: Callable[[Any, Caller], Awaitable[Any]], status: int = 200
) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint taking a JSON document: 400 for bad JSON, else the handler's answer as JSON.
    (A UserError it raises becomes its 4xx in the guard, as for every route.)"""

    async def endpoint(req: Request) -> Response:
        try:
            doc = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return invalid_json()
        return Response.json(await handler(doc, caller_of(req)), status)

    return endpoint


class Routes:
    """The read-side and dry-run endpoints; the chat endpoint lives in chat.py."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def list_models(self, req: Request) -> Response:
        return Response(self.gw.models())

    async def healthz(self, req: Request) -> Response:
        return Response.json(self.gw.health())

    async def metrics(self, req: Request) -> Response:
        return Response.text(self.gw.metrics_text(), headers=_METRICS_HEADERS)

    async def rank(self, doc: Any, caller: Caller) -> Any:
        return self.gw.dry_run(doc)

    async def budgets(self, req: Request) -> Response:
        return Response.json(await self.gw.budgets(caller_of(req)))

    async def policies(self, req: Request) -> Response:
        return Response.json(await self.gw.list_policies(caller_of(req)))

    async def policy(self, req: Request) -> Response:
        name = req.params["name"]
        found = await self.gw.policy_versions(name, caller_of(req))
        if found is None:
            return error_response(
                404, f"no policy {name!r}", "not_found", param="name", code="unknown_policy"
            )
        return Response.json(found)

    async def rollup(self, req: Request) -> Response:
        return Response.json(await self.gw.rollup(_query(req), caller_of(req)))

    async def audit(self, req: Request) -> Response:
        return Response.json(await self.gw.audit(_query(req), caller_of(req)))

    async def fields(self, req: Request) -> Response:
        return Response.json(self.gw.fields())

    async def catalog_now(self, req: Request) -> Response:
        return Response.json(self.gw.catalog())

    async def catalog_at(self, req: Request) -> Response:
        version = req.params["version"]
        blob = await self.gw.catalog_at(version)
        if blob is None:
            return error_response(
                404,
                f"no catalog with version {version!r} is kept",
                "not_found",
                param="version",
                code="unknown_catalog_version",
            )
        return Response(blob)

    async def receipt(self, req: Request) -> Response:
        rid = req.params["request_id"]
        r = await self.gw.receipt(rid, caller_of(req))
        if r is None:
            return error_response(
                404, f"no receipt {rid!r}", "not_found", param="request_id", code="unknown_receipt"
            )
        return Response.json(r)

    async def trace(self, req: Request) -> Response:
        tid = req.params["trace_id"]
        t = await self.gw.trace(tid, caller_of(req))
        if t is None:
            return error_response(
                404, f"no trace {tid!r}", "not_found", param="trace_id", code="unknown_trace"
            )
        return Response.json(t)

    async def search(self, req: Request) -> Response:
        q = _query(req)
        try:
            limit = int(q.get("limit", "100"))
        except ValueError:
            return error_response(400, "limit: expected an integer", "invalid_request_error", param="limit")
        limit = max(1, min(limit, 1000))
        rows = await self.gw.search(
            caller_of(req),
            workload=q.get("workload"),
            since=_ts(q.get("since"), "since"),
            until=_ts(q.get("until"), "until"),
            deployment=q.get("deployment"),
            fingerprint=q.get("fingerprint"),
            status=q.get("status"),
            workflow=q.get("workflow"),
            after=_cursor(q.get("cursor")),
            limit=limit,
        )
        last = rows[-1] if len(rows) == limit else None
        cursor = f"{last['created_at']!r}~{last['request_id']}" if last else None
        return Response.json({"receipts": rows, "next_cursor": cursor})

    async def schema(self, req: Request) -> Response:
        what = req.params["what"]
        if what == "receipt":
            from unhardcoded.gateway.receipt_schema import receipt_schema

            return Response.json(receipt_schema())
        if what == "policy":
            from unhardcoded.policy.schema import policy_schema

            return Response.json(policy_schema())
        return error_response(
            404, f"no schema {what!r}", "not_found", param="what", choices=["policy", "receipt"]
        )

    async def openapi(self, req: Request) -> Response:
        from unhardcoded.http.openapi import openapi_document

        return Response.json(openapi_document())


def create_app(gw: Gateway, keys: KeyRing | None = None) -> Handler:
    """Every route behind the key check; the gateway must be opened (`await gw.open()`) first."""
    app = Router(errors=server_error)
    r = Routes(gw)
    chat = ChatHandler(gw)
    app.post("/v1/chat/completions", chat)
    app.post("/chat/completions", chat)
    app.get("/v1/models", r.list_models)
    app.get("/healthz", r.healthz)
    app.get("/metrics", r.metrics)
    app.post("/x/rank", _json_body(r.rank))
    app.post("/x/replay", _json_body(gw.replay))
    app.get("/x/budgets", r.budgets)
    app.get("/x/rollup", r.rollup)
    app.get("/x/audit", r.audit)
    app.post("/x/simulate", _json_body(gw.simulate))
    app.post("/x/policies", _json_body(gw.add_policy, status=201))
    app.get("/x/policies", r.policies)
    app.get("/x/policies/{name}", r.policy)
    app.get("/x/fields", r.fields)
    app.get("/x/catalog", r.catalog_now)
    app.get("/x/catalog/{version}", r.catalog_at)
    app.get("/x/receipts/{request_id}", r.receipt)
    app.get("/x/traces", r.search)
    app.get("/x/traces/{trace_id}", r.trace)
    app.get("/x/schema/{what}", r.schema)
    app.get("/openapi.json", r.openapi)
    add_checkpoint_routes(app, gw)
    add_ui_routes(app, gw)
    return Guard(app, keys or KeyRing([]))
