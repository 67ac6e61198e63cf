"""decide() at its edges: rules on the request-dependent est_cost_usd, and catalogs large enough that a
rule rejects more candidates than the sparse bit-peeling path handles (the byte-expanding path)."""

from __future__ import annotations

import pytest

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import RuntimeRule, RuntimeState
from unhardcoded.policy.engine import decide

from ._support import catalog, dep, features, policy


def _priced_and_unpriced() -> Catalog:
    return catalog(
        dep("a/m", price_input_per_mtok=1.0, price_output_per_mtok=1.0, context_window=100_000),
        dep("b/m", context_window=100_000),
    )


@pytest.mark.parametrize(("present", "ranked", "rejected"), [(True, ["a/m"], "b/m"), (False, ["b/m"], "a/m")])
def test_exists_on_the_estimated_cost(present: bool, ranked: list[str], rejected: str) -> None:
    # A deployment without prices has no estimated cost: `exists` keeps or drops exactly those.
    cat = _priced_and_unpriced()
    p = policy({"rules": [{"id": "priced", "field": "est_cost_usd", "op": "exists", "value": present}]})
    d = decide(p, cat, features(1_000, 500))
    assert [cat.ids[i] for i in d.ranked] == ranked
    cands = {c["deployment"]: c for c in d.to_dict()["candidates"]}
    [failure] = cands[rejected]["rejected_by"]
    assert (failure["rule_id"], failure["op"], failure["expected"]) == ("priced", "exists", present)
    assert failure["actual"] == (None if present else 0.0015)


@pytest.mark.parametrize(("op", "ranked"), [("in", ["a/m"]), ("not_in", [])])
def test_in_and_not_in_on_the_estimated_cost(op: str, ranked: list[str]) -> None:
    cat = _priced_and_unpriced()
    p = policy({"rules": [{"id": "c", "field": "est_cost_usd", "op": op, "value": [0.0015, 0.5]}]})
    d = decide(p, cat, features(1_000, 500))
    assert [cat.ids[i] for i in d.ranked] == ranked


@pytest.mark.parametrize("n_rejected", [25, 40, 99])
def test_a_rule_rejecting_many_candidates_of_a_large_catalog(n_rejected: int) -> None:
    # Above 24 failing candidates the engine expands the failure mask byte by byte: same answer.
    n = 120
    cat = catalog(
        *(
            dep(
                f"p/m{i:03d}",
                bench_intelligence=i,
                context_window=100_000,
                price_input_per_mtok=1.0,
                price_output_per_mtok=1.0,
            )
            for i in range(n)
        )
    )
    p = policy({"rules": [{"id": "floor", "field": "bench_intelligence", "op": ">=", "value": n_rejected}]})
    d = decide(p, cat, features(1_000, 500))
    rejected = {c["deployment"] for c in d.to_dict()["candidates"] if c["status"] == "rejected"}
    assert rejected == {f"p/m{i:03d}" for i in range(n_rejected)}
    assert sorted(cat.ids[i] for i in d.ranked) == [f"p/m{i:03d}" for i in range(n_rejected, n)]
    assert d.rejection_counts() == ({"floor": n_rejected}, {"floor": n_rejected})


def test_the_receipt_shows_a_runtime_rules_own_actual_value() -> None:
    # `rt:no-key` compares the provider's key_configured, which the catalog does not hold: the receipt
    # shows the value the runtime state gave, not a catalog column.
    cat = _priced_and_unpriced()
    no_key = RuntimeRule("rt:no-key", "provider", "key_configured", True, {"a/m": False})
    d = decide(policy({}), cat, features(1_000, 500), RuntimeState((no_key,), key=1))
    cands = {c["deployment"]: c for c in d.to_dict()["candidates"]}
    [failure] = cands["a/m"]["rejected_by"]
    assert failure == {
        "rule_id": "rt:no-key",
        "source": "runtime",
        "field": "provider",
        "op": "key_configured",
        "expected": True,
        "actual": False,
    }
    assert cands["b/m"]["status"] == "ranked"
