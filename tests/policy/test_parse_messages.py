"""The words of a policy error: what was expected, what kind of JSON value came instead, and the valid
choices, comma-separated. `unhardcoded rank` and the HTTP 400 print this message as it is."""

from __future__ import annotations

from typing import Any

import pytest

from unhardcoded.errors import PolicyError

from ._support import policy


def _message(doc: Any) -> str:
    with pytest.raises(PolicyError) as info:
        policy(doc)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "a boolean"),
        (3, "a number"),
        (2.5, "a number"),
        ("tools", "a string"),
        ({"a": 1}, "an object"),
    ],
)
def test_the_message_names_the_kind_of_value_given(value: Any, kind: str) -> None:
    assert _message({"rules": value}) == f"$.rules: expected an array of rules, got {kind}"


def test_an_array_where_an_object_belongs_is_named() -> None:
    assert _message({"select": ["x"]}) == "$.select: expected an object, got an array"


def test_a_value_of_another_python_type_is_named_by_its_type() -> None:
    # Only a caller in process can pass one (JSON has no tuples); the message still says what it got.
    assert _message({"rules": (1, 2)}) == "$.rules: expected an array of rules, got tuple"


def test_an_unknown_key_lists_the_valid_ones_comma_separated() -> None:
    text = _message({"workload": "w", "bogus": 1})
    assert text.startswith("$.bogus: unknown key; valid: schema, workload, rules, rank, ")


MESSAGES = [
    ({"select": 5}, "$.select: expected an object, got a number"),
    ({"workload": 7}, "$.workload: expected a non-empty string, got a number"),
    ({"workload": "\ud800"}, "$.workload: expected valid Unicode text (a lone surrogate is not)"),
    ({"schema": "v0"}, "$.schema: unsupported schema 'v0'; valid: sigma-pol/v1"),
    ({"fallback": {"on": "timeout"}}, "$.fallback.on: expected an array of error classes, got a string"),
    (
        {"limits": {"max_est_cost_usd": -1}},
        "$.limits.max_est_cost_usd: expected a finite number >= 0, got -1",
    ),
    ({"on_budget": "later"}, "$.on_budget: unknown value 'later'; valid: reject, downgrade"),
    (
        {"rules": [{"id": "r", "field": "region"}]},
        "$.rules[0].op: required; valid: ==, !=, in, not_in, exists",
    ),
    (
        {"rules": [{"id": "r", "field": "region", "op": "==", "value": "x", "missing": "maybe"}]},
        "$.rules[0].missing: unknown value 'maybe'; valid: reject, pass",
    ),
    (
        {"rules": [{"id": "r", "field": "region", "op": "exists", "value": 3}]},
        "$.rules[0].value: exists takes true (present) or false (absent)",
    ),
    ({"rules": [{"id": "r", "field": "region", "op": "=="}]}, "$.rules[0].value: required"),
    (
        {"rules": [{"id": "req:x", "field": "region", "op": "==", "value": "x"}]},
        "$.rules[0].id: ids starting with req:, rt: or lim: are reserved for the gateway",
    ),
    (
        {"rules": [{"id": "r", "field": "bench_intelligence", "op": ">=", "value": "high"}]},
        "$.rules[0].value: expected a number, got a string",
    ),
    (
        {"rules": [{"id": "r", "field": "open_weights", "op": "==", "value": 1}]},
        "$.rules[0].value: expected true or false, got a number",
    ),
]


@pytest.mark.parametrize(("doc", "message"), MESSAGES)
def test_each_error_in_words(doc: Any, message: str) -> None:
    assert _message(doc) == message


def test_a_missing_field_lists_the_fields() -> None:
    text = _message({"rules": [{"id": "r", "op": "=="}]})
    assert text.startswith("$.rules[0].field: required; valid: bench_intelligence, capabilities, ")


def test_an_unknown_error_class_lists_the_classes() -> None:
    text = _message({"fallback": {"on": ["nope"]}})
    assert text.startswith(
        "$.fallback.on[0]: unknown error class 'nope'; valid: rate_limited, server_error, "
    )
