"""parse_policy: defaults, validation errors (JSON path + valid choices), custom fields, derived rule ids."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
import rfc8785

from unhardcoded.catalog.fields import OPS_BY_TYPE, FieldRegistry
from unhardcoded.errors import FALLBACK_CLASSES, PolicyError, UserError
from unhardcoded.policy.engine import decide
from unhardcoded.policy.parse import TOP_KEYS, parse_policy

from ._support import FIELDS, SPEC_EXAMPLE, catalog, dep, features, ftype, policy

DEFAULT_CANONICAL = {
    "schema": "sigma-pol/v1",
    "workload": "default",
    "rules": [],
    "rank": [{"by": "est_cost_usd", "order": "asc"}],
    "select": {"max_candidates": 3},
    "fallback": {"on": ["rate_limited", "server_error", "timeout", "connection_error"], "max_attempts": 3},
    "baseline": None,
    "limits": {},
    "on_budget": "reject",
}


def _error(doc: Any, fields: FieldRegistry = FIELDS) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, fields)
    return info.value


def _rule(**kw: Any) -> dict[str, Any]:
    return {"rules": [kw]}


def test_empty_policy_is_valid_and_all_defaults() -> None:
    p = policy({})
    assert p.canonical == DEFAULT_CANONICAL
    assert (p.max_candidates, p.max_attempts, p.on_budget, p.workload) == (3, 3, "reject", "default")
    assert p.rules == ()
    assert [(k.by, k.order) for k in p.rank] == [("est_cost_usd", "asc")]
    assert p.baseline is None and p.max_est_cost_usd is None


def test_default_baseline_comes_from_the_config_unless_the_policy_names_one() -> None:
    assert policy({}, default_baseline="openai/gpt-4.1").baseline == "openai/gpt-4.1"
    assert policy({"baseline": "x/y"}, default_baseline="openai/gpt-4.1").baseline == "x/y"
    # An explicit null opts out of the config's default: savings are then null, never invented.
    assert policy({"baseline": None}, default_baseline="openai/gpt-4.1").baseline is None


def test_spec_example_parses() -> None:
    p = policy(SPEC_EXAMPLE)
    assert [r.id for r in p.rules] == ["quality-floor", "eu-only", "needs-tools", "no-retention"]
    assert p.rules[1].value == ("eu-west-1", "europe-west4")
    assert p.max_est_cost_usd == 0.05
    assert p.baseline == "openai/gpt-4.1"
    assert re.fullmatch(r"\d+-\d+ \(sigma-pol/v1\)", p.fingerprint)


def test_the_error_is_a_400_user_error_with_path_and_choices() -> None:
    e = _error(_rule(field="qualty", op=">=", value=1))
    assert isinstance(e, UserError) and e.status == 400
    assert e.to_dict() == {"message": e.message, "path": "$.rules[0].field", "choices": FIELDS.names()}
    assert e.message.startswith("$.rules[0].field: unknown field 'qualty'")
    assert "valid: " in e.message and "bench_intelligence" in e.message


@pytest.mark.parametrize(
    ("field", "op"),
    [
        ("region", ">="),
        ("region", "has"),
        ("open_weights", "<"),
        ("open_weights", "in"),
        ("capabilities", "=="),
        ("capabilities", "in"),
        ("bench_intelligence", "has"),
        ("release_date", "has_any"),
    ],
)
def test_an_op_that_does_not_fit_lists_the_ops_that_do(field: str, op: str) -> None:
    e = _error(_rule(field=field, op=op, value="x"))
    kind = ftype(field)
    assert e.path == "$.rules[0].op"
    assert e.choices == list(OPS_BY_TYPE[kind])
    assert f"does not fit the {kind} field {field!r}" in e.message


@pytest.mark.parametrize("op", ["=", "~", "contains", 3, None, ["=="]])
def test_an_unknown_op_lists_the_ops_that_fit(op: Any) -> None:
    e = _error(_rule(field="bench_intelligence", op=op, value=1))
    assert (e.path, e.choices) == ("$.rules[0].op", list(OPS_BY_TYPE["number"]))


@pytest.mark.parametrize(
    ("doc", "path", "choices"),
    [
        ({"rulez": []}, "$.rulez", list(TOP_KEYS)),
        ({"schema": "sigma-pol/v2"}, "$.schema", ["sigma-pol/v1"]),
        (_rule(field="region", op="==", value="x", misisng="pass"), "$.rules[0].misisng", None),
        (
            _rule(field="region", op="==", value="x", missing="ignore"),
            "$.rules[0].missing",
            ["reject", "pass"],
        ),
        ({"select": {"max": 3}}, "$.select.max", ["max_candidates"]),
        ({"fallback": {"retry": 1}}, "$.fallback.retry", ["on", "max_attempts"]),
        ({"limits": {"max_cost": 1}}, "$.limits.max_cost", ["max_est_cost_usd"]),
        ({"on_budget": "ignore"}, "$.on_budget", ["reject", "downgrade"]),
        ({"rank": [{"by": "est_cost_usd", "dir": "asc"}]}, "$.rank[0].dir", ["by", "order"]),
        ({"rank": [{"by": "est_cost_usd", "order": "up"}]}, "$.rank[0].order", ["asc", "desc"]),
    ],
)
def test_unknown_keys_and_values_name_the_path_and_the_choices(
    doc: dict[str, Any], path: str, choices: list[str] | None
) -> None:
    e = _error(doc)
    assert e.path == path
    if choices is not None:
        assert e.choices == choices
    if path.endswith("misisng"):
        assert e.choices == ["id", "field", "op", "value", "missing"]


@pytest.mark.parametrize("by", ["region", "capabilities", "open_weights", "nope", None, 3, "provider"])
def test_a_bad_rank_key_lists_every_rankable_field(by: Any) -> None:
    e = _error({"rank": [{"by": "est_cost_usd"}, {"by": by}]})
    assert e.path == "$.rank[1].by"
    assert e.choices is not None
    assert {"est_cost_usd", "price_blended_per_mtok", "bench_intelligence", "release_date"} <= set(e.choices)
    assert not {"region", "capabilities", "open_weights", "provider"} & set(e.choices)
    assert e.choices == sorted(e.choices)


@pytest.mark.parametrize("rank", [[], {}, "est_cost_usd", [["est_cost_usd"]], [{"order": "asc"}]])
def test_rank_must_be_a_non_empty_array_of_keys(rank: Any) -> None:
    e = _error({"rank": rank})
    assert e.path is not None and e.path.startswith("$.rank")


def test_rank_null_is_the_default() -> None:
    assert policy({"rank": None}).canonical["rank"] == DEFAULT_CANONICAL["rank"]


@pytest.mark.parametrize(
    ("on", "path"),
    [
        (["rate_limited", "client_error"], "$.fallback.on[1]"),
        (["auth_error"], "$.fallback.on[0]"),
        (["Timeout"], "$.fallback.on[0]"),
        ([None], "$.fallback.on[0]"),
        ("timeout", "$.fallback.on"),
    ],
)
def test_a_bad_fallback_class_lists_the_classes_that_fall_back(on: Any, path: str) -> None:
    e = _error({"fallback": {"on": on}})
    assert e.path == path
    if path != "$.fallback.on":
        assert e.choices == list(FALLBACK_CLASSES)


def test_fallback_classes_are_a_set_in_a_fixed_order() -> None:
    p = policy({"fallback": {"on": ["timeout", "bad_response", "timeout", "rate_limited"]}})
    assert p.fallback_on == ("rate_limited", "timeout", "bad_response")
    assert policy({"fallback": {"on": []}}).fallback_on == ()


@pytest.mark.parametrize("value", [0, 51, -1, "3", 2.5, True, None, [3], float("nan")])
@pytest.mark.parametrize("where", ["select.max_candidates", "fallback.max_attempts"])
def test_bad_select_and_fallback_bounds(value: Any, where: str) -> None:
    top, key = where.split(".")
    e = _error({top: {key: value}})
    assert e.path == f"$.{where}"
    assert "from 1 to 50" in e.message


@pytest.mark.parametrize("value", [1, 50, 3.0])
def test_select_bounds_are_inclusive_and_integral_floats_count(value: Any) -> None:
    p = policy({"select": {"max_candidates": value}, "fallback": {"max_attempts": value}})
    assert p.max_candidates == p.max_attempts == int(value)
    assert isinstance(p.canonical["select"]["max_candidates"], int)


def test_duplicate_rule_ids() -> None:
    e = _error(
        {
            "rules": [
                {"id": "a", "field": "region", "op": "==", "value": "x"},
                {"id": "b", "field": "region", "op": "==", "value": "y"},
                {"id": "a", "field": "region", "op": "==", "value": "z"},
            ]
        }
    )
    assert e.path == "$.rules[2].id"
    assert "duplicate rule id 'a'" in e.message and "$.rules[0]" in e.message


def test_two_identical_rules_without_ids_are_duplicates() -> None:
    rule = {"field": "region", "op": "==", "value": "x"}
    e = _error({"rules": [rule, dict(rule, missing="reject")]})
    assert e.path == "$.rules[1].id"


@pytest.mark.parametrize("rid", ["req:tools", "rt:circuit-open", "lim:max-est-cost", "req:", "rt:x"])
def test_reserved_id_prefixes(rid: str) -> None:
    e = _error(_rule(id=rid, field="region", op="==", value="x"))
    assert e.path == "$.rules[0].id"
    assert "reserved" in e.message


@pytest.mark.parametrize("rid", ["", 3, ["a"], True])
def test_rule_id_must_be_a_non_empty_string(rid: Any) -> None:
    assert _error(_rule(id=rid, field="region", op="==", value="x")).path == "$.rules[0].id"


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ([], "$"),
        ("policy", "$"),
        (None, "$"),
        ({"rules": {}}, "$.rules"),
        ({"rules": [3]}, "$.rules[0]"),
        ({"rules": [{"op": "==", "value": 1}]}, "$.rules[0].field"),
        (_rule(field="region"), "$.rules[0].op"),
        (_rule(field="region", op="=="), "$.rules[0].value"),
        (_rule(field=["region"], op="==", value="x"), "$.rules[0].field"),
        (_rule(field="region", op="==", value=3), "$.rules[0].value"),
        (_rule(field="region", op="==", value=None), "$.rules[0].value"),
        (_rule(field="region", op="==", value=["x"]), "$.rules[0].value"),
        (_rule(field="region", op="in", value="x"), "$.rules[0].value"),
        (_rule(field="region", op="in", value=[]), "$.rules[0].value"),
        (_rule(field="region", op="in", value=["x", 3]), "$.rules[0].value[1]"),
        (_rule(field="bench_intelligence", op=">=", value="55"), "$.rules[0].value"),
        (_rule(field="bench_intelligence", op=">=", value=True), "$.rules[0].value"),
        (_rule(field="bench_intelligence", op=">=", value=float("nan")), "$.rules[0].value"),
        (_rule(field="bench_intelligence", op=">=", value=float("inf")), "$.rules[0].value"),
        (_rule(field="bench_intelligence", op=">=", value=10**400), "$.rules[0].value"),
        (_rule(field="open_weights", op="==", value=1), "$.rules[0].value"),
        (_rule(field="open_weights", op="==", value="true"), "$.rules[0].value"),
        (_rule(field="capabilities", op="has", value=["tools"]), "$.rules[0].value"),
        (_rule(field="capabilities", op="has_all", value=[1]), "$.rules[0].value[0]"),
        (_rule(field="release_date", op=">=", value="2024-6-1"), "$.rules[0].value"),
        (_rule(field="release_date", op=">=", value="2024-02-30"), "$.rules[0].value"),
        (_rule(field="release_date", op=">=", value="2024-W01-1"), "$.rules[0].value"),
        (_rule(field="release_date", op=">=", value="20240101xx"), "$.rules[0].value"),
        (_rule(field="release_date", op=">=", value=20240101), "$.rules[0].value"),
        (_rule(field="region", op="exists", value="yes"), "$.rules[0].value"),
        (_rule(field="region", op="==", value="\ud800"), "$.rules[0].value"),
        ({"workload": ""}, "$.workload"),
        ({"workload": 3}, "$.workload"),
        ({"workload": "\udfff"}, "$.workload"),
        ({"baseline": ""}, "$.baseline"),
        ({"baseline": ["openai/gpt-4.1"]}, "$.baseline"),
        ({"select": 3}, "$.select"),
        ({"fallback": []}, "$.fallback"),
        ({"limits": 0.05}, "$.limits"),
        ({"limits": {"max_est_cost_usd": -0.01}}, "$.limits.max_est_cost_usd"),
        ({"limits": {"max_est_cost_usd": "0.05"}}, "$.limits.max_est_cost_usd"),
        ({"limits": {"max_est_cost_usd": float("inf")}}, "$.limits.max_est_cost_usd"),
        ({"limits": {"max_est_cost_usd": float("nan")}}, "$.limits.max_est_cost_usd"),
        ({"limits": {"max_est_cost_usd": 10**400}}, "$.limits.max_est_cost_usd"),
        ({"limits": {"max_est_cost_usd": True}}, "$.limits.max_est_cost_usd"),
        ({"on_budget": None}, "$.on_budget"),
    ],
)
def test_validation_errors_name_the_json_path(doc: Any, path: str) -> None:
    e = _error(doc)
    assert e.path == path
    assert e.message.startswith(f"{path}: ")


def test_numbers_beyond_the_json_safe_range_become_floats() -> None:
    # RFC 8785 has no integers beyond 2**53 - 1; such values are doubles, as JSON means them.
    p = policy(_rule(field="context_window", op="<", value=2**60))
    assert p.rules[0].value == float(2**60)
    assert b'"value":1152921504606847000' in p.canonical_json  # ES6 number form


def test_integral_floats_become_integers() -> None:
    p = policy(_rule(field="bench_intelligence", op="in", value=[55.0, 60, 55, 42.5]))
    assert p.rules[0].value == (42.5, 55, 60)
    assert all(type(v) is int for v in p.rules[0].value[1:])


def test_exists_value_defaults_to_true() -> None:
    assert policy(_rule(field="region", op="exists")).rules[0].value is True
    assert policy(_rule(field="region", op="exists", value=False)).rules[0].value is False


CUSTOM = {
    "internal_eval": {"type": "number", "unit": "score", "description": "our eval suite, 0-100"},
    "tier": {"type": "string", "description": "vendor tier"},
    "tags": {"type": "list", "description": "labels"},
    "reviewed": {"type": "date", "description": "last legal review"},
}


def test_custom_fields_are_usable_in_rules_and_rank() -> None:
    fields = FieldRegistry.with_custom(CUSTOM)
    doc = {
        "rules": [
            {"id": "eval", "field": "internal_eval", "op": ">=", "value": 70},
            {"id": "tier", "field": "tier", "op": "in", "value": ["gold", "silver"]},
            {"id": "tags", "field": "tags", "op": "has", "value": "approved"},
        ],
        "rank": [{"by": "internal_eval", "order": "desc"}, {"by": "reviewed", "order": "desc"}],
    }
    p = parse_policy(doc, fields)
    assert [r.field for r in p.rules] == ["internal_eval", "tier", "tags"]
    assert [k.by for k in p.rank] == ["internal_eval", "reviewed"]
    cat = catalog(
        dep(
            "acme/a",
            context_window=10**6,
            internal_eval=77,
            tier="gold",
            tags=["approved"],
            reviewed="2025-01-01",
        ),
        dep(
            "acme/b",
            context_window=10**6,
            internal_eval=90,
            tier="gold",
            tags=["approved"],
            reviewed="2024-01-01",
        ),
        dep("acme/c", context_window=10**6, internal_eval=95, tier="bronze", tags=["approved"]),
        dep("acme/d", context_window=10**6, internal_eval=60, tier="gold", tags=["approved"]),
        dep("acme/e", context_window=10**6, internal_eval=99, tier="gold"),
        custom_fields=CUSTOM,
    )
    d = decide(p, cat, features())
    assert d.plan == ("acme/b", "acme/a")
    assert {cat.ids[i]: [f.rule_id for f in d.failures(i)] for i in range(len(cat)) if d.failures(i)} == {
        "acme/c": ["tier"],
        "acme/d": ["eval"],
        "acme/e": ["tags"],
    }
    # Without the custom fields the same policy names unknown fields.
    e = _error(doc)
    assert e.path == "$.rules[0].field" and "internal_eval" not in (e.choices or [])
    assert "internal_eval" in (_error({"rules": [{"field": "x", "op": "=="}]}, fields).choices or [])
    e = _error({"rank": [{"by": "tier"}]}, fields)
    assert e.choices is not None and "internal_eval" in e.choices and "reviewed" in e.choices


def test_custom_field_ops_follow_their_type() -> None:
    fields = FieldRegistry.with_custom(CUSTOM)
    e = _error(_rule(field="tags", op="==", value="x"), fields)
    assert e.choices == list(OPS_BY_TYPE["list"])


RULE = {"field": "region", "op": "in", "value": ["eu-west-1", "europe-west4"]}
DERIVED_REGION_ID = "region-5fbeb86e"


def test_a_rule_without_an_id_gets_one_from_its_content() -> None:
    # Ids are stored on receipts, so the derivation is pinned: field + "-" + the first 8 hex digits of the
    # SHA-256 of the canonical (RFC 8785) {field, op, value, missing}.
    body = rfc8785.dumps(
        {"field": "region", "op": "in", "value": ["eu-west-1", "europe-west4"], "missing": "reject"}
    )
    assert "region-" + hashlib.sha256(body).hexdigest()[:8] == DERIVED_REGION_ID
    assert policy({"rules": [RULE]}).rules[0].id == DERIVED_REGION_ID


@pytest.mark.parametrize(
    "same",
    [
        {"value": ["europe-west4", "eu-west-1"], "op": "in", "field": "region"},
        {
            "field": "region",
            "op": "in",
            "value": ["eu-west-1", "europe-west4", "eu-west-1"],
            "missing": "reject",
        },
    ],
)
def test_a_derived_id_is_stable_under_key_order_repeats_and_defaults(same: dict[str, Any]) -> None:
    assert policy({"rules": [same]}).rules[0].id == DERIVED_REGION_ID


@pytest.mark.parametrize(
    "other",
    [
        {"field": "region", "op": "in", "value": ["eu-west-1"]},
        {"field": "region", "op": "not_in", "value": ["eu-west-1", "europe-west4"]},
        {"field": "region", "op": "in", "value": ["eu-west-1", "europe-west4"], "missing": "pass"},
        {"field": "geography", "op": "in", "value": ["eu-west-1", "europe-west4"]},
    ],
)
def test_a_derived_id_changes_with_the_content(other: dict[str, Any]) -> None:
    assert policy({"rules": [other]}).rules[0].id != DERIVED_REGION_ID


def test_a_derived_id_written_out_is_the_same_policy() -> None:
    implicit = policy({"rules": [RULE]})
    explicit = policy({"rules": [dict(RULE, id=DERIVED_REGION_ID)]})
    assert implicit.fingerprint == explicit.fingerprint
    assert implicit.canonical == explicit.canonical


def test_parse_is_pure_and_does_not_touch_the_document() -> None:
    import copy

    doc = copy.deepcopy(SPEC_EXAMPLE)
    policy(doc)
    assert doc == SPEC_EXAMPLE


def test_the_name_is_carried_but_not_part_of_the_policy() -> None:
    a = parse_policy(SPEC_EXAMPLE, FIELDS, name="support-bot")
    b = parse_policy(SPEC_EXAMPLE, FIELDS)
    assert a.name == "support-bot" and a.to_dict()["name"] == "support-bot"
    assert (a.fingerprint, a.sha256) == (b.fingerprint, b.sha256)
