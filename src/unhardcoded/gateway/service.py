"""The gateway: a few verbs over the policies, the upstreams and the receipt store.

One `Gateway` per process. `chat` and `chat_stream` decide, then hand the call to a `CallRunner` that owns
it to the end; the read verbs answer from the catalog and the store. The HTTP layer calls these verbs and
nothing else.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from unhardcoded.catalog.model import Catalog
from unhardcoded.config import Settings
from unhardcoded.errors import PolicyError, RequestError
from unhardcoded.gateway.auth import OPEN, Caller
from unhardcoded.gateway.breaker import Breakers
from unhardcoded.gateway.budgets import Budgets, budget_rule
from unhardcoded.gateway.call import CallRunner, Reply, Sink
from unhardcoded.gateway.checkpoints import Checkpointer
from unhardcoded.gateway.credentials import CredentialStore
from unhardcoded.gateway.metrics import Metrics
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.receipts import (
    RECEIPT_SCHEMA,
    Ids,
    check_header_value,
    expand,
    iso,
    trace_ids,
    workflow_trace_id,
)
from unhardcoded.gateway.record import CallInfo, Exporter, Recorder
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.sweeper import Sweeper
from unhardcoded.gateway.transport import Transport
from unhardcoded.gateway.upstream import Upstream
from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState
from unhardcoded.providers.base import Adapter
from unhardcoded.store.base import STATUSES, ReceiptStore

__all__ = ["Gateway", "Reply", "Sink"]

NO_KEYS_HINT = """No provider key found, so every deployment is dropped by rt:no-key.
  Add your own keys to the environment, e.g.  export OPENAI_API_KEY=sk-...  (or ANTHROPIC_API_KEY,
  GEMINI_API_KEY, MISTRAL_API_KEY, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ...), or name other
  variables per provider in unhardcoded.yaml (providers.<name>.api_key_env).
  To see the whole flow with no keys and no network:  .venv/bin/unhardcoded demo"""
_DRY_RUN_REQUEST = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}


class Gateway:
    """One per process: chat (streaming or not), dry runs, and reads of the catalog and the receipts."""

    def __init__(
        self,
        settings: Settings,
        policies: Policies,
        store: ReceiptStore,
        transport: Transport,
        adapters: Mapping[str, Adapter],
        *,
        credentials: CredentialStore | None = None,
        metrics: Metrics | None = None,
        env: Mapping[str, str] | None = None,
        exporter: Exporter | None = None,
    ) -> None:
        providers = settings.all_providers()
        self._settings = settings
        self._policies = policies
        self._catalog = policies.catalog
        self._store = store
        self._metrics = metrics or Metrics()
        self._upstream = Upstream(
            providers, adapters, transport, credentials or CredentialStore(providers, transport, env)
        )
        self._breakers = Breakers(settings.breaker.failures, settings.breaker.open_s)
        self._budgets = Budgets(settings.budgets, store)
        self._recorder = Recorder(
            store,
            self._metrics,
            simulated=self._upstream.simulated,
            exporter=exporter,
            on_cost=self._budgets.charge if self._budgets else None,
        )
        self._sweeper = Sweeper.for_settings(store, settings, self._metrics)
        self.checkpoints = Checkpointer.for_settings(store, settings, os.environ if env is None else env)
        self._ids = Ids()
        self._blobs: OrderedDict[int, tuple[Decision, str, bytes, dict[str, int]]] = OrderedDict()
        self._no_key = self._upstream.no_key_rule(self._catalog)
        self._runtime: RuntimeState | None = None
        self._runtime_version = -1
        self._saved_read: dict[str | None, float] = {}  # per tenant: when its stored policies were read
        self._models = _models_body(self._catalog, list(policies.configured), list(settings.aliases))

    # -- chat --------------------------------------------------------------------------------------

    async def chat(self, req: ChatRequest) -> Reply:
        """A complete answer. Raises UserError (bad input) or CallFailed (receipt written)."""
        runner = await self._runner(req)
        self._recorder.inflight += 1
        try:
            return await runner.run()
        finally:
            self._recorder.inflight -= 1

    async def chat_stream(self, req: ChatRequest, sink: Sink) -> None:
        """Stream the answer into `sink`. Raises UserError, or CallFailed when nothing was streamed."""
        runner = await self._runner(req)
        self._recorder.inflight += 1
        try:
            await runner.run_stream(sink)
        finally:
            self._recorder.inflight -= 1

    async def _runner(self, req: ChatRequest) -> CallRunner:
        """Everything before the first attempt: ids, policy, features, decision."""
        created, perf0 = time.time(), time.perf_counter()
        name = Policies.requested_name(req)
        if name is not None and name not in self._policies.configured:
            await self._refresh_saved(name, req.tenant)
        policy, pinned = self._policies.for_call(req)
        ids = trace_ids(req.traceparent, req.workflow, req.workflow_node, self._ids, req.tenant)
        features = self._policies.features(req.body)
        runtime = self.runtime(created)
        decision = self._policies.decide(policy, features, runtime)
        budget, standing_now = None, None
        if self._budgets and decision.plan:
            standing = await self._budgets.tightest(policy.workload, req.tenant)
            rule = budget_rule(decision, standing, policy.on_budget) if standing else None
            if rule is not None and standing is not None:
                # keyed by what the rule drops, not by the spend: calls under one tight cap share a decision
                key = (runtime.key, rule.expected, tuple(rule.excluded))
                decision = self._policies.decide(
                    policy, features, RuntimeState((*runtime.rules, rule), key=key)
                )
                budget = standing.cap.id if not decision.plan else None
                standing_now = standing.to_dict()
        digest, blob, counts = self._decision_blob(decision)
        self._metrics.count_rejections(counts)
        info = CallInfo(
            request_id=self._ids.request_id(),
            ids=ids,
            policy=policy,
            pinned=pinned,
            features=features,
            decision=decision,
            decision_hash=digest,
            decision_blob=None if self._store.known_decision(digest) else blob,
            policy_version=self._policies.version_of(policy.name, req.tenant),
            tenant=req.tenant,
            rejections=counts,
            catalog_version=self._catalog.version,
            created_at=created,
            perf0=perf0,
            budget=standing_now,
        )
        return CallRunner(
            info,
            req,
            catalog=self._catalog,
            upstream=self._upstream,
            breakers=self._breakers,
            recorder=self._recorder,
            call_timeout_s=self._settings.call_timeout_s,
            budget=budget,
        )

    async def _refresh_saved(self, name: str, tenant: str | None) -> None:
        """Stored policies live in the store (shared by workers and replicas): re-read them at most every
        2 s, or every 0.25 s while a call names one this process has not seen yet."""
        age = time.monotonic() - self._saved_read.get(tenant, 0.0)
        if age > 2.0 or (not self._policies.has_saved(name, tenant) and age > 0.25):
            self._saved_read[tenant] = time.monotonic()
            self._policies.load_saved(tenant, await self._store.latest_policies(tenant))

    async def add_policy(self, doc: Any, caller: Caller = OPEN) -> dict[str, Any]:
        """`POST /x/policies {name, policy}`: validate, then add an immutable version."""
        if not isinstance(doc, dict) or set(doc) - {"name", "policy"}:
            raise RequestError('body: expected {"name": "...", "policy": {...}}', choices=["name", "policy"])
        name = doc.get("name")
        if not isinstance(name, str) or not _POLICY_NAME.fullmatch(name):
            raise RequestError("name: expected 1 to 64 letters, digits, '.', '_' or '-'", path="name")
        if name in self._policies.configured:
            raise RequestError(
                f"name: {name!r} is a policy of the config file, which is read-only here", path="name"
            )
        if "policy" not in doc:
            raise RequestError("policy: required, a sigma-pol/v1 document", path="policy")
        try:
            policy = self._policies.validate(doc["policy"], name=name)
        except PolicyError as e:
            path = "policy" + e.path[1:] if e.path and e.path.startswith("$") else e.path
            raise PolicyError(e.message, path=path, choices=e.choices) from None
        canonical = orjson.dumps(policy.canonical).decode()
        version = await self._store.put_policy(
            caller.tenant, name, canonical, policy.fingerprint, policy.sha256
        )
        self._saved_read.pop(caller.tenant, None)  # the next call naming it re-reads
        return {"name": name, "version": version, "fingerprint": policy.fingerprint, "sha256": policy.sha256}

    async def list_policies(self, caller: Caller = OPEN) -> dict[str, Any]:
        """`GET /x/policies`: every config policy (read-only) and the newest version of each stored one."""
        out = [
            {"name": n, "source": "config", "version": None, "fingerprint": p.fingerprint, "sha256": p.sha256}
            for n, p in sorted(self._policies.configured.items())
        ]
        for _, row in sorted((await self._store.latest_policies(caller.tenant)).items()):
            out.append({"source": "stored", **_policy_row(row)})
        return {"policies": out}

    async def policy_versions(self, name: str, caller: Caller = OPEN) -> dict[str, Any] | None:
        """`GET /x/policies/{name}`: a config policy, or every version of a stored one (oldest first)."""
        p = self._policies.configured.get(name)
        if p is not None:
            return {
                "name": name,
                "source": "config",
                "versions": [
                    {"version": None, "policy": p.canonical, "fingerprint": p.fingerprint, "sha256": p.sha256}
                ],
            }
        rows = await self._store.get_policies(caller.tenant, name)
        if not rows:
            return None
        return {"name": name, "source": "stored", "versions": [_policy_row(r) for r in rows]}

    def runtime(self, now: float) -> RuntimeState:
        """Live state as decision rules; rebuilt only when a breaker changes."""
        open_now = self._breakers.open_now(now)
        if self._runtime is None or self._breakers.version != self._runtime_version:
            rules = [self._no_key]
            if open_now:
                rules.append(
                    RuntimeRule("rt:circuit-open", "id", "circuit_closed", "closed", open_now, soft=True)
                )
            self._runtime = RuntimeState(tuple(rules), key=self._breakers.version)
            self._runtime_version = self._breakers.version
        return self._runtime

    def _decision_blob(self, d: Decision) -> tuple[str, bytes, dict[str, int]]:
        """The decision's content hash, its JSON, and its rejection counts — computed once per decision."""
        hit = self._blobs.get(id(d))
        if hit is not None and hit[0] is d:
            return hit[1], hit[2], hit[3]
        blob = orjson.dumps(d.to_dict())
        digest = hashlib.sha256(blob).hexdigest()
        counts, _ = d.rejection_counts()
        self._blobs[id(d)] = (d, digest, blob, counts)
        if len(self._blobs) > 2048:
            self._blobs.popitem(last=False)
        return digest, blob, counts

    # -- dry run and reads -------------------------------------------------------------------------

    def dry_run(self, doc: Any) -> dict[str, Any]:
        """`{"policy": ..., "request": ...}` -> the decision with live runtime rules, no inference."""
        if not isinstance(doc, dict):
            raise RequestError('body: expected {"policy": {...}, "request": {...}}')
        req = doc.get("request") or _DRY_RUN_REQUEST
        if not isinstance(req, dict):
            raise RequestError("request: expected a chat-completions object", path="request")
        pol_doc = doc.get("policy", {})
        p = self._policies
        policy = p.named(pol_doc) if isinstance(pol_doc, str) else p.parse(pol_doc)
        out = p.decide(policy, p.features(req), self.runtime(time.time())).to_dict()
        out["schema"] = RECEIPT_SCHEMA
        out["dry_run"] = True
        out["attempts"] = []
        return out

    async def replay(self, doc: Any, caller: Caller = OPEN) -> dict[str, Any]:
        """`POST /x/replay`: a receipt or trace as then and now, or a policy over a period.

        `{"request_id"}` or `{"trace_id"}`, or `{"fingerprint", "since", "until"?}`; `"live": true` replays
        "now" with today's runtime state instead of the state as then.
        """
        from unhardcoded.review.period import parse_when, replay_period
        from unhardcoded.review.replay import ReplayNotFound, replay

        if not isinstance(doc, dict):
            raise RequestError(
                'body: expected {"request_id": ...}, {"trace_id": ...} or {"fingerprint": ...}'
            )
        live_flag = doc.get("live", False)
        if not isinstance(live_flag, bool):
            raise RequestError("live: expected true or false", path="live")
        now = time.time()
        live = self.runtime(now) if live_flag else None
        if "fingerprint" in doc:
            tenant = _review_tenant(doc.get("tenant"), caller)
            fp, since, until = doc.get("fingerprint"), doc.get("since"), doc.get("until")
            for name, v in (("fingerprint", fp), ("since", since), ("until", until)):
                if v is not None and not isinstance(v, str):
                    raise RequestError(f"{name}: expected a string", path=name)
            return await replay_period(
                self._store,
                fingerprint=fp or "",
                since=parse_when(since, now=now) if since else None,
                until=parse_when(until, now=now, name="until") if until else None,
                catalog_now=self._catalog,
                live=live,
                tenant=tenant,
            )
        rid, tid = doc.get("request_id"), doc.get("trace_id")
        for name, v in (("request_id", rid), ("trace_id", tid)):
            if v is not None and not isinstance(v, str):
                raise RequestError(f"{name}: expected a string", path=name)
        # Another tenant's receipt answers exactly as one that does not exist.
        if rid is not None and not caller.admin and await self.receipt(rid, caller) is None:
            raise ReplayNotFound(f"no receipt {rid!r}", path="request_id")
        if tid is not None and not caller.admin and await self.trace(tid, caller) is None:
            raise ReplayNotFound(f"no trace {tid!r}", path="trace_id")
        return await replay(self._store, request_id=rid, trace_id=tid, catalog_now=self._catalog, live=live)

    async def budgets(self, caller: Caller = OPEN) -> dict[str, Any]:
        """`GET /x/budgets`: each cap's period, spend and what is left (a client sees its tenant's)."""
        report = await self._budgets.report()
        return {"budgets": [b for b in report if caller.admin or b["tenant"] in (None, caller.tenant)]}

    async def rollup(self, query: Mapping[str, str], caller: Caller = OPEN) -> dict[str, Any]:
        """`GET /x/rollup?by=&since=&until=&workload=`: what routing cost and saved per group, exactly."""
        from unhardcoded.review.rollup import rollup, series

        known = {"by", "since", "until", "workload", "series"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise RequestError(
                f"{unknown[0]}: not a roll-up parameter", path=unknown[0], choices=sorted(known)
            )
        out = await rollup(
            self._store,
            query.get("by", "workload"),
            query.get("since"),
            query.get("until"),
            workload=query.get("workload"),
            tenant=None if caller.admin else caller.tenant,
        )
        if query.get("series") in ("1", "true"):
            out["series"] = await series(
                self._store,
                query.get("since"),
                query.get("until"),
                tenant=None if caller.admin else caller.tenant,
            )
        return out

    async def audit(self, query: Mapping[str, str], caller: Caller = OPEN) -> dict[str, Any]:
        """`GET /x/audit?fingerprint=&request_id=&rule=&since=&until=`: which rules were enforced, and
        what each excluded; with `request_id`, the proof for one call."""
        from unhardcoded.review.audit import audit
        from unhardcoded.review.replay import ReplayNotFound

        known = {"fingerprint", "request_id", "rule", "since", "until", "tenant"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise RequestError(
                f"{unknown[0]}: not an audit parameter", path=unknown[0], choices=sorted(known)
            )
        rid = query.get("request_id")
        tenant = _review_tenant(query.get("tenant"), caller)
        if rid is not None and tenant is not None:
            found = await self._store.get(rid)  # another tenant's call answers as one that does not exist
            if found is None or found.get("tenant") != tenant:
                raise ReplayNotFound(f"no receipt {rid!r}", path="request_id")
        return await audit(
            self._store,
            fingerprint=query.get("fingerprint"),
            request_id=rid,
            rule=query.get("rule"),
            since=query.get("since"),
            until=query.get("until"),
            tenant=tenant,
        )

    async def simulate(self, doc: Any, caller: Caller = OPEN) -> dict[str, Any]:
        """`POST /x/simulate {policy, since?, until?, workload?, live?}`: a new policy over past calls."""
        from unhardcoded.review.simulate import simulate

        if not isinstance(doc, dict) or "policy" not in doc:
            raise RequestError(
                'body: expected {"policy": {...} or "NAME", "since": "30d", ...}', path="policy"
            )
        tenant = _review_tenant(doc.get("tenant"), caller)
        for k in ("since", "until", "workload"):
            if doc.get(k) is not None and not isinstance(doc[k], str):
                raise RequestError(f"{k}: expected a string", path=k)
        policy, name = doc["policy"], None
        if isinstance(policy, str):
            if policy not in self._policies.configured:
                await self._refresh_saved(policy, tenant)
            name, policy = policy, self._policies.named(policy, tenant).canonical
        live = self.runtime(time.time()) if doc.get("live") is True else None
        return await simulate(
            self._store,
            policy,
            catalog=self._catalog,
            since=doc.get("since"),
            until=doc.get("until"),
            workload=doc.get("workload"),
            tenant=tenant,
            default_baseline=self._settings.default_baseline,
            name=name,
            live=live,
        )

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "catalog_version": self._catalog.version,
            "deployments": len(self._catalog),
            "receipts_pending": self._store.stats.pending,
            "receipts_failed": self._store.stats.failed,  # fast: dropped; strict: refused to the caller
            "durability": self._store.durability,
            "calls_in_flight": self._recorder.inflight,
        }

    def metrics_text(self) -> str:
        stats = self._store.stats
        self._metrics.gauges["unhardcoded_receipts_pending"] = float(stats.pending)
        self._metrics.counters["unhardcoded_receipts_failed_total"] = {(): float(stats.failed)}
        self._metrics.counters["unhardcoded_receipts_committed_total"] = {(): float(stats.committed)}
        self._metrics.counters["unhardcoded_receipt_commits_total"] = {(): float(stats.batches)}
        for st in self._budgets.cached():
            labels = (("budget", st.cap.id),)
            self._metrics.labelled.setdefault("unhardcoded_budget_spent_usd", {})[labels] = float(st.spent)
            self._metrics.labelled.setdefault("unhardcoded_budget_left_usd", {})[labels] = float(st.left)
        failed = self._recorder.export_failures()
        if failed is not None:
            self._metrics.gauges["unhardcoded_otel_spans_failed"] = float(failed)
        return self._metrics.render()

    def models(self) -> bytes:
        """`GET /v1/models`, serialised once."""
        return self._models

    def policy_names(self) -> list[str]:
        return list(self._policies.configured)

    def fields(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self._catalog.fields]}

    def catalog(self) -> dict[str, Any]:
        return self._catalog.to_dict()

    async def catalog_at(self, version: str) -> bytes | None:
        """The catalog as it was at `version` (every version a receipt names is kept)."""
        if version == self._catalog.version:
            return orjson.dumps(self._catalog.to_dict())
        return await self._store.get_catalog(version)

    async def receipt(self, request_id: str, caller: Caller = OPEN) -> dict[str, Any] | None:
        """One receipt, expanded; None when it does not exist or belongs to another tenant (the same 404)."""
        r = await self._store.get(request_id)
        return expand(r) if r is not None and caller.sees(r.get("tenant")) else None

    async def trace(self, trace_id: str, caller: Caller = OPEN) -> dict[str, Any] | None:
        items = [expand(r) for r in await self._store.trace(trace_id) if caller.sees(r.get("tenant"))]
        if not items:
            return None
        return {"trace_id": trace_id, "receipts": items, "totals": _totals(items)}

    async def search(
        self, caller: Caller = OPEN, *, workflow: str | None = None, status: str | None = None, **filters: Any
    ) -> list[dict[str, Any]]:
        """Receipt summaries, newest first; `workflow` finds a named run (its trace id is derived)."""
        if not caller.admin:
            filters["tenant"] = caller.tenant
        if status is not None and status not in STATUSES:
            raise RequestError(
                f"status: expected one of {', '.join(STATUSES)}", path="status", choices=list(STATUSES)
            )
        if workflow is not None:
            check_header_value("workflow", workflow)
            filters["trace_id"] = workflow_trace_id(workflow, caller.tenant)
        return await self._store.search(status=status, **filters)

    def body_limit(self) -> int:
        """The largest request body the HTTP edge accepts (`max_body_bytes`)."""
        return self._settings.max_body_bytes

    def startup_notes(self) -> tuple[str, str | None]:
        """A line saying what is served, and a hint when no provider has a key."""
        line = f"{len(self._catalog)} deployments, catalog {self._catalog.version[:12]}"
        if len(self._no_key.excluded) < len(self._catalog):
            return line, None
        return line, NO_KEYS_HINT

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        await self._store.open()
        await self._store.put_catalog(self._catalog.version, orjson.dumps(self._catalog.to_dict()))
        self._sweeper.start()  # calls a crash left `started` become `incomplete`
        self.checkpoints.start()  # signed checkpoints of the receipt chain (when a key is configured)

    async def close(self) -> None:
        await self._sweeper.close()
        await self._upstream.close()
        await self._recorder.close()
        await self.checkpoints.close()  # after the last receipts, before the store closes
        await self._store.close()


