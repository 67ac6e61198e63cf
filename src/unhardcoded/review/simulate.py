"""What-if: a new policy over the request features and token usage of past receipts, against today's catalog.

For each answered call in the window: the decision the new policy would make on that call's features
(memoised by features: most calls share a few shapes), its winner priced on the call's real usage, and
the rules that would have excluded what actually answered. Money is summed exactly (review/money.py).
Runtime rules only when given (`live`: e.g. today's `rt:no-key`); the first planned deployment is assumed
to answer.

`simulate(...)` is what `POST /x/simulate` and `unhardcoded simulate` call. Reads only; writes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import Decision, RuntimeState
from unhardcoded.policy.memo import DecisionMemo
from unhardcoded.policy.model import Policy, Rule
from unhardcoded.policy.parse import parse_policy
from unhardcoded.policy.request import RequestFeatures
from unhardcoded.review.money import ZERO, exact, pct, usage_cost, usd
from unhardcoded.review.past_calls import Call, Shape, read_calls
from unhardcoded.review.scan import When, Window, count, pages, parse_window
from unhardcoded.store.base import ReceiptStore

Progress = Callable[[int, int], None]  # (receipts just covered, receipts in all)
ANSWERED = ("ok", "partial")  # the statuses whose receipts carry usage


@dataclass(slots=True)
class _Move:
    calls: int = 0
    cost_then: Decimal = ZERO
    cost_now: Decimal = ZERO
    priced: int = 0  # calls with both costs known (the two sums cover these only)


@dataclass(slots=True)
class _Rule:
    calls_blocked: int = 0  # calls whose answering deployment this rule would now exclude
    exclusions: int = 0  # candidates excluded, summed over calls


@dataclass(slots=True)
class _Tally:
    calls: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    moves: dict[tuple[str | None, str], _Move] = field(default_factory=dict)
    rules: dict[str, _Rule] = field(default_factory=dict)
    no_route: Counter[str | None] = field(default_factory=Counter)
    no_route_cost: Decimal = ZERO
    unpriced: int = 0
    cost_then: Decimal = ZERO
    cost_now: Decimal = ZERO
    priced: int = 0
    baseline_now: Decimal = ZERO
    baseline_priced: int = 0  # priced calls whose baseline cost is known too: the savings cover these
    savings_then: Decimal = ZERO
    savings_now: Decimal = ZERO


class _Judge:
    """Decides the new policy per call shape, once, and keeps what each call needs from the decision."""

    def __init__(self, policy: Policy, catalog: Catalog, live: RuntimeState | None) -> None:
        self.policy, self.catalog, self.live = policy, catalog, live
        self.memo = DecisionMemo(8192)
        self._failed: dict[tuple[Hashable, str | None], tuple[str, ...]] = {}
        self.baseline = catalog.resolve(policy.baseline) if policy.baseline else None
        self.rules: dict[str, Rule] = {r.id: r for r in policy.rules}  # every rule applied, first seen first
        self.varies: set[str] = set()

    def decide(self, features: RequestFeatures) -> Decision:
        misses = self.memo.misses
        d = self.memo.decide(self.policy, self.catalog, features, self.live)
        if self.memo.misses != misses:  # a new call shape may bring request rules (req:tools, ...)
            for r in d.rules:
                if self.rules.setdefault(r.id, r).value != r.value:
                    self.varies.add(r.id)  # a request rule's bound comes from each call (req:context-fits)
        return d

    def failed_by(self, d: Decision, deployment: str | None) -> tuple[str, ...]:
        """The rules of `d` that exclude `deployment` (the one that answered then); () if it passes or is
        gone from today's catalog."""
        key = (d.features.key(), deployment)
        out = self._failed.get(key)
        if out is None:
            j = self.catalog.index(deployment) if deployment else None
            out = () if j is None else tuple(r.id for r, f in zip(d.rules, d.failed, strict=True) if j in f)
            if len(self._failed) > 200_000:
                self._failed.clear()  # bounded memory: recomputing is cheap
            self._failed[key] = out
        return out


def _count(t: _Tally, judge: _Judge, call: Call) -> None:
    summary, usage, shape = call
    if shape is None:
        t.skipped["gone"] += 1  # deleted between the search and the read
        return
    if shape.pinned:
        t.skipped["pinned"] += 1
        return
    if not usage:
        t.skipped["no_usage"] += 1
        return
    if shape.features is None:
        t.skipped["unreadable"] += 1
        return
    d = judge.decide(shape.features)
    t.calls += 1
    then = summary.get("deployment")
    cost_then = usd(summary.get("cost_usd"))
    any_count, _ = d.rejection_counts()
    for r in d.rules:
        t.rules.setdefault(r.id, _Rule()).exclusions += any_count.get(r.id, 0)
    for rid in judge.failed_by(d, then):
        t.rules[rid].calls_blocked += 1
    if not d.plan:
        t.no_route[then] += 1
        t.no_route_cost += cost_then or ZERO
        return
    now = d.plan[0]
    cost_now = usage_cost(judge.catalog.get(now), usage)
    m = t.moves.get((then, now))
    if m is None:
        m = t.moves[(then, now)] = _Move()
    m.calls += 1
    if cost_then is None or cost_now is None:
        t.unpriced += 1  # counted apart, never as a zero
    else:
        m.priced += 1
        m.cost_then += cost_then
        m.cost_now += cost_now
        t.priced += 1
        t.cost_then += cost_then
        t.cost_now += cost_now
        base = usage_cost(judge.baseline, usage)
        if base is not None:
            t.baseline_priced += 1
            t.baseline_now += base
            t.savings_then += base - cost_then
            t.savings_now += base - cost_now


