"""Differences between decisions. Pure: no I/O, no clock.

`first_difference` compares a stored decision with its rebuild (as then: any difference is a defect).
`diff_decisions` compares the decision then with the one today's catalog gives (now): per candidate whose
fate changed, the rules it now fails or passes and the field values that moved it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unhardcoded.policy.decision import Decision
from unhardcoded.policy.model import Rule

PRICE_FIELDS = ("price_input_per_mtok", "price_output_per_mtok")
DERIVED_FROM_PRICES = ("est_cost_usd", "price_blended_per_mtok")


def first_difference(stored: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> dict[str, Any] | None:
    """None when the two decisions are equal; else where they first differ, candidates first."""
    a, b = stored.get("candidates") or [], rebuilt.get("candidates") or []
    for i in range(max(len(a), len(b))):
        ca = a[i] if i < len(a) else None
        cb = b[i] if i < len(b) else None
        if ca == cb:
            continue
        dep = (ca or cb or {}).get("deployment")
        keys = sorted({*(ca or {}), *(cb or {})})
        fields = [k for k in keys if (ca or {}).get(k) != (cb or {}).get(k)]
        return {
            "where": "candidate",
            "index": i,
            "deployment": dep,
            "fields": fields,
            "stored": {k: (ca or {}).get(k) for k in fields},
            "rebuilt": {k: (cb or {}).get(k) for k in fields},
        }
    for key in sorted({*stored, *rebuilt}):
        if key != "candidates" and stored.get(key) != rebuilt.get(key):
            return {"where": key, "stored": stored.get(key), "rebuilt": rebuilt.get(key)}
    return None


def fate(d: Decision, i: int, position: Mapping[int, int]) -> str:
    """winner (ranked first), planned, passed (ranked, not planned) or rejected."""
    pos = position.get(i)
    if pos is None:
        return "rejected"
    if pos == 0:
        return "winner"
    return "planned" if pos < len(d.plan) else "passed"


def relevant_fields(d: Decision) -> list[str]:
    """The catalog fields this decision looked at: every rule's field and every rank key's."""
    names: list[str] = []
    for name in [r.field for r in d.rules if r.source != "runtime"] + [k.by for k in d.policy.rank]:
        expanded = PRICE_FIELDS + (name,) if name in DERIVED_FROM_PRICES else (name,)
        names += [n for n in expanded if n not in names]
    return names


def _value(d: Decision, i: int, name: str) -> Any:
    if name == "est_cost_usd":
        return d.est_cost(i)
    v = d.catalog.deployments[i].get(name)
    return sorted(v) if isinstance(v, list | tuple | frozenset | set) else v


def failed_rules(d: Decision) -> list[tuple[str, ...]]:
    """Per candidate, the ids of the rules it failed, in rule order: one pass over the failures."""
    out: list[list[str]] = [[] for _ in range(len(d.catalog))]
    for r, fails in zip(d.rules, d.failed, strict=True):
        for i in fails:
            out[i].append(r.id)
    return [tuple(x) for x in out]


def _rule_changes(
    then: Decision, i: int, failed_then: tuple[str, ...], now: Decision, j: int, failed_now: tuple[str, ...]
) -> list[dict[str, Any]]:
    if failed_then == failed_now:
        return []
    rules: dict[str, tuple[Rule | None, Rule | None]] = {}
    for r in then.rules:
        rules[r.id] = (r, None)
    for r in now.rules:
        rules[r.id] = (rules.get(r.id, (None, None))[0], r)
    out: list[dict[str, Any]] = []
    for rid, (rt, rn) in rules.items():
        was, is_ = rid in failed_then, rid in failed_now
        if was == is_:
            continue
        rule = rn or rt
        assert rule is not None
        out.append(
            {
                "rule_id": rid,
                "source": rule.source,
                "field": rule.field,
                "op": rule.op,
                "expected": list(rule.value) if isinstance(rule.value, tuple) else rule.value,
                "then": _plain(then.actual(rt, i)) if rt is not None else None,
                "now": _plain(now.actual(rn, j)) if rn is not None else None,
                "now_passes": was and not is_,
            }
        )
    return out


def _plain(v: Any) -> Any:
    return sorted(v) if isinstance(v, frozenset | set | tuple) else v


def diff_decisions(then: Decision, now: Decision) -> dict[str, Any]:
    """The decision now against the decision then: winners, changed fates, added and gone, costs."""
    pos_then = {i: p for p, i in enumerate(then.ranked)}
    pos_now = {i: p for p, i in enumerate(now.ranked)}
    fails_then = failed_rules(then)
    fails_now = fails_then if now is then else failed_rules(now)
    same = now is then  # the same inputs gave the very same decision (memoised): nothing can differ
    fields = relevant_fields(then)
    fields += [n for n in relevant_fields(now) if n not in fields]
    changed: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    for i, dep_id in enumerate(() if same else then.catalog.ids):
        j = now.catalog.index(dep_id)
        f_then = fate(then, i, pos_then)
        if j is None:
            gone.append({"deployment": dep_id, "then": f_then})
            continue
        f_now = fate(now, j, pos_now)
        rules = _rule_changes(then, i, fails_then[i], now, j, fails_now[j])
        # A new place in the attempt plan is a new fate (the fallback order); a passer's rank alone is not.
        replanned = f_then == f_now == "planned" and pos_then.get(i) != pos_now.get(j)
        if f_then == f_now and not rules and not replanned:
            continue
        values = [
            {"field": n, "then": a, "now": b}
            for n in fields
            if (a := _value(then, i, n)) != (b := _value(now, j, n))
        ]
        changed.append(
            {
                "deployment": dep_id,
                "then": f_then,
                "now": f_now,
                "rank_then": None if i not in pos_then else pos_then[i] + 1,
                "rank_now": None if j not in pos_now else pos_now[j] + 1,
                "rules": rules,
                "values": values,
            }
        )
    added = [
        {
            "deployment": dep_id,
            "now": fate(now, j, pos_now),
            "rank_now": None if j not in pos_now else pos_now[j] + 1,
            "rejected_by": list(fails_now[j]),
        }
        for j, dep_id in enumerate(() if same else now.catalog.ids)
        if then.catalog.index(dep_id) is None
    ]
    w_then = then.plan[0] if then.plan else None
    w_now = now.plan[0] if now.plan else None
    return {
        "catalog_then": then.catalog.version,
        "catalog_now": now.catalog.version,
        "winner_then": w_then,
        "winner_now": w_now,
        "same_winner": w_then == w_now,
        "plan_then": list(then.plan),
        "plan_now": list(now.plan),
        "passed_then": len(then.ranked),
        "passed_now": len(now.ranked),
        "est_cost_then_usd": _est(then, w_then),
        "est_cost_now_usd": _est(now, w_now),
        "changed": changed,
        "added": added,
        "gone": gone,
    }


def _est(d: Decision, dep_id: str | None) -> float | None:
    i = d.catalog.index(dep_id) if dep_id is not None else None
    return None if i is None else d.est_cost(i)


def describe_change(c: Mapping[str, Any]) -> str:
    """One line: `alpha/cheap rejected → winner: bench_intelligence 50 → 62: now passes quality`."""
    was, is_ = _fate_text(c["then"], c.get("rank_then")), _fate_text(c["now"], c.get("rank_now"))
    head = f"{c['deployment']} {was} → {is_}"
    parts = [f"{v['field']} {_num(v['then'])} → {_num(v['now'])}" for v in c.get("values", [])]
    for r in c.get("rules", []):
        verb = "now passes" if r["now_passes"] else "now fails"
        test = f"{r['field']} {r['op']} {_num(r['expected'])}"
        parts.append(f"{verb} {r['rule_id']} ({test}; {_num(r['then'])} → {_num(r['now'])})")
    return head + (": " + "; ".join(parts) if parts else "")


def _fate_text(f: str, rank: int | None) -> str:
    return f"{f} #{rank}" if f in ("planned", "passed") and rank is not None else f


def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)
