"""est_cost_usd: one formula, and the receipt shows exactly the value the engine ranked and filtered by.

The receipt's candidate list carries the estimated cost three ways: `est_cost_usd` (rounded to 10 places
for reading), the `actual` of a failed `lim:max-est-cost`, and `rank_values`. The last two must be the
very float the engine compared, or a receipt could say "0.0100000001 > 0.01, rejected" for a deployment
that in fact cost 0.01 and passed.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.cost import est_cost_column, est_cost_usd, est_costs
from unhardcoded.policy.engine import decide
from unhardcoded.policy.request import RequestFeatures

from ._support import catalog, close, dep, examples, features, policy, ref_est_cost

# Prices as they come from catalogs and overlays: cents, sub-cents and long binary fractions alike.
PRICES = st.one_of(
    st.integers(0, 10_000).map(lambda c: c / 100),
    st.floats(0, 200, allow_nan=False, allow_infinity=False),
)
TOKENS = st.integers(0, 2_000_000)


@st.composite
def priced_catalogs(draw: st.DrawFn) -> tuple[Catalog, RequestFeatures]:
    n = draw(st.integers(1, 10))
    records = []
    for i in range(n):
        pin = draw(st.one_of(st.none(), PRICES, PRICES, PRICES))
        pout = draw(st.one_of(st.none(), PRICES, PRICES, PRICES))
        # A context window that fits any request: the limit is the only rule that can reject.
        records.append(
            dep(f"p{i}/m", price_input_per_mtok=pin, price_output_per_mtok=pout, context_window=10_000_000)
        )
    return catalog(*records), features(draw(TOKENS), draw(TOKENS))


def _candidates(receipt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["deployment"]: c for c in receipt["candidates"]}


@settings(max_examples=examples(200))
@given(priced_catalogs(), st.data())
def test_the_receipt_shows_the_cost_the_limit_and_the_ranking_compared(
    scenario: tuple[Catalog, RequestFeatures], data: st.DataObject
) -> None:
    cat, f = scenario
    priced = [i for i, d in enumerate(cat) if ref_est_cost(d.values, f) is not None]
    if priced and data.draw(st.booleans(), "limit at a deployment's own cost"):
        # The boundary: a limit equal to a deployment's cost must let it pass (the limit is `<=`).
        at = data.draw(st.sampled_from(priced))
        limit = est_cost_usd(
            cat.deployments[at].get("price_input_per_mtok"),
            cat.deployments[at].get("price_output_per_mtok"),
            f,
        )
        assert limit is not None
    else:
        at, limit = None, data.draw(PRICES.map(lambda p: p / 100))
    d = decide(policy({"limits": {"max_est_cost_usd": limit}}), cat, f)
    cands = _candidates(d.to_dict())
    ranked_costs = []
    for i, dep_id in enumerate(cat.ids):
        c = cands[dep_id]
        want = ref_est_cost(cat.deployments[i].values, f)
        assert close(d.est_cost(i), want)
        limit_failures = [x for x in c.get("rejected_by", []) if x["rule_id"] == "lim:max-est-cost"]
        if c["status"] == "ranked":
            compared = c["rank_values"]["est_cost_usd"]
            assert compared is not None and compared <= limit
            ranked_costs.append((c["rank"], compared))
        else:
            assert len(limit_failures) == 1
            compared = limit_failures[0]["actual"]
            assert compared is None or compared > limit
        assert compared == d.est_cost(i)
        assert c["est_cost_usd"] == (None if compared is None else round(compared, 10))
    in_rank_order = [cost for _, cost in sorted(ranked_costs)]
    assert in_rank_order == sorted(in_rank_order)  # cheapest first, by the same values
    if at is not None:
        assert cands[cat.ids[at]]["status"] == "ranked"


@settings(max_examples=examples(100))
@given(priced_catalogs())
def test_ranking_without_a_limit_shows_the_same_costs(scenario: tuple[Catalog, RequestFeatures]) -> None:
    # Without a limit the engine prices the passers only; the values must not differ from the full column.
    cat, f = scenario
    d = decide(policy({}), cat, f)
    column = est_cost_column(cat, f)
    for c in d.to_dict()["candidates"]:
        i = cat.index(c["deployment"])
        assert i is not None
        if c["status"] == "ranked":
            assert c["rank_values"]["est_cost_usd"] == column[i] == d.est_cost(i)
        assert c["est_cost_usd"] == (None if column[i] is None else round(column[i], 10))


@given(st.lists(st.tuples(st.none() | PRICES, st.none() | PRICES), max_size=8), TOKENS, TOKENS)
def test_one_deployment_and_a_column_agree(
    prices: list[tuple[float | None, float | None]], ti: int, to: int
) -> None:
    f = features(ti, to)
    column = est_costs([p for p, _ in prices], [q for _, q in prices], f)
    assert column == [est_cost_usd(p, q, f) for p, q in prices]


def test_the_formula_is_tokens_times_price_per_million() -> None:
    f = features(1_000_000, 500_000)
    assert est_cost_usd(3.0, 15.0, f) == 10.5
    assert est_cost_usd(0.0, 15.0, features(0, 2_000_000)) == 30.0
    assert est_cost_usd(2.5, 10.0, features(1_300, 700)) == pytest.approx(0.01025)


@pytest.mark.parametrize(("pin", "pout"), [(None, 1.0), (1.0, None), (None, None)])
def test_a_missing_price_has_no_cost(pin: float | None, pout: float | None) -> None:
    assert est_cost_usd(pin, pout, features(1_000, 1_000)) is None


def test_a_column_of_chosen_rows_keeps_their_order() -> None:
    cat = catalog(
        dep("a/m", price_input_per_mtok=1.0, price_output_per_mtok=1.0),
        dep("b/m"),
        dep("c/m", price_input_per_mtok=4.0, price_output_per_mtok=2.0),
    )
    f = features(1_000_000, 1_000_000)
    assert est_cost_column(cat, f) == [2.0, None, 6.0]
    assert est_cost_column(cat, f, [2, 0]) == [6.0, 2.0]
    assert est_cost_column(cat, f, []) == []
