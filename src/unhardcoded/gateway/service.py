"""The gateway: decide -> send -> fall back -> record. The imperative shell around the pure decision.

One `Gateway` per process. It owns the runtime state (breakers, which providers have keys), turns a
decision into attempts through the adapters and the transport, and writes one receipt per call.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from unhardcoded.catalog.model import Deployment
from unhardcoded.config import ProviderConfig, Settings
from unhardcoded.errors import ProviderError
from unhardcoded.gateway.breaker import Breakers
from unhardcoded.gateway.credentials import CredentialStore
from unhardcoded.gateway.metrics import Metrics
from unhardcoded.gateway.receipts import (
    RECEIPT_SCHEMA,
    Attempt,
    Ids,
    Outcome,
    TraceIds,
    iso,
    trace_ids,
)
from unhardcoded.gateway.routing import Router
from unhardcoded.gateway.transport import Timeouts, Transport
from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState
from unhardcoded.policy.explain import explain
from unhardcoded.policy.model import Policy
from unhardcoded.policy.request import RequestFeatures
from unhardcoded.providers.base import Adapter, Target
from unhardcoded.store.base import ReceiptRecord, ReceiptStore


class Sink(Protocol):
    """Where a stream goes: the HTTP layer's streaming response."""

    async def start(self, headers: dict[str, str]) -> None: ...

    async def write(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(slots=True)
class Call:
    """One call in flight: what the receipt will say."""

    request_id: str
    ids: TraceIds
    policy: Policy
    pinned: str | None
    features: RequestFeatures
    decision: Decision
    decision_hash: str
    decision_blob: bytes | None
    created_at: float
    perf0: float
    headers: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    last_error: ProviderError | None = None


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None, **extra: Any
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code, **extra}})


