"""A policy over a period: every past call under one fingerprint replayed against today's catalog,
grouped then-winner -> now-winner. Each distinct stored decision is replayed once (the store keeps a
decision once per content hash, and a receipt names it), then counted for every call that named it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unhardcoded.catalog.model import Catalog
from unhardcoded.errors import UserError
from unhardcoded.policy.decision import RuntimeState
from unhardcoded.review.replay import Replayer
from unhardcoded.store.base import ReceiptStore

Progress = Callable[[int, int], None]  # (receipts just covered, receipts in all)
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
WHEN_CHOICES = ("<n>s", "<n>m", "<n>h", "<n>d", "<n>w", "ISO 8601, e.g. 2026-11-01T00:00:00Z")


def parse_when(text: str, *, now: float, name: str = "since") -> float:
    """`30d`, `12h`, `90m`, `2w`, `45s` before `now`, or an ISO 8601 timestamp (UTC when no zone)."""
    m = _SPAN.match(text)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        d = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{name}: expected a span like 30d, 12h, 90m or an ISO 8601 timestamp, got {text!r}",
            path=name,
            choices=list(WHEN_CHOICES),
        ) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return d.timestamp()


@dataclass(slots=True)
class _Group:
    request_id: str  # one receipt naming this decision: the one replayed
    catalog_version: str
    calls: int = 0


async def _decisions(
    store: ReceiptStore,
    fingerprint: str,
    since: float | None,
    until: float | None,
    page: int,
    tenant: str | None,
) -> tuple[dict[str, _Group], int, list[str]]:
    """The distinct decisions of the period, with how many calls named each; and the calls without one."""
    groups: dict[str, _Group] = {}
    seen: set[str] = set()
    undecided: list[str] = []
    bound = until
    while True:
        rows = await store.search(
            fingerprint=fingerprint, tenant=tenant, since=since, until=bound, limit=page
        )
        new = [r for r in rows if r["request_id"] not in seen]
        for r in new:
            seen.add(r["request_id"])
            digest = r.get("decision_hash")
            if digest is None:
                undecided.append(r["request_id"])
                continue
            g = groups.get(digest)
            if g is None:
                g = groups[digest] = _Group(r["request_id"], r["catalog_version"])
            g.calls += 1
        if not new or len(rows) < page:
            break
        # `until` is exclusive: step just past the oldest row so calls sharing its timestamp are read again
        # (and skipped as seen) rather than lost.
        bound = math.nextafter(float(rows[-1]["created_at"]), math.inf)
    return groups, len(seen), undecided


async def replay_period(
    store: ReceiptStore,
    *,
    fingerprint: str,
    since: float | None,
    until: float | None = None,
    catalog_now: Catalog | None,
    live: RuntimeState | None = None,
    tenant: str | None = None,
    progress: Progress | None = None,
    page: int = 5000,
) -> dict[str, Any]:
    """How many calls under `fingerprint` in [since, until) would route elsewhere today, grouped
    then-winner -> now-winner (the first deployment of the attempt plan, then and now). Every decision
    is also rebuilt as then; any that differs is listed under `mismatches`. `tenant`: only that tenant's
    calls (None: every tenant's)."""
    if not fingerprint:
        raise UserError("fingerprint: required", path="fingerprint")
    t0 = time.perf_counter()
    groups, n_calls, undecided = await _decisions(store, fingerprint, since, until, page, tenant)
    replayer = Replayer(store, catalog_now, live=live)
    moves: dict[tuple[str | None, str | None], int] = {}
    mismatches: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for digest, g in groups.items():
        receipt = await store.get(g.request_id)
        result = await replayer.replay_receipt(receipt or {"request_id": g.request_id, "decision": None})
        verdict, now = result["as_then"], result["now"]
        if not verdict["identical"]:
            bad = {"request_id": g.request_id, "decision_hash": digest, "calls": g.calls}
            if "error" in verdict:
                errors.append({**bad, "error": verdict["error"]})
            else:
                mismatches.append({**bad, "first_difference": verdict.get("first_difference")})
        if now is not None and "error" not in now:
            key = (now["winner_then"], now["winner_now"])
            moves[key] = moves.get(key, 0) + g.calls
        elif now is not None:
            errors.append({"request_id": g.request_id, "decision_hash": digest, "error": now["error"]})
        if progress is not None:
            progress(g.calls, n_calls)
    seconds = time.perf_counter() - t0
    rows = [
        {"then": a, "now": b, "calls": n, "moved": a != b}
        for (a, b), n in sorted(moves.items(), key=lambda kv: (-kv[1], str(kv[0])))
    ]
    return {
        "fingerprint": fingerprint,
        "tenant": tenant,
        "since": since,
        "until": until,
        "catalog_now": catalog_now.version if catalog_now is not None else None,
        "runtime": "live" if live is not None else "as then",
        "calls": n_calls,
        "distinct_decisions": len(groups),
        "would_route_elsewhere": sum(r["calls"] for r in rows if r["moved"]),
        "groups": rows,
        "identical": not mismatches and not errors,
        "mismatches": mismatches,
        "errors": errors,
        "without_decision": undecided,
        "seconds": round(seconds, 4),
        "receipts_per_s": round(n_calls / seconds, 1) if seconds > 0 else None,
    }
