"""What the gateway's read endpoints return, as frozen dataclasses (decoded by decode.py).

Receipt and its parts mirror the receipt JSON Schema (gateway/receipt_schema.py, `GET /x/schema/receipt`):
fields without a default are the schema's required properties, and tests/client/test_records_schema.py
fails when the two disagree. Money from roll-ups is Decimal (the gateway writes exact decimal strings);
money on receipts and traces is float, as the receipt carries it. Each top-level record keeps the JSON it
came from in `raw`, for keys newer than this client.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

CandidateStatus = Literal["rejected", "ranked", "attempted", "won"]


def _raw() -> Any:
    """The `raw` field: the JSON a record came from (a new Field each time: dataclasses mutate it)."""
    return field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """Why a rule rejected a candidate: the rule, what it expected and what the deployment had."""

    rule_id: str
    source: Literal["policy", "request", "limit", "runtime"]
    field: str
    op: str
    expected: Any
    actual: Any


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment of the catalog as the decision saw it."""

    deployment: str
    status: CandidateStatus
    est_cost_usd: float | None
    rejected_by: tuple[RuleFailure, ...] = ()
    rank: int | None = None
    rank_values: dict[str, Any] = field(default_factory=dict)
    planned: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to a provider: its status, latency and whether its error caused a fallback."""

    deployment: str
    provider: str
    started_at: dt.datetime
    latency_ms: float | None
    http_status: int | None
    error_class: str | None
    fell_back: bool
    ttft_ms: float | None = None
    error: str | None = None
    waited_s: float | None = None
    warnings: tuple[str, ...] = ()  # parameters the adapter dropped for this provider


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Baseline:
    deployment: str | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What answered (or why nothing did), what it cost and what the baseline would have cost."""

    status: str
    deployment: str | None
    usage: Usage | None
    cost_usd: float | None
    baseline: Baseline
    savings_usd: float | None
    latency_ms: float | None
    model: str | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    """The policy a call ran under: its canonical form and the names of that form."""

    fingerprint: str
    sha256: str
    workload: str
    canonical: dict[str, Any]
    name: str | None = None
    version: int | None = None  # the stored policy's version, when the call named a stored policy


@dataclass(frozen=True, slots=True)
class Workflow:
    id: str | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """One call's receipt (SPEC §4), decision expanded: every candidate, attempt and the outcome."""

    schema: str
    request_id: str
    trace_id: str
    span_id: str
    created_at: dt.datetime
    status: str
    policy: ReceiptPolicy
    catalog_version: str
    features: dict[str, Any]
    attempts: tuple[Attempt, ...]
    outcome: Outcome
    explanation: str | None
    candidates: tuple[Candidate, ...]
    rules: tuple[dict[str, Any], ...]
    parent_span_id: str | None = None
    workflow: Workflow | None = None
    tenant: str | None = None
    simulated: bool = False
    pinned: str | None = None
    decision_hash: str | None = None
    waived: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    counts: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    decision_explanation: str | None = None  # the decision's own sentence (before any attempt)
    budget: Budget | None = None  # when `rt:budget` fired: the cap, its spend then and what was left
    chain: Chain | None = None  # a committed final receipt's place in its tenant's hash chain
    raw: dict[str, Any] = _raw()

    @property
    def winner(self) -> Candidate | None:
        """The candidate that answered, if one did."""
        return next((c for c in self.candidates if c.status == "won"), None)

    def rejected(self) -> list[Candidate]:
        return [c for c in self.candidates if c.status == "rejected"]


@dataclass(frozen=True, slots=True)
class DryRun:
    """`POST /x/rank`: the decision a policy would make now, as a receipt without attempts."""

    policy: ReceiptPolicy
    catalog_version: str
    features: dict[str, Any]
    candidates: tuple[Candidate, ...]
    rules: tuple[dict[str, Any], ...]
    plan: tuple[str, ...]
    explanation: str | None = None
    waived: tuple[str, ...] = ()
    counts: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = _raw()

    @property
    def winner(self) -> str | None:
        """The deployment a call would try first."""
        return self.plan[0] if self.plan else None


@dataclass(frozen=True, slots=True)
class TraceTotals:
    """A trace's sums: money summed exactly by the gateway, then given as float."""

    calls: int
    cost_usd: float | None
    baseline_cost_usd: float | None
    savings_usd: float | None
    latency_ms: float | None
    fallbacks: int
    calls_per_deployment: dict[str, int]
    statuses: dict[str, int]
    rules_fired: dict[str, int]


