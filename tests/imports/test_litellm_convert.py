"""`import litellm` on LiteLLM's own example configs: what each becomes, and what is listed as not
converted."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.imports.conftest import FIXTURE_NAMES, FIXTURES, convert
from unhardcoded.config import parse_settings
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.policies import Policies
from unhardcoded.imports.render import render_yaml

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
# Literal secrets and placeholders in the fixtures: none may reach our YAML.
LITERAL_KEYS = ("sk-uj6F", "sk-Imn", "fake-key", "my-fake-key", "sk-1234", "eYVX71", "<my-openai-key>")


def _loaded(conv: Any) -> Policies:
    return Policies(parse_settings(yaml.safe_load(render_yaml(conv, source="x.yaml")), source="converted"))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_each_fixture_converts_loads_and_plans_its_groups_in_litellm_order(name, bundled, reference):
    conv = convert(name, bundled, reference)
    assert conv.chains, "every fixture has at least one chat group"
    policies = _loaded(conv)
    features = policies.features(BODY)
    for group, chain in conv.chains.items():
        decision = policies.decide(policies.named(group), features)
        known = all(policies.catalog.get(d).get("context_window") is not None for d in chain)
        if known:
            assert list(decision.plan) == chain, group
        else:  # the one thing the importer cannot know: it says so, and the receipt names the rule
            assert any("req:context-fits rejects it" in n for n in conv.notes)
            fits = next(i for i, r in enumerate(decision.rules) if r.id == "req:context-fits")
            dropped = {policies.catalog.deployments[i].id for i in decision.failed[fits]}
            assert dropped & set(chain)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_no_literal_key_is_copied_and_everything_dropped_is_listed(name, bundled, reference):
    conv = convert(name, bundled, reference)
    text = render_yaml(conv, source=name)
    for key in LITERAL_KEYS:
        assert key not in text
    source = (FIXTURES / name).read_text()
    literal = re.findall(r"^\s*api_key:\s*(?!os\.environ/|\"os\.environ/)(\S+)", source, re.M)
    if literal:
        assert any("a literal key is never copied" in n for n in conv.not_converted)
    assert text.rstrip().splitlines()[-1].startswith("#"), "the lists end the file as comments"
    for item in conv.not_converted:
        assert f"#   - {item}" in text


def test_environment_keys_become_key_variables_and_prices_per_million(bundled, reference):
    conv = convert("docs_custom_pricing.yaml", bundled, reference)
    [(name, provider)] = conv.config["providers"].items()
    assert provider == {
        "kind": "openai",
        "base_url_env": "AZURE_API_BASE",
        "api_key_env": "AZURE_API_KEY",
        "api_version": "2024-10-21",  # the docs' value is not a version: the built-in azure default
        "azure": True,
    }
    [dep] = conv.config["catalog"]["deployments"]
    assert dep["provider"] == name and dep["upstream_model"] == "<your_deployment_name>"
    assert (dep["price_input_per_mtok"], dep["price_output_per_mtok"]) == (421.0, 520.0)
    # The docs' own typo (`os.envrion/`) is neither a variable nor a version: said, not copied.
    assert any("api_version 'os.envrion/AZURE_API_VERSION' is not a version" in n for n in conv.not_converted)
    assert any("sagemaker" in n for n in conv.not_converted)


def test_fallbacks_aliases_timeouts_and_cooldowns(bundled, reference):
    conv = convert("docs_configs_load_balancing.yaml", bundled, reference)
    assert conv.chains["gpt-4o"] == ["openai/gpt-4o", "openai/gpt-3.5-turbo-16k"]
    assert conv.chains["gpt-4"] == conv.chains["gpt-4o"]  # model_group_alias
    assert conv.config["policies"]["gpt-4"] == conv.config["policies"]["gpt-4o"]
    assert conv.config["breaker"] == {"failures": 3}
    assert {p["timeout_s"] for p in conv.config["providers"].values()} == {30.0}
    listed = "\n".join(conv.not_converted)
    for what in ("huggingface", "routing_strategy", "num_retries", "redis_host", "'zephyr-beta' is not"):
        assert what in listed


def test_group_then_fallback_groups_in_order(bundled, reference):
    conv = convert("docs_reliability_fallbacks.yaml", bundled, reference)
    assert conv.chains["gpt-3.5-turbo"] == [
        "openai/gpt-3.5-turbo",
        "openai/gpt-4",
        "azure-azure-api-base/chatgpt-v-2",
        "openai/gpt-3.5-turbo-16k",
    ]
    assert conv.chains["gpt-4"][-1] == "anthropic/claude-3-opus-20240229"
    assert conv.config["breaker"] == {"failures": 3, "open_s": 30.0}


def test_a_fallback_to_a_model_id_reaches_that_one_deployment(bundled, reference):
    doc = {
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "gpt-4o"}},
            {"model_name": "b", "litellm_params": {"model": "gpt-4o-mini"}, "model_info": {"id": "pinned"}},
            {"model_name": "b", "litellm_params": {"model": "gpt-4.1"}},
        ],
        "router_settings": {"fallbacks": [{"a": ["pinned"]}], "default_fallbacks": ["b"]},
    }
    conv = convert(doc, bundled, reference)
    assert conv.chains["a"] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert conv.chains["b"] == ["openai/gpt-4o-mini", "openai/gpt-4.1"]  # default_fallbacks: itself only


def test_regions_projects_and_bundled_reuse(bundled, reference):
    conv = convert("docs_vertex.yaml", bundled, reference)
    deps = {d["id"]: d for d in conv.config["catalog"]["deployments"]}
    pro = deps["vertex/google/gemini-2.5-pro@us-central1"]
    assert (pro["region"], pro["endpoint_region"], pro["geography"]) == ("us-central1", "us-central1", "us")
    assert pro["context_window"] == bundled.get("gemini/google/gemini-2.5-pro").get("context_window")
    assert conv.config["providers"]["vertex"]["project"] == "project-id"
    other = conv.config["providers"]["vertex-project-name-here"]
    assert (other["project"], other["credentials_env"]) == (
        "project-name-here",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )
    qs = convert("docs_configs_quick_start.yaml", bundled, reference)
    bedrock = {d["id"]: d for d in qs.config["catalog"]["deployments"]}
    assert bedrock["bedrock/anthropic.claude-instant-v1@us-east-1"]["endpoint_region"] == "us-east-1"
    simple = convert("simple_config.yaml", bundled, reference)
    # gpt-5-mini is in the bundled catalog: reused by id, only the order field added.
    assert simple.config["catalog"]["deployments"] == [
        {"id": "openai/gpt-5-mini", "litellm_order_gpt_3_5_turbo": 1}
    ]


def test_two_keys_for_one_deployment_are_kept_once_and_said(bundled, reference):
    conv = convert("load_balancer.yaml", bundled, reference)
    assert conv.chains["gpt-3.5-turbo"] == ["openai/gpt-3.5-turbo", "openrouter/gpt-3.5-turbo"]
    assert any("kept once as openai/gpt-3.5-turbo" in n for n in conv.notes)
    assert "environment_variables: no equivalent" in "\n".join(conv.not_converted)


def test_not_a_litellm_config(bundled, reference):
    with pytest.raises(ConfigError, match="model_list"):
        convert({"models": []}, bundled, reference)


def test_imported_values_cite_the_litellm_config_on_the_deployment(bundled: Any, reference: Any) -> None:
    from unhardcoded.imports.litellm import CITE

    conv = convert("docs_custom_pricing.yaml", bundled, reference)
    catalog = Policies(parse_settings(conv.config)).catalog
    overlay_ids = [d["id"] for d in conv.config["catalog"]["deployments"]]
    assert overlay_ids
    for dep_id in overlay_ids:
        dep = catalog.get(dep_id)
        assert dep is not None
        cited = {k: v for k, v in dep.sources.items() if k.startswith("price_")}
        assert cited and all(v == CITE for v in cited.values()), (dep_id, dep.sources)