def _review_tenant(asked: Any, caller: Caller) -> str | None:
    """The tenant whose calls an audit, a what-if or a period replay reads (None: every tenant's).

    A client key reads its own tenant's only (naming another is a 400 that says nothing of it); an admin
    reads every tenant's, or the one it names."""
    if asked is not None and (not isinstance(asked, str) or not asked):
        raise RequestError("tenant: expected a tenant name", path="tenant")
    if caller.admin:
        return asked
    if asked is not None and asked != caller.tenant:
        raise RequestError("tenant: a client key reads its own tenant's calls only", path="tenant")
    return caller.tenant


_POLICY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _policy_row(row: dict[str, Any]) -> dict[str, Any]:
    created = row.get("created_at")
    return {
        "name": row["name"],
        "version": row["version"],
        "fingerprint": row["fingerprint"],
        "sha256": row["sha256"],
        "created_at": iso(created) if isinstance(created, int | float) else created,
        "policy": row["policy"],
    }


def _models_body(catalog: Catalog, policy_names: list[str], aliases: list[str]) -> bytes:
    names = ["auto", *(f"policy:{n}" for n in policy_names), *aliases]
    data: list[dict[str, Any]] = [
        {"id": n, "object": "model", "created": 0, "owned_by": "unhardcoded"} for n in names
    ]
    data += [{"id": d.id, "object": "model", "created": 0, "owned_by": d.provider} for d in catalog]
    return orjson.dumps({"object": "list", "data": data})


