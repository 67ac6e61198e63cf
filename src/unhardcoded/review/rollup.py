"""Roll-ups for finance (SPEC §7): per workload, fingerprint, deployment, tenant or day, what the calls
cost, what the baseline would have cost on the same usage, the savings, the fallback and error rates, and
the pricier candidates that passed the rules but were not chosen, with what each would have cost.

Answered from the store's hourly sums (`ReceiptStore.rollup_rows`), never by reading receipts one by one.
Money is exact: integer 1e-10 USD from the store, Decimal here, decimal strings in the result. A call whose
price or baseline is unknown is counted apart (`calls_without_price`, `calls_without_baseline`) and left
out of the savings, never counted as saving nothing.

`rollup(store, by, since, until)` is what `GET /x/rollup` and `unhardcoded report` call.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from unhardcoded.catalog.model import Catalog, Deployment
from unhardcoded.errors import UnhardcodedError, UserError
from unhardcoded.review.period import WHEN_CHOICES, parse_when
from unhardcoded.review.rebuild import catalog_from_blob
from unhardcoded.store.base import ReceiptStore
from unhardcoded.store.rollups import BY, MONEY_SCALE

BY_CHOICES = tuple(BY)
_MTOK = Decimal(1_000_000)
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


def usage_cost(dep: Deployment | None, inp: int, cached: int, out: int) -> Decimal | None:
    """Exact cost of this usage at `dep`'s catalog prices (the gateway's formula, without its rounding)."""
    if dep is None:
        return None
    pin, pout = _price(dep.get("price_input_per_mtok")), _price(dep.get("price_output_per_mtok"))
    if pin is None or pout is None:
        return None
    pc = _price(dep.get("price_cached_input_per_mtok"))
    cached = min(cached, inp)
    return ((inp - cached) * pin + cached * (pin if pc is None else pc) + out * pout) / _MTOK


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


class _Pricing:
    """Decisions and catalogs of the period, each read and parsed once."""

    def __init__(self, store: ReceiptStore) -> None:
        self.store = store
        self.ranked: dict[str, list[tuple[str, int]]] = {}
        self.catalogs: dict[str, Catalog | None] = {}
        self.unreadable: set[str] = set()

    async def load(self, hashes: set[str], versions: set[str]) -> None:
        new = hashes - set(self.ranked)
        blobs = await self.store.decisions(sorted(new))
        for h in new:
            blob = blobs.get(h)
            try:
                if blob is None:
                    raise ValueError("not in the store")
                cands = orjson.loads(blob)["candidates"]
                self.ranked[h] = [
                    (c["deployment"], int(c["rank"])) for c in cands if c.get("status") == "ranked"
                ]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self.ranked[h] = []
                self.unreadable.add(h)
        for v in versions - set(self.catalogs):
            blob = await self.store.get_catalog(v)
            try:
                self.catalogs[v] = catalog_from_blob(blob, v) if blob is not None else None
            except (UnhardcodedError, orjson.JSONDecodeError):
                self.catalogs[v] = None


def _passed_over(rows: list[Mapping[str, Any]], pricing: _Pricing) -> tuple[list[dict[str, Any]], int]:
    """The pricier passers of one group, most expensive extra first; and the calls that could not be priced
    this way (no decision, no catalog, no usage, or the chosen deployment has no price)."""
    found: dict[str, dict[str, Any]] = {}
    unpriced = 0
    for r in rows:
        answered = r["ok"] + r["partial"]
        if not answered:
            continue
        cat = pricing.catalogs.get(r["catalog_version"])
        h, winner = r["decision_hash"], r["deployment"]
        usage = (r["input_tokens"], r["cached_input_tokens"], r["output_tokens"])
        chosen = usage_cost(cat.get(winner), *usage) if cat is not None and winner else None
        if h is None or cat is None or chosen is None or not r["usage_calls"]:
            unpriced += answered
            continue
        unpriced += answered - min(answered, r["usage_calls"])
        for dep_id, rank in pricing.ranked.get(h, []):
            if dep_id == winner:
                continue
            would = usage_cost(cat.get(dep_id), *usage)
            if would is None or would <= chosen:
                continue
            f = found.setdefault(
                dep_id, {"calls": 0, "would_cost": Decimal(0), "chosen_cost": Decimal(0), "best_rank": rank}
            )
            f["calls"] += r["usage_calls"]
            f["would_cost"] += would
            f["chosen_cost"] += chosen
            f["best_rank"] = min(f["best_rank"], rank)
    out = [
        {
            "deployment": dep_id,
            "calls": f["calls"],
            "best_rank": f["best_rank"],
            "would_cost_usd": money(f["would_cost"]),
            "chosen_cost_usd": money(f["chosen_cost"]),
            "extra_usd": money(f["would_cost"] - f["chosen_cost"]),
            "_extra": f["would_cost"] - f["chosen_cost"],
        }
        for dep_id, f in found.items()
    ]
    out.sort(key=lambda x: (-x["_extra"], x["deployment"]))
    for x in out:
        del x["_extra"]
    return out, unpriced


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


def _add(into: dict[str, int], row: Mapping[str, Any]) -> None:
    for k in (*COUNTS, *MONEY):
        into[k] = into.get(k, 0) + int(row[k])


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
        sums: dict[str, int] = {}
        for m in members:
            _add(sums, m)
            _add(total, m)
        over, unpriced = _passed_over(members, pricing)
        groups.append(
            {
                by: _label(by, key),
                **summarise(sums),
                "passed_over": over[:passed_over],
                "passed_over_more": max(0, len(over) - passed_over),
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
    sums: dict[tuple[int, str], dict[str, int]] = {}
    for r in rows:
        _add(sums.setdefault((int(r["day"]), r["workload"]), {}), r)
    return [
        {"day": _label("day", day), "workload": wl, **summarise(s)} for (day, wl), s in sorted(sums.items())
    ]
