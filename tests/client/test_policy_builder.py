"""The typed builders: the document they write, validation before sending, and the gateway's fingerprint."""

from __future__ import annotations

import pytest

import unhardcoded
from unhardcoded import Fallback, Limits, Policy, Rank, Rule, Select
from unhardcoded.catalog.fields import FieldRegistry
from unhardcoded.client.policy import NO_BASELINE
from unhardcoded.errors import PolicyError
from unhardcoded.policy.parse import parse_policy


def test_the_issue_example_writes_the_extra_body() -> None:
    body = Policy(
        rules=[Rule.ge("bench_intelligence", 55), Rule.in_("geography", ["eu"])],
        baseline="openai/gpt-4.1",
    ).as_extra_body()
    assert body == {
        "policy": {
            "rules": [
                {"field": "bench_intelligence", "op": ">=", "value": 55},
                {"field": "geography", "op": "in", "value": ["eu"]},
            ],
            "baseline": "openai/gpt-4.1",
        }
    }


def test_each_constructor_writes_its_op_value_missing_and_id() -> None:
    assert Rule.eq("geography", "eu", id="eu-only").to_dict() == {
        "id": "eu-only",
        "field": "geography",
        "op": "==",
        "value": "eu",
    }
    assert Rule.has("capabilities", "tools", missing="pass").to_dict() == {
        "field": "capabilities",
        "op": "has",
        "value": "tools",
        "missing": "pass",
    }
    assert Rule.exists("bench_intelligence").to_dict()["value"] is True
    assert Rule.exists("bench_intelligence", False).to_dict()["value"] is False
    assert Rule.has_any("capabilities", ("tools", "vision")).value == ("tools", "vision")
    assert Rule.le("price_input_per_mtok", 1).op == "<=" and Rule.gt("context_window", 9).op == ">"
    assert Rule.lt("release_date", "2026-01-01").op == "<" and Rule.ne("provider", "x").op == "!="


def test_the_parts_write_their_objects() -> None:
    doc = Policy(
        workload="support",
        rank=[Rank.desc("bench_intelligence"), Rank("est_cost_usd")],
        select=Select(5),
        fallback=Fallback(on=("timeout", "bad_response"), max_attempts=4),
        limits=Limits(max_est_cost_usd=0.01),
        on_budget="downgrade",
        baseline=NO_BASELINE,
    ).to_dict()
    assert doc == {
        "workload": "support",
        "rank": [{"by": "bench_intelligence", "order": "desc"}, {"by": "est_cost_usd", "order": "asc"}],
        "select": {"max_candidates": 5},
        "fallback": {"on": ["timeout", "bad_response"], "max_attempts": 4},
        "baseline": None,
        "limits": {"max_est_cost_usd": 0.01},
        "on_budget": "downgrade",
    }


def test_policies_are_frozen_values() -> None:
    a = Policy(rules=[Rule.in_("geography", ["eu", "us"])])
    b = Policy(rules=(Rule.in_("geography", ("eu", "us")),))
    assert a == b and hash(a.rules) == hash(b.rules)
    with pytest.raises(AttributeError):
        a.workload = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "path", "choice"),
    [
        (Policy(rules=[Rule.ge("no_such_field", 1)]), "$.rules[0].field", "bench_intelligence"),
        (Policy(rules=[Rule.has("geography", "eu")]), "$.rules[0].op", "=="),  # has needs a list field
        (Policy(rules=[Rule.ge("bench_intelligence", "high")]), "$.rules[0].value", None),
        (Policy(rank=[Rank("geography")]), "$.rank[0].by", "est_cost_usd"),
        (Policy(select=Select(0)), "$.select.max_candidates", None),
        (Policy(rules=[Rule.eq("geography", "eu", id="rt:mine")]), "$.rules[0].id", None),
    ],
)
def test_validation_before_sending_names_the_path_and_the_choices(
    policy: Policy, path: str, choice: str | None
) -> None:
    with pytest.raises(PolicyError) as e:
        policy.as_extra_body()
    assert e.value.path == path
    if choice is not None:
        assert e.value.choices is not None and choice in e.value.choices
    assert policy.as_extra_body(validate=False)["policy"] == policy.to_dict()


def test_an_unknown_op_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="valid: ==, !="):
        Rule("geography", "~=", "eu")  # type: ignore[arg-type]


def test_custom_fields_validate_when_declared() -> None:
    policy = Policy(rules=[Rule.ge("internal_eval", 70)])
    with pytest.raises(PolicyError):
        policy.validate()
    custom = {"internal_eval": {"type": "number", "unit": "score"}}
    declared = Policy(rules=[Rule.ge("internal_eval", 70)], fields=custom)
    assert (
        declared.fingerprint()
        == parse_policy(declared.to_dict(), FieldRegistry.with_custom(custom)).fingerprint
    )


def test_the_fingerprint_is_the_gateways() -> None:
    policy = Policy(
        rules=[Rule.ge("bench_intelligence", 55.0, id="q"), Rule.in_("geography", ["us", "eu", "eu"])],
        rank=[Rank.desc("bench_intelligence")],
        baseline="openai/gpt-4.1",
    )
    expected = parse_policy(policy.to_dict(), FieldRegistry())
    assert policy.fingerprint() == expected.fingerprint
    assert policy.validate().sha256 == expected.sha256
    # Order and repeats of a set do not change it; a different bound does.
    same = Policy(
        rules=[Rule.ge("bench_intelligence", 55, id="q"), Rule.in_("geography", ["eu", "us"])],
        rank=[Rank.desc("bench_intelligence")],
        baseline="openai/gpt-4.1",
    )
    assert same.fingerprint() == policy.fingerprint()
    other = Policy(rules=[Rule.ge("bench_intelligence", 56, id="q")], baseline="openai/gpt-4.1")
    assert other.fingerprint() != policy.fingerprint()


def test_the_configs_default_baseline_fills_in_only_when_none_is_named() -> None:
    bare = Policy(rules=[Rule.eq("geography", "eu")])
    named = Policy(rules=[Rule.eq("geography", "eu")], baseline="beta/top")
    assert bare.fingerprint(default_baseline="beta/top") == named.fingerprint()
    assert bare.fingerprint() != named.fingerprint()
    none = Policy(rules=[Rule.eq("geography", "eu")], baseline=NO_BASELINE)
    assert none.fingerprint(default_baseline="beta/top") == bare.fingerprint()


def test_from_dict_round_trips_the_canonical_form() -> None:
    policy = Policy(
        rules=[Rule.exists("bench_intelligence", missing="pass"), Rule.has_all("capabilities", ["tools"])],
        rank=[Rank.desc("bench_intelligence")],
        select=Select(4),
        fallback=Fallback(on=("timeout",)),
        limits=Limits(0.2),
        on_budget="downgrade",
        workload="batch",
        baseline=NO_BASELINE,
    )
    canonical = policy.validate().canonical
    back = Policy.from_dict(canonical)
    assert back.fingerprint() == policy.fingerprint()
    assert back.validate().canonical == canonical


def test_the_package_root_exports_the_builder_not_the_canonical_policy() -> None:
    from unhardcoded.policy.model import Policy as Canonical

    assert unhardcoded.Policy is Policy and unhardcoded.Policy.__module__ == "unhardcoded.client.policy"
    assert isinstance(Policy().validate(), Canonical)
