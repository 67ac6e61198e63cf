"""Spend caps (SPEC §2 `on_budget`, §7): counted from committed receipts, enforced as the rule `rt:budget`.

Spend is read from the receipt store — so it survives restarts and, on PostgreSQL, is shared by every
gateway process — and cached for `ttl_s`; each call this process finishes is added to the cached figure at
once. Once less than `fresh_below` of a cap is left, every call reads the spend afresh: from then on a
call is let through only if the spend committed by every process leaves room for it, so the cap is
overshot by at most the calls already in flight (in every process). The one exception: other processes
spending more than `fresh_below` of the cap within `ttl_s`, which a process sees up to `ttl_s` late.

When a cap would be exceeded — the call's best candidate costs more than what is left — the policy's
`on_budget` decides: `reject` drops every deployment (the call is refused with a 429 naming the budget),
`downgrade` drops only those whose estimated cost does not fit what is left.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from unhardcoded.config import BudgetConfig
from unhardcoded.errors import ConfigError
from unhardcoded.policy.decision import Decision, RuntimeRule
from unhardcoded.store.base import ReceiptStore


def period_start(period: str, now: float) -> float:
    """The start (UTC) of the day or month that `now` falls in."""
    d = dt.datetime.fromtimestamp(now, dt.UTC)
    start = d.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return start.timestamp()


@dataclass(frozen=True, slots=True)
class Standing:
    """One cap now: what it allows, what was spent since its period began, and what is left."""

    cap: BudgetConfig
    since: float
    spent: Decimal

    @property
    def left(self) -> Decimal:
        return Decimal(repr(self.cap.usd)) - self.spent

    def to_dict(self) -> dict[str, Any]:
        c = self.cap
        return {
            "id": c.id,
            "workload": c.workload,
            "tenant": c.tenant,
            "period": c.period,
            "cap_usd": c.usd,
            "since": dt.datetime.fromtimestamp(self.since, dt.UTC).isoformat().replace("+00:00", "Z"),
            "spent_usd": float(self.spent),
            "left_usd": float(max(self.left, Decimal(0))),
        }


class Budgets:
    def __init__(
        self,
        caps: Sequence[BudgetConfig],
        store: ReceiptStore,
        *,
        ttl_s: float = 1.0,
        fresh_below: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        ids = [c.id for c in caps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ConfigError(f"budgets: ids must be unique, repeated: {', '.join(dupes)}", path="budgets")
        self._caps = tuple(caps)
        self._store = store
        self._ttl = ttl_s
        self._fresh_below = Decimal(repr(fresh_below))
        self._clock = clock
        self._cache: dict[str, tuple[float, float, Decimal]] = {}  # id -> (period start, read at, spent)

    def __bool__(self) -> bool:
        return bool(self._caps)

    def applicable(self, workload: str, tenant: str | None) -> list[BudgetConfig]:
        return [
            c
            for c in self._caps
            if (c.workload is None or c.workload == workload) and (c.tenant is None or c.tenant == tenant)
        ]

    async def standing(self, cap: BudgetConfig) -> Standing:
        now = self._clock()
        since = period_start(cap.period, now)
        hit = self._cache.get(cap.id)
        if hit is None or hit[0] != since or now - hit[1] > self._ttl or self._tight(cap, hit[2]):
            spent = await self._store.spend_since(since, workload=cap.workload, tenant=cap.tenant)
            hit = (since, now, spent)
            self._cache[cap.id] = hit
        return Standing(cap, since, hit[2])

    def _tight(self, cap: BudgetConfig, spent: Decimal) -> bool:
        """Close enough to the cap that another process's unseen spend could decide: read it afresh."""
        usd = Decimal(repr(cap.usd))
        return usd - spent < usd * self._fresh_below

    async def tightest(self, workload: str, tenant: str | None) -> Standing | None:
        """The applicable cap with the least left, or None when no cap applies."""
        caps = self.applicable(workload, tenant)
        if not caps:
            return None
        return min([await self.standing(c) for c in caps], key=lambda s: s.left)

    def charge(self, workload: str, tenant: str | None, cost_usd: float | None) -> None:
        """Add a finished call's cost to the cached spend of every cap it counts against."""
        if not cost_usd:
            return
        for c in self.applicable(workload, tenant):
            hit = self._cache.get(c.id)
            if hit is not None:
                self._cache[c.id] = (hit[0], hit[1], hit[2] + Decimal(repr(cost_usd)))

    def cached(self) -> list[Standing]:
        """The caps as last read (no store access): for /metrics."""
        out = []
        for c in self._caps:
            hit = self._cache.get(c.id)
            if hit is not None:
                out.append(Standing(c, hit[0], hit[2]))
        return out

    async def report(self) -> list[dict[str, Any]]:
        return [(await self.standing(c)).to_dict() for c in self._caps]


def budget_rule(decision: Decision, standing: Standing, on_budget: str) -> RuntimeRule | None:
    """`rt:budget` for this decision, or None when its best candidate fits what is left.

    `reject` drops every deployment; `downgrade` drops those whose estimated cost exceeds what is left.
    The rule names only the cap: the spend and what was left go on the receipt (`Standing.to_dict`), not
    into the decision, so the calls made under one tight cap share one decision (and one stored blob).
    """
    left = standing.left
    est = decision.est_costs()
    catalog = decision.catalog
    best = catalog.index(decision.plan[0]) if decision.plan else None
    if best is not None and est[best] is not None and Decimal(repr(est[best])) <= left:
        return None
    c = standing.cap
    expected = f"budget {c.id}: ${c.usd:g} per {c.period} (spend and what was left: the receipt's budget)"
    # Deployments the policy, request and limits already drop stay out of it (they cannot come back), so
    # the rule, and with it the decision, changes only when what is left crosses a contender's estimate.
    settled = {
        i
        for r, fails in zip(decision.rules, decision.failed, strict=True)
        if r.source != "runtime"
        for i in fails
    }
    excluded: dict[str, Any] = {}
    for i, d in enumerate(catalog):
        if i in settled:
            continue
        cost = est[i]
        if on_budget == "reject" or cost is None or Decimal(repr(cost)) > left:
            excluded[d.id] = cost
    op = "fits_budget" if on_budget == "downgrade" else "budget_not_exceeded"
    return RuntimeRule("rt:budget", "est_cost_usd", op, expected, excluded)
