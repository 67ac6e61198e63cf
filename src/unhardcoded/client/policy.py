"""Typed builders for sigma-pol/v1 policies: `Policy(rules=[Rule.ge("bench_intelligence", 55)])`.

A builder is a frozen value that only writes the JSON document the gateway reads; validating it and
computing its fingerprint reuse the gateway's own parser (policy/parse.py) and canonical form
(policy/canonical.py), so the client and the gateway cannot disagree about what a policy means.
tests/client/test_policy_schema.py walks policy/schema.json so that the builders cannot drift from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from unhardcoded.catalog.fields import FieldRegistry

if TYPE_CHECKING:
    from unhardcoded.policy.model import Policy as CanonicalPolicy

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "has", "has_any", "has_all", "exists"]
Missing = Literal["reject", "pass"]
Order = Literal["asc", "desc"]
OnBudget = Literal["reject", "downgrade"]
FallbackClass = Literal["rate_limited", "server_error", "timeout", "connection_error", "bad_response"]
Scalar = str | int | float | bool
Fields = FieldRegistry | Mapping[str, Mapping[str, Any]] | None

OPS: tuple[str, ...] = get_args(Op)
FALLBACK_CLASSES: tuple[str, ...] = get_args(FallbackClass)
ON_BUDGET: tuple[str, ...] = get_args(OnBudget)
# The Rule constructor for each op: `in` is a keyword in Python, hence `in_`.
CONSTRUCTORS: dict[str, str] = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "in_": "in",
    "not_in": "not_in",
    "has": "has",
    "has_any": "has_any",
    "has_all": "has_all",
    "exists": "exists",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One filter: a candidate passes when `field op value` holds. Build it with `Rule.ge(...)` & co."""

    field: str
    op: Op
    value: Scalar | tuple[Scalar, ...] | None = None  # None only for exists (meaning true)
    missing: Missing = "reject"
    id: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op {self.op!r} is not a sigma-pol/v1 op; valid: {', '.join(OPS)}")
        if isinstance(self.value, list | set | frozenset):
            object.__setattr__(self, "value", tuple(self.value))

    @classmethod
    def eq(cls, field: str, value: Scalar, *, missing: Missing = "reject", id: str | None = None) -> Rule:
        """`field == value`."""
        return cls(field, "==", value, missing, id)

    @classmethod
    def ne(cls, field: str, value: Scalar, *, missing: Missing = "reject", id: str | None = None) -> Rule:
        """`field != value`."""
        return cls(field, "!=", value, missing, id)

    @classmethod
    def lt(
        cls, field: str, value: float | str, *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """`field < value` (numbers, or dates as YYYY-MM-DD)."""
        return cls(field, "<", value, missing, id)

    @classmethod
    def le(
        cls, field: str, value: float | str, *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """`field <= value`."""
        return cls(field, "<=", value, missing, id)

    @classmethod
    def gt(
        cls, field: str, value: float | str, *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """`field > value`."""
        return cls(field, ">", value, missing, id)

    @classmethod
    def ge(
        cls, field: str, value: float | str, *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """`field >= value`."""
        return cls(field, ">=", value, missing, id)

    @classmethod
    def in_(
        cls, field: str, values: Sequence[Scalar], *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """`field` is one of `values`."""
        return cls(field, "in", tuple(values), missing, id)

    @classmethod
    def not_in(
        cls, field: str, values: Sequence[Scalar], *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """`field` is none of `values`."""
        return cls(field, "not_in", tuple(values), missing, id)

    @classmethod
    def has(cls, field: str, value: str, *, missing: Missing = "reject", id: str | None = None) -> Rule:
        """The list field `field` contains `value` (e.g. capabilities has tools)."""
        return cls(field, "has", value, missing, id)

    @classmethod
    def has_any(
        cls, field: str, values: Sequence[str], *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """The list field `field` contains at least one of `values`."""
        return cls(field, "has_any", tuple(values), missing, id)

    @classmethod
    def has_all(
        cls, field: str, values: Sequence[str], *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """The list field `field` contains every one of `values`."""
        return cls(field, "has_all", tuple(values), missing, id)

    @classmethod
    def exists(
        cls, field: str, present: bool = True, *, missing: Missing = "reject", id: str | None = None
    ) -> Rule:
        """The deployment has a value for `field` (or, with `present=False`, has none)."""
        return cls(field, "exists", present, missing, id)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.id is not None:
            out["id"] = self.id
        if self.value is not None:
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        if self.missing != "reject":
            out["missing"] = self.missing
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Rule:
        return cls(doc["field"], doc["op"], doc.get("value"), doc.get("missing", "reject"), doc.get("id"))


@dataclass(frozen=True, slots=True)
class Rank:
    """One rank key: `Rank("bench_intelligence", "desc")`, or `Rank.desc("bench_intelligence")`."""

    by: str
    order: Order = "asc"

    @classmethod
    def asc(cls, by: str) -> Rank:
        return cls(by, "asc")

    @classmethod
    def desc(cls, by: str) -> Rank:
        return cls(by, "desc")

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "order": self.order}


@dataclass(frozen=True, slots=True)
class Select:
    """How many ranked passers form the attempt plan (1-50)."""

    max_candidates: int = 3


@dataclass(frozen=True, slots=True)
class Fallback:
    """Which error classes move on to the next planned candidate, and how many attempts in all."""

    on: tuple[FallbackClass, ...] = ("rate_limited", "server_error", "timeout", "connection_error")
    max_attempts: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "on", tuple(self.on))


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-call limits; `max_est_cost_usd` drops candidates estimated to cost more (rule lim:max-est-cost)."""

    max_est_cost_usd: float | None = None


class _NoBaseline:
    """The type of NO_BASELINE: compare with nothing, whatever the config's default_baseline says."""

    def __repr__(self) -> str:
        return "NO_BASELINE"


NO_BASELINE = _NoBaseline()


@dataclass(frozen=True, slots=True)
class Policy:
    """A sigma-pol/v1 policy for the gateway, built from typed parts.

    `baseline=None` leaves it to the config's `default_baseline`; `baseline=NO_BASELINE` compares with
    nothing. `as_extra_body()` validates (the gateway's own parser, the bundled catalog's fields unless
    `fields=` names yours) and returns `{"policy": {...}}` for the OpenAI SDK's `extra_body`.
    """

    rules: Sequence[Rule] = ()
    rank: Sequence[Rank] | None = None
    baseline: str | _NoBaseline | None = None
    workload: str | None = None
    select: Select | None = None
    fallback: Fallback | None = None
    limits: Limits | None = None
    on_budget: OnBudget | None = None
    fields: Fields = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if self.rank is not None:
            object.__setattr__(self, "rank", tuple(self.rank))

    def to_dict(self) -> dict[str, Any]:
        """The policy document as the gateway reads it; only what was set (the rest takes its default)."""
        out: dict[str, Any] = {}
        if self.workload is not None:
            out["workload"] = self.workload
        if self.rules:
            out["rules"] = [r.to_dict() for r in self.rules]
        if self.rank is not None:
            out["rank"] = [k.to_dict() for k in self.rank]
        if self.select is not None:
            out["select"] = {"max_candidates": self.select.max_candidates}
        if self.fallback is not None:
            out["fallback"] = {"on": list(self.fallback.on), "max_attempts": self.fallback.max_attempts}
        if isinstance(self.baseline, _NoBaseline):
            out["baseline"] = None
        elif self.baseline is not None:
            out["baseline"] = self.baseline
        if self.limits is not None:
            lim = self.limits.max_est_cost_usd
            out["limits"] = {} if lim is None else {"max_est_cost_usd": lim}
        if self.on_budget is not None:
            out["on_budget"] = self.on_budget
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, fields: Fields = None) -> Policy:
        """A builder from a policy document (a stored policy's canonical form, say)."""
        sel, fb, lim = doc.get("select"), doc.get("fallback"), doc.get("limits")
        baseline = doc.get("baseline")
        rank = doc.get("rank")
        return cls(
            rules=tuple(Rule.from_dict(r) for r in doc.get("rules", [])),
            rank=None if rank is None else tuple(Rank(k["by"], k.get("order", "asc")) for k in rank),
            baseline=NO_BASELINE if "baseline" in doc and baseline is None else baseline,
            workload=doc.get("workload"),
            select=None if sel is None else Select(**sel),
            fallback=None if fb is None else Fallback(**fb),
            limits=None if lim is None else Limits(**lim),
            on_budget=doc.get("on_budget"),
            fields=fields,
        )

    def validate(self, *, default_baseline: str | None = None) -> CanonicalPolicy:
        """The gateway's validated, canonical form; raises PolicyError naming the JSON path and choices.

        `default_baseline`: the gateway config's, which fills in `baseline` when this policy names none.
        """
        from unhardcoded.policy.parse import parse_policy

        return parse_policy(self.to_dict(), _registry(self.fields), default_baseline=default_baseline)

    def fingerprint(self, *, default_baseline: str | None = None) -> str:
        """The fingerprint the gateway writes on the receipt, `R-P (sigma-pol/v1)` (SPEC §2)."""
        return self.validate(default_baseline=default_baseline).fingerprint

    def as_extra_body(self, *, validate: bool = True) -> dict[str, Any]:
        """`{"policy": {...}}` for `client.chat.completions.create(..., extra_body=...)`."""
        if validate:
            self.validate()
        return {"policy": self.to_dict()}


def _registry(fields: Fields) -> FieldRegistry:
    if fields is None:
        return FieldRegistry()
    if isinstance(fields, FieldRegistry):
        return fields
    return FieldRegistry.with_custom(fields)
