"""The published sigma-pol/v1 JSON Schema agrees with the parser on every structural question."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings

from unhardcoded.catalog.fields import ALL_OPS
from unhardcoded.errors import FALLBACK_CLASSES, PolicyError
from unhardcoded.policy.model import (
    DEFAULT_FALLBACK_ON,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CANDIDATES,
    MAX_PLAN,
)
from unhardcoded.policy.parse import RULE_KEYS, TOP_KEYS, parse_policy
from unhardcoded.policy.schema import policy_schema

from ._support import FIELDS, SPEC_EXAMPLE, examples, policy, policy_docs
from .test_fuzz_parse import mutated_policies

SCHEMA = policy_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _valid(doc: Any) -> bool:
    return VALIDATOR.is_valid(doc)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_policy_schema_returns_a_fresh_copy() -> None:
    a = policy_schema()
    a["title"] = "changed"
    assert policy_schema()["title"] == "sigma-pol/v1 policy"
    # Nested parts too: a caller that edits the schema it was given never changes the next caller's.
    nested = a["properties"]
    before = policy_schema()["properties"]["rules"]
    nested["rules"] = {"type": "null"}
    assert policy_schema()["properties"]["rules"] == before


def test_spec_example_and_the_empty_policy_are_valid() -> None:
    VALIDATOR.validate(SPEC_EXAMPLE)
    VALIDATOR.validate({})


def test_the_schema_enumerates_what_the_code_enumerates() -> None:
    props = SCHEMA["properties"]
    defs = SCHEMA["$defs"]
    assert tuple(props) == TOP_KEYS
    assert tuple(defs["rule"]["properties"]) == RULE_KEYS
    assert tuple(defs["op"]["enum"]) == ALL_OPS
    assert tuple(defs["fallbackClass"]["enum"]) == FALLBACK_CLASSES
    assert defs["order"]["enum"] == ["asc", "desc"]
    assert defs["rule"]["properties"]["missing"]["enum"] == ["reject", "pass"]
    assert props["on_budget"]["enum"] == ["reject", "downgrade"]
    for bound in (
        props["select"]["properties"]["max_candidates"],
        props["fallback"]["properties"]["max_attempts"],
    ):
        assert (bound["minimum"], bound["maximum"]) == (1, MAX_PLAN)
    assert props["select"]["properties"]["max_candidates"]["default"] == DEFAULT_MAX_CANDIDATES
    assert props["fallback"]["properties"]["max_attempts"]["default"] == DEFAULT_MAX_ATTEMPTS
    assert tuple(props["fallback"]["properties"]["on"]["default"]) == DEFAULT_FALLBACK_ON


def test_the_schemas_defaults_are_the_parsers() -> None:
    defaults = {k: v["default"] for k, v in SCHEMA["properties"].items() if "default" in v}
    assert policy(defaults).canonical == {**policy({}).canonical, **defaults}
    assert policy(defaults).fingerprint == policy({}).fingerprint


# Documents the parser rejects for structural reasons: wrong types, unknown keys, bad enums and bounds.
STRUCTURAL = [
    [],
    "policy",
    None,
    3,
    {"rulez": []},
    {"schema": "sigma-pol/v2"},
    {"schema": None},
    {"workload": ""},
    {"workload": 7},
    {"rules": {}},
    {"rules": [3]},
    {"rules": [{"op": "==", "value": 1}]},
    {"rules": [{"field": "region"}]},
    {"rules": [{"field": "region", "op": "=="}]},
    {"rules": [{"field": "region", "op": "~", "value": "x"}]},
    {"rules": [{"field": 3, "op": "==", "value": "x"}]},
    {"rules": [{"field": "region", "op": "==", "value": "x", "missing": "ignore"}]},
    {"rules": [{"field": "region", "op": "==", "value": "x", "misisng": "pass"}]},
    {"rules": [{"field": "region", "op": "==", "value": None}]},
    {"rules": [{"field": "region", "op": "==", "value": ["x"]}]},
    {"rules": [{"field": "region", "op": "==", "value": {"x": 1}}]},
    {"rules": [{"field": "region", "op": "in", "value": "x"}]},
    {"rules": [{"field": "region", "op": "in", "value": []}]},
    {"rules": [{"field": "region", "op": "in", "value": [["x"]]}]},
    {"rules": [{"field": "capabilities", "op": "has", "value": ["tools"]}]},
    {"rules": [{"field": "capabilities", "op": "has_all", "value": "tools"}]},
    {"rules": [{"field": "capabilities", "op": "has_any", "value": [1]}]},
    {"rules": [{"field": "bench_intelligence", "op": ">=", "value": True}]},
    {"rules": [{"field": "region", "op": "exists", "value": "yes"}]},
    {"rules": [{"id": "", "field": "region", "op": "==", "value": "x"}]},
    {"rules": [{"id": 3, "field": "region", "op": "==", "value": "x"}]},
    {"rules": [{"id": "req:tools", "field": "region", "op": "==", "value": "x"}]},
    {"rules": [{"id": "rt:x", "field": "region", "op": "==", "value": "x"}]},
    {"rules": [{"id": "lim:x", "field": "region", "op": "==", "value": "x"}]},
    {"rank": []},
    {"rank": {}},
    {"rank": "est_cost_usd"},
    {"rank": [{"order": "asc"}]},
    {"rank": [{"by": 3}]},
    {"rank": [{"by": "est_cost_usd", "order": "up"}]},
    {"rank": [{"by": "est_cost_usd", "dir": "asc"}]},
    {"select": 3},
    {"select": {"max": 3}},
    {"select": {"max_candidates": 0}},
    {"select": {"max_candidates": 51}},
    {"select": {"max_candidates": 2.5}},
    {"select": {"max_candidates": "3"}},
    {"select": {"max_candidates": True}},
    {"select": {"max_candidates": None}},
    {"fallback": []},
    {"fallback": {"retry": 1}},
    {"fallback": {"on": "timeout"}},
    {"fallback": {"on": ["timeout", "client_error"]}},
    {"fallback": {"on": ["Timeout"]}},
    {"fallback": {"max_attempts": 0}},
    {"fallback": {"max_attempts": 51}},
    {"baseline": ""},
    {"baseline": 3},
    {"limits": 0.05},
    {"limits": {"max_cost": 1}},
    {"limits": {"max_est_cost_usd": -0.01}},
    {"limits": {"max_est_cost_usd": "0.05"}},
    {"on_budget": "ignore"},
    {"on_budget": None},
]


@pytest.mark.parametrize("doc", STRUCTURAL)
def test_structural_rejections_are_rejected_by_both(doc: Any) -> None:
    with pytest.raises(PolicyError):
        parse_policy(doc, FIELDS)
    assert not _valid(doc)


# What only the parser can judge: it needs the field registry (which fields exist, their types and ops).
SEMANTIC_ONLY = [
    {"rules": [{"field": "qualty", "op": ">=", "value": 1}]},
    {"rules": [{"field": "region", "op": ">=", "value": "x"}]},
    {"rules": [{"field": "bench_intelligence", "op": ">=", "value": "55"}]},
    {"rules": [{"field": "release_date", "op": ">=", "value": "2024-W01-1"}]},
    {"rank": [{"by": "region"}]},
    {"rules": [{"id": "a", "field": "region", "op": "==", "value": "x"}] * 2},
]


@pytest.mark.parametrize("doc", SEMANTIC_ONLY)
def test_field_level_questions_are_the_parsers(doc: Any) -> None:
    assert _valid(doc)
    with pytest.raises(PolicyError):
        parse_policy(doc, FIELDS)


@given(policy_docs())
def test_every_valid_policy_and_its_canonical_form_are_schema_valid(doc: dict[str, Any]) -> None:
    assert _valid(doc)
    assert _valid(policy(doc).canonical)


# A parser error on a schema-valid document can only be about what the schema leaves to the parser.
PARSER_ONLY_PATH = re.compile(
    r"^\$\.(rules\[\d+\]\.(field|op|id|value(\[\d+\])?)|rank\[\d+\]\.by|workload|baseline)$"
)


@settings(max_examples=examples(500))
@given(mutated_policies())
def test_schema_and_parser_agree_on_random_documents(doc: Any) -> None:
    try:
        parse_policy(doc, FIELDS)
    except PolicyError as e:
        if _valid(doc):
            assert e.path is not None
            finite = "finite" in e.message
            assert PARSER_ONLY_PATH.match(e.path) or finite, e.message
    else:
        # The schema is never stricter than the parser.
        assert _valid(doc)
