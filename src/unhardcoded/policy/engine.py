"""decide(policy, catalog, features, runtime) -> Decision: filter, rank, select. Pure and deterministic.

Each rule is one scan over a catalog column that returns the indices failing it; specialised per op so
that the inner loop is a comprehension without a function call per candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import Decision, RuntimeState
from unhardcoded.policy.model import Policy, Rule
from unhardcoded.policy.request import RequestFeatures

Scan = Callable[[list[Any], Any], list[int]]

# (fail closed on missing, fail open on missing) for each op: the indices whose value FAILS the test.
SCANS: dict[str, tuple[Scan, Scan]] = {
    "==": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or v != x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and v != x],
    ),
    "!=": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or v == x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and v == x],
    ),
    "<": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or not v < x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and not v < x],
    ),
    "<=": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or not v <= x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and not v <= x],
    ),
    ">": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or not v > x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and not v > x],
    ),
    ">=": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or not v >= x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and not v >= x],
    ),
    "in": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or v not in x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and v not in x],
    ),
    "not_in": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or v in x],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and v in x],
    ),
    "has": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or x not in v],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and x not in v],
    ),
    "has_any": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or v.isdisjoint(x)],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and v.isdisjoint(x)],
    ),
    "has_all": (
        lambda c, x: [i for i, v in enumerate(c) if v is None or not x <= v],
        lambda c, x: [i for i, v in enumerate(c) if v is not None and not x <= v],
    ),
}


def scan(column: list[Any], rule: Rule) -> list[int]:
    """Indices of the candidates whose value fails `rule`."""
    if rule.op == "exists":
        if rule.value:
            return [i for i, v in enumerate(column) if v is None]
        return [i for i, v in enumerate(column) if v is not None]
    x = rule.value
    if rule.op in ("in", "not_in", "has_any", "has_all"):
        x = frozenset(x)
    closed, open_ = SCANS[rule.op]
    return closed(column, x) if rule.missing == "reject" else open_(column, x)


def request_rules(features: RequestFeatures) -> list[Rule]:
    """The rules the call itself implies, written on the receipt with source "request"."""
    rules = [
        Rule(
            "req:context-fits",
            "context_window",
            ">=",
            features.est_input_tokens + features.est_output_tokens,
            source="request",
        )
    ]
    if features.max_output_tokens is not None:
        rules.append(
            Rule("req:max-output", "max_output_tokens", ">=", features.max_output_tokens, source="request")
        )
    for needed, rid, cap in (
        (features.needs_tools, "req:tools", "tools"),
        (features.needs_vision, "req:vision", "vision"),
        (features.needs_json_schema, "req:json-schema", "json_schema"),
        (features.stream, "req:streaming", "streaming"),
    ):
        if needed:
            rules.append(Rule(rid, "capabilities", "has", cap, source="request"))
    return rules


def est_cost_column(catalog: Catalog, features: RequestFeatures) -> list[float | None]:
    ti, to = features.est_input_tokens / 1e6, features.est_output_tokens / 1e6
    return [
        a * ti + b * to if a is not None and b is not None else None
        for a, b in zip(
            catalog.column("price_input_per_mtok"), catalog.column("price_output_per_mtok"), strict=True
        )
    ]


def decide(
    policy: Policy,
    catalog: Catalog,
    features: RequestFeatures,
    runtime: RuntimeState | None = None,
) -> Decision:
    """Evaluate every rule against every candidate, rank the passers, and plan the attempts."""
    runtime = runtime or RuntimeState()
    rules: list[Rule] = list(policy.rules) + request_rules(features)
    if policy.max_est_cost_usd is not None:
        rules.append(Rule("lim:max-est-cost", "est_cost_usd", "<=", policy.max_est_cost_usd, source="limit"))
    est: list[float | None] | None = None
    failed: list[tuple[int, ...]] = []
    for r in rules:
        if r.field == "est_cost_usd":
            if est is None:
                est = est_cost_column(catalog, features)
            col = est
        else:
            col = catalog.column(r.field)
        failed.append(tuple(scan(col, r)))
    hard_bad: set[int] = set()
    for f in failed:
        hard_bad.update(f)
    soft_bad: set[int] = set()
    index = catalog.index
    actuals: dict[str, dict[str, Any]] = {}
    soft_rules: list[tuple[Rule, tuple[int, ...]]] = []
    for rr in runtime.rules:
        idx = tuple(sorted(j for j in (index(d) for d in rr.excluded) if j is not None))
        rule = Rule(rr.id, rr.field, rr.op, rr.expected, source="runtime")
        actuals[rr.id] = dict(rr.excluded)
        if rr.soft:
            soft_rules.append((rule, idx))
            soft_bad.update(idx)
        else:
            rules.append(rule)
            failed.append(idx)
            hard_bad.update(idx)
    waived: list[str] = []
    n = len(catalog)
    passers = [i for i in range(n) if i not in hard_bad and i not in soft_bad]
    if soft_rules and not passers and len(hard_bad) < n:
        # A circuit breaker must never remove every candidate: waive it and say so. When the other rules
        # already leave nobody it changes nothing, so it applies: each candidate shows every rule it failed.
        waived = [r.id for r, _ in soft_rules]
        passers = [i for i in range(n) if i not in hard_bad]
    else:
        for rule, idx in soft_rules:
            rules.append(rule)
            failed.append(idx)
    ranked, values = _rank(policy, catalog, features, passers, est)
    plan = tuple(catalog.ids[i] for i in ranked[: policy.max_candidates])
    return Decision(
        policy=policy,
        catalog=catalog,
        features=features,
        rules=tuple(rules),
        failed=tuple(failed),
        ranked=tuple(ranked),
        rank_values=tuple(values),
        plan=plan,
        waived=tuple(waived),
        runtime_actuals=actuals,
    )


def _rank(
    policy: Policy,
    catalog: Catalog,
    features: RequestFeatures,
    passers: list[int],
    est: list[float | None] | None,
) -> tuple[list[int], list[tuple[float | None, ...]]]:
    columns: list[list[float | None]] = []
    for key in policy.rank:
        if key.by == "est_cost_usd":
            columns.append(est if est is not None else est_cost_column(catalog, features))
        else:
            columns.append(catalog.rank_column(key.by))
    signs = [1.0 if k.order == "asc" else -1.0 for k in policy.rank]

    def sort_key(i: int) -> tuple[Any, ...]:
        parts: list[Any] = []
        for col, sign in zip(columns, signs, strict=True):
            v = col[i]
            # Missing values rank last whatever the order; equal keys fall through to the id (index).
            parts.append((1, 0.0) if v is None else (0, sign * v))
        parts.append(i)
        return tuple(parts)

    ranked = sorted(passers, key=sort_key)
    values = [tuple(col[i] for col in columns) for i in ranked]
    return ranked, values