def _totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A trace's totals. Money is summed exactly (Decimal of each receipt's value), then given as a float."""

    def money(values: list[Any]) -> float | None:
        nums = [Decimal(repr(v)) for v in values if isinstance(v, int | float)]
        return float(sum(nums, Decimal(0))) if nums else None

    outcomes = [r.get("outcome") or {} for r in items]
    per_deployment = Counter(o["deployment"] for o in outcomes if o.get("deployment"))
    fired: Counter[str] = Counter()
    for r in items:
        fired.update(rule["id"] for rule in r.get("rules", []) if rule.get("rejected"))
    latencies = [o.get("latency_ms") for o in outcomes]
    return {
        "calls": len(items),
        "cost_usd": money([o.get("cost_usd") for o in outcomes]),
        "baseline_cost_usd": money([(o.get("baseline") or {}).get("cost_usd") for o in outcomes]),
        "savings_usd": money([o.get("savings_usd") for o in outcomes]),
        "latency_ms": money(latencies),
        "fallbacks": sum(1 for r in items for a in r.get("attempts", []) if a.get("fell_back")),
        "calls_per_deployment": dict(per_deployment),
        "statuses": dict(Counter(r.get("status") for r in items)),
        "rules_fired": dict(fired),  # rule id -> calls in which it rejected at least one candidate
    }
