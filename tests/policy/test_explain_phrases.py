"""The explanation's first words name the first rank key and its direction, as a reader would say them:
"cheapest" / "priciest" for every price-like key, "lowest X" / "highest X" for any other field."""

from __future__ import annotations

import pytest

from unhardcoded.policy.engine import decide

from ._support import catalog, dep, features, policy

CAT = catalog(
    dep(
        "a/m",
        price_input_per_mtok=1.0,
        price_output_per_mtok=2.0,
        context_window=100_000,
        bench_intelligence=50,
    ),
    dep(
        "b/m",
        price_input_per_mtok=3.0,
        price_output_per_mtok=1.0,
        context_window=200_000,
        bench_intelligence=60,
    ),
)


@pytest.mark.parametrize(
    ("by", "order", "phrase"),
    [
        ("est_cost_usd", "asc", "cheapest of 2"),
        ("est_cost_usd", "desc", "priciest of 2"),
        ("price_blended_per_mtok", "asc", "cheapest of 2"),
        ("price_blended_per_mtok", "desc", "priciest of 2"),
        ("price_input_per_mtok", "asc", "cheapest of 2"),
        ("price_output_per_mtok", "asc", "cheapest of 2"),
        ("price_output_per_mtok", "desc", "priciest of 2"),
        ("bench_intelligence", "asc", "lowest bench_intelligence of 2"),
        ("context_window", "desc", "highest context_window of 2"),
    ],
)
def test_the_first_rank_key_in_words(by: str, order: str, phrase: str) -> None:
    d = decide(policy({"rank": [{"by": by, "order": order}]}), CAT, features(1_000, 500))
    assert f"ranked first: {phrase} that passed" in d.to_dict()["explanation"]
