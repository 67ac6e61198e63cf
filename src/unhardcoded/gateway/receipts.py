"""Building receipts: ids, cost against the baseline, attempts, and the expanded view readers get."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unhardcoded.catalog.model import Catalog, Deployment
from unhardcoded.errors import RequestError
from unhardcoded.gateway.request import WORKFLOW_HEADER, WORKFLOW_NODE_HEADER
from unhardcoded.providers.base import Usage

RECEIPT_SCHEMA = "unhardcoded-receipt/v1"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


class Ids:
    """Ids for requests, traces and spans: one seeded generator per process, no syscall per id.

    They name records, they do not guard them, so a fast non-cryptographic generator is enough. Request
    and trace ids lead with the milliseconds of the wall clock (48 bits, as ULID and UUIDv7 do), then
    random bits (48 and 80): the store indexes both, and an index whose keys arrive in order takes each
    new key on its last page. Random keys land on a random page of an index that outgrows every cache:
    with 200,000 receipts stored, a strict call's two records cost the writer 102 µs with random ids
    against 65 with these (batches of 32, checkpoints included; 217 against 189 one at a time:
    `bench/store_commit.py --stored 200000 [--ids random]`), and the gap grows with the store. A trace id
    the caller sends (`traceparent`) or derives from a workflow run is kept as it is.
    """

    __slots__ = ("_bits", "_clock")

    def __init__(self, seed: int | None = None, clock: Callable[[], float] = time.time) -> None:
        rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(16), "big"))
        self._bits = rng.getrandbits
        self._clock = clock

    def hex(self, nbytes: int) -> str:
        return f"{self._bits(nbytes * 8):0{nbytes * 2}x}"

    def _ms(self) -> str:
        return f"{int(self._clock() * 1000) & 0xFFFF_FFFF_FFFF:012x}"

    def request_id(self) -> str:
        """`req_` and 24 hex digits: 12 of the time in ms, 12 random."""
        return "req_" + self._ms() + self.hex(6)

    def trace_id(self) -> str:
        """A W3C trace id (32 hex digits): 12 of the time in ms, 20 random (the rightmost 7 bytes that
        Trace Context level 2 asks to be random are)."""
        return self._ms() + self.hex(10)


@dataclass(frozen=True, slots=True)
class TraceIds:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    workflow_id: str | None
    workflow_node: str | None


def trace_ids(
    traceparent: str | None, workflow: str | None, node: str | None, ids: Ids, tenant: str | None = None
) -> TraceIds:
    """W3C `traceparent` continues the caller's trace; else a named workflow is one trace; else a new one.

    A workflow's trace id is derived from its run id (and, once tenants exist, the tenant), so calls that
    share `x-unhardcoded-workflow` stitch into one trace without the caller tracking trace ids.
    """
    trace, parent = None, None
    if traceparent:
        m = _TRACEPARENT.match(traceparent.strip().lower())
        if m and m.group(1) != "0" * 32:
            trace, parent = m.group(1), m.group(2)
    if workflow is not None:
        check_header_value(WORKFLOW_HEADER, workflow)
        if trace is None:
            trace = workflow_trace_id(workflow, tenant)
    if node is not None:
        check_header_value(WORKFLOW_NODE_HEADER, node)
    return TraceIds(
        trace_id=trace or ids.trace_id(),
        span_id=ids.hex(8),
        parent_span_id=parent,
        workflow_id=workflow,
        workflow_node=node,
    )


def workflow_trace_id(run_id: str, tenant: str | None = None) -> str:
    """The trace id of a named workflow run: stable, and distinct per tenant."""
    return hashlib.sha256(f"{tenant or ''}\x00{run_id}".encode()).hexdigest()[:32]


def check_header_value(name: str, value: str) -> None:
    """Workflow names end up in receipts and logs: printable, at most 128 characters."""
    if not value or len(value) > 128 or not value.isprintable():
        raise RequestError(
            f"{name}: expected 1 to 128 printable characters, got {len(value)} characters"
            + ("" if value.isprintable() else " with control characters"),
            path=name,
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


@dataclass(frozen=True, slots=True)
class Attempt:
    """One upstream attempt, written once when it ends."""

    deployment: str
    provider: str
    started_at: float
    latency_ms: float | None = None
    ttft_ms: float | None = None
    http_status: int | None = None
    error_class: str | None = None
    error: str | None = None  # already scrubbed of every configured key
    fell_back: bool = False
    waited_s: float | None = None  # Retry-After honoured before this attempt
    warnings: tuple[str, ...] = ()  # parameters the adapter dropped for this provider

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
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class Priced:
    """Cost, baseline cost (same usage x the baseline's prices) and savings: null, never invented."""

    cost_usd: float | None
    baseline_deployment: str | None
    baseline_cost_usd: float | None
    savings_usd: float | None

    @classmethod
    def of(
        cls, catalog: Catalog, deployment: str | None, usage: Usage | None, baseline: str | None
    ) -> Priced:
        dep = catalog.get(deployment) if deployment else None
        cost = cost_usd(dep, usage)
        base = catalog.resolve(baseline) if baseline else None
        base_cost = cost_usd(base, usage)
        savings = round(base_cost - cost, 10) if cost is not None and base_cost is not None else None
        return cls(cost, base.id if base else baseline, base_cost, savings)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended, built once at its end (`started` while it runs)."""

    status: str  # started | ok | error | partial | no_route
    priced: Priced
    deployment: str | None = None
    model: str | None = None
    usage: Usage | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    error: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def cost_usd(self) -> float | None:
        return self.priced.cost_usd

    @property
    def baseline_cost_usd(self) -> float | None:
        return self.priced.baseline_cost_usd

    @property
    def savings_usd(self) -> float | None:
        return self.priced.savings_usd

    def savings_pct(self) -> float | None:
        p = self.priced
        if p.savings_usd is None or not p.baseline_cost_usd:
            return None
        return 100.0 * p.savings_usd / p.baseline_cost_usd

    def to_dict(self) -> dict[str, Any]:
        p = self.priced
        return {
            "status": self.status,
            "deployment": self.deployment,
            "model": self.model,
            "usage": self.usage.to_dict() if self.usage else None,
            "cost_usd": p.cost_usd,
            "baseline": {"deployment": p.baseline_deployment, "cost_usd": p.baseline_cost_usd},
            "savings_usd": p.savings_usd,
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
