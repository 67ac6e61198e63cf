"""Several soft runtime rules (circuit breakers) at once, and `on_budget: downgrade` (docs/mutation.md, the
policy survivors).

Soft rules drop the union of what each drops; only when that union, with the hard rules, would leave no
candidate while the hard rules alone leave some, are they all waived together.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unhardcoded.errors import PolicyError
from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState
from unhardcoded.policy.engine import decide

from ._support import catalog, dep, examples, features, policy

IDS = ["acme/a", "acme/b", "acme/c", "acme/d", "acme/e"]
CAT = catalog(
    *(
        dep(d, price_input_per_mtok=1.0 + i, price_output_per_mtok=2.0, context_window=100_000)
        for i, d in enumerate(IDS)
    )
)


def _breaker(rid: str, *dep_ids: str) -> RuntimeRule:
    return RuntimeRule(rid, "id", "circuit", "closed", dict.fromkeys(dep_ids, "open"), soft=True)


def _no_key(*dep_ids: str) -> RuntimeRule:
    return RuntimeRule("rt:no-key", "provider", "key_configured", True, dict.fromkeys(dep_ids, False))


def _decide(*rules: RuntimeRule, max_candidates: int = 5) -> Decision:
    p = policy({"select": {"max_candidates": max_candidates}})
    return decide(p, CAT, features(100, 100), RuntimeState(rules, key=1))


def _ranked(d: Decision) -> list[str]:
    return [d.catalog.ids[i] for i in d.ranked]


def test_two_open_breakers_drop_what_either_drops() -> None:
    d = _decide(_breaker("rt:circuit-a", "acme/a", "acme/c"), _breaker("rt:circuit-b", "acme/b"))
    assert d.waived == ()
    assert _ranked(d) == ["acme/d", "acme/e"]
    assert d.plan == ("acme/d", "acme/e")
    assert [r.id for r in d.rules][-2:] == ["rt:circuit-a", "rt:circuit-b"]


def test_two_open_breakers_that_together_leave_nobody_are_both_waived() -> None:
    d = _decide(
        _no_key("acme/e"),
        _breaker("rt:circuit-a", "acme/a", "acme/b"),
        _breaker("rt:circuit-b", "acme/c", "acme/d"),
    )
    assert d.waived == ("rt:circuit-a", "rt:circuit-b")
    assert _ranked(d) == ["acme/a", "acme/b", "acme/c", "acme/d"]


@st.composite
def _runtime(draw: st.DrawFn) -> tuple[RuntimeRule, ...]:
    rules: list[RuntimeRule] = []
    if draw(st.booleans()):
        rules.append(_no_key(*draw(st.lists(st.sampled_from(IDS), unique=True))))
    for k in range(draw(st.integers(0, 3))):
        rules.append(_breaker(f"rt:circuit-{k}", *draw(st.lists(st.sampled_from(IDS), unique=True))))
    return tuple(draw(st.permutations(rules)))


@settings(max_examples=examples(200))
@given(_runtime())
def test_soft_rules_drop_their_union_or_are_waived_together(rules: tuple[RuntimeRule, ...]) -> None:
    d = _decide(*rules)
    hard = {i for r in rules if not r.soft for i in r.excluded}
    soft = {i for r in rules if r.soft for i in r.excluded}
    everyone = set(IDS)
    waive = bool(soft) and not everyone - hard - soft and hard != everyone
    expected = everyone - hard if waive else everyone - hard - soft
    assert set(_ranked(d)) == expected
    assert d.waived == (tuple(r.id for r in rules if r.soft) if waive else ())
    # Ranked by cost: a is the cheapest, e the dearest.
    assert _ranked(d) == [i for i in IDS if i in expected]


# on_budget


@pytest.mark.parametrize("value", ["reject", "downgrade"])
def test_on_budget_takes_reject_or_downgrade(value: str) -> None:
    p = policy({"on_budget": value})
    assert p.on_budget == value
    assert p.canonical["on_budget"] == value
    assert f'"on_budget":"{value}"'.encode() in p.canonical_json


def test_on_budget_defaults_to_reject_and_downgrade_changes_the_fingerprint() -> None:
    assert policy().on_budget == "reject"
    assert policy({"on_budget": "reject"}).fingerprint == policy().fingerprint
    assert policy({"on_budget": "downgrade"}).fingerprint != policy().fingerprint


@pytest.mark.parametrize("value", ["Downgrade", "REJECT", None, 1, ["reject"]])
def test_any_other_on_budget_is_refused(value: Any) -> None:
    with pytest.raises(PolicyError) as info:
        policy({"on_budget": value})
    assert info.value.path == "$.on_budget"
    assert info.value.choices == ["reject", "downgrade"]
