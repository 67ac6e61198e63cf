"""The whole explanation sentence, as the receipt and the `x-unhardcoded-explanation` reader see it: who
won or ranked first, the rejection counts in order, waived breakers, fallbacks, and the baseline."""

from __future__ import annotations

import pytest

from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState
from unhardcoded.policy.engine import decide
from unhardcoded.policy.explain import explain

from ._support import catalog, dep, features, policy

CAT = catalog(
    dep(
        "a/m", price_input_per_mtok=1.0, price_output_per_mtok=1.0, context_window=100_000, region="eu-west-1"
    ),
    dep(
        "b/m", price_input_per_mtok=2.0, price_output_per_mtok=2.0, context_window=100_000, region="us-east-1"
    ),
    dep("c/m", price_input_per_mtok=3.0, price_output_per_mtok=3.0, context_window=100, region="eu-west-1"),
)


def _decision() -> Decision:
    return decide(policy({}), CAT, features(1_000, 500))


def test_nothing_rejected_says_so_without_a_list() -> None:
    d = decide(policy({}), catalog(*[dep(f"p/{x}", context_window=100_000) for x in "ab"]), features(10, 10))
    assert explain(d) == "p/a ranked first: cheapest of 2 that passed 1 rules; 0 rejected"


def test_equal_counts_are_listed_by_rule_id() -> None:
    rules = [
        {"id": "z-not-us", "field": "region", "op": "!=", "value": "us-east-1"},
        {"id": "a-not-c", "field": "id", "op": "!=", "value": "c/m"},
    ]
    d = decide(policy({"rules": rules}), CAT, features(10, 10))
    assert explain(d).endswith("; 2 rejected — 1 by a-not-c, 1 by z-not-us")


def test_a_winner_won_after_fallbacks_and_the_baseline_comparison() -> None:
    d = _decision()
    assert explain(d, winner="b/m").startswith("b/m won: cheapest of 2 that passed 1 rules; 1 rejected")
    assert explain(d).startswith("a/m ranked first: ")
    assert explain(d, winner="b/m", fallbacks=1).endswith(
        "rejected — 1 by req:context-fits; after 1 fallback"
    )
    assert explain(d, winner="b/m", fallbacks=2).endswith("; after 2 fallbacks")
    assert explain(d, fallbacks=0).endswith("req:context-fits")


@pytest.mark.parametrize(
    ("savings", "tail"),
    [(62.4, "; 62% cheaper than b/m"), (0.0, "; 0% cheaper than b/m"), (-12.0, "; 12% dearer than b/m")],
)
def test_savings_against_the_baseline(savings: float, tail: str) -> None:
    text = explain(_decision(), winner="a/m", baseline="b/m", savings_pct=savings)
    assert text == "a/m won: cheapest of 2 that passed 1 rules; 1 rejected — 1 by req:context-fits" + tail


def test_no_savings_figure_means_no_comparison() -> None:
    assert "than" not in explain(_decision(), winner="a/m", baseline="b/m", savings_pct=None)
    assert "than" not in explain(_decision(), winner="a/m", baseline=None, savings_pct=10.0)


def test_waived_breakers_are_named_after_the_counts() -> None:
    p = policy({"rules": [{"id": "eu", "field": "region", "op": "==", "value": "eu-west-1"}]})
    breakers = tuple(
        RuntimeRule(rid, "id", "circuit", "closed", {"a/m": "open"}, soft=True)
        for rid in ("rt:one", "rt:two")
    )
    d = decide(p, CAT, features(1_000, 500), RuntimeState(breakers, key=1))
    assert d.waived == ("rt:one", "rt:two")
    assert explain(d) == (
        "a/m ranked first: cheapest of 1 that passed 2 rules; 2 rejected — 1 by eu, 1 by req:context-fits;"
        " rt:one, rt:two waived (it would have left no candidate)"
    )


def test_the_receipt_carries_the_plan_and_names_the_policy() -> None:
    p = policy({"workload": "support-bot"})
    out = decide(p, CAT, features(1_000, 500)).to_dict()
    assert out["plan"] == ["a/m", "b/m"]
    assert out["policy"] == {
        "canonical": p.canonical,
        "fingerprint": p.fingerprint,
        "sha256": p.sha256,
        "workload": "support-bot",
        "name": None,
    }
