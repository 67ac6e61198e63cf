"""The receipt JSON Schema (gateway/receipt_schema.py, served at GET /x/schema/receipt) is a published
contract: readers validate receipts with it and generate types from it. Two kinds of check:

- the whole document is pinned to `receipt_schema.v1.json` beside this file: a change to the schema
  (a property, a type, a pattern, an enum value, what is required) must change that file too, in the same
  commit, so it is always a decision and never an accident;
- behaviour: real receipts from the in-process gateway (an answer, a refusal, a lost call, a budget)
  validate, and one mutation per constraint of a real receipt is refused.

Written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.gateway.scripted import Answer, Rig, completion
from unhardcoded.gateway.receipt_schema import receipt_schema
from unhardcoded.store.base import STATUSES

PINNED = Path(__file__).with_name("receipt_schema.v1.json")


def test_the_schema_is_the_published_one() -> None:
    assert receipt_schema() == json.loads(PINNED.read_text())


def test_statuses_are_the_stores() -> None:
    s = receipt_schema()
    assert s["properties"]["status"]["enum"] == list(STATUSES)
    assert s["properties"]["outcome"]["properties"]["status"]["enum"] == list(STATUSES)


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    import asyncio

    async def make() -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        tmp = tmp_path_factory.mktemp("schema")
        cap = {"id": "daily", "usd": 1e-9, "period": "day", "workload": "tight"}
        async with Rig(tmp, budgets=[cap]) as rig:
            rig.transport.push("a", Answer(status=503, body=b"busy"), Answer(body=completion(cached=3)))
            _, out["fallback"] = await rig.call({"on_budget": "downgrade", "workload": "w"})
            _, out["refused"] = await rig.call({"on_budget": "reject", "workload": "tight"}, max_tokens=5)
        return out

    return asyncio.run(make())


def test_real_receipts_validate(receipts: dict[str, dict[str, Any]]) -> None:
    for r in receipts.values():
        jsonschema.validate(r, receipt_schema())
    assert receipts["refused"]["status"] == "no_route" and "budget" in receipts["refused"]
    assert [a["http_status"] for a in receipts["fallback"]["attempts"]] == [503, 200]


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def refused(doc: dict[str, Any]) -> bool:
    """Whether the schema refuses `doc`. A validator per distinct schema document (checking a schema is
    slow; keyed on its text, so whatever `receipt_schema()` answers now is what validates)."""
    schema = receipt_schema()
    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        jsonschema.Draft202012Validator.check_schema(schema)
        _VALIDATORS[key] = jsonschema.Draft202012Validator(schema)
    return not _VALIDATORS[key].is_valid(doc)


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is DROP:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


DROP = object()

# (path, a value the schema must refuse); paths into the "fallback" receipt
BAD: list[tuple[str, Any]] = (
    [
        ("schema", "unhardcoded-receipt/v2"),
        ("request_id", 1),
        ("trace_id", "0" * 31),
        ("trace_id", "G" * 32),
        ("span_id", "0" * 15),
        ("parent_span_id", 5),
        ("workflow", "w"),
        ("tenant", 1),
        ("created_at", 5),
        ("status", "done"),
        ("simulated", "no"),
        ("pinned", 3),
        ("policy", "p"),
        ("policy.fingerprint", "12 (sigma-pol/v1)"),
        ("policy.sha256", "ab"),
        ("policy.workload", None),
        ("policy.name", 1),
        ("policy.version", 0),
        ("policy.version", "1"),
        ("policy.canonical", []),
        ("catalog_version", "xyz"),
        ("features", []),
        ("decision_hash", None),
        ("rules", {}),
        ("waived", [1]),
        ("plan", [1]),
        ("counts", []),
        ("candidates", {}),
        ("candidates.0.deployment", 1),
        ("candidates.0.status", "lost"),
        ("candidates.0.est_cost_usd", "1"),
        ("candidates.0.rank", 0),
        ("candidates.0.rank", 1.5),
        ("candidates.0.rank_values", []),
        ("candidates.0.planned", "yes"),
        ("candidates.0.rejected_by", []),
        ("attempts", {}),
        ("attempts.0.deployment", None),
        ("attempts.0.provider", None),
        ("attempts.0.latency_ms", "5"),
        ("attempts.0.ttft_ms", "5"),
        ("attempts.0.http_status", 503.5),
        ("attempts.0.error_class", "oops"),
        ("attempts.0.error", 1),
        ("attempts.0.fell_back", None),
        ("attempts.0.waited_s", "1"),
        ("attempts.0.warnings", [1]),
        ("outcome", []),
        ("outcome.status", "fine"),
        ("outcome.deployment", 1),
        ("outcome.model", 1),
        ("outcome.usage", 1),
        ("outcome.usage.input_tokens", -1),
        ("outcome.usage.output_tokens", 1.5),
        ("outcome.usage.cached_input_tokens", -1),
        ("outcome.cost_usd", "0"),
        ("outcome.baseline", 1),
        ("outcome.baseline.deployment", 1),
        ("outcome.baseline.cost_usd", "1"),
        ("outcome.savings_usd", "1"),
        ("outcome.latency_ms", "1"),
        ("outcome.ttft_ms", "1"),
        ("outcome.finish_reason", 1),
        ("outcome.error", "x"),
        ("warnings", [1]),
        ("explanation", 1),
        ("decision_explanation", 1),
    ]
    + [
        (field, DROP)
        for field in (
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
        )
    ]
    + [(f"policy.{f}", DROP) for f in ("fingerprint", "sha256", "workload", "canonical")]
    + [
        (f"outcome.{f}", DROP)
        for f in ("status", "deployment", "usage", "cost_usd", "baseline", "savings_usd", "latency_ms")
    ]
    + [
        (f"attempts.0.{f}", DROP)
        for f in (
            "deployment",
            "provider",
            "started_at",
            "latency_ms",
            "http_status",
            "error_class",
            "fell_back",
        )
    ]
    + [(f"candidates.0.{f}", DROP) for f in ("deployment", "status", "est_cost_usd")]
)


@pytest.mark.parametrize(("path", "value"), BAD, ids=[f"{p}={'drop' if v is DROP else v!r}" for p, v in BAD])
def test_each_constraint_refuses_a_receipt_that_breaks_it(
    receipts: dict[str, dict[str, Any]], path: str, value: Any
) -> None:
    r = receipts["fallback"]
    assert not refused(r)
    assert refused(_set(r, path, value))


def test_the_chain_and_the_budget_parts(receipts: dict[str, dict[str, Any]]) -> None:
    r = receipts["refused"]
    assert not refused(r)
    for path, value in [
        ("budget.id", 1),
        ("budget.period", "week"),
        ("budget.cap_usd", "1"),
        ("budget.spent_usd", None),
        ("budget.left_usd", None),
        ("budget.workload", 1),
        ("budget.tenant", 1),
        *[(f"budget.{f}", DROP) for f in ("id", "period", "cap_usd", "since", "spent_usd", "left_usd")],
    ]:
        assert refused(_set(r, path, value)), path
    chain = {"seq": 1, "prev": "0" * 64, "hash": "a" * 64}
    assert not refused({**r, "chain": chain})
    for bad in ({**chain, "seq": 0}, {**chain, "prev": "0"}, {**chain, "hash": "A" * 64}):
        assert refused({**r, "chain": bad})
    for f in ("seq", "prev", "hash"):
        assert refused({**r, "chain": {k: v for k, v in chain.items() if k != f}})
    good = {**r, "workflow": {"id": "wf", "node": None}, "simulated": True, "pinned": None}
    assert not refused(good)
    assert refused(_set(good, "workflow.id", 1)) and refused(_set(good, "workflow.node", 1))
    assert not refused(_set(good, "policy.version", 1))
    assert not refused(_set(good, "policy.name", None))
