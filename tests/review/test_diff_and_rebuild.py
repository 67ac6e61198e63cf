"""The pure parts: first_difference, describe_change, and rebuilding a catalog from its stored JSON."""

from __future__ import annotations

import orjson
import pytest

from tests.e2e.harness import dep
from tests.review.conftest import catalog_with
from unhardcoded.catalog.load import build_catalog
from unhardcoded.review.diff import describe_change, first_difference
from unhardcoded.review.rebuild import ReplayInputError, catalog_from_blob, stored_runtime


def test_first_difference_names_the_first_differing_candidate_then_other_keys() -> None:
    a = {
        "plan": ["x"],
        "candidates": [{"deployment": "x", "status": "ranked"}, {"deployment": "y", "status": "rejected"}],
    }
    assert first_difference(a, a) is None
    b = {**a, "candidates": [a["candidates"][0], {"deployment": "y", "status": "ranked", "rank": 2}]}
    d = first_difference(a, b)
    assert d is not None
    assert (d["deployment"], d["index"], d["fields"]) == ("y", 1, ["rank", "status"])
    assert d["stored"] == {"rank": None, "status": "rejected"}
    assert first_difference(a, {**a, "plan": []}) == {"where": "plan", "stored": ["x"], "rebuilt": []}
    shorter = first_difference(a, {**a, "candidates": a["candidates"][:1]})
    assert shorter is not None and shorter["deployment"] == "y"


def test_describe_change_reads_as_the_issue_asks() -> None:
    line = describe_change(
        {
            "deployment": "openai/gpt-5-mini",
            "then": "rejected",
            "now": "planned",
            "rank_then": None,
            "rank_now": 2,
            "values": [{"field": "bench_intelligence", "then": 54.8, "now": 55.1}],
            "rules": [
                {
                    "rule_id": "quality-floor",
                    "field": "bench_intelligence",
                    "op": ">=",
                    "expected": 55,
                    "then": 54.8,
                    "now": 55.1,
                    "now_passes": True,
                }
            ],
        }
    )
    assert line == (
        "openai/gpt-5-mini rejected → planned #2: bench_intelligence 54.8 → 55.1; "
        "now passes quality-floor (bench_intelligence >= 55; 54.8 → 55.1)"
    )


def test_catalog_from_blob_round_trips_the_version_with_custom_fields() -> None:
    cat = build_catalog(
        bundled=False,
        overlay=[{**dep("a/x", "x", 1, 2, 50), "internal_eval": 77}],
        custom_fields={"internal_eval": {"type": "number", "unit": "score", "description": "ours"}},
    )
    back = catalog_from_blob(orjson.dumps(cat.to_dict()), cat.version)
    assert back.version == cat.version and back.get("a/x").get("internal_eval") == 77
    with pytest.raises(ReplayInputError, match="rebuilds to version"):
        catalog_from_blob(orjson.dumps(catalog_with({}).to_dict()), cat.version)


def test_stored_runtime_reads_excluded_deployments_and_waivers() -> None:
    stored = {
        "rules": [
            {"id": "rt:no-key", "source": "runtime", "field": "provider", "op": "has_key", "value": "k"}
        ],
        "waived": ["rt:circuit-open"],
        "candidates": [
            {
                "deployment": "g/a",
                "status": "rejected",
                "rejected_by": [{"rule_id": "rt:no-key", "source": "runtime", "actual": "no key in $G"}],
            },
            {"deployment": "a/b", "status": "ranked"},
        ],
    }
    rt = stored_runtime(stored)
    assert rt.excluded == {"rt:no-key": {"g/a": "no key in $G"}} and rt.passed == ("a/b",)
    state = rt.state(
        build_catalog(bundled=False, overlay=[dep("g/new", "n", 1, 1, 1), dep("a/b", "b", 1, 1, 1)])
    )
    no_key, waived = state.rules
    assert dict(no_key.excluded) == {"g/a": "no key in $G", "g/new": "no key in $G"}
    assert waived.soft and set(waived.excluded) == {"a/b"}
