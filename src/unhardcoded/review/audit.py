"""Audit: which rules were enforced, by policy fingerprint, and which deployments each excluded, grouped by
region and by capability; for one call, the proof (review/proof.py). Reads only; writes nothing.

Each distinct stored decision is read once (receipts name their decision by content hash) and counted for
every call that named it, as the period replay does.

`audit(...)` is what `GET /x/audit` and `unhardcoded audit` call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from unhardcoded.errors import UserError
from unhardcoded.review.proof import place, prove
from unhardcoded.review.scan import When, count, pages, parse_window
from unhardcoded.store.base import ReceiptStore

Progress = Callable[[int, int], None]
NO_CAPABILITY = "(none)"


@dataclass(slots=True)
class _Decision:
    request_id: str  # one receipt naming it: the one read
    catalog_version: str
    calls: int = 0


@dataclass(slots=True)
class _Policy:
    calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    decisions: dict[str, _Decision] = field(default_factory=dict)
    without_decision: int = 0
    workloads: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Rule:
    entry: dict[str, Any]  # the rule as the decision lists it
    calls: int = 0  # calls in which it excluded at least one candidate
    exclusions: int = 0  # candidates excluded, summed over calls
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    varies: bool = False  # its value differed between calls


async def _catalog_places(
    store: ReceiptStore, version: str, cache: dict[str, dict[str, tuple[Any, list[str]]]]
) -> dict[str, tuple[Any, list[str]]]:
    """deployment id -> (place, capabilities) in the catalog a decision was made against."""
    places = cache.get(version)
    if places is None:
        blob = await store.get_catalog(version)
        deps = (orjson.loads(blob).get("deployments") or []) if blob is not None else []
        places = cache[version] = {
            d["id"]: (
                place(d.get("region"), d.get("endpoint_region"), d.get("geography")),
                sorted(d.get("capabilities") or []),
            )
            for d in deps
        }
    return places


def _test(r: Mapping[str, Any]) -> str:
    v = r.get("value")
    shown = "[" + ", ".join(str(x) for x in v) + "]" if isinstance(v, list) else str(v)
    return f"{r.get('field')} {r.get('op')} {shown}"


def _fold(
    rules: dict[str, _Rule], decision: Mapping[str, Any], calls: int, places: Mapping[str, Any]
) -> None:
    """Add one stored decision, named by `calls` calls, to the per-rule tallies."""
    for r in decision.get("rules") or []:
        known = rules.setdefault(r["id"], _Rule(entry=r))
        if known.entry.get("value") != r.get("value"):
            known.varies = True  # a request rule's bound comes from each call (req:context-fits)
        if r.get("rejected"):
            rules[r["id"]].calls += calls
            rules[r["id"]].exclusions += calls * int(r["rejected"])
    for c in decision.get("candidates") or []:
        for f in c.get("rejected_by") or []:
            rule = rules.setdefault(f["rule_id"], _Rule(entry={"id": f["rule_id"], **f}))
            dep = rule.deployments.get(c["deployment"])
            if dep is None:
                region, caps = places.get(c["deployment"], (None, []))
                dep = rule.deployments[c["deployment"]] = {
                    "deployment": c["deployment"],
                    "region": region,
                    "capabilities": caps,
                    "actual": f.get("actual"),
                    "calls": 0,
                }
            dep["calls"] += calls
            dep["actual"] = f.get("actual")  # the newest decision read last wins: pages go newest first


def _rule_out(r: _Rule, *, deployments: bool) -> dict[str, Any]:
    deps = sorted(r.deployments.values(), key=lambda d: d["deployment"])
    by_region = Counter(str(d["region"]) if d["region"] is not None else "—" for d in deps)
    by_cap: Counter[str] = Counter()
    for d in deps:
        by_cap.update(d["capabilities"] or [NO_CAPABILITY])
    out = {
        "rule_id": r.entry.get("id"),
        "source": r.entry.get("source"),
        "test": f"{r.entry.get('field')} {r.entry.get('op')} (per call)" if r.varies else _test(r.entry),
        "calls": r.calls,
        "exclusions": r.exclusions,
        "excluded": len(deps),
        "by_region": dict(sorted(by_region.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_capability": dict(sorted(by_cap.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    if deployments:
        out["deployments"] = deps
    return out


async def audit(
    store: ReceiptStore,
    *,
    fingerprint: str | None = None,
    request_id: str | None = None,
    rule: str | None = None,
    since: When = None,
    until: When = None,
    tenant: str | None = None,
    now: float | None = None,
    deployments: bool = True,
    progress: Progress | None = None,
    page: int = 2000,
) -> dict[str, Any]:
    """With `request_id`: the proof for that one call (review/proof.py), for `rule` or every rule.
    Else per policy fingerprint (one, or every one seen) in [since, until): its canonical rules, the calls
    it governed, and per rule the calls it bit, the deployments it excluded (`deployments`: list them),
    and those grouped by region and by capability. An unknown `rule` is a UserError listing the rules.
    `tenant`: only that tenant's calls count (None: every tenant's); the caller checks a `request_id`'s."""
    if request_id is not None:
        return await prove(store, request_id, rule=rule)
    window = parse_window(since, until, now=now)
    t0 = time.perf_counter()
    total = await count(store, window, fingerprint=fingerprint, tenant=tenant) if progress is not None else 0
    policies: dict[str, _Policy] = {}
    read = 0
    async for rows in pages(store, window, fingerprint=fingerprint, tenant=tenant, page=page):
        for r in rows:
            p = policies.setdefault(str(r.get("fingerprint")), _Policy())
            p.calls += 1
            p.statuses[str(r.get("status"))] += 1
            p.workloads[str(r.get("workload"))] += 1
            digest = r.get("decision_hash")
            if digest is None:
                p.without_decision += 1
                continue
            d = p.decisions.get(digest)
            if d is None:
                d = p.decisions[digest] = _Decision(r["request_id"], r["catalog_version"])
            d.calls += 1
        read += len(rows)
        if progress is not None:
            progress(len(rows), max(total, read))
    places: dict[str, dict[str, tuple[Any, list[str]]]] = {}
    out: list[dict[str, Any]] = []
    for fp, p in sorted(policies.items(), key=lambda kv: (-kv[1].calls, kv[0])):
        rules: dict[str, _Rule] = {}
        head: dict[str, Any] = {}
        missing = 0
        for d in p.decisions.values():
            receipt = await store.get(d.request_id)
            decision = (receipt or {}).get("decision")
            if not isinstance(decision, dict):
                missing += d.calls
                continue
            head = head or (decision.get("policy") or {})
            _fold(rules, decision, d.calls, await _catalog_places(store, d.catalog_version, places))
        out.append(
            {
                "fingerprint": fp,
                "name": head.get("name"),
                "workloads": dict(p.workloads.most_common()),
                "sha256": head.get("sha256"),
                "canonical_rules": (head.get("canonical") or {}).get("rules", []),
                "calls": p.calls,
                "statuses": dict(p.statuses.most_common()),
                "distinct_decisions": len(p.decisions),
                "without_decision": p.without_decision + missing,
                "rules": [_rule_out(r, deployments=deployments) for r in rules.values()],
            }
        )
    if rule is not None:
        known = sorted({r["rule_id"] for f in out for r in f["rules"]})
        if rule not in known:
            raise UserError(
                f"rule: no rule {rule!r} in the decisions of this period; "
                f"valid: {', '.join(known) or 'none'}",
                path="rule",
                choices=known,
            )
        for f in out:
            f["rules"] = [r for r in f["rules"] if r["rule_id"] == rule]
        out = [f for f in out if f["rules"]]
    seconds = time.perf_counter() - t0
    return {
        "window": window.to_dict(),
        "fingerprint": fingerprint,
        "tenant": tenant,
        "rule": rule,
        "receipts": read,
        "policies": out,
        "seconds": round(seconds, 4),
    }
