"""The Python helper: typed policy builders (policy.py) and a client for receipts (receipts.py)."""

from unhardcoded.client.decode import DecodeError
from unhardcoded.client.policy import NO_BASELINE, Fallback, Limits, Policy, Rank, Rule, Select
from unhardcoded.client.receipts import GatewayError, NotFound, Receipts
from unhardcoded.client.records import (
    Attempt,
    Budget,
    Candidate,
    Chain,
    DryRun,
    Outcome,
    Receipt,
    ReceiptRow,
    Replay,
    Rollup,
    StoredPolicy,
    Trace,
)

__all__ = [
    "NO_BASELINE",
    "Attempt",
    "Budget",
    "Candidate",
    "Chain",
    "DecodeError",
    "DryRun",
    "Fallback",
    "GatewayError",
    "Limits",
    "NotFound",
    "Outcome",
    "Policy",
    "Rank",
    "Receipt",
    "ReceiptRow",
    "Receipts",
    "Replay",
    "Rollup",
    "Rule",
    "Select",
    "StoredPolicy",
    "Trace",
]
