"""The builders against policy/schema.json: an op, key, error class or value the schema has and the builders
lack (or the other way round) fails here, so the typed helper cannot drift from the language."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, get_args

import jsonschema
import pytest

from unhardcoded.client import policy as builders
from unhardcoded.client.policy import (
    CONSTRUCTORS,
    NO_BASELINE,
    Fallback,
    Limits,
    Policy,
    Rank,
    Rule,
    Select,
)
from unhardcoded.policy.schema import policy_schema

SCHEMA = policy_schema()
DEFS = SCHEMA["$defs"]


def _full_policy() -> Policy:
    """A policy that sets every part, so its document shows every key the builders can write."""
    return Policy(
        rules=[Rule.ge("bench_intelligence", 55, id="q", missing="pass")],
        rank=[Rank.desc("bench_intelligence")],
        baseline="openai/gpt-4.1",
        workload="w",
        select=Select(max_candidates=2),
        fallback=Fallback(on=("timeout",), max_attempts=2),
        limits=Limits(max_est_cost_usd=0.5),
        on_budget="downgrade",
    )


def test_every_op_of_the_schema_has_exactly_one_constructor() -> None:
    assert sorted(CONSTRUCTORS.values()) == sorted(DEFS["op"]["enum"])
    assert sorted(builders.OPS) == sorted(DEFS["op"]["enum"])
    for method, op in CONSTRUCTORS.items():
        ctor = getattr(Rule, method)
        params = inspect.signature(ctor).parameters
        assert {"missing", "id"} <= set(params), method
        args: tuple[Any, ...] = () if op == "exists" else (["x"],) if op in DEFS["setOp"]["enum"] else ("x",)
        assert ctor("capabilities", *args).op == op


def test_rule_keys_and_missing_values_match_the_schema() -> None:
    rule_def = DEFS["rule"]
    assert {f.name for f in dataclasses.fields(Rule)} == set(rule_def["properties"])
    assert set(get_args(builders.Missing)) == set(rule_def["properties"]["missing"]["enum"])
    doc = Rule.in_("geography", ["eu"], id="eu", missing="pass").to_dict()
    assert set(doc) == set(rule_def["properties"])


def test_top_level_keys_match_the_schema() -> None:
    doc = _full_policy().to_dict()
    # `schema` is the language version: the gateway fills it in, a builder never needs to write it.
    assert set(doc) | {"schema"} == set(SCHEMA["properties"])
    own = {f.name for f in dataclasses.fields(Policy)} - {"fields"}
    assert own | {"schema"} == set(SCHEMA["properties"])


@pytest.mark.parametrize(
    ("part", "key"), [(Select, "select"), (Fallback, "fallback"), (Limits, "limits"), (Rank, "rankKey")]
)
def test_sub_objects_have_the_schema_keys(part: Any, key: str) -> None:
    node = DEFS[key] if key in DEFS else SCHEMA["properties"][key]
    assert {f.name for f in dataclasses.fields(part)} == set(node["properties"])


def test_fallback_classes_on_budget_and_orders_match_the_schema() -> None:
    assert sorted(builders.FALLBACK_CLASSES) == sorted(DEFS["fallbackClass"]["enum"])
    assert sorted(builders.ON_BUDGET) == sorted(SCHEMA["properties"]["on_budget"]["enum"])
    assert sorted(get_args(builders.Order)) == sorted(DEFS["order"]["enum"])


def test_defaults_match_the_schema() -> None:
    fb = SCHEMA["properties"]["fallback"]["properties"]
    assert list(Fallback().on) == fb["on"]["default"]
    assert Fallback().max_attempts == fb["max_attempts"]["default"]
    assert (
        Select().max_candidates == SCHEMA["properties"]["select"]["properties"]["max_candidates"]["default"]
    )
    assert Rule("x", "==", 1).missing == DEFS["rule"]["properties"]["missing"]["default"]
    assert Rank("x").order == DEFS["rankKey"]["properties"]["order"]["default"]


POLICIES = [
    Policy(),
    _full_policy(),
    Policy(baseline=NO_BASELINE, limits=Limits()),
    Policy(rules=[Rule.exists("bench_intelligence"), Rule.exists("region", False)]),
    Policy(rules=[Rule.has_all("capabilities", ["tools", "vision"]), Rule.not_in("provider", ["x"])]),
    Policy(rules=[Rule.lt("release_date", "2026-01-01"), Rule.ne("open_weights", True)]),
]


@pytest.mark.parametrize("policy", POLICIES, ids=range(len(POLICIES)))
def test_every_document_a_builder_writes_validates_against_the_schema(policy: Policy) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(policy.to_dict())
    policy.validate()  # and the gateway's parser takes it
