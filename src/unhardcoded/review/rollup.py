"""Roll-ups for finance (SPEC §7): per workload, fingerprint, deployment, tenant or day, what the calls
cost, what the baseline would have cost on the same usage, the savings, the fallback and error rates, and
the pricier candidates that passed the rules but were not chosen, with what each would have cost.

Answered from the store's pre-aggregated sums (`ReceiptStore.rollup_rows`: whole days, edge hours, and only
the receipts of the two edge hours), and each decision's passers as kept in the store (`decision_passers`).
Money is exact: integer 1e-10 USD from the store, Decimal here, decimal strings in the result. A call whose
price or baseline is unknown is counted apart (`calls_without_price`, `calls_without_baseline`) and left
out of the savings, never counted as saving nothing.

`rollup(store, by, since, until)` is what `GET /x/rollup` and `unhardcoded report` call.
"""

from __future__ import annotations

import datetime as dt
import heapq
import time
from collections.abc import Mapping
from decimal import Decimal
from functools import cmp_to_key
from operator import itemgetter
from typing import Any

import orjson

from unhardcoded.errors import UserError
from unhardcoded.review.period import WHEN_CHOICES, parse_when
from unhardcoded.store.base import ReceiptStore
from unhardcoded.store.rollups import BY, MONEY_SCALE

BY_CHOICES = tuple(BY)
COUNTS = (
    "calls",
    "ok",
    "partial",
    "errors",
    "no_route",
    "fallback_calls",
    "fallbacks",
    "usage_calls",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "priced_calls",
    "unpriced_calls",
    "compared_calls",
)
MONEY = ("cost_e10", "compared_cost_e10", "baseline_e10")


def usd(units: int) -> Decimal:
    return Decimal(units).scaleb(-MONEY_SCALE)


def money(value: Decimal | None) -> str | None:
    """Exact, for JSON: a decimal string (a float would round the sum it carries)."""
    return None if value is None else format(value.normalize(), "f")