class Gateway:
    def __init__(
        self,
        settings: Settings,
        router: Router,
        store: ReceiptStore,
        transport: Transport,
        adapters: Mapping[str, Adapter],
        *,
        credentials: CredentialStore | None = None,
        metrics: Metrics | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.catalog = router.catalog
        self.store = store
        self.transport = transport
        self.adapters = adapters
        self.providers: dict[str, ProviderConfig] = settings.all_providers()
        self.credentials = credentials or CredentialStore(self.providers, transport, env)
        self.metrics = metrics or Metrics()
        self.breakers = Breakers(settings.breaker.failures, settings.breaker.open_s)
        self._targets: dict[str, Target] = {}
        self._blobs: OrderedDict[int, tuple[Decision, str, bytes, dict[str, int]]] = OrderedDict()
        self.ids = Ids()
        self.inflight = 0  # chat calls in progress (the HTTP layer counts them)
        self._no_key = self._no_key_rule()
        self._runtime: RuntimeState | None = None
        self._runtime_version = -1

    def _no_key_rule(self) -> RuntimeRule:
        missing = self.credentials.missing()
        excluded: dict[str, str] = {}
        for d in self.catalog:
            p = self.providers.get(d.provider)
            if p is None:
                excluded[d.id] = f"provider {d.provider!r} is not configured"
            elif p.kind not in self.adapters:
                excluded[d.id] = f"no adapter for kind {p.kind!r}"
            elif d.provider in missing:
                excluded[d.id] = missing[d.provider]
        return RuntimeRule("rt:no-key", "provider", "has_key", "a key for the provider", excluded)

    def runtime(self, now: float) -> RuntimeState:
        """Live state as decision rules; rebuilt only when a breaker changes."""
        open_now = self.breakers.open_now(now)
        if self._runtime is None or self.breakers.version != self._runtime_version:
            rules = [self._no_key]
            if open_now:
                rules.append(
                    RuntimeRule("rt:circuit-open", "id", "circuit_closed", "closed", open_now, soft=True)
                )
            self._runtime = RuntimeState(tuple(rules), key=self.breakers.version)
            self._runtime_version = self.breakers.version
        return self._runtime

    def target(self, dep: Deployment) -> Target:
        t = self._targets.get(dep.id)
        if t is None:
            p = self.providers[dep.provider]
            region = dep.endpoint_region or dep.get("region")
            base = p.resolved_base_url() or ""
            t = Target(
                deployment_id=dep.id,
                provider=dep.provider,
                kind=p.kind,
                upstream_model=dep.upstream_model,
                base_url=base,
                region=region,
                options=p.options(),
            )
            self._targets[dep.id] = t
        return t

    def timeouts(self, provider: str, remaining: float) -> Timeouts:
        p = self.providers[provider]
        return Timeouts(
            connect_s=p.connect_timeout_s,  # fixed, so the client reuses it; total_s bounds it
            first_byte_s=min(p.first_byte_timeout_s, remaining),
            idle_s=min(p.idle_timeout_s, remaining),
            total_s=max(0.001, min(p.timeout_s, remaining)),
        )

    def decision_blob(self, d: Decision) -> tuple[str, bytes, dict[str, int]]:
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

    def begin(self, body: dict[str, Any], headers: Mapping[str, str]) -> Call:
        """Everything before the first attempt: ids, policy, features, decision. Raises UserError."""
        created = time.time()
        perf0 = time.perf_counter()
        policy, pinned = self.router.policy_for(body, headers)
        features = self.router.features(body)
        decision = self.router.decide(policy, features, self.runtime(created))
        digest, blob, counts = self.decision_blob(decision)
        self.metrics.count_rejections(counts)
        known = self.store.known_decision(digest)
        call = Call(
            request_id=self.ids.request_id(),
            ids=trace_ids(headers, self.ids),
            policy=policy,
            pinned=pinned,
            features=features,
            decision=decision,
            decision_hash=digest,
            decision_blob=None if known else blob,
            created_at=created,
            perf0=perf0,
            headers={},
        )
        call.headers = {
            "x-unhardcoded-request-id": call.request_id,
            "x-unhardcoded-trace-id": call.ids.trace_id,
            "x-unhardcoded-fingerprint": policy.fingerprint,
        }
        call.outcome.baseline_deployment = policy.baseline
        return call

    def receipt(self, call: Call, *, final: bool = True) -> dict[str, Any]:
        o = call.outcome
        fallbacks = sum(1 for a in call.attempts if a.fell_back)
        return {
            "schema": RECEIPT_SCHEMA,
            "request_id": call.request_id,
            "trace_id": call.ids.trace_id,
            "span_id": call.ids.span_id,
            "parent_span_id": call.ids.parent_span_id,
            "workflow": {"id": call.ids.workflow_id, "node": call.ids.workflow_node}
            if call.ids.workflow_id
            else None,
            "tenant": None,
            "created_at": iso(call.created_at),
            "status": o.status if final else "started",
            "simulated": any(self.providers[a.provider].simulated for a in call.attempts),
            "pinned": call.pinned,
            "policy": {
                "fingerprint": call.policy.fingerprint,
                "sha256": call.policy.sha256,
                "workload": call.policy.workload,
                "name": call.policy.name,
            },
            "catalog_version": self.catalog.version,
            "features": call.features.to_dict(),
            "decision_hash": call.decision_hash,
            "attempts": [a.to_dict() for a in call.attempts],
            "outcome": o.to_dict(),
            "warnings": o.warnings,
            "explanation": explain(
                call.decision,
                winner=o.deployment if o.status in ("ok", "partial") else None,
                baseline=o.baseline_deployment,
                savings_pct=o.savings_pct(),
                fallbacks=fallbacks,
            )
            if final
            else None,
        }

    async def record(self, call: Call, *, final: bool) -> None:
        o = call.outcome
        now = time.time()
        rec = ReceiptRecord(
            request_id=call.request_id,
            trace_id=call.ids.trace_id,
            span_id=call.ids.span_id,
            parent_span_id=call.ids.parent_span_id,
            workflow_id=call.ids.workflow_id,
            workflow_node=call.ids.workflow_node,
            tenant=None,
            workload=call.policy.workload,
            status=o.status if final else "started",
            created_at=call.created_at,
            finished_at=now if final else None,
            deployment=o.deployment,
            fingerprint=call.policy.fingerprint,
            policy_sha256=call.policy.sha256,
            catalog_version=self.catalog.version,
            decision_hash=call.decision_hash,
            decision_blob=call.decision_blob,
            cost_usd=o.cost_usd,
            baseline_cost_usd=o.baseline_cost_usd,
            savings_usd=o.savings_usd,
            latency_ms=o.latency_ms,
            body=orjson.dumps(self.receipt(call, final=final)),
        )
        call.decision_blob = None  # the writer has it now
        await self.store.write(rec, alone=self.inflight <= 1)

    async def finish(self, call: Call) -> None:
        """Write the final receipt (strict: committed before this returns) and count the call."""
        await self.record(call, final=True)
        self.finish_metrics(call)

    def finish_metrics(self, call: Call) -> None:
        o = call.outcome
        wl = call.policy.workload
        self.metrics.inc("unhardcoded_calls_total", (("status", o.status), ("workload", wl)))
        if o.latency_ms is not None:
            self.metrics.observe("unhardcoded_call_seconds", o.latency_ms / 1000.0)
        if o.cost_usd is not None and o.deployment:
            self.metrics.inc("unhardcoded_cost_usd_total", (("deployment", o.deployment),), o.cost_usd)
        if o.baseline_cost_usd is not None:
            self.metrics.inc("unhardcoded_baseline_cost_usd_total", (("workload", wl),), o.baseline_cost_usd)
        self.metrics.gauges["unhardcoded_receipts_pending"] = float(self.store.stats.pending)

    def attempt_failed(self, att: Attempt, err: ProviderError, latency_ms: float) -> None:
        att.error_class = err.error_class
        att.error = err.message[:500]
        att.http_status = err.status
        att.latency_ms = round(latency_ms, 3)
        self.metrics.inc(
            "unhardcoded_attempts_total", (("deployment", att.deployment), ("error_class", err.error_class))
        )
        if err.error_class not in ("client_error",):
            self.breakers.failure(att.deployment, time.time(), reason=err.error_class)
        if err.retry_after:
            self.breakers.cool_down(
                att.deployment, time.time(), err.retry_after, reason=f"Retry-After {err.retry_after:g}s"
            )

    def redact(self, text: str) -> str:
        """Upstream error messages can echo a key back: never pass one on."""
        for secret in self.credentials.secrets():
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    async def close(self) -> None:
        await self.transport.close()
        await self.store.close()
