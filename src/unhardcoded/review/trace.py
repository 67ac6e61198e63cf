"""One receipt summarised for a person: the explanation, the policy, candidates grouped by the rule that
rejected them, the attempts as a timeline, cost against the baseline. Pure: an expanded receipt in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

FIRST_FEW = 5


def _ts(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def rejection_groups(receipt: Mapping[str, Any], *, show_all: bool = False) -> list[dict[str, Any]]:
    """Rejected candidates grouped by the first rule each failed, in rule order, with every rule's count.

    Each group: rule id, source, test, `rejected` (candidates failing it at all), `first` (those for whom
    it is the first failure: the groups partition the rejected), and the first few of those ids with the
    value that failed (all of them with `show_all`).
    """
    rules = list(receipt.get("rules") or [])
    groups: dict[str, dict[str, Any]] = {
        r["id"]: {
            "rule_id": r["id"],
            "source": r.get("source"),
            "test": f"{r.get('field')} {r.get('op')} {_text(r.get('value'))}",
            "rejected": r.get("rejected", 0),
            "first": 0,
            "deployments": [],
        }
        for r in rules
    }
    for c in receipt.get("candidates") or []:
        failed = c.get("rejected_by") or []
        if c.get("status") != "rejected" or not failed:
            continue
        f = failed[0]
        g = groups.setdefault(
            f["rule_id"],
            {
                "rule_id": f["rule_id"],
                "source": f.get("source"),
                "test": "",
                "rejected": 0,
                "first": 0,
                "deployments": [],
            },
        )
        g["first"] += 1
        if show_all or len(g["deployments"]) < FIRST_FEW:
            g["deployments"].append({"deployment": c["deployment"], "actual": f.get("actual")})
    return [g for g in groups.values() if g["rejected"] or g["first"]]


def timeline(receipt: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The attempts in order, each with its start offset from the call's start (ms)."""
    t0 = _ts(receipt.get("created_at"))
    out = []
    attempts = list(receipt.get("attempts") or [])
    for n, a in enumerate(attempts):
        start = _ts(a.get("started_at"))
        outcome = "ok" if a.get("error_class") is None else a["error_class"]
        nxt = attempts[n + 1]["deployment"] if a.get("fell_back") and n + 1 < len(attempts) else None
        out.append(
            {
                "n": n + 1,
                "at_ms": None if start is None or t0 is None else round((start - t0) * 1000, 1),
                "deployment": a.get("deployment"),
                "latency_ms": a.get("latency_ms"),
                "ttft_ms": a.get("ttft_ms"),
                "http_status": a.get("http_status"),
                "result": outcome,
                "error": a.get("error"),
                "fell_back_to": nxt if a.get("fell_back") else None,
                "fell_back": bool(a.get("fell_back")),
                "waited_s": a.get("waited_s"),
            }
        )
    return out


def money(receipt: Mapping[str, Any]) -> dict[str, Any]:
    o = receipt.get("outcome") or {}
    base = o.get("baseline") or {}
    cost, bcost, saved = o.get("cost_usd"), base.get("cost_usd"), o.get("savings_usd")
    pct = 100.0 * saved / bcost if isinstance(saved, int | float) and bcost else None
    return {
        "deployment": o.get("deployment"),
        "usage": o.get("usage"),
        "cost_usd": cost,
        "baseline": base.get("deployment"),
        "baseline_cost_usd": bcost,
        "savings_usd": saved,
        "savings_pct": None if pct is None else round(pct, 1),
    }


def summarize(receipt: Mapping[str, Any], *, show_all: bool = False) -> dict[str, Any]:
    """Everything `unhardcoded trace ID` shows, in the order it shows it."""
    pol = receipt.get("policy") or {}
    candidates = receipt.get("candidates") or []
    passed = [c for c in candidates if c.get("status") != "rejected"]
    passed.sort(key=lambda c: c.get("rank") or 0)
    return {
        "explanation": receipt.get("explanation") or receipt.get("decision_explanation"),
        "request_id": receipt.get("request_id"),
        "trace_id": receipt.get("trace_id"),
        "workflow": receipt.get("workflow"),
        "created_at": receipt.get("created_at"),
        "status": receipt.get("status"),
        "pinned": receipt.get("pinned"),
        "policy": {
            "name": pol.get("name"),
            "workload": pol.get("workload"),
            "fingerprint": pol.get("fingerprint"),
            "sha256": pol.get("sha256"),
            "rules": (pol.get("canonical") or {}).get("rules", []),
        },
        "catalog_version": receipt.get("catalog_version"),
        "features": receipt.get("features"),
        "counts": receipt.get("counts") or {},
        "waived": receipt.get("waived") or [],
        "passed": [
            {
                "deployment": c["deployment"],
                "rank": c.get("rank"),
                "status": c.get("status"),
                "planned": c.get("planned"),
                "est_cost_usd": c.get("est_cost_usd"),
            }
            for c in (passed if show_all else passed[:10])
        ],
        "rejected": rejection_groups(receipt, show_all=show_all),
        "attempts": timeline(receipt),
        "money": money(receipt),
        "latency_ms": (receipt.get("outcome") or {}).get("latency_ms"),
        "error": (receipt.get("outcome") or {}).get("error"),
    }


def _text(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)
