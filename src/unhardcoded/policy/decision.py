"""The decision as a value: every rule, every candidate's fate, the ranked passers and the attempt plan. Pure.

A Decision keeps failing candidates per rule as index lists (cheap to compute); `to_dict` expands it into
the receipt's candidate list, with every failed rule's field, op, expected and actual value.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.cost import est_cost_column, est_cost_usd
from unhardcoded.policy.model import Policy, Rule
from unhardcoded.policy.request import RequestFeatures


@dataclass(frozen=True, slots=True)
class RuntimeRule:
    """A rule from live state, e.g. `rt:no-key` or `rt:circuit-open`, given as the deployments it drops."""

    id: str
    field: str
    op: str
    expected: Any
    excluded: Mapping[str, Any]  # deployment id -> the actual value written on the receipt
    soft: bool = False  # waived when it would leave no candidate at all (the circuit breaker)


@dataclass(frozen=True, slots=True)
class RuntimeState:
    rules: tuple[RuntimeRule, ...] = ()
    key: Hashable = 0  # changes whenever `rules` change; part of the memo key


@dataclass(frozen=True, slots=True)
class Failure:
    rule_id: str
    source: str
    field: str
    op: str
    expected: Any
    actual: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "source": self.source,
            "field": self.field,
            "op": self.op,
            "expected": list(self.expected) if isinstance(self.expected, tuple) else self.expected,
            "actual": _plain(self.actual),
        }


def _plain(v: Any) -> Any:
    if isinstance(v, frozenset | tuple | set):
        return sorted(v)
    return v


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    catalog: Catalog
    features: RequestFeatures
    rules: tuple[Rule, ...]  # every rule applied, in order: policy, request, limits, runtime
    failed: tuple[tuple[int, ...], ...]  # per rule, the indices of candidates that failed it
    ranked: tuple[int, ...]  # passing candidates in rank order
    rank_values: tuple[tuple[float | None, ...], ...]  # per ranked candidate, its rank key values
    plan: tuple[str, ...]  # deployment ids to try, in order
    waived: tuple[str, ...] = ()  # soft runtime rules not applied because they would drop everyone
    runtime_actuals: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Summaries computed from the fields above on first use (a memoised decision serves many calls).
    _derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_candidates(self) -> int:
        return len(self.catalog)

    @property
    def n_rejected(self) -> int:
        return len(self.catalog) - len(self.ranked)

    def actual(self, rule: Rule, i: int) -> Any:
        if rule.source == "runtime":
            return self.runtime_actuals.get(rule.id, {}).get(self.catalog.ids[i])
        if rule.field == "est_cost_usd":
            return self.est_cost(i)
        return _plain(self.catalog.deployments[i].get(rule.field))

    def est_cost(self, i: int) -> float | None:
        """Estimated cost in USD of this request on candidate i."""
        d = self.catalog.deployments[i]
        return est_cost_usd(d.get("price_input_per_mtok"), d.get("price_output_per_mtok"), self.features)

    def est_costs(self) -> list[float | None]:
        """`est_cost` of every candidate: the very column the engine compared, when it computed one."""
        est = self._derived.get("est_costs")
        if est is None:
            est = self._derived["est_costs"] = est_cost_column(self.catalog, self.features)
        return est

    def failures(self, i: int) -> list[Failure]:
        """Every rule candidate i failed, in rule order."""
        return [
            Failure(r.id, r.source, r.field, r.op, r.value, self.actual(r, i))
            for r, fails in zip(self.rules, self.failed, strict=True)
            if i in fails
        ]

    def rejection_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(candidates failing each rule, candidates whose first failed rule it is)."""
        cached = self._derived.get("rejection_counts")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        any_count = {r.id: len(f) for r, f in zip(self.rules, self.failed, strict=True) if f}
        first: dict[str, int] = {}
        seen: set[int] = set()
        for r, fails in zip(self.rules, self.failed, strict=True):
            new = [i for i in fails if i not in seen]
            if new:
                first[r.id] = len(new)
                seen.update(new)
        self._derived["rejection_counts"] = (any_count, first)
        return any_count, first

    def to_dict(self) -> dict[str, Any]:
        """The decision exactly as a receipt carries it."""
        from unhardcoded.policy.explain import explain

        cat = self.catalog
        est = self.est_costs()
        # Built rule by rule (one scan of each rule's failures), not candidate by candidate: a receipt of
        # a 2,000-deployment catalog holds thousands of failures.
        rejected_by: list[list[dict[str, Any]] | None] = [None] * len(cat)
        for r, fails in zip(self.rules, self.failed, strict=True):
            if not fails:
                continue
            base = {
                "rule_id": r.id,
                "source": r.source,
                "field": r.field,
                "op": r.op,
                "expected": list(r.value) if isinstance(r.value, tuple) else r.value,
            }
            if r.source == "runtime":
                amap = self.runtime_actuals.get(r.id, {})
                values: list[Any] = [amap.get(cat.ids[i]) for i in fails]
            elif r.field == "est_cost_usd":
                values = [est[i] for i in fails]
            else:
                col = cat.column(r.field)
                values = [_plain(col[i]) for i in fails]
            for i, v in zip(fails, values, strict=True):
                item = {**base, "actual": v}
                lst = rejected_by[i]
                if lst is None:
                    rejected_by[i] = [item]
                else:
                    lst.append(item)
        rank_pos = {i: pos for pos, i in enumerate(self.ranked)}
        keys = [k.by for k in self.policy.rank]
        n_plan = len(self.plan)
        candidates: list[dict[str, Any]] = []
        for i, dep_id in enumerate(cat.ids):
            pos = rank_pos.get(i)
            if pos is None:
                candidates.append(
                    {
                        "deployment": dep_id,
                        "status": "rejected",
                        "est_cost_usd": _round(est[i]),
                        "rejected_by": rejected_by[i] or [],
                    }
                )
            else:
                candidates.append(
                    {
                        "deployment": dep_id,
                        "status": "ranked",
                        "est_cost_usd": _round(est[i]),
                        "rank": pos + 1,
                        "rank_values": dict(zip(keys, self.rank_values[pos], strict=True)),
                        "planned": pos < n_plan,
                    }
                )
        any_count, first = self.rejection_counts()
        return {
            "policy": self.policy.to_dict(),
            "catalog_version": self.catalog.version,
            "features": self.features.to_dict(),
            "rules": [
                {
                    "id": r.id,
                    "source": r.source,
                    "field": r.field,
                    "op": r.op,
                    "value": list(r.value) if isinstance(r.value, tuple) else r.value,
                    "missing": r.missing,
                    "rejected": any_count.get(r.id, 0),
                }
                for r in self.rules
            ],
            "waived": list(self.waived),
            "plan": list(self.plan),
            "counts": {
                "candidates": self.n_candidates,
                "passed": len(self.ranked),
                "rejected": self.n_rejected,
                "rejected_first_by": first,
            },
            "candidates": candidates,
            "explanation": explain(self),
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 10)
