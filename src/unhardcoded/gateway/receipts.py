"""Building receipts: ids, cost against the baseline, attempts, and the expanded view readers get."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unhardcoded.catalog.model import Catalog, Deployment
from unhardcoded.providers.base import Usage

RECEIPT_SCHEMA = "unhardcoded-receipt/v1"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


class Ids:
    """Random ids for requests, traces and spans: one seeded generator per process, no syscall per id.

    They name records, they do not guard them, so a fast non-cryptographic generator is enough.
    """

    __slots__ = ("_bits",)

    def __init__(self, seed: int | None = None) -> None:
        rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(16), "big"))
        self._bits = rng.getrandbits

    def hex(self, nbytes: int) -> str:
        return f"{self._bits(nbytes * 8):0{nbytes * 2}x}"

    def request_id(self) -> str:
        return "req_" + self.hex(12)


@dataclass(frozen=True, slots=True)
class TraceIds:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    workflow_id: str | None
    workflow_node: str | None


def trace_ids(headers: Mapping[str, str], ids: Ids) -> TraceIds:
    """W3C `traceparent` (continue the trace) or a new one; `x-unhardcoded-workflow[-node]` name it."""
    trace, parent = None, None
    tp = headers.get("traceparent")
    if tp:
        m = _TRACEPARENT.match(tp.strip().lower())
        if m and m.group(1) != "0" * 32:
            trace, parent = m.group(1), m.group(2)
    wf = headers.get("x-unhardcoded-workflow")
    if trace is None and wf and re.fullmatch(r"[0-9a-f]{32}", wf):
        trace = wf
    return TraceIds(
        trace_id=trace or ids.hex(16),
        span_id=ids.hex(8),
        parent_span_id=parent,
        workflow_id=wf,
        workflow_node=headers.get("x-unhardcoded-workflow-node"),
    )


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cost_usd(dep: Deployment | None, usage: Usage | None) -> float | None:
    """usage x the deployment's prices; cached input at the cached price where one is listed."""
    if dep is None or usage is None:
        return None
    pin, pout = dep.get("price_input_per_mtok"), dep.get("price_output_per_mtok")
    if pin is None or pout is None:
        return None
    pc = dep.get("price_cached_input_per_mtok")
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    uncached = usage.input_tokens - cached
    total = float(uncached * pin + cached * (pc if pc is not None else pin) + usage.output_tokens * pout)
    return round(total / 1e6, 10)


@dataclass(slots=True)
class Attempt:
    deployment: str
    provider: str
    started_at: float
    latency_ms: float | None = None
    ttft_ms: float | None = None
    http_status: int | None = None
    error_class: str | None = None
    error: str | None = None
    fell_back: bool = False
    waited_s: float | None = None  # Retry-After honoured before this attempt
    warnings: list[str] = field(default_factory=list)  # parameters the adapter dropped for this provider

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "provider": self.provider,
            "started_at": iso(self.started_at),
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "http_status": self.http_status,
            "error_class": self.error_class,
            "error": self.error,
            "fell_back": self.fell_back,
            "waited_s": self.waited_s,
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class Outcome:
    status: str = "ok"  # ok | error | partial | no_route
    deployment: str | None = None
    model: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    baseline_deployment: str | None = None
    baseline_cost_usd: float | None = None
    savings_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    error: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def price(self, catalog: Catalog, baseline: str | None) -> None:
        """Cost, baseline cost (same usage x the baseline's prices) and savings; null, never invented."""
        dep = catalog.get(self.deployment) if self.deployment else None
        self.cost_usd = cost_usd(dep, self.usage)
        base = catalog.resolve(baseline) if baseline else None
        self.baseline_deployment = base.id if base else baseline
        self.baseline_cost_usd = cost_usd(base, self.usage)
        if self.cost_usd is not None and self.baseline_cost_usd is not None:
            self.savings_usd = round(self.baseline_cost_usd - self.cost_usd, 10)

    def savings_pct(self) -> float | None:
        if self.savings_usd is None or not self.baseline_cost_usd:
            return None
        return 100.0 * self.savings_usd / self.baseline_cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "deployment": self.deployment,
            "model": self.model,
            "usage": self.usage.to_dict() if self.usage else None,
            "cost_usd": self.cost_usd,
            "baseline": {"deployment": self.baseline_deployment, "cost_usd": self.baseline_cost_usd},
            "savings_usd": self.savings_usd,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "finish_reason": self.finish_reason,
            "error": self.error,
        }


def expand(receipt: dict[str, Any]) -> dict[str, Any]:
    """The reader's view: the stored decision merged in, candidates marked attempted / won."""
    decision = receipt.pop("decision", None)
    if not decision:
        return receipt
    attempted = {a["deployment"] for a in receipt.get("attempts", [])}
    won = (
        (receipt.get("outcome") or {}).get("deployment")
        if receipt.get("status") in ("ok", "partial")
        else None
    )
    candidates = []
    for c in decision.get("candidates", []):
        c = dict(c)
        if c["deployment"] == won:
            c["status"] = "won"
        elif c["deployment"] in attempted:
            c["status"] = "attempted"
        candidates.append(c)
    out = dict(receipt)
    out["policy"] = {**decision.get("policy", {}), **(receipt.get("policy") or {})}
    out["rules"] = decision.get("rules", [])
    out["waived"] = decision.get("waived", [])
    out["plan"] = decision.get("plan", [])
    out["counts"] = decision.get("counts", {})
    out["candidates"] = candidates
    out["decision_explanation"] = decision.get("explanation")
    return out
