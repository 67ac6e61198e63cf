"""The receipt records against the receipt JSON Schema (gateway/receipt_schema.py, GET /x/schema/receipt):
a record's fields without a default are exactly the schema's required properties, and its fields are
exactly the schema's properties, so a property added, dropped or made required on either side fails here."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from unhardcoded.client import records
from unhardcoded.client.decode import DecodeError, decode
from unhardcoded.gateway.receipt_schema import receipt_schema

SCHEMA = receipt_schema()
P = SCHEMA["properties"]
NODES: list[tuple[type, dict[str, Any]]] = [
    (records.Receipt, SCHEMA),
    (records.ReceiptPolicy, P["policy"]),
    (records.Workflow, P["workflow"]),
    (records.Candidate, P["candidates"]["items"]),
    (records.RuleFailure, P["candidates"]["items"]["properties"]["rejected_by"]["items"]),
    (records.Attempt, P["attempts"]["items"]),
    (records.Outcome, P["outcome"]),
    (records.Usage, P["outcome"]["properties"]["usage"]),
    (records.Baseline, P["outcome"]["properties"]["baseline"]),
    (records.Budget, P["budget"]),
]


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.name != "raw"]  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "node"), NODES, ids=[c.__name__ for c, _ in NODES])
def test_record_fields_are_the_schema_properties(cls: type, node: dict[str, Any]) -> None:
    names = {f.name for f in _fields(cls)}
    assert names == set(node["properties"]), f"{cls.__name__} and the schema differ"
    required = {
        f.name
        for f in _fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required == set(node.get("required", [])), f"{cls.__name__}: required fields differ"


def test_candidate_statuses_are_the_schemas() -> None:
    from typing import get_args

    assert set(get_args(records.CandidateStatus)) == set(
        P["candidates"]["items"]["properties"]["status"]["enum"]
    )


def test_a_receipt_missing_a_required_property_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match=r"\$\.schema: required by Receipt, absent"):
        decode(records.Receipt, {})
    with pytest.raises(DecodeError, match=r"\$\.trace_id: expected str"):
        decode(records.Trace, {"trace_id": 5, "receipts": [], "totals": {}})
