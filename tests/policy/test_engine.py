"""decide(): request, limit and runtime rules, ranking, the plan, the explanation and the memo.

The properties at the end check the engine against the reference evaluator in `_support`, one rule and one
candidate at a time, over random catalogs (values present or missing) and random valid policies.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState
from unhardcoded.policy.engine import decide
from unhardcoded.policy.memo import DecisionMemo
from unhardcoded.policy.model import Policy
from unhardcoded.policy.request import RequestFeatures

from ._support import (
    FIELDS,
    catalog,
    close,
    dep,
    deployment_records,
    examples,
    features,
    ftype,
    policy,
    policy_docs,
    ref_est_cost,
    ref_passes,
    ref_rank_value,
    request_features,
)

ALL_CAPS = ["json_schema", "reasoning", "streaming", "tools", "vision"]
RECORDS = [
    dep(
        "openai/gpt-4.1",
        price_input_per_mtok=2.0,
        price_output_per_mtok=8.0,
        context_window=1_047_576,
        max_output_tokens=32_768,
        capabilities=["json_schema", "streaming", "tools", "vision"],
        bench_intelligence=53,
        release_date="2025-04-14",
        data_retention="30d",
    ),
    dep(
        "openai/gpt-4.1-mini",
        price_input_per_mtok=0.4,
        price_output_per_mtok=1.6,
        context_window=1_047_576,
        max_output_tokens=32_768,
        capabilities=["json_schema", "streaming", "tools", "vision"],
        bench_intelligence=42,
        release_date="2025-04-14",
    ),
    dep(
        "anthropic/claude-sonnet-4.5",
        price_input_per_mtok=3.0,
        price_output_per_mtok=15.0,
        context_window=200_000,
        max_output_tokens=64_000,
        capabilities=["reasoning", "streaming", "tools", "vision"],
        bench_intelligence=63,
        release_date="2025-09-29",
        region=None,
    ),
    dep(
        "bedrock/claude-sonnet-4.5@eu-central-1",
        model="anthropic/claude-sonnet-4.5",
        price_input_per_mtok=3.3,
        price_output_per_mtok=16.5,
        context_window=200_000,
        max_output_tokens=64_000,
        capabilities=["reasoning", "streaming", "tools", "vision"],
        bench_intelligence=63,
        release_date="2025-09-29",
        region="eu-central-1",
        data_retention="none",
    ),
    dep(
        "acme/tiny",
        price_input_per_mtok=0.05,
        price_output_per_mtok=0.1,
        context_window=8_192,
        max_output_tokens=2_048,
        capabilities=["streaming"],
        bench_intelligence=20,
        region="eu-west-1",
        data_retention="none",
    ),
    dep("acme/noprice", context_window=128_000, max_output_tokens=8_192, capabilities=ALL_CAPS),
]
CAT = catalog(*RECORDS)


def _failed_by(d: Decision, rule_id: str) -> list[str]:
    k = [r.id for r in d.rules].index(rule_id)
    return sorted(d.catalog.ids[i] for i in d.failed[k])


def _rule_ids(d: Decision) -> list[str]:
    return [r.id for r in d.rules]


def _ranked_ids(d: Decision) -> list[str]:
    return [d.catalog.ids[i] for i in d.ranked]


def _failure(d: Decision, dep_id: str, rule_id: str) -> dict[str, Any]:
    i = d.catalog.index(dep_id)
    assert i is not None
    (f,) = [f for f in d.failures(i) if f.rule_id == rule_id]
    return f.to_dict()


def test_context_fits_counts_input_plus_output() -> None:
    d = decide(policy(), CAT, features(8_000, 500))
    assert _rule_ids(d) == ["req:context-fits"]
    assert _failed_by(d, "req:context-fits") == ["acme/tiny"]
    assert _failure(d, "acme/tiny", "req:context-fits") == {
        "rule_id": "req:context-fits",
        "source": "request",
        "field": "context_window",
        "op": ">=",
        "expected": 8_500,
        "actual": 8_192,
    }
    # At the boundary it fits: input + output == context window.
    assert _failed_by(decide(policy(), CAT, features(7_692, 500)), "req:context-fits") == []


def test_a_deployment_without_a_context_window_fails_closed() -> None:
    cat = catalog(dep("acme/a", context_window=10_000), dep("acme/b"))
    d = decide(policy(), cat, features(100, 100))
    assert _failed_by(d, "req:context-fits") == ["acme/b"]
    assert _failure(d, "acme/b", "req:context-fits")["actual"] is None


def test_max_output_is_a_rule_only_when_the_request_asks() -> None:
    assert "req:max-output" not in _rule_ids(decide(policy(), CAT, features(100, 4_096)))
    d = decide(policy(), CAT, features(100, 4_096, max_output_tokens=4_096))
    assert _failed_by(d, "req:max-output") == ["acme/tiny"]
    assert _failure(d, "acme/tiny", "req:max-output") == {
        "rule_id": "req:max-output",
        "source": "request",
        "field": "max_output_tokens",
        "op": ">=",
        "expected": 4_096,
        "actual": 2_048,
    }


@pytest.mark.parametrize(
    ("flag", "rule_id", "capability", "rejected"),
    [
        ("needs_tools", "req:tools", "tools", ["acme/tiny"]),
        ("needs_vision", "req:vision", "vision", ["acme/tiny"]),
        (
            "needs_json_schema",
            "req:json-schema",
            "json_schema",
            ["acme/tiny", "anthropic/claude-sonnet-4.5", "bedrock/claude-sonnet-4.5@eu-central-1"],
        ),
        ("stream", "req:streaming", "streaming", []),
    ],
)
def test_capability_request_rules(flag: str, rule_id: str, capability: str, rejected: list[str]) -> None:
    assert rule_id not in _rule_ids(decide(policy(), CAT, features(100, 100)))
    d = decide(policy(), CAT, features(100, 100, **{flag: True}))
    assert _rule_ids(d) == ["req:context-fits", rule_id]
    rule = d.rules[1]
    assert (rule.source, rule.field, rule.op, rule.value) == ("request", "capabilities", "has", capability)
    assert _failed_by(d, rule_id) == rejected
    for dep_id in rejected:
        assert _failure(d, dep_id, rule_id)["expected"] == capability
    assert d.to_dict()["rules"][1] == {
        "id": rule_id,
        "source": "request",
        "field": "capabilities",
        "op": "has",
        "value": capability,
        "missing": "reject",
        "rejected": len(rejected),
    }


def test_request_rules_follow_policy_rules_and_limits_follow_them() -> None:
    p = policy(
        {
            "rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 40}],
            "limits": {"max_est_cost_usd": 1},
        }
    )
    d = decide(
        p,
        CAT,
        features(100, 100, 100, needs_tools=True, needs_vision=True, needs_json_schema=True, stream=True),
    )
    assert _rule_ids(d) == [
        "q",
        "req:context-fits",
        "req:max-output",
        "req:tools",
        "req:vision",
        "req:json-schema",
        "req:streaming",
        "lim:max-est-cost",
    ]
    assert [r.source for r in d.rules] == ["policy"] + ["request"] * 6 + ["limit"]


def test_max_est_cost_limit() -> None:
    p = policy({"limits": {"max_est_cost_usd": 0.01}})
    f = features(1_000, 1_000)
    d = decide(p, CAT, f)
    # cost = 1000 x in/1e6 + 1000 x out/1e6: gpt-4.1 0.01 (passes, <=), sonnet 0.018, bedrock 0.0198
    assert _failed_by(d, "lim:max-est-cost") == [
        "acme/noprice",
        "anthropic/claude-sonnet-4.5",
        "bedrock/claude-sonnet-4.5@eu-central-1",
    ]
    fail = _failure(d, "anthropic/claude-sonnet-4.5", "lim:max-est-cost")
    assert fail["source"] == "limit"
    assert (fail["field"], fail["op"], fail["expected"]) == ("est_cost_usd", "<=", 0.01)
    assert fail["actual"] == pytest.approx(0.018)
    assert _failure(d, "acme/noprice", "lim:max-est-cost")["actual"] is None
    assert _ranked_ids(d) == ["acme/tiny", "openai/gpt-4.1-mini", "openai/gpt-4.1"]


def test_est_cost_on_the_receipt_is_the_value_the_rules_compared() -> None:
    f = features(1_300, 700)
    p = policy({"rules": [{"id": "c", "field": "est_cost_usd", "op": "<", "value": 1}]})
    d = decide(p, CAT, f)
    for i, r in enumerate(CAT):
        want = ref_est_cost(r.values, f)
        assert close(d.est_cost(i), want)
    cands = {c["deployment"]: c for c in d.to_dict()["candidates"]}
    assert cands["openai/gpt-4.1"]["est_cost_usd"] == pytest.approx((1_300 * 2 + 700 * 8) / 1e6)
    assert cands["acme/noprice"]["est_cost_usd"] is None
    gpt = CAT.index("openai/gpt-4.1")
    assert gpt is not None
    assert cands["openai/gpt-4.1"]["rank_values"] == {"est_cost_usd": d.est_cost(gpt)}


NO_KEY = RuntimeRule("rt:no-key", "provider", "key_configured", True, {"anthropic/claude-sonnet-4.5": False})


def test_no_key_is_a_hard_runtime_rule() -> None:
    d = decide(policy(), CAT, features(100, 100), RuntimeState((NO_KEY,), key=1))
    assert _rule_ids(d)[-1] == "rt:no-key"
    assert _failed_by(d, "rt:no-key") == ["anthropic/claude-sonnet-4.5"]
    assert _failure(d, "anthropic/claude-sonnet-4.5", "rt:no-key") == {
        "rule_id": "rt:no-key",
        "source": "runtime",
        "field": "provider",
        "op": "key_configured",
        "expected": True,
        "actual": False,
    }


def test_a_hard_runtime_rule_may_remove_every_candidate() -> None:
    everyone = RuntimeRule("rt:no-key", "provider", "key_configured", True, dict.fromkeys(CAT.ids, False))
    d = decide(policy(), CAT, features(100, 100), RuntimeState((everyone,)))
    assert d.plan == () and d.ranked == () and d.waived == ()
    assert d.to_dict()["explanation"].startswith("no deployment passed 2 rules: 6 rejected — 6 by rt:no-key")


def test_runtime_rules_naming_unknown_deployments_are_ignored() -> None:
    rr = RuntimeRule("rt:no-key", "provider", "key_configured", True, {"gone/model": False})
    d = decide(policy(), CAT, features(100, 100), RuntimeState((rr,)))
    assert _failed_by(d, "rt:no-key") == []


def _circuit(*dep_ids: str) -> RuntimeRule:
    return RuntimeRule(
        "rt:circuit-open", "id", "circuit", "closed", dict.fromkeys(dep_ids, "open"), soft=True
    )


def test_a_soft_circuit_breaker_applies_when_candidates_remain() -> None:
    d = decide(policy(), CAT, features(100, 100), RuntimeState((_circuit("acme/tiny"),)))
    assert d.waived == ()
    assert _failed_by(d, "rt:circuit-open") == ["acme/tiny"]
    assert _failure(d, "acme/tiny", "rt:circuit-open")["actual"] == "open"
    assert "acme/tiny" not in d.plan


def test_a_soft_circuit_breaker_is_waived_when_it_would_remove_every_candidate() -> None:
    p = policy(
        {"rules": [{"id": "eu", "field": "region", "op": "in", "value": ["eu-west-1", "eu-central-1"]}]}
    )
    circuit = _circuit("acme/tiny", "bedrock/claude-sonnet-4.5@eu-central-1")
    d = decide(p, CAT, features(100, 100), RuntimeState((circuit,)))
    assert d.waived == ("rt:circuit-open",)
    assert "rt:circuit-open" not in _rule_ids(d)
    assert d.plan == ("acme/tiny", "bedrock/claude-sonnet-4.5@eu-central-1")
    assert d.to_dict()["waived"] == ["rt:circuit-open"]
    assert "rt:circuit-open waived (it would have left no candidate)" in d.to_dict()["explanation"]


def test_a_soft_circuit_breaker_is_applied_when_other_rules_already_leave_nobody() -> None:
    # Waiving it would change nothing, and the receipt must show every rule each candidate failed.
    p = policy({"rules": [{"id": "impossible", "field": "bench_intelligence", "op": ">", "value": 100}]})
    d = decide(p, CAT, features(100, 100), RuntimeState((_circuit("acme/tiny"),)))
    assert d.waived == ()
    assert _failed_by(d, "rt:circuit-open") == ["acme/tiny"]
    i = CAT.index("acme/tiny")
    assert i is not None
    assert [f.rule_id for f in d.failures(i)] == ["impossible", "rt:circuit-open"]


def test_soft_and_hard_runtime_rules_together() -> None:
    state = RuntimeState((_circuit("openai/gpt-4.1-mini"), NO_KEY))
    d = decide(policy(), CAT, features(100, 100), state)
    assert _rule_ids(d) == ["req:context-fits", "rt:no-key", "rt:circuit-open"]
    assert "openai/gpt-4.1-mini" not in _ranked_ids(d)


def test_default_rank_is_est_cost_ascending_missing_last() -> None:
    d = decide(policy({"select": {"max_candidates": 50}}), CAT, features(1_000, 1_000))
    assert _ranked_ids(d) == [
        "acme/tiny",
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1",
        "anthropic/claude-sonnet-4.5",
        "bedrock/claude-sonnet-4.5@eu-central-1",
        "acme/noprice",
    ]
    assert d.rank_values[-1] == (None,)


def test_est_cost_rank_depends_on_the_request_shape() -> None:
    # Input-heavy vs output-heavy requests weigh the two prices differently.
    cat = catalog(
        dep("x/in-cheap", price_input_per_mtok=0.1, price_output_per_mtok=10.0, context_window=10**6),
        dep("x/out-cheap", price_input_per_mtok=1.0, price_output_per_mtok=1.0, context_window=10**6),
    )
    assert decide(policy(), cat, features(100_000, 100)).plan[0] == "x/in-cheap"
    assert decide(policy(), cat, features(100, 100_000)).plan[0] == "x/out-cheap"


def test_rank_by_blended_price() -> None:
    p = policy({"rank": [{"by": "price_blended_per_mtok"}], "select": {"max_candidates": 10}})
    d = decide(p, CAT, features(100, 100))
    # blended = (3 x input + output) / 4
    assert d.rank_values[0] == (pytest.approx((3 * 0.05 + 0.1) / 4),)
    assert _ranked_ids(d)[:3] == ["acme/tiny", "openai/gpt-4.1-mini", "openai/gpt-4.1"]
    assert _ranked_ids(d)[-1] == "acme/noprice"


def test_rank_by_date_descending_then_cost() -> None:
    p = policy(
        {
            "rank": [{"by": "release_date", "order": "desc"}, {"by": "est_cost_usd"}],
            "select": {"max_candidates": 10},
        }
    )
    d = decide(p, CAT, features(100, 100))
    assert _ranked_ids(d) == [
        "anthropic/claude-sonnet-4.5",
        "bedrock/claude-sonnet-4.5@eu-central-1",
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1",
        "acme/tiny",  # no release date: last, whatever the order
        "acme/noprice",
    ]
    assert "highest release_date" in d.to_dict()["explanation"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_missing_values_rank_last_in_either_order(order: str) -> None:
    cat = catalog(
        dep("x/a", context_window=10**6),
        dep("x/b", context_window=10**6, bench_intelligence=50),
        dep("x/c", context_window=10**6, bench_intelligence=60),
    )
    d = decide(policy({"rank": [{"by": "bench_intelligence", "order": order}]}), cat, features())
    assert _ranked_ids(d) == (["x/b", "x/c", "x/a"] if order == "asc" else ["x/c", "x/b", "x/a"])


def test_ties_break_on_deployment_id_ascending() -> None:
    same = {"price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0, "context_window": 10**6}
    recs = [dep(i, **same) for i in ("z/m", "a/m", "m/m@eu-west-1", "m/m")]
    for order in ("asc", "desc"):
        for shuffled in (recs, recs[::-1]):
            d = decide(
                policy({"rank": [{"by": "est_cost_usd", "order": order}]}), catalog(*shuffled), features()
            )
            assert d.plan == ("a/m", "m/m", "m/m@eu-west-1")


def test_second_rank_key_breaks_ties_of_the_first() -> None:
    p = policy({"rank": [{"by": "bench_intelligence", "order": "desc"}, {"by": "est_cost_usd"}]})
    d = decide(p, CAT, features(100, 100))
    assert d.plan[:2] == ("anthropic/claude-sonnet-4.5", "bedrock/claude-sonnet-4.5@eu-central-1")
    cand = {c["deployment"]: c for c in d.to_dict()["candidates"]}
    assert cand["anthropic/claude-sonnet-4.5"]["rank_values"]["bench_intelligence"] == 63
    assert cand["anthropic/claude-sonnet-4.5"]["rank"] == 1


@pytest.mark.parametrize("max_candidates", [1, 2, 3, 5, 6, 50])
@pytest.mark.parametrize("min_bench", [0, 50, 60, 99])
def test_plan_length_is_min_of_max_candidates_and_passers(max_candidates: int, min_bench: int) -> None:
    p = policy(
        {
            "rules": [{"field": "bench_intelligence", "op": ">=", "value": min_bench, "missing": "pass"}],
            "select": {"max_candidates": max_candidates},
        }
    )
    d = decide(p, CAT, features(100, 100))
    assert len(d.plan) == min(max_candidates, len(d.ranked))
    assert list(d.plan) == _ranked_ids(d)[: len(d.plan)]
    planned = [c["deployment"] for c in d.to_dict()["candidates"] if c.get("planned")]
    assert sorted(planned) == sorted(d.plan)


SPEC_LIKE = {
    "rules": [
        {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 40},
        {
            "id": "eu-only",
            "field": "region",
            "op": "in",
            "value": ["eu-west-1", "eu-central-1"],
            "missing": "pass",
        },
    ]
}


def test_explanation_sentence() -> None:
    d = decide(policy(SPEC_LIKE), CAT, features(100, 100, needs_tools=True))
    # Rejected (first failed rule): tiny by quality-floor (bench 20), noprice by quality-floor (missing).
    assert d.to_dict()["explanation"] == (
        "openai/gpt-4.1-mini ranked first: cheapest of 4 that passed 4 rules; 2 rejected — 2 by quality-floor"
    )


def test_explanation_counts_each_rejection_once_by_its_first_rule_and_sorts_by_count() -> None:
    p = policy(
        {
            "rules": [
                {"id": "eu-only", "field": "region", "op": "==", "value": "eu-central-1", "missing": "pass"},
                {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 60},
            ]
        }
    )
    d = decide(p, CAT, features(100, 100, needs_tools=True))
    out = d.to_dict()
    # tiny fails eu-only, quality-floor and req:tools but counts once, under its first failed rule.
    assert out["explanation"] == (
        "anthropic/claude-sonnet-4.5 ranked first: cheapest of 2 that passed 4 rules; "
        "4 rejected — 3 by quality-floor, 1 by eu-only"
    )
    assert out["counts"] == {
        "candidates": 6,
        "passed": 2,
        "rejected": 4,
        "rejected_first_by": {"eu-only": 1, "quality-floor": 3},
    }
    rules = {r["id"]: r["rejected"] for r in out["rules"]}
    assert rules == {"eu-only": 1, "quality-floor": 4, "req:context-fits": 0, "req:tools": 1}


def test_explanation_when_nothing_passes() -> None:
    p = policy({"rules": [{"id": "q", "field": "bench_intelligence", "op": ">", "value": 90}]})
    d = decide(p, CAT, features(10_000, 500, needs_vision=True))
    assert d.plan == ()
    assert d.to_dict()["explanation"] == "no deployment passed 3 rules: 6 rejected — 6 by q"


def test_explanation_names_the_rank_direction() -> None:
    p = policy({"rank": [{"by": "bench_intelligence", "order": "desc"}]})
    text = decide(p, CAT, features()).to_dict()["explanation"]
    assert text.startswith(
        "anthropic/claude-sonnet-4.5 ranked first: highest bench_intelligence of 6 that passed 1 rules"
    )
    p = policy({"rank": [{"by": "price_input_per_mtok", "order": "desc"}]})
    assert "priciest" in decide(p, CAT, features()).to_dict()["explanation"]


def test_to_dict_lists_every_candidate_with_its_fate() -> None:
    d = decide(policy(SPEC_LIKE), CAT, features(100, 100))
    out = d.to_dict()
    assert [c["deployment"] for c in out["candidates"]] == list(CAT.ids)
    statuses = {c["deployment"]: c["status"] for c in out["candidates"]}
    assert statuses["acme/tiny"] == "rejected" and statuses["openai/gpt-4.1"] == "ranked"
    tiny = next(c for c in out["candidates"] if c["deployment"] == "acme/tiny")
    assert "rank" not in tiny and [f["rule_id"] for f in tiny["rejected_by"]] == ["quality-floor"]
    assert out["catalog_version"] == CAT.version
    assert out["features"] == features(100, 100).to_dict()
    assert out["policy"]["fingerprint"] == policy(SPEC_LIKE).fingerprint


# ---------------------------------------------------------------------------------------------------------
# The memo.


def test_memo_returns_the_identical_decision_and_counts_hits() -> None:
    memo = DecisionMemo()
    p, f = policy(SPEC_LIKE), features(100, 100)
    first = memo.decide(p, CAT, f)
    again = memo.decide(policy(SPEC_LIKE), CAT, features(100, 100))  # equal, not identical, inputs
    assert again is first
    assert (memo.hits, memo.misses, len(memo)) == (1, 1, 1)
    assert first.to_dict() == decide(p, CAT, f).to_dict()


@pytest.mark.parametrize(
    "change",
    ["features", "runtime", "policy", "catalog", "name"],
)
def test_memo_misses_when_any_input_changes(change: str) -> None:
    memo = DecisionMemo()
    p, f, rt = policy(SPEC_LIKE), features(100, 100), RuntimeState()
    memo.decide(p, CAT, f, rt)
    cat: Catalog = CAT
    if change == "features":
        f = features(100, 100, needs_tools=True)
    elif change == "runtime":
        rt = RuntimeState((NO_KEY,), key=2)
    elif change == "policy":
        p = policy({**SPEC_LIKE, "workload": "other"})
    elif change == "catalog":
        cat = catalog(*RECORDS[:-1])
    else:
        p = policy(SPEC_LIKE, name="support-bot")
    d = memo.decide(p, cat, f, rt)
    assert (memo.hits, memo.misses) == (0, 2)
    assert d.to_dict() == decide(p, cat, f, rt).to_dict()


def test_memo_is_bounded_lru() -> None:
    memo = DecisionMemo(maxsize=2)
    p = policy()
    f1, f2, f3 = (features(n, 100) for n in (100, 200, 300))
    memo.decide(p, CAT, f1)
    memo.decide(p, CAT, f2)
    memo.decide(p, CAT, f1)  # f1 is now the most recent
    memo.decide(p, CAT, f3)  # evicts f2
    assert len(memo) == 2
    memo.decide(p, CAT, f1)
    assert memo.hits == 2
    memo.decide(p, CAT, f2)
    assert memo.misses == 4


# ---------------------------------------------------------------------------------------------------------
# Properties over random catalogs, policies, requests and runtime states, against the reference evaluator.


@st.composite
def runtime_states(draw: st.DrawFn, dep_ids: list[str]) -> RuntimeState:
    rules = []
    if dep_ids and draw(st.booleans()):
        hit = draw(st.lists(st.sampled_from(dep_ids), unique=True))
        rules.append(RuntimeRule("rt:no-key", "provider", "key_configured", True, dict.fromkeys(hit, False)))
    if dep_ids and draw(st.booleans()):
        hit = draw(st.lists(st.sampled_from(dep_ids), unique=True, min_size=1))
        rules.append(
            RuntimeRule("rt:circuit-open", "id", "circuit", "closed", dict.fromkeys(hit, "open"), soft=True)
        )
    return RuntimeState(tuple(rules), key=draw(st.integers(0, 3)))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Policy, RequestFeatures, RuntimeState]:
    records = draw(deployment_records())
    pol = policy(draw(policy_docs()))
    return records, pol, draw(request_features()), draw(runtime_states([r["id"] for r in records]))


def _reference_rules(pol: Policy, f: RequestFeatures) -> list[tuple[str, str, str, Any, str]]:
    """(id, field, op, value, missing) of every non-runtime rule, written from SPEC section 2."""
    rules = [(r.id, r.field, r.op, r.value, r.missing) for r in pol.rules]
    rules.append(
        ("req:context-fits", "context_window", ">=", f.est_input_tokens + f.est_output_tokens, "reject")
    )
    if f.max_output_tokens is not None:
        rules.append(("req:max-output", "max_output_tokens", ">=", f.max_output_tokens, "reject"))
    for needed, rid, cap in (
        (f.needs_tools, "req:tools", "tools"),
        (f.needs_vision, "req:vision", "vision"),
        (f.needs_json_schema, "req:json-schema", "json_schema"),
        (f.stream, "req:streaming", "streaming"),
    ):
        if needed:
            rules.append((rid, "capabilities", "has", cap, "reject"))
    if pol.max_est_cost_usd is not None:
        rules.append(("lim:max-est-cost", "est_cost_usd", "<=", pol.max_est_cost_usd, "reject"))
    return rules


def _reference_failures(
    d: Decision, pol: Policy, f: RequestFeatures, rt: RuntimeState
) -> dict[str, list[str]]:
    """deployment id -> ids of the rules it fails, in rule order, evaluated one by one."""
    cat = d.catalog
    out: dict[str, list[str]] = {}
    rules = _reference_rules(pol, f)
    for i, dp in enumerate(cat):
        failed = []
        for rid, field, op, value, missing in rules:
            actual = d.est_cost(i) if field == "est_cost_usd" else dp.values.get(field)
            if not ref_passes(ftype(field), op, value, actual, missing):
                failed.append(rid)
        failed += [rr.id for rr in rt.rules if not rr.soft and dp.id in rr.excluded]
        out[dp.id] = failed
    soft = [rr for rr in rt.rules if rr.soft]
    hard_passers = [i for i, fails in enumerate(out.values()) if not fails]
    soft_out = {dep_id for rr in soft for dep_id in rr.excluded}
    waive = bool(soft) and bool(hard_passers) and all(cat.ids[i] in soft_out for i in hard_passers)
    assert d.waived == (tuple(rr.id for rr in soft) if waive else ())
    if not waive:
        for rr in soft:
            for dep_id in rr.excluded:
                if dep_id in out:
                    out[dep_id].append(rr.id)
    return out


def _reference_rank(d: Decision, pol: Policy, f: RequestFeatures, passers: list[int]) -> list[int]:
    def key(i: int) -> tuple[Any, ...]:
        parts: list[Any] = []
        for k in pol.rank:
            v = (
                d.est_cost(i)
                if k.by == "est_cost_usd"
                else ref_rank_value(FIELDS, k.by, d.catalog.deployments[i].values, f)
            )
            parts.append((1, 0) if v is None else (0, v if k.order == "asc" else -v))
        return (*parts, d.catalog.ids[i])

    return sorted(passers, key=key)


@settings(max_examples=examples(300))
@given(scenarios())
def test_property_engine_agrees_with_the_reference(
    scenario: tuple[list[dict[str, Any]], Policy, RequestFeatures, RuntimeState],
) -> None:
    records, pol, f, rt = scenario
    cat = catalog(*records)
    d = decide(pol, cat, f, rt)
    ref = _reference_failures(d, pol, f, rt)
    # every rejected candidate failed at least one rule, every passer none, and the receipt says which
    for i, dep_id in enumerate(cat.ids):
        assert [x.rule_id for x in d.failures(i)] == ref[dep_id]
    passers = [i for i, dep_id in enumerate(cat.ids) if not ref[dep_id]]
    assert sorted(d.ranked) == passers
    # each failure's actual value is the candidate's own value
    for i, dp in enumerate(cat):
        for fail in d.failures(i):
            if fail.source == "runtime":
                continue
            want = d.est_cost(i) if fail.field == "est_cost_usd" else dp.values.get(fail.field)
            assert fail.actual == want
    # ranking: the winner has the best key among the passers, and the whole order is the reference's
    assert list(d.ranked) == _reference_rank(d, pol, f, passers)
    # the plan holds only passers, in rank order, min(max_candidates, passers) of them
    assert set(d.plan) <= {cat.ids[i] for i in passers}
    assert len(d.plan) == min(pol.max_candidates, len(passers))
    assert list(d.plan) == [cat.ids[i] for i in d.ranked[: len(d.plan)]]
    # the receipt's view agrees
    out = d.to_dict()
    for c in out["candidates"]:
        assert (c["status"] == "rejected") == bool(ref[c["deployment"]])
        if c["status"] == "rejected":
            assert [x["rule_id"] for x in c["rejected_by"]] == ref[c["deployment"]]
    assert out["counts"]["passed"] + out["counts"]["rejected"] == len(cat)


@settings(max_examples=examples(150))
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_same_inputs_same_decision(
    scenario: tuple[list[dict[str, Any]], Policy, RequestFeatures, RuntimeState], rnd: random.Random
) -> None:
    records, pol, f, rt = scenario
    cat = catalog(*records)
    first = decide(pol, cat, f, rt).to_dict()
    assert decide(pol, cat, f, rt).to_dict() == first
    shuffled = list(records)
    rnd.shuffle(shuffled)
    other = catalog(*shuffled)
    assert other.version == cat.version
    runtime = RuntimeState(
        tuple(
            RuntimeRule(r.id, r.field, r.op, r.expected, dict(reversed(list(r.excluded.items()))), r.soft)
            for r in rt.rules
        ),
        rt.key,
    )
    assert decide(pol, other, f, runtime).to_dict() == first


@settings(max_examples=examples(100))
@given(scenarios())
def test_property_memoised_decision_equals_a_fresh_one(
    scenario: tuple[list[dict[str, Any]], Policy, RequestFeatures, RuntimeState],
) -> None:
    records, pol, f, rt = scenario
    cat = catalog(*records)
    memo = DecisionMemo()
    cold = memo.decide(pol, cat, f, rt)
    warm = memo.decide(pol, cat, f, rt)
    assert warm is cold and memo.hits == 1
    assert warm.to_dict() == decide(pol, cat, f, rt).to_dict()


def test_the_index_cache_never_mixes_catalogs() -> None:
    # More catalogs than the engine keeps indexes for, used in turn: each decision is its own catalog's.
    cats = [catalog(dep("acme/a", context_window=10**6, bench_intelligence=k)) for k in range(12)]
    p = policy({"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 6}]})
    for _ in range(2):
        for k, cat in enumerate(cats):
            assert decide(p, cat, features()).plan == (("acme/a",) if k >= 6 else ())