def _price(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(repr(value))


def period(
    since: str | float | None, until: str | float | None, *, now: float, default_since: str = "30d"
) -> tuple[float, float]:
    """[since, until) as epoch seconds; `since`/`until` as durations before now or ISO 8601 timestamps."""
    start = since if isinstance(since, int | float) else parse_when(since or default_since, now=now)
    if isinstance(until, int | float):
        end: float = until
    else:
        end = parse_when(until, now=now, name="until") if until else now
    if end <= start:
        raise UserError(
            f"until: must be after since ({iso(end)} is not after {iso(start)})",
            path="until",
            choices=list(WHEN_CHOICES),
        )
    return float(start), float(end)


def check_by(by: str) -> str:
    if by not in BY:
        raise UserError(
            f"by: expected one of {', '.join(BY_CHOICES)}, got {by!r}", path="by", choices=list(BY_CHOICES)
        )
    return by


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


Prices = tuple[Decimal, Decimal, Decimal]  # input, cached input, output: USD per million tokens
Units = tuple[int, int, int]  # the same prices as integers: units of 10**-scale USD per million tokens


class _Pricing:
    """Decisions and catalogs of the period, each read and parsed once, and per (decision, chosen
    deployment) its pricier passers as an interned set: calls whose sets are equal are priced together."""

    def __init__(self, store: ReceiptStore) -> None:
        self.store = store
        self.est: dict[str, list[tuple[str, float | None]]] = {}  # decision -> passers, estimated cost
        self.catalogs: dict[str, dict[str, Prices | None] | None] = {}  # version -> id -> prices
        # The prices again as integers at one scale for every catalog read: a group's passers are priced
        # with int arithmetic (a Decimal per passer and group was most of a roll-up by day), exactly.
        self.scale = 0
        self._units: dict[str, dict[str, Units | None]] = {}
        self.unreadable: set[str] = set()
        self.sets: list[frozenset[str]] = []
        self._set_ids: dict[frozenset[str], int] = {}
        self._pricier: dict[tuple[str, str], int | None] = {}
        self._est_by_id: dict[str, dict[str, float | None]] = {}

    async def load(self, hashes: set[str], versions: set[str]) -> None:
        new = hashes - set(self.est)
        passers = await self.store.decision_passers(sorted(new))
        for h in new:
            ranked = passers.get(h)
            if ranked is None:
                self.unreadable.add(h)  # not in the store, or not a decision
            self.est[h] = ranked or []
        for v in versions - set(self.catalogs):
            blob = await self.store.get_catalog(v)
            try:
                # Only prices are needed: read the stored JSON, without rebuilding (and re-hashing) the
                # whole catalog as replay must.
                deps = orjson.loads(blob)["deployments"] if blob is not None else None
                self.catalogs[v] = {d["id"]: _prices(d) for d in deps} if deps is not None else None
            except (orjson.JSONDecodeError, KeyError, TypeError):
                self.catalogs[v] = None
        prices = [p for c in self.catalogs.values() if c for p in c.values() if p]
        self.scale = max([0, *(-int(x.as_tuple().exponent) for p in prices for x in p)])
        self._units = {
            v: {d: _units(p, self.scale) if p else None for d, p in c.items()}
            for v, c in self.catalogs.items()
            if c is not None
        }

    def pricier(self, decision: str, chosen: str) -> int | None:
        """The id of the set of passers the decision estimated pricier than `chosen` for that request;
        None when the decision or the chosen deployment's estimate is unknown."""
        key = (decision, chosen)
        if key not in self._pricier:
            ranked = self.est.get(decision, [])
            mine = self._own_est(decision).get(chosen)
            if mine is None:
                self._pricier[key] = None
            else:
                found = frozenset(d for d, e in ranked if d != chosen and e is not None and e > mine)
                self._pricier[key] = self._set_ids.setdefault(found, len(self._set_ids))
                if self._pricier[key] == len(self.sets):
                    self.sets.append(found)
        return self._pricier[key]

    def _own_est(self, decision: str) -> dict[str, float | None]:
        est = self._est_by_id.get(decision)
        if est is None:
            est = self._est_by_id[decision] = dict(self.est.get(decision, []))
        return est

    def cost(self, version: str, dep_id: str, usage: tuple[int, int, int]) -> int | None:
        """Exact cost of (input, cached input, output) tokens at the deployment's prices in that catalog,
        in units of 10**-(6 + scale) USD (`usd_of` turns it into dollars)."""
        cat = self._units.get(version)
        p = cat.get(dep_id) if cat is not None else None
        if p is None:
            return None
        inp, cached, out = usage
        cached = min(cached, inp)
        return (inp - cached) * p[0] + cached * p[1] + out * p[2]

    def usd_of(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-6 - self.scale)


def _units(p: Prices, scale: int) -> Units:
    """Prices with at most `scale` decimals, as exact integers of 10**-scale."""
    return int(p[0].scaleb(scale)), int(p[1].scaleb(scale)), int(p[2].scaleb(scale))


def _prices(dep: Mapping[str, Any]) -> Prices | None:
    pin, pout = _price(dep.get("price_input_per_mtok")), _price(dep.get("price_output_per_mtok"))
    if pin is None or pout is None:
        return None
    pc = _price(dep.get("price_cached_input_per_mtok"))
    return pin, pin if pc is None else pc, pout


def _passed_over(
    rows: list[Mapping[str, Any]], pricing: _Pricing, limit: int
) -> tuple[list[dict[str, Any]], int, int]:
    """The first `limit` pricier passers of one group, the nearest first (least extra cost per call), how
    many more there are, and the answered calls that could not be compared with them (no decision, no
    estimate or price for the chosen deployment, no usage).

    Pricier: the decision estimated it dearer than the deployment that answered, for that request. What it
    would have cost is exact, on the calls' real usage. Cost is linear in tokens, so usage is summed before
    it is priced: per (catalog, chosen deployment), every passer in the union of the decisions' pricier sets
    gets the whole usage, less that of the decisions whose set lacks it (sets of one policy differ little).
    """
    usage: dict[tuple[str, str], dict[int, list[int]]] = {}
    unpriced = 0
    for r in rows:
        answered = r["ok"] + r["partial"]
        if not answered:
            continue
        h, chosen, version = r["decision_hash"], r["deployment"], r["catalog_version"]
        set_id = pricing.pricier(h, chosen) if h is not None and chosen else None
        if set_id is None or not r["usage_calls"] or pricing.catalogs.get(version) is None:
            unpriced += answered
            continue
        unpriced += answered - min(answered, r["usage_calls"])
        acc = usage.setdefault((version, chosen), {}).setdefault(set_id, [0, 0, 0, 0])
        acc[0] += r["input_tokens"]
        acc[1] += r["cached_input_tokens"]
        acc[2] += r["output_tokens"]
        acc[3] += r["usage_calls"]
    tokens: dict[tuple[str, str], list[int]] = {}  # (catalog, passer) -> input, cached, output
    found: dict[str, list[int]] = {}  # passer -> calls, chosen cost (pricing units, as all money here)
    for (version, chosen), by_set in usage.items():
        costs = {}
        for set_id, u in by_set.items():
            cost = pricing.cost(version, chosen, (u[0], u[1], u[2]))
            if cost is None:
                unpriced += u[3]
            else:
                costs[set_id] = cost
        if not costs:
            continue
        union = frozenset().union(*(pricing.sets[i] for i in costs))
        total = [sum(by_set[i][j] for i in costs) for j in range(4)]
        total_cost = sum(costs.values())
        for dep_id in union:
            t = tokens.setdefault((version, dep_id), [0, 0, 0])
            t[0] += total[0]
            t[1] += total[1]
            t[2] += total[2]
            f = found.setdefault(dep_id, [0, 0])
            f[0] += total[3]
            f[1] += total_cost
        for set_id, cost in costs.items():
            u = by_set[set_id]
            for dep_id in union - pricing.sets[set_id]:
                t = tokens[(version, dep_id)]
                t[0] -= u[0]
                t[1] -= u[1]
                t[2] -= u[2]
                found[dep_id][0] -= u[3]
                found[dep_id][1] -= cost
    would: dict[str, int] = {}
    for (version, dep_id), t in tokens.items():
        cost = pricing.cost(version, dep_id, (t[0], t[1], t[2]))
        if cost is not None:
            would[dep_id] = would.get(dep_id, 0) + cost
    out = [
        (would[dep_id] - chosen_cost, dep_id, calls, chosen_cost)
        for dep_id, (calls, chosen_cost) in found.items()
        if calls and dep_id in would
    ]
    # The nearest alternatives first: least extra per call (exactly: a / b < c / d as a * d < c * b).
    nearest = heapq.nsmallest(limit, out, key=cmp_to_key(_nearer))
    usd = pricing.usd_of
    listed = [
        {
            "deployment": dep_id,
            "calls": calls,
            "would_cost_usd": money(usd(would[dep_id])),
            "chosen_cost_usd": money(usd(chosen_cost)),
            "extra_usd": money(usd(extra)),
        }
        for extra, dep_id, calls, chosen_cost in nearest
    ]
    return listed, len(out) - len(listed), unpriced


def _nearer(a: tuple[int, str, int, int], b: tuple[int, str, int, int]) -> int:
    lhs, rhs = a[0] * b[2], b[0] * a[2]
    if lhs != rhs:
        return -1 if lhs < rhs else 1
    return -1 if a[1] < b[1] else (1 if a[1] > b[1] else 0)


def summarise(sums: Mapping[str, int]) -> dict[str, Any]:
    """The figures of one group (or the totals) from its integer sums."""
    calls = sums["calls"]
    cost, compared, base = usd(sums["cost_e10"]), usd(sums["compared_cost_e10"]), usd(sums["baseline_e10"])
    savings = base - compared if sums["compared_calls"] else None
    return {
        "calls": calls,
        "ok": sums["ok"],
        "partial": sums["partial"],
        "errors": sums["errors"],
        "no_route": sums["no_route"],
        "error_rate": round((sums["errors"] + sums["no_route"]) / calls, 4) if calls else None,
        "fallback_calls": sums["fallback_calls"],
        "fallback_rate": round(sums["fallback_calls"] / calls, 4) if calls else None,
        "input_tokens": sums["input_tokens"],
        "output_tokens": sums["output_tokens"],
        "cached_input_tokens": sums["cached_input_tokens"],
        "calls_without_usage": calls - sums["usage_calls"],
        "cost_usd": money(cost),
        "calls_without_price": sums["unpriced_calls"],
        "compared_calls": sums["compared_calls"],
        "calls_without_baseline": sums["priced_calls"] - sums["compared_calls"],
        "compared_cost_usd": money(compared) if sums["compared_calls"] else None,
        "baseline_cost_usd": money(base) if sums["compared_calls"] else None,
        "savings_usd": money(savings),
        "savings_pct": round(float(100 * savings / base), 2) if savings is not None and base else None,
    }


_SUMMED = (*COUNTS, *MONEY)
_COLUMNS = itemgetter(*_SUMMED)


def _sums(rows: list[Mapping[str, Any]]) -> dict[str, int]:
    """Column sums of a group's rows (one pass per column over tuples, not a dict update per value)."""
    return dict(zip(_SUMMED, map(sum, zip(*map(_COLUMNS, rows), strict=True)), strict=True))


def _label(by: str, key: Any) -> Any:
    return dt.datetime.fromtimestamp(int(key) * 86400, dt.UTC).date().isoformat() if by == "day" else key


async def rollup(
    store: ReceiptStore,
    by: str,
    since: str | float | None = None,
    until: str | float | None = None,
    *,
    tenant: str | None = None,
    workload: str | None = None,
    passed_over: int = 5,
    now: float | None = None,
) -> dict[str, Any]:
    """The roll-up of final receipts created in [since, until) (default: the last 30 days), one group per
    value of `by`, plus totals. `passed_over`: how many pricier passers to list per group."""
    t0 = time.perf_counter()
    check_by(by)
    start, end = period(since, until, now=time.time() if now is None else now)
    rows = await store.rollup_rows([by], start, end, tenant=tenant, workload=workload)
    pricing = _Pricing(store)
    await pricing.load(
        {r["decision_hash"] for r in rows if r["decision_hash"] and r["ok"] + r["partial"]},
        {r["catalog_version"] for r in rows if r["ok"] + r["partial"]},
    )
    by_group: dict[Any, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_group.setdefault(r[by], []).append(r)
    total: dict[str, int] = dict.fromkeys((*COUNTS, *MONEY), 0)
    groups = []
    for key, members in by_group.items():
        sums = _sums(members)
        for k in _SUMMED:
            total[k] += sums[k]
        over, more, unpriced = _passed_over(members, pricing, passed_over)
        groups.append(
            {
                by: _label(by, key),
                **summarise(sums),
                "passed_over": over,
                "passed_over_more": more,
                "calls_not_compared_with_passers": unpriced,
            }
        )
    if by == "day":
        groups.sort(key=lambda g: str(g[by]))
    else:
        groups.sort(key=lambda g: (-Decimal(g["cost_usd"]), -g["calls"], str(g[by])))
    return {
        "by": by,
        "since": iso(start),
        "until": iso(end),
        "tenant": tenant,
        "workload": workload,
        "money": "USD as exact decimal strings",
        "groups": groups,
        "totals": summarise(total),
        "unreadable_decisions": sorted(pricing.unreadable),
        "seconds": round(time.perf_counter() - t0, 4),
    }


async def series(
    store: ReceiptStore,
    since: str | float | None = None,
    until: str | float | None = None,
    *,
    tenant: str | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Per day and workload: cost, baseline and savings (of the compared calls), for the chart."""
    start, end = period(since, until, now=time.time() if now is None else now)
    rows = await store.rollup_rows(["day", "workload"], start, end, tenant=tenant)
    groups: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((int(r["day"]), r["workload"]), []).append(r)
    return [
        {"day": _label("day", day), "workload": wl, **summarise(_sums(g))}
        for (day, wl), g in sorted(groups.items())
    ]
