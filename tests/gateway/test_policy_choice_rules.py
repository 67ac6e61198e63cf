"""Which policy a call carries (gateway/policies.py), what tests/gateway/test_policy_choice.py leaves open: a
tenant's stored policy named through the model or the header, OpenRouter preferences on a policy with its
own rules, reloading a tenant's unchanged policies, the rule a pinned upstream model adds. Written from
`make mutation` (docs/mutation.md)."""

from __future__ import annotations

import dataclasses

from tests.gateway.test_policy_choice import CHEAP, DEAR, policies, req


def test_a_tenants_stored_policy_named_by_model_or_header() -> None:
    p = policies()
    p.load_saved("t1", {"mine": {"version": 1, "policy": DEAR}})
    by_model = dataclasses.replace(req("policy:mine"), tenant="t1")
    assert p.for_call(by_model)[0].name == "mine"
    by_header = dataclasses.replace(req(header="mine"), tenant="t1")
    assert p.for_call(by_header)[0].name == "mine"


def test_openrouter_preferences_add_to_the_policys_own_rules() -> None:
    own = {**CHEAP, "rules": [{"id": "only-a", "field": "provider", "op": "==", "value": "a"}]}
    p = policies(policies={"own": own})
    policy, _ = p.for_call(req("policy:own", provider={"only": ["openai"]}))
    ids = [r.id for r in policy.rules]
    assert "only-a" in ids and any(i.startswith("or:") for i in ids)
    (mine,) = [r for r in policy.rules if r.id == "only-a"]
    assert mine.source == "policy"


def test_reloading_keeps_every_unchanged_version_of_a_tenant() -> None:
    p = policies()
    rows = {"a": {"version": 1, "policy": CHEAP}, "b": {"version": 1, "policy": DEAR}}
    p.load_saved("t1", rows)
    a1, b1 = p.named("a", "t1"), p.named("b", "t1")
    p.load_saved("t1", {k: {**v, "policy": {}} for k, v in rows.items()})  # same versions: kept as parsed
    assert p.named("a", "t1") is a1 and p.named("b", "t1") is b1


def test_a_pinned_upstream_model_adds_the_pinned_rule() -> None:
    p = policies()
    policy, pinned = p.for_call(req("two"))  # a/two's upstream model
    assert pinned == "two"
    (rule,) = policy.rules
    assert rule.id == "pinned" and rule.op == "in"
