"""normalise_number at the edges of the exactly representable integers, and the canonical order of a value
set mixing integers and fractions (docs/mutation.md, the policy survivors).

RFC 8785 writes a number as an IEEE double and refuses an integer beyond +-(2**53 - 1). So: an integral
float below 2**53 in magnitude becomes an int (55.0 is 55); an integral float from 2**53 on stays a float
(an int there could not be canonicalised); an int up to 2**53 - 1 stays an int; a larger one becomes the
nearest float, or +-inf with its sign when it is too large even for a float.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unhardcoded.errors import PolicyError
from unhardcoded.policy.canonical import MAX_SAFE_INT, jcs, normalise_number
from unhardcoded.policy.model import MAX_PLAN

from ._support import examples, policy

EDGE = 2**53


def test_the_largest_safe_integer_is_2_to_the_53_minus_1() -> None:
    assert MAX_SAFE_INT == 9_007_199_254_740_991


@pytest.mark.parametrize("value", [MAX_SAFE_INT, -MAX_SAFE_INT, MAX_SAFE_INT - 1, 0, 1, -1])
def test_an_integer_up_to_the_largest_safe_one_stays_an_integer(value: int) -> None:
    out = normalise_number(value)
    assert type(out) is int and out == value


@pytest.mark.parametrize("value", [EDGE, -EDGE, EDGE + 1, -(EDGE + 1), 10**20])
def test_an_integer_beyond_the_largest_safe_one_becomes_a_float(value: int) -> None:
    out = normalise_number(value)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [float(EDGE), -float(EDGE), 2.0**54, 1e300, -1e300])
def test_an_integral_float_from_2_to_the_53_on_stays_a_float(value: float) -> None:
    out = normalise_number(value)
    assert type(out) is float and out == value
    jcs(out)  # and RFC 8785 can write it


@pytest.mark.parametrize("value", [float(EDGE - 1), -float(EDGE - 1), 55.0, 0.0, -0.0, 2.0**52])
def test_an_integral_float_below_2_to_the_53_becomes_an_integer(value: float) -> None:
    out = normalise_number(value)
    assert type(out) is int and out == value


@pytest.mark.parametrize(("value", "expected"), [(10**400, math.inf), (-(10**400), -math.inf)])
def test_an_integer_too_large_for_a_float_keeps_its_sign(value: int, expected: float) -> None:
    assert normalise_number(value) == expected


@pytest.mark.parametrize("value", [True, False, "55", None, 2.5, math.inf, -math.inf])
def test_anything_else_is_handed_back_as_it_is(value: Any) -> None:
    assert normalise_number(value) is value


@settings(max_examples=examples(300))
@given(st.integers(min_value=-(2**1100), max_value=2**1100))
def test_every_integer_normalises_to_a_number_rfc_8785_can_write(value: int) -> None:
    out = normalise_number(value)
    if abs(value) <= MAX_SAFE_INT:
        assert type(out) is int and out == value
    elif abs(value) < 2**1023:
        assert type(out) is float and out == float(value)
        jcs(out)
    elif abs(value) >= 2**1024:  # beyond every double
        assert out == (math.inf if value > 0 else -math.inf)
    else:  # the largest double, or inf where rounding goes past it; the sign kept either way
        assert type(out) is float and abs(out) >= 2.0**1023 and (out > 0) is (value > 0)


@settings(max_examples=examples(300))
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_an_integral_float_is_an_int_exactly_when_the_int_is_safe(value: float) -> None:
    out = normalise_number(value)
    assert out == value
    assert (type(out) is int) is (value.is_integer() and abs(value) <= MAX_SAFE_INT)
    jcs(out)


# Through parse_policy: what a user sees.


def _error(doc: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as info:
        policy(doc)
    return str(info.value)


@pytest.mark.parametrize(("value", "shown"), [(10**400, "inf"), (-(10**400), "-inf")])
def test_an_overflowing_limit_is_refused_with_its_sign(value: int, shown: str) -> None:
    assert _error({"limits": {"max_est_cost_usd": value}}) == (
        f"$.limits.max_est_cost_usd: expected a finite number >= 0, got {shown}"
    )


def test_an_overflowing_candidate_count_is_refused_with_its_sign() -> None:
    assert _error({"select": {"max_candidates": -(10**400)}}) == (
        f"$.select.max_candidates: expected an integer from 1 to {MAX_PLAN}, got -inf"
    )


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        (float(EDGE), b"9007199254740992"),
        (EDGE, b"9007199254740992"),
        (MAX_SAFE_INT, b"9007199254740991"),
        (float(MAX_SAFE_INT), b"9007199254740991"),
    ],
)
def test_a_rule_value_at_the_edge_canonicalises(value: Any, canonical: bytes) -> None:
    p = policy({"rules": [{"id": "r", "field": "context_window", "op": "<", "value": value}]})
    assert b'"value":' + canonical + b"}" in p.canonical_json
    assert type(p.rules[0].value) is (int if abs(value) <= MAX_SAFE_INT else float)


# The canonical order of a number set. Order and repeats never change a fingerprint; the canonical array
# is sorted by (Python type name, value): the non-integral numbers first, then the integers, each
# ascending. Fingerprints already on receipts depend on this order, so it must not change.


def _set_value(values: list[Any]) -> Any:
    p = policy({"rules": [{"id": "r", "field": "bench_intelligence", "op": "in", "value": values}]})
    return p.canonical["rules"][0]["value"], p.fingerprint


def test_a_number_set_lists_its_fractions_then_its_integers() -> None:
    value, _ = _set_value([1, 2.5, 40, 0.5, 3.0])
    assert value == [0.5, 2.5, 1, 3, 40]


@settings(max_examples=examples(200))
@given(
    st.lists(
        st.one_of(st.integers(-1000, 1000), st.integers(-4000, 4000).map(lambda x: x / 4)),
        min_size=1,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_a_number_set_is_canonical_whatever_its_order_and_repeats(values: list[float], rnd: Any) -> None:
    value, fp = _set_value(values)
    fractions = sorted({v for v in values if not float(v).is_integer()})
    integers = sorted({int(v) for v in values if float(v).is_integer()})
    assert value == fractions + integers
    assert [type(v) for v in value] == [float] * len(fractions) + [int] * len(integers)
    shuffled = values + values[:2]
    rnd.shuffle(shuffled)
    assert _set_value(shuffled) == (value, fp)
