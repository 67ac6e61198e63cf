from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from unhardcoded.testing.otlp_receiver import OtlpReceiver

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = "a3ce929d0e0e4736"
REJECTIONS = {"quality-floor": 589, "eu-only": 621, "needs-tools": 0, "rt:no-key": 3}

# A finished receipt as the gateway builds it (a fallback from a 503 to a 200), with the expanded
# reader's fields (rules, counts, candidates) so the whole thing validates against the receipt schema.
RECEIPT: dict[str, Any] = {
    "schema": "unhardcoded-receipt/v1",
    "request_id": "req_80112daa6ae384f49c967d9f",
    "trace_id": TRACE,
    "span_id": SPAN,
    "parent_span_id": PARENT,
    "workflow": {"id": "nightly-42", "node": "summarise"},
    "tenant": None,
    "created_at": "2026-12-02T16:17:45.123Z",
    "status": "ok",
    "simulated": True,
    "pinned": None,
    "policy": {
        "fingerprint": "3202476868-3183020371 (sigma-pol/v1)",
        "sha256": "36badce3" + "0" * 56,
        "workload": "support-bot",
        "name": "support-bot",
        "canonical": {"schema": "sigma-pol/v1"},
    },
    "catalog_version": "ce576f1f6c67f76c7221070798410d69599b4a6fe50245a1f0a7c218adf96999",
    "features": {"est_input_tokens": 12, "est_output_tokens": 512, "needs_tools": False, "stream": False},
    "decision_hash": "d" * 64,
    "attempts": [
        {
            "deployment": "sim/flaky@eu-west-1",
            "provider": "sim",
            "started_at": "2026-12-02T16:17:45.125Z",
            "latency_ms": 0.9,
            "ttft_ms": None,
            "http_status": 503,
            "error_class": "server_error",
            "error": "The engine is currently overloaded",
            "fell_back": True,
            "waited_s": None,
            "warnings": [],
        },
        {
            "deployment": "vertex/google/gemini-3.7-flash@eu",
            "provider": "vertex",
            "started_at": "2026-12-02T16:17:45.127Z",
            "latency_ms": 35.5,
            "ttft_ms": None,
            "http_status": 200,
            "error_class": None,
            "error": None,
            "fell_back": False,
            "waited_s": None,
            "warnings": [],
        },
    ],
    "outcome": {
        "status": "ok",
        "deployment": "vertex/google/gemini-3.7-flash@eu",
        "model": "gemini-3.7-flash-001",
        "usage": {"input_tokens": 12, "output_tokens": 9, "cached_input_tokens": 0},
        "cost_usd": 1.92e-05,
        "baseline": {"deployment": "openai/gpt-4.1", "cost_usd": 9.6e-05},
        "savings_usd": 7.68e-05,
        "latency_ms": 41.25,
        "ttft_ms": None,
        "finish_reason": "stop",
        "error": None,
    },
    "warnings": [],
    "explanation": "vertex/google/gemini-3.7-flash@eu won: cheapest of 14 that passed 4 rules",
    "rules": [],
    "counts": {"candidates": 700, "passed": 14, "rejected": 686},
    "candidates": [],
}


@pytest.fixture
def make_receipt() -> Callable[..., dict[str, Any]]:
    """A fresh copy of RECEIPT with top-level keys replaced."""

    def make(**changes: Any) -> dict[str, Any]:
        r = copy.deepcopy(RECEIPT)
        r.update(changes)
        return r

    return make


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    r = OtlpReceiver()
    await r.start()
    yield r
    await r.stop()
