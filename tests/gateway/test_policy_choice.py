"""Which policy a call carries (gateway/policies.py): the precedence of body, `policy:NAME`, header, alias,
pinned model and default; config mistakes named in words; stored policies per tenant and version; inline
policies parsed once; baselines that must exist.

`Policies` is built from settings alone (no server); written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import dep, settings
from unhardcoded.errors import PolicyError, RequestError
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest

TMP = Path("/nonexistent")
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}]}
DEAR = {"rank": [{"by": "est_cost_usd", "order": "desc"}]}


def policies(**extra: Any) -> Policies:
    return Policies(settings(TMP, **extra))


def req(model: str = "auto", policy: Any = None, header: str | None = None, **body: Any) -> ChatRequest:
    doc: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    if policy is not None:
        doc["policy"] = policy
    return ChatRequest.parse(doc, {"x-unhardcoded-policy": header} if header else {})


# -- config mistakes ---------------------------------------------------------------------------------------


def test_a_bad_configured_policy_is_named_in_the_error() -> None:
    with pytest.raises(PolicyError) as e:
        policies(policies={"cheap": {"rank": [{"by": "nonsense"}]}})
    assert e.value.message.startswith("policies.cheap: ")
    assert (
        e.value.path == "$.rank[0].by" and e.value.choices is not None and "est_cost_usd" in e.value.choices
    )


def test_a_configured_policy_with_an_unknown_baseline_is_refused() -> None:
    with pytest.raises(PolicyError) as e:
        policies(policies={"cheap": {"baseline": "nobody/none"}})
    assert e.value.message == (
        "policies.cheap: baseline: 'nobody/none' is neither a deployment id nor a model id of the catalog"
        " (GET /v1/models lists them)"
    )
    assert e.value.path == "$.baseline"


def test_an_alias_to_an_unknown_policy_is_refused_with_the_choices() -> None:
    with pytest.raises(PolicyError) as e:
        policies(policies={"b": CHEAP, "a": DEAR}, aliases={"gpt-group": "nope"})
    assert e.value.message == "aliases.gpt-group: no policy named 'nope'"
    assert e.value.path == "aliases.gpt-group" and e.value.choices == ["a", "b"]


def test_an_unknown_default_policy_is_refused_with_the_choices() -> None:
    with pytest.raises(PolicyError) as e:
        policies(policies={"b": CHEAP, "a": DEAR}, default_policy="nope")
    assert e.value.message == "default_policy: no policy named 'nope'"
    assert e.value.choices == ["a", "b"]


# -- which policy a call carries -----------------------------------------------------------------------------


def test_precedence_body_then_model_then_header_then_alias_then_pinned_then_default() -> None:
    p = policies(
        policies={
            "body": CHEAP,
            "model": DEAR,
            "header": CHEAP | {"workload": "h"},
            "dflt": DEAR | {"workload": "d"},
        },
        aliases={"group": "model"},
        default_policy="dflt",
    )

    def name(r: ChatRequest) -> tuple[str | None, str | None]:
        policy, pinned = p.for_call(r)
        return policy.name, pinned

    assert name(req("policy:model", "body", "header")) == ("body", None)
    assert name(req("policy:model", None, "header")) == ("model", None)
    assert name(req("group", None, "header")) == ("header", None)
    assert name(req("group")) == ("model", None)
    assert name(req("a/one")) == (None, "a/one")
    assert name(req("auto")) == ("dflt", None)
    inline, pinned = p.for_call(req("policy:model", DEAR))
    assert inline.name is None and inline.rank == p.parse(DEAR).rank and pinned is None


def test_without_any_policy_a_call_gets_the_empty_policy() -> None:
    p = policies()
    policy, pinned = p.for_call(req())
    assert policy is p.parse({}) and pinned is None


def test_requested_name() -> None:
    assert Policies.requested_name(req(policy="cheap")) == "cheap"
    assert Policies.requested_name(req("policy:dear", header="h")) == "dear"
    assert Policies.requested_name(req(header="h")) == "h"
    assert Policies.requested_name(req()) is None
    assert Policies.requested_name(req("policy:dear", CHEAP)) is None


def test_a_pinned_deployment_model_or_upstream_model() -> None:
    p = policies(
        catalog={
            "bundled": False,
            "deployments": [
                dep("a/one", model="vendor/m1"),
                dep("b/two", model="vendor/m1"),
                dep("c/three", model="vendor/m3"),
            ],
        },
        default_baseline="a/one",
    )
    by_id = p.pinned("b/two").rules[0]
    assert (by_id.id, by_id.field, by_id.op, by_id.value) == ("pinned", "id", "==", "b/two")
    by_model = p.pinned("vendor/m1").rules[0]
    assert (by_model.field, by_model.op, by_model.value) == ("model", "==", "vendor/m1")
    by_upstream = p.pinned("three").rules[0]  # dep() takes the upstream model from the id's tail
    assert (by_upstream.field, by_upstream.op, by_upstream.value) == ("id", "in", ("c/three",))
    with pytest.raises(RequestError) as e:
        p.pinned("nobody")
    assert e.value.to_dict() == {
        "message": "model: 'nobody' is neither 'auto', 'policy:NAME', a deployment id nor a model id"
        " (GET /v1/models lists them)",
        "path": "model",
    }


def test_openrouter_preferences_become_marked_rules_on_the_named_policy() -> None:
    p = policies(policies={"cheap": CHEAP})
    r = req("policy:cheap", provider={"only": ["openai"]})
    policy, _ = p.for_call(r)
    assert policy.name == "cheap"
    ors = [x for x in policy.rules if x.id.startswith("or:")]
    assert ors and all(x.source == "openrouter" for x in ors)
    assert all(x.source != "openrouter" for x in policy.rules if not x.id.startswith("or:"))
    assert policy.rank == p.named("cheap").rank


# -- named and stored policies -------------------------------------------------------------------------------


def test_named_unknown_says_so_with_every_name_the_tenant_can_use() -> None:
    p = policies(policies={"b": CHEAP})
    p.load_saved("t1", {"a": {"version": 1, "policy": DEAR}})
    p.load_saved("t2", {"z": {"version": 1, "policy": DEAR}})
    with pytest.raises(PolicyError) as e:
        p.named("nope", "t1")
    assert (e.value.message, e.value.path, e.value.choices) == ("no policy named 'nope'", "model", ["a", "b"])
    with pytest.raises(PolicyError) as e:
        p.named("", None)
    assert e.value.path == "policy" and e.value.choices == ["b"]


def test_stored_policies_are_per_tenant_and_versioned() -> None:
    p = policies(policies={"cfg": CHEAP})
    p.load_saved("t1", {"mine": {"version": 3, "policy": DEAR}})
    assert p.named("mine", "t1").name == "mine"
    assert p.version_of("mine", "t1") == 3
    assert p.version_of("mine", "t2") is None and not p.has_saved("mine", "t2")
    assert p.has_saved("mine", "t1")
    assert p.version_of("cfg", "t1") is None and p.version_of(None, "t1") is None
    with pytest.raises(PolicyError):
        p.named("mine", "t2")


def test_a_config_policy_wins_over_a_stored_one_of_the_same_name() -> None:
    p = policies(policies={"same": CHEAP})
    p.load_saved(None, {"same": {"version": 1, "policy": DEAR}})
    assert p.named("same").rank == p.parse(CHEAP).rank and p.version_of("same") is None


def test_reloading_keeps_an_unchanged_version_and_drops_deleted_names() -> None:
    p = policies()
    p.load_saved(None, {"a": {"version": 1, "policy": CHEAP}, "b": {"version": 1, "policy": CHEAP}})
    a1 = p.named("a")
    p.load_saved(None, {"a": {"version": 1, "policy": DEAR}})  # same version: not parsed again
    assert p.named("a") is a1 and not p.has_saved("b", None)
    p.load_saved(None, {"a": {"version": 2, "policy": DEAR}})
    assert p.named("a").rank == p.parse(DEAR).rank and p.version_of("a") == 2


def test_validate_names_the_policy_and_checks_its_baseline() -> None:
    p = policies()
    assert p.validate(CHEAP, name="n").name == "n"
    with pytest.raises(PolicyError) as e:
        p.validate({"baseline": "nobody/none"}, name="n")
    assert e.value.path == "$.baseline"


# -- inline policies -----------------------------------------------------------------------------------------


def test_an_inline_policy_is_parsed_once_whatever_its_key_order() -> None:
    p = policies()
    a = p.parse({"rank": [{"by": "est_cost_usd", "order": "asc"}], "select": {"max_candidates": 2}})
    b = p.parse({"select": {"max_candidates": 2}, "rank": [{"order": "asc", "by": "est_cost_usd"}]})
    assert a is b


def test_the_parsed_cache_forgets_the_oldest_beyond_1024() -> None:
    p = policies()
    docs = [{"workload": f"w{n}"} for n in range(1025)]
    first = p.parse(docs[0])
    second = p.parse(docs[1])
    for d in docs[2:1024]:
        p.parse(d)
    assert p.parse(docs[0]) is first  # 1024 kept: the first is still there
    p.parse(docs[1024])  # the 1025th: the first parsed goes (first in, first out)
    assert p.parse(docs[1]) is second
    assert p.parse(docs[0]) is not first


def test_an_inline_policy_that_is_not_json_is_refused_in_words() -> None:
    with pytest.raises(PolicyError):
        policies().parse({"rank": {1, 2}})


def test_an_inline_baseline_must_exist_and_may_be_a_model_id() -> None:
    p = policies(
        catalog={"bundled": False, "deployments": [dep("a/one", model="vendor/m1"), dep("c/four")]},
    )
    assert p.parse({"baseline": "vendor/m1"}).baseline == "vendor/m1"
    with pytest.raises(PolicyError) as e:
        p.parse({"baseline": "nobody/none"})
    assert e.value.message.startswith("baseline: 'nobody/none' is neither")
    assert (
        p.parse({"workload": "w"}).baseline == "c/four"
    )  # the default baseline is not the policy's to check


def test_features_use_the_configured_default_output_tokens() -> None:
    assert policies(default_output_tokens=77).features({"messages": []}).est_output_tokens == 77
    assert policies().features({"messages": [], "max_tokens": 9}).est_output_tokens == 9
