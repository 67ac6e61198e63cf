"""decide(policy, catalog, features, runtime) -> Decision: filter, rank, select. Pure and deterministic.

A rule's result is a bitmask of the candidates failing it (bit i = the catalog's i-th deployment), read
off per-field indexes instead of a scan: sorted values with prefix masks for comparisons (one bisect),
value -> mask for equality and `in`, element -> mask for list fields. Masks combine with `|` and `&`, and
each rule's failing indices are expanded once, in C. The indexes are built on first use and kept on
the Catalog (`catalog.derived`): derived from immutable data, they never change a result.
The derived `est_cost_usd` depends on the request, so rules on it are plain scans over a fresh column.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import compress
from operator import neg, not_
from typing import Any

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.cost import est_cost_column
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
    """Indices of the candidates whose value fails `rule`: the plain scan, for columns without an index."""
    if rule.op == "exists":
        if rule.value:
            return [i for i, v in enumerate(column) if v is None]
        return [i for i, v in enumerate(column) if v is not None]
    x = rule.value
    if rule.op in ("in", "not_in", "has_any", "has_all"):
        x = frozenset(x)
    closed, open_ = SCANS[rule.op]
    return closed(column, x) if rule.missing == "reject" else open_(column, x)


NAN = math.nan
# _BITS[b] = the 8 bits of byte b, least significant first, one byte (0 or 1) each.
_BITS = [bytes((b >> j) & 1 for j in range(8)) for b in range(256)]
_SPARSE = 24  # below this many set bits, peeling them one by one beats expanding every byte


def _indices(mask: int, rows: tuple[int, ...]) -> tuple[int, ...]:
    """The set bits of `mask`, ascending (`rows` is range(n) as a tuple: no int is allocated per row)."""
    if not mask:
        return ()
    if mask.bit_count() <= _SPARSE:
        out = []
        while mask:
            low = mask & -mask
            out.append(low.bit_length() - 1)
            mask ^= low
        return tuple(out)
    flags = b"".join(map(_BITS.__getitem__, mask.to_bytes((len(rows) + 7) // 8, "little")))
    return tuple(compress(rows, flags))


def _mask(indices: tuple[int, ...] | list[int]) -> int:
    m = 0
    for i in indices:
        m |= 1 << i
    return m


class _Index:
    """One catalog field, indexed: presence, value -> mask (or list element -> mask), sorted values."""

    __slots__ = ("_floats", "_sorted", "all", "missing", "present", "rank", "values")

    def __init__(self, catalog: Catalog, name: str) -> None:
        raw = catalog.column(name)
        field = catalog.fields.get(name)
        is_list = field is not None and field.type == "list"
        present = 0
        values: dict[Any, int] = {}
        for i, v in enumerate(raw):
            if v is None:
                continue
            bit = 1 << i
            present |= bit
            for key in v if is_list else (v,):
                values[key] = values.get(key, 0) | bit
        self.all = (1 << len(raw)) - 1
        self.present = present
        self.missing = self.all & ~present
        self.values = values  # for a list field, keyed by element
        # Numbers as they are, dates as day ordinals (what a comparison and a rank key compare).
        self.rank: list[float | None] | None = (
            catalog.rank_column(name) if field is not None and field.type in ("number", "date") else None
        )
        self._sorted: tuple[list[float], list[int]] | None = None
        self._floats: list[float] | None = None

    def sorted(self) -> tuple[list[float], list[int]]:
        """(distinct values ascending, masks): masks[j] = the rows whose value is below values[j].

        With j = bisect_left(values, x), masks[j] holds the rows below x; with bisect_right, those at or
        below x. masks[-1] is every row with a value. One mask per distinct value keeps this small.
        """
        if self._sorted is None:
            assert self.rank is not None
            distinct: list[float] = []
            masks: list[int] = []
            acc = 0
            for v, i in sorted((v, i) for i, v in enumerate(self.rank) if v is not None):
                if not distinct or v != distinct[-1]:
                    distinct.append(v)
                    masks.append(acc)
                acc |= 1 << i
            masks.append(acc)
            self._sorted = (distinct, masks)
        return self._sorted

    def floats(self) -> list[float]:
        """Rank values as floats, NaN when missing (NaN != NaN marks them when ranking)."""
        if self._floats is None:
            assert self.rank is not None
            self._floats = [NAN if v is None else float(v) for v in self.rank]
        return self._floats

    def fail_mask(self, rule: Rule) -> int:
        """The candidates failing `rule`, as a mask."""
        op, x = rule.op, rule.value
        if op == "exists":
            return self.missing if x else self.present
        get = self.values.get
        passing: int
        if op in ("<", "<=", ">", ">="):
            values, prefix = self.sorted()
            if isinstance(x, str):  # a date: compare day ordinals, as the rank column holds them
                x = _ordinal(x)
            if op == "<":
                passing = prefix[bisect_left(values, x)]
            elif op == "<=":
                passing = prefix[bisect_right(values, x)]
            elif op == ">":
                passing = self.present ^ prefix[bisect_right(values, x)]
            else:
                passing = self.present ^ prefix[bisect_left(values, x)]
        elif op in ("==", "has"):
            passing = get(x, 0)
        elif op == "!=":
            passing = self.present & ~get(x, 0)
        elif op in ("in", "has_any"):
            passing = 0
            for v in x:
                passing |= get(v, 0)
        elif op == "not_in":
            passing = self.present
            for v in x:
                passing &= ~get(v, 0)
        elif op == "has_all":
            passing = self.present
            for v in x:
                passing &= get(v, 0)
        else:
            raise ValueError(f"unknown op {op!r}")
        return (self.all if rule.missing == "reject" else self.present) & ~passing


def _ordinal(date: str) -> float:
    return float(dt.date.fromisoformat(date).toordinal())


class _Indexes:
    """Everything derived from one catalog: its rows as a tuple of ints and the field indexes built so far."""

    __slots__ = ("catalog", "fields", "rows")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.rows = tuple(range(len(catalog)))
        self.fields: dict[str, _Index] = {}

    def __getitem__(self, name: str) -> _Index:
        ix = self.fields.get(name)
        if ix is None:
            ix = self.fields[name] = _Index(self.catalog, name)
        return ix


def _indexes(catalog: Catalog) -> _Indexes:
    """The indexes of one catalog, built on first use and kept on the catalog itself (which never changes)."""
    entry = catalog.derived.get("engine.indexes")
    if entry is None:
        entry = catalog.derived["engine.indexes"] = _Indexes(catalog)
    assert isinstance(entry, _Indexes)
    return entry


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
    n = len(catalog)
    indexes = _indexes(catalog)
    est: list[float | None] | None = None
    failed: list[tuple[int, ...]] = []
    hard = 0
    for r in rules:
        if r.field == "est_cost_usd":
            if est is None:
                est = est_cost_column(catalog, features)
            idx = tuple(scan(est, r))
            hard |= _mask(idx)
        else:
            m = indexes[r.field].fail_mask(r)
            hard |= m
            idx = _indices(m, indexes.rows)
        failed.append(idx)
    soft = 0
    index = catalog.index
    actuals: dict[str, dict[str, Any]] = {}
    soft_rules: list[tuple[Rule, tuple[int, ...]]] = []
    for rr in runtime.rules:
        idx = tuple(sorted(j for j in (index(d) for d in rr.excluded) if j is not None))
        rule = Rule(rr.id, rr.field, rr.op, rr.expected, source="runtime")
        actuals[rr.id] = dict(rr.excluded)
        if rr.soft:
            soft_rules.append((rule, idx))
            soft |= _mask(idx)
        else:
            rules.append(rule)
            failed.append(idx)
            hard |= _mask(idx)
    waived: list[str] = []
    everyone = (1 << n) - 1
    passing = everyone & ~(hard | soft)
    if soft_rules and not passing and hard != everyone:
        # A circuit breaker must never remove every candidate: waive it and say so. When the other rules
        # already leave nobody it changes nothing, so it applies: each candidate shows every rule it failed.
        waived = [r.id for r, _ in soft_rules]
        passing = everyone & ~hard
    else:
        for rule, idx in soft_rules:
            rules.append(rule)
            failed.append(idx)
    ranked, values = _rank(policy, indexes, features, list(_indices(passing, indexes.rows)), est)
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
        # The column the limit compared, so the receipt shows those very values (not recomputed ones).
        _derived={} if est is None else {"est_costs": est},
    )


def _rank(
    policy: Policy,
    indexes: _Indexes,
    features: RequestFeatures,
    passers: list[int],
    est: list[float | None] | None,
) -> tuple[list[int], list[tuple[float | None, ...]]]:
    """Passers sorted by the rank keys; a missing value ranks last whatever the order; ties keep id order.

    One stable sort per key, last key first (passers arrive in id order, so full ties end up by id). Each
    pass sorts the candidates that have a value and appends those that do not, in their previous order.
    """
    if not passers:
        return [], []
    keys: list[list[float]] = []
    shown: list[list[float | None]] = []  # per key, the passers' values as the receipt shows them
    for key in policy.rank:
        if key.by == "est_cost_usd":
            if est is None:  # no limit on it: the ranking needs the passers' costs only
                values = est_cost_column(indexes.catalog, features, passers)
            else:
                values = list(map(est.__getitem__, passers))
            vals = [NAN if v is None else v for v in values]
        else:
            ix = indexes[key.by]
            assert ix.rank is not None
            values = list(map(ix.rank.__getitem__, passers))
            vals = list(map(ix.floats().__getitem__, passers))
        shown.append(values)
        keys.append(vals if key.order == "asc" else list(map(neg, vals)))
    order = list(range(len(passers)))
    for kv in reversed(keys):
        in_order = list(map(kv.__getitem__, order))
        has = [v == v for v in in_order]  # NaN (missing) is the one value not equal to itself
        present = list(compress(order, has))
        present.sort(key=kv.__getitem__)
        order = present + list(compress(order, map(not_, has)))
    ranked = list(map(passers.__getitem__, order))
    rank_values = list(zip(*(list(map(sv.__getitem__, order)) for sv in shown), strict=True))
    return ranked, rank_values
