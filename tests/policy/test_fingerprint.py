"""The policy fingerprint `R-P (sigma-pol/v1)`: recomputed by hand, and its invariances as properties."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from hypothesis import assume, given
from hypothesis import strategies as st

from unhardcoded.catalog.fields import CAPABILITIES, OPS_BY_TYPE
from unhardcoded.errors import FALLBACK_CLASSES
from unhardcoded.policy.model import Policy

from ._support import POOLS, SPEC_EXAMPLE, ftype, policy, policy_docs

# SPEC section 2's example, canonical: every default filled in, keys sorted, no white space. Written out
# by hand from the SPEC's rules, not produced by the code under test.
SPEC_RULES_CANONICAL = (
    b"["
    b'{"field":"bench_intelligence","id":"quality-floor","missing":"reject","op":">=","value":55},'
    b'{"field":"region","id":"eu-only","missing":"reject","op":"in","value":["eu-west-1","europe-west4"]},'
    b'{"field":"capabilities","id":"needs-tools","missing":"reject","op":"has","value":"tools"},'
    b'{"field":"data_retention","id":"no-retention","missing":"reject","op":"==","value":"none"}'
    b"]"
)
SPEC_CANONICAL = (
    b'{"baseline":"openai/gpt-4.1",'
    b'"fallback":{"max_attempts":3,"on":["rate_limited","server_error","timeout","connection_error"]},'
    b'"limits":{"max_est_cost_usd":0.05},'
    b'"on_budget":"reject",'
    b'"rank":[{"by":"est_cost_usd","order":"asc"},{"by":"bench_intelligence","order":"desc"}],'
    b'"rules":' + SPEC_RULES_CANONICAL + b","
    b'"schema":"sigma-pol/v1",'
    b'"select":{"max_candidates":3},'
    b'"workload":"support-bot"}'
)


def _prefix32(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def test_spec_example_fingerprint_recomputed_independently() -> None:
    # The hand-written form is what RFC 8785 makes of it (so it really is canonical) ...
    assert rfc8785.dumps(json.loads(SPEC_CANONICAL)) == SPEC_CANONICAL
    assert rfc8785.dumps(json.loads(SPEC_RULES_CANONICAL)) == SPEC_RULES_CANONICAL
    expected = f"{_prefix32(SPEC_RULES_CANONICAL)}-{_prefix32(SPEC_CANONICAL)} (sigma-pol/v1)"
    p = policy(SPEC_EXAMPLE)
    # ... and the parser arrives at the same bytes, hash and fingerprint.
    assert p.canonical_json == SPEC_CANONICAL
    assert p.sha256 == hashlib.sha256(SPEC_CANONICAL).hexdigest()
    assert p.fingerprint == expected
    # Pinned, so that a change to canonicalisation cannot pass unnoticed.
    assert expected == "387214627-629902365 (sigma-pol/v1)"


def test_empty_policy_fingerprint_recomputed_independently() -> None:
    whole = (
        b'{"baseline":null,"fallback":{"max_attempts":3,"on":["rate_limited","server_error","timeout",'
        b'"connection_error"]},"limits":{},"on_budget":"reject","rank":[{"by":"est_cost_usd","order":"asc"}],'
        b'"rules":[],"schema":"sigma-pol/v1","select":{"max_candidates":3},"workload":"default"}'
    )
    p = policy({})
    assert p.canonical_json == whole
    assert p.fingerprint == f"{_prefix32(b'[]')}-{_prefix32(whole)} (sigma-pol/v1)"


def test_the_canonical_policy_is_a_fixed_point() -> None:
    p = policy(SPEC_EXAMPLE)
    again = policy(json.loads(p.canonical_json))
    assert (again.canonical, again.fingerprint) == (p.canonical, p.fingerprint)


def _fp(doc: Any) -> Policy:
    return policy(doc)


def _shuffle_keys(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffle_keys(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffle_keys(v, rnd) for v in value]
    return value


SEPARATORS = [(",", ":"), (", ", ": "), (" , ", " : "), (",\n", ":\t")]


@given(
    doc=policy_docs(),
    rnd=st.randoms(use_true_random=False),
    indent=st.one_of(st.none(), st.integers(0, 4), st.just("\t")),
    seps=st.sampled_from(SEPARATORS),
    ascii_only=st.booleans(),
)
def test_key_order_and_white_space_never_change_a_fingerprint(
    doc: dict[str, Any], rnd: random.Random, indent: Any, seps: tuple[str, str], ascii_only: bool
) -> None:
    text = json.dumps(_shuffle_keys(doc, rnd), indent=indent, separators=seps, ensure_ascii=ascii_only)
    a, b = _fp(doc), _fp(json.loads(text))
    assert (a.fingerprint, a.sha256, a.canonical_json) == (b.fingerprint, b.sha256, b.canonical_json)


def _float(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_float(v) for v in value]
    return value


def _respell_rule(draw: st.DrawFn, rule: dict[str, Any]) -> None:
    flip = st.booleans()
    if "missing" not in rule and draw(flip):
        rule["missing"] = "reject"
    if rule["op"] == "exists" and rule["value"] is True and draw(flip):
        del rule["value"]
    if "value" in rule and draw(flip):
        rule["value"] = _float(rule["value"])  # 55.0 is 55
    if isinstance(rule.get("value"), list) and draw(flip):
        rule["value"] = (
            list(draw(st.permutations(rule["value"]))) + rule["value"][:1]
        )  # a set: order, repeats


@st.composite
def with_defaults_written(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """The same policy with a random selection of its defaults written out and equivalent spellings."""
    out = copy.deepcopy(doc)
    flip = st.booleans()
    if draw(flip):
        out["schema"] = "sigma-pol/v1"
    if "workload" not in out and draw(flip):
        out["workload"] = "default"
    if "select" not in out and draw(flip):
        out["select"] = draw(st.sampled_from([{}, {"max_candidates": 3}, {"max_candidates": 3.0}]))
    if "fallback" not in out and draw(flip):
        on = list(draw(st.permutations(["rate_limited", "server_error", "timeout", "connection_error"])))
        out["fallback"] = draw(
            st.sampled_from([{}, {"on": on}, {"max_attempts": 3}, {"on": on, "max_attempts": 3}])
        )
        if "on" in out["fallback"] and draw(flip):
            out["fallback"]["on"] = on + on[:2]  # repeats mean nothing
    if "rank" not in out and draw(flip):
        out["rank"] = draw(
            st.sampled_from([None, [{"by": "est_cost_usd"}], [{"by": "est_cost_usd", "order": "asc"}]])
        )
    for key in out.get("rank") or []:
        if "order" in key and key["order"] == "asc" and draw(flip):
            del key["order"]
    if "limits" not in out and draw(flip):
        out["limits"] = draw(st.sampled_from([{}, {"max_est_cost_usd": None}]))
    if draw(flip):
        out["on_budget"] = "reject"
    for rule in out["rules"]:
        _respell_rule(draw, rule)
    if "select" in out and draw(flip):
        out["select"] = {k: _float(v) for k, v in out["select"].items()}
    return out


@given(data=st.data(), doc=policy_docs())
def test_explicitly_written_defaults_never_change_a_fingerprint(
    data: st.DataObject, doc: dict[str, Any]
) -> None:
    other = data.draw(with_defaults_written(doc))
    a, b = _fp(doc), _fp(other)
    assert a.canonical == b.canonical
    assert (a.fingerprint, a.sha256) == (b.fingerprint, b.sha256)


@pytest.mark.parametrize(
    "spelled",
    [
        {"value": 55.0},
        {"missing": "reject"},
        {"value": 55, "missing": "reject"},
    ],
)
def test_55_point_0_is_55_and_missing_reject_is_the_default(spelled: dict[str, Any]) -> None:
    base = {"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 55}]}
    other = {"rules": [dict(base["rules"][0], **spelled)]}
    assert _fp(base).fingerprint == _fp(other).fingerprint


def test_every_default_written_out_is_the_empty_policy() -> None:
    everything = {
        "schema": "sigma-pol/v1",
        "workload": "default",
        "rules": [],
        "rank": [{"by": "est_cost_usd", "order": "asc"}],
        "select": {"max_candidates": 3},
        "fallback": {
            "on": ["rate_limited", "server_error", "timeout", "connection_error"],
            "max_attempts": 3,
        },
        "limits": {},
        "on_budget": "reject",
    }
    assert _fp(everything).fingerprint == _fp({}).fingerprint


# Changes of meaning, applied to the canonical form (itself a valid policy with every part written out).
# Each returns whether it touched the rules; `assume` skips a mutation that does not apply.

Mutation = Callable[[dict[str, Any], st.DataObject], bool]
ALTERNATE_FIELD = {
    "price_input_per_mtok": "price_output_per_mtok",
    "price_output_per_mtok": "price_input_per_mtok",
    "price_blended_per_mtok": "price_cached_input_per_mtok",
    "est_cost_usd": "price_blended_per_mtok",
    "context_window": "max_output_tokens",
    "max_output_tokens": "context_window",
    "bench_intelligence": "context_window",
    "region": "data_retention",
    "data_retention": "provider",
    "provider": "region",
    "release_date": "deprecation_date",
}


def _pick_rule(c: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    assume(c["rules"])
    rule: dict[str, Any] = data.draw(st.sampled_from(c["rules"]))
    return rule


def _other_scalar(field: str, value: Any) -> Any:
    kind = ftype(field)
    if kind == "number":
        return value + 1
    if kind == "bool":
        return not value
    if kind == "date":
        return "2030-01-01" if value != "2030-01-01" else "2031-01-01"
    if field == "capabilities":
        return next(c for c in CAPABILITIES if c != value)
    return value + "-x"


def change_value(c: dict[str, Any], data: st.DataObject) -> bool:
    rule = _pick_rule(c, data)
    if rule["op"] == "exists":
        rule["value"] = not rule["value"]
    elif isinstance(rule["value"], list):
        if len(rule["value"]) > 1 and data.draw(st.booleans()):
            rule["value"] = rule["value"][1:]
        else:
            new = _other_scalar(rule["field"], max(rule["value"]))
            assume(new not in rule["value"])
            rule["value"] = [*rule["value"], new]
    else:
        rule["value"] = _other_scalar(rule["field"], rule["value"])
    return True


def change_op(c: dict[str, Any], data: st.DataObject) -> bool:
    rule = _pick_rule(c, data)
    op = data.draw(st.sampled_from([o for o in OPS_BY_TYPE[ftype(rule["field"])] if o != rule["op"]]))
    value = rule["value"]
    if op == "exists":
        value = True
    elif rule["op"] == "exists":
        value = data.draw(POOLS[rule["field"]])
        value = [value] if op in ("in", "not_in", "has_any", "has_all") else value
    elif op in ("in", "not_in", "has_any", "has_all"):
        value = value if isinstance(value, list) else [value]
    elif isinstance(value, list):
        value = value[0]
    rule.update(op=op, value=value)
    return True


def change_field(c: dict[str, Any], data: st.DataObject) -> bool:
    rule = _pick_rule(c, data)
    assume(rule["field"] in ALTERNATE_FIELD)
    rule["field"] = ALTERNATE_FIELD[rule["field"]]
    return True


def change_missing(c: dict[str, Any], data: st.DataObject) -> bool:
    rule = _pick_rule(c, data)
    rule["missing"] = "pass" if rule["missing"] == "reject" else "reject"
    return True


def add_rule(c: dict[str, Any], data: st.DataObject) -> bool:
    c["rules"].insert(
        data.draw(st.integers(0, len(c["rules"]))),
        {"id": "added", "field": "open_weights", "op": "==", "value": data.draw(st.booleans())},
    )
    return True


def remove_rule(c: dict[str, Any], data: st.DataObject) -> bool:
    assume(c["rules"])
    del c["rules"][data.draw(st.integers(0, len(c["rules"]) - 1))]
    return True


def swap_rules(c: dict[str, Any], data: st.DataObject) -> bool:
    # Rule order is kept: it is the order the receipt lists failures in.
    assume(len(c["rules"]) > 1)
    c["rules"][0], c["rules"][-1] = c["rules"][-1], c["rules"][0]
    return True


def change_rank(c: dict[str, Any], data: st.DataObject) -> bool:
    rank = c["rank"]
    choice = data.draw(st.sampled_from(["flip", "add", "drop"]))
    if choice == "flip":
        key = data.draw(st.sampled_from(rank))
        key["order"] = "desc" if key["order"] == "asc" else "asc"
    elif choice == "add":
        by = data.draw(
            st.sampled_from(["bench_intelligence", "context_window", "release_date", "est_cost_usd"])
        )
        rank.append({"by": by, "order": "desc"})
    else:
        assume(len(rank) > 1)
        rank.pop(0)
    return False


def change_select(c: dict[str, Any], data: st.DataObject) -> bool:
    n = data.draw(st.integers(1, 50))
    assume(n != c["select"]["max_candidates"])
    c["select"]["max_candidates"] = n
    return False


def change_fallback(c: dict[str, Any], data: st.DataObject) -> bool:
    if data.draw(st.booleans()):
        n = data.draw(st.integers(1, 50))
        assume(n != c["fallback"]["max_attempts"])
        c["fallback"]["max_attempts"] = n
    else:
        on = data.draw(st.lists(st.sampled_from(FALLBACK_CLASSES), unique=True))
        assume(set(on) != set(c["fallback"]["on"]))
        c["fallback"]["on"] = on
    return False


def change_baseline(c: dict[str, Any], data: st.DataObject) -> bool:
    new = data.draw(st.sampled_from([None, "openai/gpt-4.1", "anthropic/claude-sonnet-4.5"]))
    assume(new != c["baseline"])
    c["baseline"] = new
    return False


def change_limits(c: dict[str, Any], data: st.DataObject) -> bool:
    new = data.draw(st.sampled_from([{}, {"max_est_cost_usd": 0.01}, {"max_est_cost_usd": 1}]))
    assume(new != c["limits"])
    c["limits"] = new
    return False


def change_workload(c: dict[str, Any], data: st.DataObject) -> bool:
    c["workload"] = c["workload"] + "-2"
    return False


def change_on_budget(c: dict[str, Any], data: st.DataObject) -> bool:
    c["on_budget"] = "downgrade" if c["on_budget"] == "reject" else "reject"
    return False


RULE_MUTATIONS = [change_value, change_op, change_field, change_missing, add_rule, remove_rule, swap_rules]
PLAN_MUTATIONS = [change_rank, change_select, change_fallback]  # "how", not "which": R stays
OTHER_MUTATIONS = [change_baseline, change_limits, change_workload, change_on_budget]


@given(
    doc=policy_docs(),
    mutate=st.sampled_from(RULE_MUTATIONS + PLAN_MUTATIONS + OTHER_MUTATIONS),
    data=st.data(),
)
def test_any_change_of_meaning_changes_the_fingerprint(
    doc: dict[str, Any], mutate: Mutation, data: st.DataObject
) -> None:
    before = _fp(doc)
    changed = copy.deepcopy(before.canonical)
    touched_rules = mutate(changed, data)
    after = _fp(changed)
    r_before, p_before = before.fingerprint.split(" ")[0].split("-")
    r_after, p_after = after.fingerprint.split(" ")[0].split("-")
    assert p_after != p_before
    assert after.sha256 != before.sha256
    if touched_rules:
        assert r_after != r_before
    else:
        assert r_after == r_before


@given(doc=policy_docs())
def test_r_is_the_hash_of_the_canonical_rules_and_p_of_the_whole(doc: dict[str, Any]) -> None:
    p = _fp(doc)
    rules = rfc8785.dumps(p.canonical["rules"])
    assert p.fingerprint == f"{_prefix32(rules)}-{_prefix32(p.canonical_json)} (sigma-pol/v1)"
    assert rfc8785.dumps(json.loads(p.canonical_json)) == p.canonical_json
