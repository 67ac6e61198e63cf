"""OpenRouter's request shape: `provider` preferences and `models` become `or:*` rules on the receipt,
or a 400 naming what cannot be honoured — never accepted and ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness
from unhardcoded.testing.script import Step

BASE = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def send(gw: Harness, **extra: Any) -> tuple[int, dict[str, Any]]:
    status, headers, body = gw.post("/v1/chat/completions", {**BASE, **extra})
    if status != 200:
        return status, body
    return status, gw.receipt(headers["x-unhardcoded-request-id"])


def or_rules(receipt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in receipt["rules"] if r["source"] == "openrouter"}


def test_only_and_ignore_restrict_providers_and_show_on_the_receipt(gw: Harness) -> None:
    # the harness's providers are named alpha/beta/gamma: OpenRouter names map onto the catalog's, so use
    # ignore with a real name and check the rule is there and enforced on every candidate
    status, r = send(gw, provider={"ignore": ["OpenAI"], "sort": "price"})
    assert status == 200
    rule = or_rules(r)["or:ignore"]
    assert rule["op"] == "not_in" and rule["value"] == ["openai"]
    status, out = send(gw, provider={"only": ["anthropic"]})
    assert status == 422  # no harness deployment is served by anthropic: refused with a receipt
    assert out["error"]["code"] == "no_route"


def test_max_price_and_data_collection_deny_become_rules(gw: Harness) -> None:
    status, r = send(gw, provider={"max_price": {"prompt": 0.35, "completion": 0.7}})
    assert status == 200
    rules = or_rules(r)
    assert rules["or:max-price-prompt"]["value"] == 0.35 and rules["or:max-price-completion"]["value"] == 0.7
    assert r["outcome"]["deployment"] in {"alpha/cheap", "alpha/mid"}
    rejected = {
        c["deployment"]
        for c in r["candidates"]
        for f in c.get("rejected_by", [])
        if f["rule_id"].startswith("or:")
    }
    assert rejected == {"beta/mid2", "beta/top"}
    status, out = send(gw, provider={"data_collection": "deny"})
    assert status == 422 and "or:data-collection" in out["error"]["message"]  # no deployment states retention


def test_allow_fallbacks_false_plans_one_candidate(gw: Harness) -> None:
    gw.alpha.push(Step(status=503))
    status, out = send(gw, provider={"allow_fallbacks": False})
    assert status == 502
    r = gw.receipt(out["error"]["request_id"])
    assert len(r["attempts"]) == 1 and len(r["plan"]) == 1


def test_a_single_model_pins_it(gw: Harness) -> None:
    status, r = send(gw, models=["alpha/mid"])
    assert status == 200 and r["outcome"]["deployment"] == "alpha/mid" and "or:models" in or_rules(r)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"provider": {"sort": "throughput"}}, "provider.sort"),
        ({"provider": {"sort": "latency"}}, "provider.sort"),
        ({"provider": {"order": ["openai", "azure"]}}, "provider.order"),
        ({"provider": {"quantizations": ["fp8"]}}, "provider.quantizations"),
        ({"provider": {"require_parameters": True}}, "provider.require_parameters"),
        ({"provider": {"only": ["nobody-cloud"]}}, "provider.only[0]"),
        ({"provider": {"max_price": {"image": 1}}}, "provider.max_price.image"),
        ({"provider": {"colour": "blue"}}, "provider.colour"),
        ({"models": ["alpha/cheap", "alpha/mid"]}, "models"),
    ],
)
def test_what_cannot_be_honoured_is_a_400_naming_it(gw: Harness, extra: dict[str, Any], param: str) -> None:
    status, out = send(gw, **extra)
    assert status == 400 and out["error"]["param"] == param, out
    assert gw.alpha.seen == [] and gw.beta.seen == []


def test_preferences_never_go_upstream(gw: Harness) -> None:
    status, _ = send(gw, provider={"sort": "price"})
    assert status == 200
    bodies = [seen["body"] for seen in gw.alpha.seen + gw.beta.seen]
    assert bodies and all("provider" not in b and "models" not in b and "policy" not in b for b in bodies)
