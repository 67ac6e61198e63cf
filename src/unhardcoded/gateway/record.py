"""Writing what a call did: the receipt (started, then final), the metrics, and the export hook.

`CallInfo` is what is known when a call begins; `Recorder.final` is given the attempts and the outcome
once, at the end, and writes the receipt and counts the call — the only place either happens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from unhardcoded.gateway.metrics import Metrics
from unhardcoded.gateway.receipts import RECEIPT_SCHEMA, Attempt, Outcome, Priced, TraceIds, iso
from unhardcoded.policy.decision import Decision
from unhardcoded.policy.explain import explain
from unhardcoded.policy.model import Policy
from unhardcoded.policy.request import RequestFeatures
from unhardcoded.store.base import Link, ReceiptRecord, ReceiptStore, StoreError


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What is known of a call before its first attempt."""

    request_id: str
    ids: TraceIds
    policy: Policy
    pinned: str | None  # the deployment or model the call named instead of a policy
    features: RequestFeatures
    decision: Decision
    decision_hash: str
    decision_blob: bytes | None  # None when the store already has this decision
    rejections: Mapping[str, int]  # per rule id, the candidates it rejected
    policy_version: int | None  # the stored policy's version, when the call named a stored policy
    tenant: str | None  # the caller's tenant (from its gateway key)
    catalog_version: str
    created_at: float  # wall clock, for the receipt
    perf0: float  # monotonic, for latencies
    budget: Mapping[str, Any] | None = None  # when `rt:budget` fired: the cap, its spend and what was left
    # What the call's receipts share, built at its first receipt (record.receipt_head): not compared.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def headers(self) -> dict[str, str]:
        """The response headers that name this call's receipt."""
        return {
            "x-unhardcoded-request-id": self.request_id,
            "x-unhardcoded-trace-id": self.ids.trace_id,
            "x-unhardcoded-fingerprint": self.policy.fingerprint,
        }

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.perf0) * 1000, 3)

    def started_outcome(self) -> Outcome:
        return Outcome("started", Priced(None, self.policy.baseline, None, None))


class Exporter(Protocol):
    """Where finished receipts go besides the store (OpenTelemetry); `export` never blocks or raises."""

    def export(
        self, receipt: Mapping[str, Any], rejections: Mapping[str, int], *, candidates: int, passed: int
    ) -> None: ...

    @property
    def failed(self) -> int:
        """What never reached its destination (a down collector costs this counter, never a call)."""
        ...

    async def close(self) -> None: ...


def receipt_head(info: CallInfo) -> dict[str, Any]:
    """What a call's receipts share (the started record's and the final's), built once per call; the
    None values are placeholders that keep the stored key order."""
    head = info.memo.get("head")
    if head is None:
        ids = info.ids
        p = info.policy
        head = info.memo["head"] = {
            "schema": RECEIPT_SCHEMA,
            "request_id": info.request_id,
            "trace_id": ids.trace_id,
            "span_id": ids.span_id,
            "parent_span_id": ids.parent_span_id,
            "workflow": {"id": ids.workflow_id, "node": ids.workflow_node} if ids.workflow_id else None,
            "tenant": info.tenant,
            "created_at": iso(info.created_at),
            "status": None,
            "simulated": None,
            "pinned": info.pinned,
            "policy": {
                "fingerprint": p.fingerprint,
                "sha256": p.sha256,
                "workload": p.workload,
                "name": p.name,
                "version": info.policy_version,
            },
            "catalog_version": info.catalog_version,
            "features": info.features.to_dict(),
            "decision_hash": info.decision_hash,
        }
    return head


def receipt_body(
    info: CallInfo, outcome: Outcome, attempts: Sequence[Attempt], *, simulated: bool
) -> dict[str, Any]:
    """The receipt as stored (the decision by hash; readers get it expanded)."""
    body = receipt_head(info).copy()
    body["status"] = outcome.status
    body["simulated"] = simulated
    body["attempts"] = [a.to_dict() for a in attempts]
    body["outcome"] = outcome.to_dict()
    body["warnings"] = list(outcome.warnings)
    body["explanation"] = (
        explain(
            info.decision,
            winner=outcome.deployment if outcome.status in ("ok", "partial") else None,
            baseline=outcome.priced.baseline_deployment,
            savings_pct=outcome.savings_pct(),
            fallbacks=sum(1 for a in attempts if a.fell_back),
        )
        if outcome.status != "started"
        else None
    )
    if info.budget is not None:  # kept out of the decision so that decisions deduplicate under a cap
        body["budget"] = dict(info.budget)
    return body


