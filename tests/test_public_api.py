"""The package root's public API: every name in `__all__` resolves, is documented, and stays lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import unhardcoded


@pytest.mark.parametrize("name", [n for n in unhardcoded.__all__ if n != "__version__"])
def test_every_exported_name_resolves_to_a_documented_object(name: str) -> None:
    obj = getattr(unhardcoded, name)
    assert obj.__name__ == name
    assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    assert name in (unhardcoded.__doc__ or ""), f"{name} is not listed in the package docstring"


def test_star_import_gives_exactly_all() -> None:
    ns: dict[str, object] = {}
    exec("from unhardcoded import *", ns)
    assert set(ns) - {"__builtins__"} == set(unhardcoded.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = unhardcoded.no_such_thing  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_server_or_client() -> None:
    code = "import sys, unhardcoded; print('aiohttp' in sys.modules, 'unhardcoded.gateway' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_quickstart_decides_without_a_server() -> None:
    settings = unhardcoded.parse_settings({"catalog": {"bundled": True}})
    policies = unhardcoded.Policies(settings)
    policy = policies.parse({"rules": [{"field": "geography", "op": "==", "value": "eu"}]})
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    decision = policies.decide(policy, unhardcoded.features_from_body(body))
    assert isinstance(decision, unhardcoded.Decision) and decision.plan
    winner = policies.catalog.get(decision.plan[0])
    assert winner is not None and winner.get("geography") == "eu"


def test_all_and_the_lazy_table_agree() -> None:
    assert set(unhardcoded.__all__) - {"__version__"} == set(unhardcoded._EXPORTS)


def test_policy_and_rule_at_the_root_are_the_typed_helper() -> None:
    from unhardcoded import Policy, Rule
    from unhardcoded.catalog.fields import FieldRegistry
    from unhardcoded.client.policy import Policy as Builder

    assert Policy is Builder
    body = Policy(rules=[Rule.ge("bench_intelligence", 55)], baseline="openai/gpt-4.1").as_extra_body()
    assert body["policy"]["rules"] == [{"field": "bench_intelligence", "op": ">=", "value": 55}]
    # The canonical policy the gateway works with is what parse_policy returns.
    canonical = unhardcoded.parse_policy(body["policy"], FieldRegistry())
    assert type(canonical).__module__ == "unhardcoded.policy.model"
    assert canonical.fingerprint == Policy.from_dict(body["policy"]).fingerprint()


def test_the_helper_loads_no_server_or_upstream_client() -> None:
    code = (
        "import sys; from unhardcoded import Policy, Receipts, Rule; Policy([Rule.eq('geography', 'eu')])"
        ".fingerprint(); Receipts('http://127.0.0.1:1');"
        "print(sorted(m for m in ('aiohttp', 'pyreqwest', 'unhardcoded.gateway', 'unhardcoded.http')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
