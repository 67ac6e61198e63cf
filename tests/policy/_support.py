"""Builders, hypothesis strategies and a reference rule evaluator shared by the policy tests.

The reference evaluator is written from SPEC section 2, one candidate and one rule at a time, without the
engine's column scans, so that the property tests check the engine against something independent.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from unhardcoded.catalog.fields import CAPABILITIES, OPS_BY_TYPE, FieldRegistry
from unhardcoded.catalog.load import build_catalog
from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.canonical import normalise_number
from unhardcoded.policy.model import Policy
from unhardcoded.policy.parse import parse_policy
from unhardcoded.policy.request import RequestFeatures

FIELDS = FieldRegistry()

# `make mutation` runs each property test once per mutant (docs/mutation.md): a fifth of the examples
# there, as a failing mutant is nearly always caught by the first few; every example in a normal run.
MUTATION_RUN = bool(os.environ.get("UNHARDCODED_MUTATION"))


def examples(n: int) -> int:
    """max_examples for a property test that normally tries `n`."""
    return max(20, n // 5) if MUTATION_RUN else n


SPEC_EXAMPLE: dict[str, Any] = {
    "schema": "sigma-pol/v1",
    "workload": "support-bot",
    "rules": [
        {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 55},
        {"id": "eu-only", "field": "region", "op": "in", "value": ["eu-west-1", "europe-west4"]},
        {"id": "needs-tools", "field": "capabilities", "op": "has", "value": "tools"},
        {"id": "no-retention", "field": "data_retention", "op": "==", "value": "none", "missing": "reject"},
    ],
    "rank": [{"by": "est_cost_usd", "order": "asc"}, {"by": "bench_intelligence", "order": "desc"}],
    "select": {"max_candidates": 3},
    "fallback": {"on": ["rate_limited", "server_error", "timeout", "connection_error"], "max_attempts": 3},
    "baseline": "openai/gpt-4.1",
    "limits": {"max_est_cost_usd": 0.05},
}


def ftype(name: str, fields: FieldRegistry = FIELDS) -> str:
    field = fields.get(name)
    assert field is not None, name
    return field.type


def dep(dep_id: str, **values: Any) -> dict[str, Any]:
    """An overlay record: provider and model derived from `provider/model[@region]` unless given."""
    provider, _, rest = dep_id.partition("/")
    model = rest.split("@")[0] or "m"
    rec: dict[str, Any] = {
        "id": dep_id,
        "provider": provider,
        "model": f"{provider}/{model}",
        "upstream_model": model,
    }
    rec.update(values)
    return rec


def catalog(
    *records: Mapping[str, Any], custom_fields: Mapping[str, Mapping[str, Any]] | None = None
) -> Catalog:
    return build_catalog(bundled=False, overlay=list(records), custom_fields=custom_fields)


def policy(doc: Any = None, fields: FieldRegistry | None = None, **kw: Any) -> Policy:
    return parse_policy({} if doc is None else doc, fields or FIELDS, **kw)


def features(
    est_input_tokens: int = 1000,
    est_output_tokens: int = 500,
    max_output_tokens: int | None = None,
    **flags: bool,
) -> RequestFeatures:
    return RequestFeatures(est_input_tokens, est_output_tokens, max_output_tokens, **flags)


# ---------------------------------------------------------------------------------------------------------
# The reference evaluator.


def _as_date(v: str) -> dt.date:
    return dt.date.fromisoformat(v)


def ref_passes(field_type: str, op: str, expected: Any, actual: Any, missing: str) -> bool:
    """Does a candidate whose value is `actual` pass the rule (field_type, op, expected, missing)?"""
    if op == "exists":
        return (actual is not None) is bool(expected)
    if actual is None:
        return missing == "pass"
    if field_type == "date":
        actual = _as_date(actual)
        expected = (
            [_as_date(x) for x in expected] if isinstance(expected, list | tuple) else _as_date(expected)
        )
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    if op == ">":
        return bool(actual > expected)
    if op == ">=":
        return bool(actual >= expected)
    if op == "in":
        return any(actual == x for x in expected)
    if op == "not_in":
        return all(actual != x for x in expected)
    if op == "has":
        return expected in list(actual)
    if op == "has_any":
        return any(x in list(actual) for x in expected)
    if op == "has_all":
        return all(x in list(actual) for x in expected)
    raise AssertionError(f"unknown op {op}")


def ref_est_cost(values: Mapping[str, Any], f: RequestFeatures) -> float | None:
    pin, pout = values.get("price_input_per_mtok"), values.get("price_output_per_mtok")
    if pin is None or pout is None:
        return None
    return (f.est_input_tokens * pin + f.est_output_tokens * pout) / 1e6


def ref_rank_value(
    fields: FieldRegistry, by: str, values: Mapping[str, Any], f: RequestFeatures
) -> float | None:
    if by == "est_cost_usd":
        return ref_est_cost(values, f)
    v = values.get(by)
    if v is None:
        return None
    field = fields.get(by)
    assert field is not None
    return float(_as_date(v).toordinal()) if field.type == "date" else float(v)


# ---------------------------------------------------------------------------------------------------------
# Strategies: random catalogs and random valid policies over the built-in fields.

PROVIDERS = ("openai", "anthropic", "bedrock", "vertex", "acme")
REGIONS = ("eu-west-1", "europe-west4", "us-east-1", "ap-northeast-1")
RETENTION = ("none", "30d", "abuse-monitoring")
CONTEXTS = (8_192, 32_000, 128_000, 200_000, 1_000_000)
MAX_OUTS = (4_096, 8_192, 16_384, 65_536)
DATES = ("2023-03-14", "2024-05-13", "2024-06-20", "2025-01-31", "2025-08-07")
PRICES = st.integers(0, 3000).map(lambda c: c / 100)  # 0.00 .. 30.00 USD per Mtok
BENCH = st.one_of(st.integers(10, 75), st.integers(100, 750).map(lambda x: x / 10))


def _maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), s, s, s)


# The value pools a random rule draws its operands from, per built-in field used in the properties.
POOLS: dict[str, st.SearchStrategy[Any]] = {
    "provider": st.sampled_from(PROVIDERS),
    "region": st.sampled_from(REGIONS),
    "data_retention": st.sampled_from(RETENTION),
    "price_input_per_mtok": PRICES,
    "price_output_per_mtok": PRICES,
    "price_blended_per_mtok": PRICES,
    "context_window": st.sampled_from(CONTEXTS),
    "max_output_tokens": st.sampled_from(MAX_OUTS),
    "bench_intelligence": BENCH,
    "release_date": st.sampled_from(DATES),
    "open_weights": st.booleans(),
    "capabilities": st.sampled_from(CAPABILITIES),
    "est_cost_usd": st.integers(0, 200).map(lambda x: x / 1000),
}


@st.composite
def deployment_values(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "region": draw(_maybe(st.sampled_from(REGIONS))),
        "price_input_per_mtok": draw(_maybe(PRICES)),
        "price_output_per_mtok": draw(_maybe(PRICES)),
        "context_window": draw(_maybe(st.sampled_from(CONTEXTS))),
        "max_output_tokens": draw(_maybe(st.sampled_from(MAX_OUTS))),
        "capabilities": draw(_maybe(st.lists(st.sampled_from(CAPABILITIES), unique=True))),
        "data_retention": draw(_maybe(st.sampled_from(RETENTION))),
        "release_date": draw(_maybe(st.sampled_from(DATES))),
        "open_weights": draw(_maybe(st.booleans())),
        "bench_intelligence": draw(_maybe(BENCH)),
    }


@st.composite
def deployment_records(draw: st.DrawFn, min_size: int = 1, max_size: int = 12) -> list[dict[str, Any]]:
    names = draw(
        st.lists(
            st.tuples(st.sampled_from(PROVIDERS), st.text("abcxyz0-", min_size=1, max_size=4)),
            min_size=min_size,
            max_size=max_size,
            unique_by=lambda t: f"{t[0]}/{t[1]}",
        )
    )
    return [dep(f"{p}/{n}", **draw(deployment_values())) for p, n in names]


@st.composite
def rule_docs(draw: st.DrawFn, fields: FieldRegistry = FIELDS) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(POOLS)))
    field = fields.get(name)
    assert field is not None
    op = draw(st.sampled_from(OPS_BY_TYPE[field.type]))
    rule: dict[str, Any] = {"field": name, "op": op}
    if op == "exists":
        rule["value"] = draw(st.booleans())
    elif op in ("in", "not_in", "has_any", "has_all"):
        rule["value"] = draw(st.lists(POOLS[name], min_size=1, max_size=3))
    else:
        rule["value"] = draw(POOLS[name])
    if draw(st.booleans()):
        rule["missing"] = draw(st.sampled_from(("reject", "pass")))
    return rule


RANK_BY = (
    "est_cost_usd",
    "price_blended_per_mtok",
    "price_input_per_mtok",
    "bench_intelligence",
    "context_window",
    "release_date",
)


@st.composite
def policy_docs(draw: st.DrawFn, max_rules: int = 5) -> dict[str, Any]:
    """A random valid sigma-pol/v1 document over the built-in fields (rule ids unique: r0, r1, ...)."""
    rules = draw(st.lists(rule_docs(), max_size=max_rules))
    for i, r in enumerate(rules):
        if draw(st.booleans()):
            r["id"] = f"r{i}"
    # Two identical rules without an id would derive the same id; name the repeats.
    seen: set[str] = set()
    for i, r in enumerate(rules):
        value = r["value"]
        if isinstance(value, list):
            value = sorted({normalise_number(v) for v in value}, key=repr)
        else:
            value = normalise_number(value)
        key = repr((r["field"], r["op"], value, r.get("missing", "reject")))
        if "id" not in r and key in seen:
            r["id"] = f"r{i}"
        seen.add(key)
    doc: dict[str, Any] = {"rules": rules}
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(RANK_BY), min_size=1, max_size=3, unique=True))
        doc["rank"] = [{"by": k, "order": draw(st.sampled_from(("asc", "desc")))} for k in keys]
    if draw(st.booleans()):
        doc["select"] = {"max_candidates": draw(st.integers(1, 6))}
    if draw(st.booleans()):
        doc["limits"] = {"max_est_cost_usd": draw(st.integers(0, 100).map(lambda x: x / 1000))}
    if draw(st.booleans()):
        doc["workload"] = draw(st.sampled_from(("default", "support-bot", "batch")))
    if draw(st.booleans()):
        doc["baseline"] = "openai/gpt-4.1"
    return doc


@st.composite
def request_features(draw: st.DrawFn) -> RequestFeatures:
    max_out = draw(st.one_of(st.none(), st.sampled_from((256, 1024, 8_192, 20_000))))
    return RequestFeatures(
        est_input_tokens=draw(st.sampled_from((10, 800, 4_000, 30_000, 150_000))),
        est_output_tokens=max_out if max_out is not None else 512,
        max_output_tokens=max_out,
        needs_tools=draw(st.booleans()),
        needs_vision=draw(st.booleans()),
        needs_json_schema=draw(st.booleans()),
        stream=draw(st.booleans()),
    )


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def ids(records: Sequence[Mapping[str, Any]]) -> list[str]:
    return [r["id"] for r in records]
