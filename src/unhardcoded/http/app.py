"""create_app: the aiohttp application with every route; everything injected, nothing global."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from aiohttp import web

from unhardcoded.errors import RequestError, UserError
from unhardcoded.gateway.receipts import expand
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
        self.models = _models_body(gw)

    async def list_models(self, request: web.Request) -> web.Response:
        return web.Response(body=self.models, content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        gw = self.gw
        return _json(
            {
                "status": "ok",
                "catalog_version": gw.catalog.version,
                "deployments": len(gw.catalog),
                "receipts_pending": gw.store.stats.pending,
                "durability": gw.store.durability,
            }
        )

    async def metrics(self, request: web.Request) -> web.Response:
        gw = self.gw
        gw.metrics.gauges["unhardcoded_receipts_pending"] = float(gw.store.stats.pending)
        return web.Response(
            text=gw.metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"x-content-type-options": "nosniff"},
        )

    async def rank(self, request: web.Request) -> web.Response:
        gw = self.gw
        try:
            doc = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "body: not valid JSON", "invalid_request_error", code="invalid_json")
        try:
            if not isinstance(doc, dict):
                raise RequestError('body: expected {"policy": {...}, "request": {...}}')
            req = doc.get("request") or {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}
            if not isinstance(req, dict):
                raise RequestError("request: expected a chat-completions object", path="request")
            pol_doc = doc.get("policy", {})
            policy = gw.router.named(pol_doc) if isinstance(pol_doc, str) else gw.router.parse(pol_doc)
            import time

            decision = gw.router.decide(policy, gw.router.features(req), gw.runtime(time.time()))
        except UserError as e:
            return user_error(e)
        out = decision.to_dict()
        out["schema"] = "unhardcoded-receipt/v1"
        out["dry_run"] = True
        out["attempts"] = []
        return _json(out)

    async def fields(self, request: web.Request) -> web.Response:
        gw = self.gw
        return _json({"fields": [f.to_dict() for f in gw.catalog.fields]})

    async def catalog_now(self, request: web.Request) -> web.Response:
        gw = self.gw
        return _json(gw.catalog.to_dict())

    async def catalog_at(self, request: web.Request) -> web.Response:
        gw = self.gw
        version = request.match_info["version"]
        if version == gw.catalog.version:
            return _json(gw.catalog.to_dict())
        blob = await gw.store.get_catalog(version)
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
        gw = self.gw
        rid = request.match_info["request_id"]
        r = await gw.store.get(rid)
        if r is None:
            return error_response(
                404, f"no receipt {rid!r}", "not_found", param="request_id", code="unknown_receipt"
            )
        return _json(expand(r))

    async def trace(self, request: web.Request) -> web.Response:
        gw = self.gw
        tid = request.match_info["trace_id"]
        items = [expand(r) for r in await gw.store.trace(tid)]
        if not items:
            return error_response(
                404, f"no trace {tid!r}", "not_found", param="trace_id", code="unknown_trace"
            )
        return _json({"trace_id": tid, "receipts": items, "totals": _totals(items)})

    async def search(self, request: web.Request) -> web.Response:
        gw = self.gw
        q = request.query
        try:
            limit = int(q.get("limit", "100"))
            rows = await gw.store.search(
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
        gw = self.gw
        await gw.store.open()
        await gw.store.put_catalog(gw.catalog.version, orjson.dumps(gw.catalog.to_dict()))

    async def on_cleanup(self, app: web.Application) -> None:
        gw = self.gw
        await gw.close()


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
    app.router.add_get("/x/fields", r.fields)
    app.router.add_get("/x/catalog", r.catalog_now)
    app.router.add_get("/x/catalog/{version}", r.catalog_at)
    app.router.add_get("/x/receipts/{request_id}", r.receipt)
    app.router.add_get("/x/traces", r.search)
    app.router.add_get("/x/traces/{trace_id}", r.trace)
    app.router.add_get("/x/schema/{what}", r.schema)
    app.router.add_get("/openapi.json", r.openapi)
    return app


def _models_body(gw: Gateway) -> bytes:
    data: list[dict[str, Any]] = [{"id": "auto", "object": "model", "created": 0, "owned_by": "unhardcoded"}]
    data += [
        {"id": f"policy:{n}", "object": "model", "created": 0, "owned_by": "unhardcoded"}
        for n in gw.router.policies
    ]
    data += [{"id": d.id, "object": "model", "created": 0, "owned_by": d.provider} for d in gw.catalog]
    return orjson.dumps({"object": "list", "data": data})


def _totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> float | None:
        vals = [(r.get("outcome") or {}).get(key) for r in items]
        nums = [v for v in vals if isinstance(v, int | float)]
        return round(sum(nums), 10) if nums else None

    base = [((r.get("outcome") or {}).get("baseline") or {}).get("cost_usd") for r in items]
    base_nums = [v for v in base if isinstance(v, int | float)]
    return {
        "calls": len(items),
        "cost_usd": total("cost_usd"),
        "baseline_cost_usd": round(sum(base_nums), 10) if base_nums else None,
        "savings_usd": total("savings_usd"),
        "latency_ms": total("latency_ms"),
    }
