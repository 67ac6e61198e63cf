"""The words of a policy error: what was expected, what kind of JSON value came instead, and the valid
choices, comma-separated. `unhardcoded rank` and the HTTP 400 print this message as it is."""

from __future__ import annotations

from typing import Any

import pytest

from unhardcoded.catalog.fields import FieldRegistry
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
    # _value: a set op wants a non-empty array.
    (
        {"rules": [{"id": "r", "field": "region", "op": "in", "value": []}]},
        "$.rules[0].value: in takes a non-empty array, got an array",
    ),
    (
        {"rules": [{"id": "r", "field": "capabilities", "op": "has_all", "value": "tools"}]},
        "$.rules[0].value: has_all takes a non-empty array, got a string",
    ),
    # _scalar: each item of a set is checked at its own path.
    (
        {"rules": [{"id": "r", "field": "region", "op": "not_in", "value": ["eu-west-1", 3]}]},
        "$.rules[0].value[1]: expected a string, got a number",
    ),
    (
        {"rules": [{"id": "r", "field": "capabilities", "op": "has_any", "value": ["tools", None]}]},
        "$.rules[0].value[1]: expected a string, got null",
    ),
    (
        {"rules": [{"id": "r", "field": "capabilities", "op": "has", "value": True}]},
        "$.rules[0].value: expected a string, got a boolean",
    ),
    (
        {"rules": [{"id": "r", "field": "bench_intelligence", "op": "in", "value": [50, "60"]}]},
        "$.rules[0].value[1]: expected a number, got a string",
    ),
    (
        {"rules": [{"id": "r", "field": "bench_intelligence", "op": "<", "value": float("inf")}]},
        "$.rules[0].value: expected a finite number",
    ),
    (
        {"rules": [{"id": "r", "field": "bench_intelligence", "op": ">", "value": -(10**400)}]},
        "$.rules[0].value: expected a finite number",
    ),
    # NaN is a number that is not finite (it used to read "expected a number, got a number"); JSON has
    # no NaN, but json.loads and YAML's .nan, which `unhardcoded rank` reads, hand it over.
    (
        {"rules": [{"id": "r", "field": "bench_intelligence", "op": ">=", "value": float("nan")}]},
        "$.rules[0].value: expected a finite number",
    ),
    (
        {"rules": [{"id": "r", "field": "bench_intelligence", "op": "in", "value": [1, float("nan")]}]},
        "$.rules[0].value[1]: expected a finite number",
    ),
    (
        {"rules": [{"id": "r", "field": "open_weights", "op": "!=", "value": "yes"}]},
        "$.rules[0].value: expected true or false, got a string",
    ),
    (
        {"rules": [{"id": "r", "field": "release_date", "op": ">=", "value": "2024-02-30"}]},
        "$.rules[0].value: expected a date YYYY-MM-DD, got '2024-02-30'",
    ),
    (
        {"rules": [{"id": "r", "field": "release_date", "op": "<", "value": "2024-W01-1"}]},
        "$.rules[0].value: expected a date YYYY-MM-DD, got '2024-W01-1'",
    ),
    (
        {"rules": [{"id": "r", "field": "release_date", "op": "in", "value": ["2024-01-01", 20240101]}]},
        "$.rules[0].value[1]: expected a date YYYY-MM-DD, got 20240101",
    ),
    (
        {"rules": [{"id": "r", "field": "region", "op": "==", "value": "\ud800"}]},
        "$.rules[0].value: expected valid Unicode text (a lone surrogate is not)",
    ),
    # _rank.
    ({"rank": []}, "$.rank: expected a non-empty array of rank keys, got an array"),
    ({"rank": {"by": "est_cost_usd"}}, "$.rank: expected a non-empty array of rank keys, got an object"),
    ({"rank": ["est_cost_usd"]}, "$.rank[0]: expected an object, got a string"),
    (
        {"rank": [{"by": "est_cost_usd"}, {"by": "bench_intelligence", "dir": "up"}]},
        "$.rank[1].dir: unknown key; valid: by, order",
    ),
    (
        {"rank": [{"by": "est_cost_usd", "order": "up"}]},
        "$.rank[0].order: unknown order 'up'; valid: asc, desc",
    ),
    (
        {"rank": [{"by": "bench_intelligence", "order": "desc"}, {"by": "bench_intelligence", "order": 1}]},
        "$.rank[1].order: unknown order 1; valid: asc, desc",
    ),
]

RANKABLE = (
    "bench_intelligence, context_window, deprecation_date, est_cost_usd, max_output_tokens, "
    "price_blended_per_mtok, price_cached_input_per_mtok, price_input_per_mtok, price_output_per_mtok, "
    "release_date"
)


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


@pytest.mark.parametrize(
    ("by", "shown"), [("region", "'region'"), (None, "None"), ("EST_COST_USD", "'EST_COST_USD'")]
)
def test_a_rank_key_that_cannot_rank_lists_the_rankable_fields_sorted(by: Any, shown: str) -> None:
    doc: dict[str, Any] = {"rank": [{"order": "asc"}] if by is None else [{"by": by}]}
    assert _message(doc) == f"$.rank[0].by: cannot rank by {shown}; valid: {RANKABLE}"


def test_the_rankable_fields_include_custom_number_and_date_fields() -> None:
    fields = FieldRegistry.with_custom(
        {
            "internal_eval": {"type": "number", "unit": "score", "description": "our eval suite, 0-100"},
            "tier": {"type": "string", "description": "vendor tier"},
        }
    )
    with pytest.raises(PolicyError) as info:
        policy({"rank": [{"by": "tier"}]}, fields)
    text = str(info.value)
    assert text.startswith("$.rank[0].by: cannot rank by 'tier'; valid: ")
    valid = text.split("; valid: ")[1].split(", ")
    assert valid == sorted(valid) and "internal_eval" in valid and "est_cost_usd" in valid
    assert "tier" not in valid and "price_blended_per_mtok" in valid