class Recorder:
    """Receipts into the store, counts into the metrics. One per gateway."""

    def __init__(
        self,
        store: ReceiptStore,
        metrics: Metrics,
        *,
        simulated: Callable[[str], bool],
        exporter: Exporter | None = None,
        on_cost: Callable[[str, str | None, float | None], None] | None = None,
        retry_s: float = 5.0,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._simulated = simulated
        self._exporter = exporter
        self._on_cost = on_cost  # budgets count each finished call at once
        self.strict = store.durability == "strict"
        self.inflight = 0  # chat calls in progress: a call alone commits inline (no thread hand-off)
        self.retry_s = retry_s

    def export_failures(self) -> int | None:
        return self._exporter.failed if self._exporter is not None else None

    async def close(self) -> None:
        if self._exporter is not None:
            await self._exporter.close()

    async def started(self, info: CallInfo) -> None:
        """strict: the `started` record is committed before any provider is called."""
        await self._write(info, info.started_outcome(), (), blob=info.decision_blob)

    async def final(
        self, info: CallInfo, outcome: Outcome, attempts: Sequence[Attempt], *, started: bool
    ) -> str:
        """The final receipt (strict: committed before this returns), then the call's metrics. Returns
        the `x-unhardcoded-receipt` header: `SEQ:HASH` of the committed receipt in its tenant's chain,
        or `pending` (fast durability: not committed yet).

        `started`: a started record went first, carrying the decision blob, so this one need not.
        """
        blob = None if started else info.decision_blob
        body, link = await self._write_final(info, outcome, attempts, blob)
        self._count(info, outcome, attempts)
        if self._on_cost is not None:
            self._on_cost(info.policy.workload, info.tenant, outcome.cost_usd)
        if self._exporter is not None:
            d = info.decision
            self._exporter.export(body, info.rejections, candidates=d.n_candidates, passed=len(d.ranked))
        return link.header() if link is not None else "pending"

    async def _write_final(
        self, info: CallInfo, outcome: Outcome, attempts: Sequence[Attempt], blob: bytes | None
    ) -> tuple[dict[str, Any], Link | None]:
        """The final receipt, retried while the store is down (up to `retry_s`): the call was made and
        paid for, so its receipt is worth waiting for. Still failing, the error goes up (the client gets
        503) and the call's `started` record stands for it."""
        delay, deadline = 0.05, time.monotonic() + self.retry_s
        while True:
            try:
                return await self._write(info, outcome, attempts, blob=blob, final=True)
            except StoreError:
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _write(
        self,
        info: CallInfo,
        outcome: Outcome,
        attempts: Sequence[Attempt],
        *,
        blob: bytes | None,
        final: bool = False,
    ) -> tuple[dict[str, Any], Link | None]:
        body = receipt_body(
            info, outcome, attempts, simulated=any(self._simulated(a.provider) for a in attempts)
        )
        ids = info.ids
        link = await self._store.write(
            ReceiptRecord(
                request_id=info.request_id,
                trace_id=ids.trace_id,
                span_id=ids.span_id,
                parent_span_id=ids.parent_span_id,
                workflow_id=ids.workflow_id,
                workflow_node=ids.workflow_node,
                tenant=info.tenant,
                workload=info.policy.workload,
                status=outcome.status,
                created_at=info.created_at,
                finished_at=time.time() if final else None,
                deployment=outcome.deployment,
                fingerprint=info.policy.fingerprint,
                policy_sha256=info.policy.sha256,
                catalog_version=info.catalog_version,
                decision_hash=info.decision_hash,
                decision_blob=blob,
                cost_usd=outcome.cost_usd,
                baseline_cost_usd=outcome.baseline_cost_usd,
                savings_usd=outcome.savings_usd,
                latency_ms=outcome.latency_ms,
                body=orjson.dumps(body),
                input_tokens=outcome.usage.input_tokens if outcome.usage else None,
                output_tokens=outcome.usage.output_tokens if outcome.usage else None,
                cached_input_tokens=outcome.usage.cached_input_tokens if outcome.usage else None,
                fallbacks=sum(1 for a in attempts if a.fell_back),
                policy_name=info.policy.name,
                policy_version=info.policy_version,
            ),
            alone=self.inflight <= 1,
        )
        return body, link

    def _count(self, info: CallInfo, o: Outcome, attempts: Sequence[Attempt]) -> None:
        m = self._metrics
        wl = info.policy.workload
        m.inc("unhardcoded_calls_total", (("status", o.status), ("workload", wl)))
        for a in attempts:
            if a.error_class is not None:
                m.inc(
                    "unhardcoded_attempts_total",
                    (("deployment", a.deployment), ("error_class", a.error_class)),
                )
            elif a.latency_ms is not None:
                m.observe("unhardcoded_upstream_seconds", a.latency_ms / 1000)
        fallbacks = sum(1 for a in attempts if a.fell_back)
        if fallbacks:
            m.inc("unhardcoded_fallbacks_total", (), fallbacks)
        if o.ttft_ms is not None:
            m.observe("unhardcoded_ttft_seconds", o.ttft_ms / 1000)
        if o.latency_ms is not None:
            m.observe("unhardcoded_call_seconds", o.latency_ms / 1000.0)
        if o.cost_usd is not None and o.deployment:
            m.inc("unhardcoded_cost_usd_total", (("deployment", o.deployment),), o.cost_usd)
        if o.baseline_cost_usd is not None:
            m.inc("unhardcoded_baseline_cost_usd_total", (("workload", wl),), o.baseline_cost_usd)
