"""Every op on every field type, table-driven: pass, fail, missing values and `exists`.

Each case runs twice: on a built-in field of the type and on a custom field of the same type declared the
way a config declares it, so custom fields behave exactly like built-in ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from unhardcoded.catalog.fields import OPS_BY_TYPE, FieldRegistry
from unhardcoded.policy.decision import Failure
from unhardcoded.policy.engine import decide

from ._support import catalog, dep, features, policy

CUSTOM = {
    "score": {"type": "number", "unit": "points", "description": "an eval"},
    "tier": {"type": "string", "description": "a tier"},
    "approved": {"type": "bool", "description": "legal said yes"},
    "tags": {"type": "list", "description": "labels"},
    "reviewed": {"type": "date", "description": "last review"},
}
FIELD_OF = {
    "builtin": {
        "number": "bench_intelligence",
        "string": "region",
        "bool": "open_weights",
        "list": "capabilities",
        "date": "release_date",
    },
    "custom": {"number": "score", "string": "tier", "bool": "approved", "list": "tags", "date": "reviewed"},
}
KINDS = ("builtin", "custom")

# (type, op, rule value, the deployment's value, passes)
CASES: list[tuple[str, str, Any, Any, bool]] = [
    ("number", "==", 55, 55, True),
    ("number", "==", 55.0, 55, True),
    ("number", "==", 55, 54, False),
    ("number", "==", 55, 55.5, False),
    ("number", "!=", 55, 54, True),
    ("number", "!=", 55, 55, False),
    ("number", "<", 60, 55, True),
    ("number", "<", 55, 55, False),
    ("number", "<=", 55, 55, True),
    ("number", "<=", 54.9, 55, False),
    ("number", ">", 54, 55, True),
    ("number", ">", 55, 55, False),
    ("number", ">=", 55, 55, True),
    ("number", ">=", 55, 55.5, True),
    ("number", ">=", 55.5, 55, False),
    ("number", "in", [50, 55], 55, True),
    ("number", "in", [50, 60], 55, False),
    ("number", "not_in", [50, 60], 55, True),
    ("number", "not_in", [55, 60], 55, False),
    ("string", "==", "eu-west-1", "eu-west-1", True),
    ("string", "==", "eu-west-1", "EU-WEST-1", False),
    ("string", "!=", "eu-west-1", "us-east-1", True),
    ("string", "!=", "eu-west-1", "eu-west-1", False),
    ("string", "in", ["eu-west-1", "europe-west4"], "europe-west4", True),
    ("string", "in", ["eu-west-1", "europe-west4"], "us-east-1", False),
    ("string", "not_in", ["us-east-1"], "eu-west-1", True),
    ("string", "not_in", ["us-east-1", "eu-west-1"], "eu-west-1", False),
    ("bool", "==", True, True, True),
    ("bool", "==", True, False, False),
    ("bool", "==", False, False, True),
    ("bool", "!=", True, False, True),
    ("bool", "!=", False, False, False),
    ("list", "has", "tools", ["tools", "vision"], True),
    ("list", "has", "reasoning", ["tools", "vision"], False),
    ("list", "has", "tools", [], False),
    ("list", "has_any", ["reasoning", "vision"], ["tools", "vision"], True),
    ("list", "has_any", ["reasoning", "json_schema"], ["tools", "vision"], False),
    ("list", "has_all", ["tools", "vision"], ["vision", "tools", "streaming"], True),
    ("list", "has_all", ["tools", "reasoning"], ["tools", "vision"], False),
    ("date", "==", "2024-06-20", "2024-06-20", True),
    ("date", "==", "2024-06-20", "2024-06-21", False),
    ("date", "!=", "2024-06-20", "2024-06-21", True),
    ("date", "!=", "2024-06-20", "2024-06-20", False),
    ("date", "<", "2025-01-01", "2024-06-20", True),
    ("date", "<", "2024-06-20", "2024-06-20", False),
    ("date", "<=", "2024-06-20", "2024-06-20", True),
    ("date", "<=", "2024-06-19", "2024-06-20", False),
    ("date", ">", "2023-12-31", "2024-06-20", True),
    ("date", ">", "2024-12-31", "2024-06-20", False),
    ("date", ">=", "2024-06-20", "2024-06-20", True),
    ("date", ">=", "2024-06-21", "2024-06-20", False),
    ("date", "in", ["2024-06-20", "2025-01-01"], "2024-06-20", True),
    ("date", "in", ["2025-01-01"], "2024-06-20", False),
    ("date", "not_in", ["2025-01-01"], "2024-06-20", True),
    ("date", "not_in", ["2024-06-20"], "2024-06-20", False),
]

# A value of each type for the deployment in the `missing`/`exists` tables, and an operand for each op.
PRESENT = {"number": 55, "string": "eu-west-1", "bool": True, "list": ["tools"], "date": "2024-06-20"}
OPERAND = {
    "number": {"in": [55], "not_in": [1]},
    "string": {"in": ["eu-west-1"], "not_in": ["x"]},
    "date": {"in": ["2024-06-20"], "not_in": ["2020-01-01"]},
    "list": {"has": "tools", "has_any": ["tools"], "has_all": ["tools"]},
}


def _run(
    kind: str, ftype: str, rule: dict[str, Any], value: Any
) -> tuple[str, list[Failure], dict[str, Any]]:
    field = FIELD_OF[kind][ftype]
    rec = dep("acme/m", context_window=1_000_000)
    if value is not None:
        rec[field] = value
    cat = catalog(rec, custom_fields=CUSTOM if kind == "custom" else None)
    registry = FieldRegistry.with_custom(CUSTOM) if kind == "custom" else None
    pol = policy({"rules": [{"id": "t", "field": field, **rule}]}, registry)
    d = decide(pol, cat, features())
    fails = [f for f in d.failures(0) if f.rule_id == "t"]
    cand = d.to_dict()["candidates"][0]
    return field, fails, cand


def _canon(value: Any) -> Any:
    if isinstance(value, list):
        return sorted({int(v) if isinstance(v, float) and v.is_integer() else v for v in value})
    return int(value) if isinstance(value, float) and value.is_integer() else value


def test_the_table_covers_every_op_of_every_type() -> None:
    covered = {(t, op) for t, op, *_ in CASES}
    wanted = {(t, op) for t, ops in OPS_BY_TYPE.items() for op in ops if op != "exists"}
    assert covered == wanted


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("ftype", "op", "expected", "actual", "passes"), CASES)
def test_op(kind: str, ftype: str, op: str, expected: Any, actual: Any, passes: bool) -> None:
    field, fails, cand = _run(kind, ftype, {"op": op, "value": expected}, actual)
    if passes:
        assert fails == []
        assert cand["status"] == "ranked"
        return
    want_actual = sorted(actual) if isinstance(actual, list) else actual
    assert len(fails) == 1
    f = fails[0]
    assert (f.rule_id, f.source, f.field, f.op) == ("t", "policy", field, op)
    assert f.to_dict()["expected"] == _canon(expected)
    assert f.to_dict()["actual"] == want_actual
    assert cand["status"] == "rejected"
    assert cand["rejected_by"] == [
        {
            "rule_id": "t",
            "source": "policy",
            "field": field,
            "op": op,
            "expected": _canon(expected),
            "actual": want_actual,
        }
    ]


def _missing_cases() -> list[tuple[str, str]]:
    return [(t, op) for t, ops in OPS_BY_TYPE.items() for op in ops if op != "exists"]


def _operand(ftype: str, op: str) -> Any:
    return OPERAND.get(ftype, {}).get(op, PRESENT[ftype])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("ftype", "op"), _missing_cases())
def test_missing_value_fails_closed_by_default(kind: str, ftype: str, op: str) -> None:
    for rule in (
        {"op": op, "value": _operand(ftype, op)},
        {"op": op, "value": _operand(ftype, op), "missing": "reject"},
    ):
        field, fails, cand = _run(kind, ftype, rule, None)
        assert [(f.rule_id, f.field, f.op, f.actual) for f in fails] == [("t", field, op, None)]
        assert cand["rejected_by"][0]["actual"] is None
        assert cand["status"] == "rejected"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("ftype", "op"), _missing_cases())
def test_missing_value_passes_with_missing_pass(kind: str, ftype: str, op: str) -> None:
    _, fails, cand = _run(kind, ftype, {"op": op, "value": _operand(ftype, op), "missing": "pass"}, None)
    assert fails == []
    assert cand["status"] == "ranked"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ftype", sorted(PRESENT))
@pytest.mark.parametrize(
    ("present", "wanted", "passes"),
    [(True, True, True), (False, True, False), (True, False, False), (False, False, True)],
)
def test_exists(kind: str, ftype: str, present: bool, wanted: bool, passes: bool) -> None:
    field, fails, _ = _run(
        kind, ftype, {"op": "exists", "value": wanted}, PRESENT[ftype] if present else None
    )
    if passes:
        assert fails == []
    else:
        assert [(f.field, f.op, f.expected) for f in fails] == [(field, "exists", wanted)]
        shown = PRESENT[ftype] if present else None
        assert fails[0].to_dict()["actual"] == (sorted(shown) if isinstance(shown, list) else shown)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ftype", sorted(PRESENT))
def test_exists_defaults_to_true_and_ignores_missing(kind: str, ftype: str) -> None:
    # `missing: pass` cannot turn `exists` into a pass: exists is the test for missing itself.
    _, fails, _ = _run(kind, ftype, {"op": "exists", "missing": "pass"}, None)
    assert [f.op for f in fails] == ["exists"]
    _, fails, _ = _run(kind, ftype, {"op": "exists"}, PRESENT[ftype])
    assert fails == []


def test_an_empty_list_is_present_not_missing() -> None:
    _, fails, _ = _run("builtin", "list", {"op": "exists"}, [])
    assert fails == []
    _, fails, _ = _run("builtin", "list", {"op": "has", "value": "tools", "missing": "pass"}, [])
    assert [f.actual for f in fails] == [[]]


def test_a_candidate_records_every_rule_it_failed_in_rule_order() -> None:
    cat = catalog(dep("acme/m", context_window=100, bench_intelligence=40, region="us-east-1"))
    pol = policy(
        {
            "rules": [
                {"id": "quality", "field": "bench_intelligence", "op": ">=", "value": 50},
                {"id": "ok", "field": "bench_intelligence", "op": "<", "value": 90},
                {"id": "eu", "field": "region", "op": "in", "value": ["eu-west-1"]},
                {"id": "retention", "field": "data_retention", "op": "==", "value": "none"},
            ]
        }
    )
    d = decide(pol, cat, features(1000, 500))
    got = [(f.rule_id, f.source, f.expected, f.actual) for f in d.failures(0)]
    assert got == [
        ("quality", "policy", 50, 40),
        ("eu", "policy", ("eu-west-1",), "us-east-1"),
        ("retention", "policy", "none", None),
        ("req:context-fits", "request", 1500, 100),
    ]
