"""The JSON Schema of a receipt as readers get it (GET /x/receipts/{id}), decision expanded."""

from __future__ import annotations

from typing import Any

from unhardcoded.store.base import STATUSES

_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}
_FAILURE = {
    "type": "object",
    "required": ["rule_id", "source", "field", "op", "expected", "actual"],
    "properties": {
        "rule_id": {"type": "string"},
        "source": {"enum": ["policy", "request", "limit", "runtime", "openrouter"]},
        "field": {"type": "string"},
        "op": {"type": "string"},
        "expected": {},
        "actual": {},
    },
}
_CANDIDATE = {
    "type": "object",
    "required": ["deployment", "status", "est_cost_usd"],
    "properties": {
        "deployment": {"type": "string"},
        "status": {"enum": ["rejected", "ranked", "attempted", "won"]},
        "est_cost_usd": _NUM,
        "rejected_by": {"type": "array", "items": _FAILURE, "minItems": 1},
        "rank": {"type": "integer", "minimum": 1},
        "rank_values": {"type": "object"},
        "planned": {"type": "boolean"},
    },
}
_ATTEMPT = {
    "type": "object",
    "required": [
        "deployment",
        "provider",
        "started_at",
        "latency_ms",
        "http_status",
        "error_class",
        "fell_back",
    ],
    "properties": {
        "deployment": {"type": "string"},
        "provider": {"type": "string"},
        "started_at": {"type": "string", "format": "date-time"},
        "latency_ms": _NUM,
        "ttft_ms": _NUM,
        "http_status": {"type": ["integer", "null"]},
        "error_class": {
            "enum": [
                None,
                "rate_limited",
                "server_error",
                "timeout",
                "connection_error",
                "bad_response",
                "client_error",
                "auth_error",
            ]
        },
        "error": _STR,
        "fell_back": {"type": "boolean"},
        "waited_s": _NUM,
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}
_USAGE = {
    "type": ["object", "null"],
    "properties": {
        k: {"type": "integer", "minimum": 0}
        for k in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")
    },
}


def receipt_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://unhardcoded.dev/schema/receipt/v1",
        "title": "unhardcoded receipt (unhardcoded-receipt/v1)",
        "type": "object",
        "required": [
            "schema",
            "request_id",
            "trace_id",
            "span_id",
            "created_at",
            "status",
            "policy",
            "catalog_version",
            "features",
            "attempts",
            "outcome",
            "explanation",
            "candidates",
            "rules",
        ],
        "properties": {
            "schema": {"const": "unhardcoded-receipt/v1"},
            "request_id": {"type": "string"},
            "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "span_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "parent_span_id": {"type": ["string", "null"]},
            "workflow": {"type": ["object", "null"], "properties": {"id": _STR, "node": _STR}},
            "tenant": _STR,
            "created_at": {"type": "string", "format": "date-time"},
            "status": {"enum": list(STATUSES)},
            "simulated": {"type": "boolean"},
            "pinned": _STR,
            "policy": {
                "type": "object",
                "required": ["fingerprint", "sha256", "workload", "canonical"],
                "properties": {
                    "fingerprint": {"type": "string", "pattern": r"^\d+-\d+ \(sigma-pol/v1\)$"},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "workload": {"type": "string"},
                    "name": _STR,
                    "version": {"type": ["integer", "null"], "minimum": 1},
                    "canonical": {"type": "object"},
                },
            },
            "catalog_version": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "features": {"type": "object"},
            "decision_hash": {"type": "string"},
            "rules": {"type": "array"},
            "waived": {"type": "array", "items": {"type": "string"}},
            "plan": {"type": "array", "items": {"type": "string"}},
            "counts": {"type": "object"},
            "candidates": {"type": "array", "items": _CANDIDATE},
            "attempts": {"type": "array", "items": _ATTEMPT},
            "outcome": {
                "type": "object",
                "required": [
                    "status",
                    "deployment",
                    "usage",
                    "cost_usd",
                    "baseline",
                    "savings_usd",
                    "latency_ms",
                ],
                "properties": {
                    "status": {"enum": list(STATUSES)},
                    "deployment": _STR,
                    "model": _STR,
                    "usage": _USAGE,
                    "cost_usd": _NUM,
                    "baseline": {"type": "object", "properties": {"deployment": _STR, "cost_usd": _NUM}},
                    "savings_usd": _NUM,
                    "latency_ms": _NUM,
                    "ttft_ms": _NUM,
                    "finish_reason": _STR,
                    "error": {"type": ["object", "null"]},
                },
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
            "chain": {  # a committed final receipt's place in its tenant's hash chain (tamper evidence)
                "type": "object",
                "required": ["seq", "prev", "hash"],
                "properties": {
                    "seq": {"type": "integer", "minimum": 1},
                    "prev": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
            "budget": {  # present when `rt:budget` fired: the cap, its spend then and what was left
                "type": "object",
                "required": ["id", "period", "cap_usd", "since", "spent_usd", "left_usd"],
                "properties": {
                    "id": {"type": "string"},
                    "period": {"enum": ["day", "month"]},
                    "cap_usd": {"type": "number"},
                    "since": {"type": "string", "format": "date-time"},
                    "spent_usd": {"type": "number"},
                    "left_usd": {"type": "number"},
                    "workload": _STR,
                    "tenant": _STR,
                },
            },
            "explanation": _STR,
            "decision_explanation": _STR,
        },
    }