async def simulate(
    store: ReceiptStore,
    policy_doc: Any,
    *,
    catalog: Catalog,
    since: When = None,
    until: When = None,
    workload: str | None = None,
    tenant: str | None = None,
    default_baseline: str | None = None,
    name: str | None = None,
    live: RuntimeState | None = None,
    progress: Progress | None = None,
    now: float | None = None,
    page: int = 2000,
) -> dict[str, Any]:
    """The new policy (`policy_doc`, sigma-pol/v1) over the answered calls of [since, until) (optionally
    of one workload, of one `tenant`), against `catalog` (today's). `live`: today's runtime rules (e.g.
    `rt:no-key`); None assumes every deployment keyed and healthy. Raises PolicyError for a policy that
    does not validate, UserError naming `since`/`until` for a bad window."""
    policy = parse_policy(policy_doc, catalog.fields, default_baseline=default_baseline, name=name)
    window = parse_window(since, until, now=now)
    t0 = time.perf_counter()
    scope = {"workload": workload, "tenant": tenant}
    total = await count(store, window, **scope) if progress is not None else 0
    judge = _Judge(policy, catalog, live)
    t = _Tally()
    shapes: dict[str, Shape] = {}
    read = 0
    async for rows in pages(store, window, **scope, page=page):
        answered = [r for r in rows if r.get("status") in ANSWERED]
        for r in rows:
            if r.get("status") not in ANSWERED:
                t.skipped[str(r.get("status"))] += 1
        for call in await read_calls(store, answered, shapes):
            _count(t, judge, call)
        read += len(rows)
        if progress is not None:
            progress(len(rows), max(total, read))
    seconds = time.perf_counter() - t0
    return {**_result(t, judge, window, workload, read, seconds), "tenant": tenant}


def _result(
    t: _Tally, judge: _Judge, window: Window, workload: str | None, read: int, seconds: float
) -> dict[str, Any]:
    p = judge.policy
    moves = sorted(t.moves.items(), key=lambda kv: (-kv[1].calls, str(kv[0])))
    moved = sum(m.calls for (a, b), m in t.moves.items() if a != b)
    bites = sorted(
        ((r, t.rules[r.id]) for r in judge.rules.values() if r.id in t.rules),
        key=lambda x: (-x[1].calls_blocked, -x[1].exclusions, x[0].id),
    )
    rules = [
        {
            "rule_id": r.id,
            "source": r.source,
            "test": f"{r.field} {r.op} {'(per call)' if r.id in judge.varies else _text(r.value)}",
            "calls_blocked": b.calls_blocked,
            "exclusions": b.exclusions,
        }
        for r, b in bites
    ]
    diff = t.cost_now - t.cost_then
    return {
        "policy": {
            "fingerprint": p.fingerprint,
            "sha256": p.sha256,
            "workload": p.workload,
            "baseline": judge.baseline.id if judge.baseline else p.baseline,
        },
        "catalog_now": judge.catalog.version,
        "runtime": "live" if judge.live is not None else "none",
        "window": window.to_dict(),
        "workload": workload,
        "receipts": read,
        "calls": t.calls,
        "skipped": dict(sorted(t.skipped.items())),
        "cost": {
            "calls": t.priced,
            "actual_usd": exact(t.cost_then),
            "projected_usd": exact(t.cost_now),
            "difference_usd": exact(diff),
            "difference_pct": pct(diff, t.cost_then),
        },
        "baseline": {
            "deployment": judge.baseline.id if judge.baseline else p.baseline,
            "calls": t.baseline_priced,
            "cost_usd": exact(t.baseline_now) if t.baseline_priced else None,
            "savings_actual_usd": exact(t.savings_then) if t.baseline_priced else None,
            "savings_projected_usd": exact(t.savings_now) if t.baseline_priced else None,
        },
        "unpriced": t.unpriced,
        "moved": moved,
        "stayed": sum(m.calls for m in t.moves.values()) - moved,
        "moves": [
            {
                "from": a,
                "to": b,
                "calls": m.calls,
                "moved": a != b,
                "priced": m.priced,
                "actual_usd": exact(m.cost_then),
                "projected_usd": exact(m.cost_now),
            }
            for (a, b), m in moves
        ],
        "no_route": {
            "calls": sum(t.no_route.values()),
            "actual_usd": exact(t.no_route_cost),
            "by_deployment_then": dict(t.no_route.most_common()),
        },
        "rules": rules,
        "distinct_decisions": judge.memo.misses,
        "seconds": round(seconds, 4),
        "receipts_per_min": round(60 * read / seconds) if seconds > 0 else None,
    }


def _text(v: Any) -> str:
    return "[" + ", ".join(str(x) for x in v) + "]" if isinstance(v, list | tuple) else str(v)
