"""Fuzzing parse_policy: whatever a JSON (or YAML) decoder can hand over, only PolicyError comes out."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unhardcoded.catalog.fields import ALL_OPS, FieldRegistry
from unhardcoded.errors import ERROR_CLASSES, PolicyError
from unhardcoded.policy.model import Policy
from unhardcoded.policy.parse import RULE_KEYS, TOP_KEYS, parse_policy

from ._support import FIELDS, SPEC_EXAMPLE, examples, policy_docs

REGISTRY = FieldRegistry.with_custom({"score": {"type": "number"}, "tags": {"type": "list"}})

# Strings the parser gives meaning to, so that random documents reach past the first check.
MEANINGFUL = st.sampled_from(
    [
        *TOP_KEYS,
        *RULE_KEYS,
        *ALL_OPS,
        *ERROR_CLASSES,
        *FIELDS.names(),
        "score",
        "tags",
        "sigma-pol/v1",
        "reject",
        "pass",
        "asc",
        "desc",
        "downgrade",
        "by",
        "order",
        "max_candidates",
        "on",
        "max_attempts",
        "max_est_cost_usd",
        "tools",
        "2024-06-20",
        "2024-W01-1",
        "req:x",
        "\ud800",
        "",
    ]
)
# Everything json.loads can produce: lone surrogates, NaN, +-Infinity and integers of any size included.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**53, -(2**53) - 1, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None, exclude_categories=())),
    MEANINGFUL,
)
KEYS = st.one_of(MEANINGFUL, st.text(max_size=8))
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(KEYS, children, max_size=6),
    ),
    max_leaves=30,
)


def _parse(doc: Any, fields: FieldRegistry = FIELDS) -> Policy | None:
    try:
        return parse_policy(doc, fields, default_baseline="openai/gpt-4.1")
    except PolicyError as e:
        assert e.path is not None and e.path.startswith("$")
        assert e.message.startswith(e.path)
        assert e.choices is None or all(isinstance(c, str) for c in e.choices)
        return None


@settings(max_examples=examples(500), suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_random_json_raises_only_policy_error(doc: Any) -> None:
    _parse(doc)
    _parse(doc, REGISTRY)


@st.composite
def policy_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """Objects with the policy's own keys and random values, one level down too."""
    doc: dict[str, Any] = draw(st.dictionaries(st.sampled_from(TOP_KEYS), JSON, max_size=5))
    if draw(st.booleans()):
        doc["rules"] = draw(
            st.lists(st.dictionaries(st.sampled_from(RULE_KEYS), JSON, max_size=5), max_size=3)
        )
    if draw(st.booleans()):
        doc["rank"] = draw(st.lists(st.dictionaries(st.sampled_from(["by", "order"]), JSON), max_size=3))
    return doc


@settings(max_examples=examples(500))
@given(policy_shaped())
def test_policy_shaped_json_raises_only_policy_error(doc: dict[str, Any]) -> None:
    _parse(doc)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_policies(draw: st.DrawFn) -> Any:
    """A valid policy with one to three parts replaced by random JSON, deleted, or given a stray key."""
    doc: Any = copy.deepcopy(draw(st.one_of(st.just(SPEC_EXAMPLE), policy_docs())))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            doc = draw(JSON)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "stray"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(KEYS)] = draw(JSON)
        else:
            parent.append(draw(JSON))
    return doc


@settings(max_examples=examples(1000))
@given(mutated_policies())
def test_mutated_policies_raise_only_policy_error(doc: Any) -> None:
    p = _parse(doc)
    if p is not None:  # what passes is a complete canonical policy
        assert parse_policy(p.canonical, FIELDS).canonical == p.canonical
