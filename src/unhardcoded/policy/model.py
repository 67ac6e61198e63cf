"""The policy as values: sigma-pol/v1 after validation, with every default filled in. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SCHEMA = "sigma-pol/v1"
Missing = Literal["reject", "pass"]
Order = Literal["asc", "desc"]
DEFAULT_FALLBACK_ON = ("rate_limited", "server_error", "timeout", "connection_error")
DEFAULT_RANK = (("est_cost_usd", "asc"),)
DEFAULT_MAX_CANDIDATES = 3
DEFAULT_MAX_ATTEMPTS = 3
MAX_PLAN = 50


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    field: str
    op: str
    value: Any  # canonical: tuples for lists, ints for integral numbers
    missing: Missing = "reject"
    source: str = "policy"  # policy | request | runtime | limit


@dataclass(frozen=True, slots=True)
class RankKey:
    by: str
    order: Order = "asc"


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy: `canonical` is the canonical form; `sha256` and `fingerprint` name it."""

    rules: tuple[Rule, ...]
    rank: tuple[RankKey, ...]
    max_candidates: int
    fallback_on: tuple[str, ...]
    max_attempts: int
    baseline: str | None
    max_est_cost_usd: float | None
    on_budget: Literal["reject", "downgrade"]
    workload: str
    canonical: dict[str, Any]
    canonical_json: bytes
    sha256: str
    fingerprint: str
    name: str | None = None  # the stored policy's name when it came by name

    def to_dict(self) -> dict[str, Any]:
        return {
            "canonical": self.canonical,
            "fingerprint": self.fingerprint,
            "sha256": self.sha256,
            "workload": self.workload,
            "name": self.name,
        }
