"""Proof that a rule was enforced on one call: the stored decision, checked against the content hash the
receipt names and rebuilt from its inputs (catalog version, canonical policy, features, runtime rules);
every deployment the rule excluded with the value that failed; and that the winner passed it.
Reads only; writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from unhardcoded.errors import UserError
from unhardcoded.policy.decision import Decision
from unhardcoded.review.replay import Replayer, ReplayNotFound
from unhardcoded.store.base import ReceiptStore


def place(region: Any, endpoint_region: Any, geography: Any) -> Any:
    """Where a deployment serves: its region, else its endpoint's, else its geography (`eu`, `us`, `global`:
    many catalog entries state only that)."""
    return region or endpoint_region or geography


def _place(d: Decision | None, dep_id: str) -> tuple[Any, list[str]]:
    dep = d.catalog.get(dep_id) if d is not None else None
    if dep is None:
        return None, []
    return place(dep.get("region"), dep.endpoint_region, dep.get("geography")), sorted(
        dep.get("capabilities") or []
    )


def _rule_proof(
    entry: Mapping[str, Any],
    decision: Mapping[str, Any],
    rebuilt: Decision | None,
    receipt: Mapping[str, Any],
) -> dict[str, Any]:
    rid = entry["id"]
    candidates = decision.get("candidates") or []
    excluded = []
    for c in candidates:
        for f in c.get("rejected_by") or []:
            if f.get("rule_id") == rid:
                region, caps = _place(rebuilt, c["deployment"])
                excluded.append(
                    {"deployment": c["deployment"], "actual": f.get("actual"), "region": region}
                    | {"capabilities": caps}
                )
    status = {c["deployment"]: c.get("status") for c in candidates}
    winner = (
        (receipt.get("outcome") or {}).get("deployment")
        if receipt.get("status") in ("ok", "partial")
        else None
    )
    out_ids = {e["deployment"] for e in excluded}
    attempted = [a.get("deployment") for a in receipt.get("attempts") or []]
    rule_obj = next((r for r in rebuilt.rules if r.id == rid), None) if rebuilt is not None else None
    winner_value = None
    if winner is not None and rule_obj is not None and rebuilt is not None:
        i = rebuilt.catalog.index(winner)
        winner_value = rebuilt.actual(rule_obj, i) if i is not None else None
    return {
        "rule_id": rid,
        "source": entry.get("source"),
        "field": entry.get("field"),
        "op": entry.get("op"),
        "expected": entry.get("value"),
        "missing": entry.get("missing"),
        "evaluated_on": len(candidates),
        "excluded_count": len(excluded),
        "count_agrees": len(excluded) == int(entry.get("rejected") or 0),
        "excluded": excluded,
        "winner": winner,
        "winner_value": winner_value,
        "winner_passed": None
        if winner is None
        else (winner not in out_ids and status.get(winner) == "ranked"),
        "attempted_passed": all(a not in out_ids for a in attempted),
    }


async def prove(store: ReceiptStore, request_id: str, *, rule: str | None = None) -> dict[str, Any]:
    """The proof for `rule` (or every rule) on the call `request_id`. `enforced` is true when the stored
    decision hashes to the hash the receipt names, rebuilds identically from its inputs, and the winner
    (if any) and every attempted deployment passed the rule(s). ReplayNotFound (404) for an unknown id;
    UserError naming `rule` with the decision's rules as choices for a rule it did not apply."""
    receipt = await store.get(request_id)
    if receipt is None:
        raise ReplayNotFound(f"request_id: no receipt {request_id!r}", path="request_id")
    decision = receipt.get("decision")
    pol = receipt.get("policy") or {}
    out: dict[str, Any] = {
        "request_id": request_id,
        "trace_id": receipt.get("trace_id"),
        "created_at": receipt.get("created_at"),
        "status": receipt.get("status"),
        "fingerprint": pol.get("fingerprint"),
        "policy_sha256": pol.get("sha256"),
        "workload": pol.get("workload"),
        "catalog_version": receipt.get("catalog_version"),
        "decision_hash": receipt.get("decision_hash"),
    }
    if not isinstance(decision, dict):
        return out | {"enforced": False, "error": "the receipt's decision is not in the store", "rules": []}
    known = [r["id"] for r in decision.get("rules") or []]
    if rule is not None and rule not in known:
        raise UserError(
            f"rule: {rule!r} was not applied on {request_id}; valid: {', '.join(known)}",
            path="rule",
            choices=known,
        )
    content_hash = hashlib.sha256(orjson.dumps(decision)).hexdigest()
    rebuilt, verdict = await Replayer(store, None).as_then(receipt)
    entries = [r for r in decision.get("rules") or [] if rule is None or r["id"] == rule]
    proofs = [_rule_proof(e, decision, rebuilt, receipt) for e in entries]
    hash_ok = content_hash == receipt.get("decision_hash")
    enforced = (
        hash_ok
        and bool(verdict.get("identical"))
        and all(
            p["count_agrees"] and p["winner_passed"] is not False and p["attempted_passed"] for p in proofs
        )
    )
    return out | {
        "content_hash": content_hash,
        "hash_verified": hash_ok,
        "rebuilt_identical": bool(verdict.get("identical")),
        "rebuild": {k: v for k, v in verdict.items() if k in ("error", "first_difference", "rebuilt_hash")},
        "canonical_rules": ((decision.get("policy") or {}).get("canonical") or {}).get("rules", []),
        "enforced": enforced,
        "rules": proofs,
    }
