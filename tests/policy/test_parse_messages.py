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