@dataclass(frozen=True, slots=True)
class Trace:
    """Every receipt of one trace (a workflow's nodes), with totals."""

    trace_id: str
    receipts: tuple[Receipt, ...]
    totals: TraceTotals
    raw: dict[str, Any] = _raw()


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    """One search hit (`GET /x/traces?...`): the receipt's index row, not the whole receipt."""

    request_id: str
    trace_id: str
    status: str
    created_at: dt.datetime
    workload: str | None = None
    deployment: str | None = None
    fingerprint: str | None = None
    policy_sha256: str | None = None
    catalog_version: str | None = None
    decision_hash: str | None = None
    tenant: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    workflow_id: str | None = None
    workflow_node: str | None = None
    finished_at: dt.datetime | None = None
    cost_usd: float | None = None
    baseline_cost_usd: float | None = None
    savings_usd: float | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    fallbacks: int | None = None
    policy_name: str | None = None
    policy_version: int | None = None
    raw: dict[str, Any] = _raw()


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupSums:
    """Calls, tokens and money of a group (exact Decimal money; None where nothing was compared)."""

    calls: int
    ok: int
    partial: int
    errors: int
    no_route: int
    error_rate: float | None
    fallback_calls: int
    fallback_rate: float | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    calls_without_usage: int
    cost_usd: Decimal | None
    calls_without_price: int
    compared_calls: int
    calls_without_baseline: int
    compared_cost_usd: Decimal | None
    baseline_cost_usd: Decimal | None
    savings_usd: Decimal | None
    savings_pct: float | None


@dataclass(frozen=True, slots=True)
class PassedOver:
    """A pricier deployment that also passed the policy, and what choosing it would have cost."""

    deployment: str
    calls: int
    would_cost_usd: Decimal
    chosen_cost_usd: Decimal
    extra_usd: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupGroup(RollupSums):
    """One value of the roll-up's `by` (a workload, a day, a deployment...) and its sums."""

    key: Any = None
    passed_over: tuple[PassedOver, ...] = ()
    passed_over_more: int = 0
    calls_not_compared_with_passers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesPoint(RollupSums):
    """One day of one workload, for a chart."""

    day: dt.date
    workload: str | None = None


@dataclass(frozen=True, slots=True)
class Rollup:
    """`GET /x/rollup`: what routing cost and saved per group, and in total."""

    by: str
    since: dt.datetime
    until: dt.datetime
    groups: tuple[RollupGroup, ...]
    totals: RollupSums
    tenant: str | None = None
    workload: str | None = None
    unreadable_decisions: tuple[str, ...] = ()
    series: tuple[SeriesPoint, ...] | None = None
    raw: dict[str, Any] = _raw()


@dataclass(frozen=True, slots=True)
class AsThen:
    """The receipt's decision rebuilt from its own catalog version: identical, or the first difference."""

    identical: bool
    decision_hash: str | None = None
    stored_hash: str | None = None
    rebuilt_hash: str | None = None
    first_difference: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AsNow:
    """The same policy and request features against today's catalog; `error` when it cannot apply."""

    catalog_then: str | None = None
    catalog_now: str | None = None
    winner_then: str | None = None
    winner_now: str | None = None
    same_winner: bool | None = None
    plan_then: tuple[str, ...] = ()
    plan_now: tuple[str, ...] = ()
    passed_then: int | None = None
    passed_now: int | None = None
    est_cost_then_usd: float | None = None
    est_cost_now_usd: float | None = None
    changed: tuple[dict[str, Any], ...] = ()
    added: tuple[Any, ...] = ()
    gone: tuple[Any, ...] = ()
    runtime: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One receipt replayed: as then (must be identical) and now."""

    request_id: str
    trace_id: str
    as_then: AsThen
    created_at: dt.datetime | None = None
    status: str | None = None
    fingerprint: str | None = None
    workload: str | None = None
    answered_by: str | None = None
    catalog_version: str | None = None
    now: AsNow | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """`POST /x/replay` for a receipt or a trace."""

    receipts: tuple[ReplayResult, ...]
    identical: bool
    mismatches: int
    raw: dict[str, Any] = _raw()


@dataclass(frozen=True, slots=True)
class Chain:
    """Where a receipt sits in its tenant's tamper-evident chain: keep `seq` and `hash` (the
    `x-unhardcoded-receipt` header) to prove later that the store still holds it unchanged."""

    seq: int
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class Budget:
    """A spend cap and where it stands in its current period."""

    id: str
    period: str
    cap_usd: float
    since: dt.datetime
    spent_usd: float
    left_usd: float
    workload: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A named policy: from the config (`version` None) or one stored version."""

    name: str
    fingerprint: str
    sha256: str
    version: int | None = None
    source: str | None = None
    created_at: dt.datetime | None = None
    policy: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PolicyHistory:
    """`GET /x/policies/{name}`: every version, oldest first."""

    name: str
    source: str
    versions: tuple[StoredPolicy, ...]
