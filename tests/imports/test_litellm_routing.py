"""A converted LiteLLM config in a real gateway: each group's first deployment answers, and on errors the
call falls back in LiteLLM's order. One fake OpenAI-compatible server on 127.0.0.1 stands in for every
provider (the routing is what is tested; each adapter's wire format has its own tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.imports.conftest import convert
from unhardcoded.config import parse_settings
from unhardcoded.gateway.policies import Policies
from unhardcoded.http.server import build_gateway, start_in_process
from unhardcoded.imports.render import render_yaml
from unhardcoded.testing import fake_openai
from unhardcoded.testing.script import Step

FIXTURES_WITH_FALLBACKS = ["docs_reliability_fallbacks.yaml", "docs_configs_load_balancing.yaml"]


def _over_fake(conv: Any, url: str, tmp: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The converted config with every provider pointed at the fake, and a key for each key variable."""
    cfg = yaml.safe_load(render_yaml(conv, source="x.yaml"))
    env: dict[str, str] = {}
    for name, p in cfg["providers"].items():
        var = p.get("api_key_env") or f"{name.upper()}_KEY"
        cfg["providers"][name] = {"kind": "openai", "base_url": url, "api_key_env": var, "timeout_s": 5}
        env[var] = "sk-test"
    cfg["store"] = f"sqlite:///{tmp / 'receipts.db'}"
    # Each test call fails each deployment at most once; keep the breaker out of the way of the order.
    cfg["breaker"] = {"failures": 100, "open_s": 1}
    return cfg, env


def _dropped_for_context(receipt: dict[str, Any]) -> set[str]:
    return {
        c["deployment"]
        for c in receipt["candidates"]
        if any(r["rule_id"] == "req:context-fits" for r in c.get("rejected_by") or [])
    }


async def _call(session: aiohttp.ClientSession, base: str, model: str) -> tuple[int, dict[str, Any]]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    async with session.post(f"{base}/v1/chat/completions", json=body) as r:
        status = r.status
        rid = r.headers["x-unhardcoded-request-id"]
    async with session.get(f"{base}/x/receipts/{rid}") as r:
        return status, await r.json()


@pytest.mark.parametrize("name", FIXTURES_WITH_FALLBACKS)
async def test_each_group_first_then_falls_back_in_litellm_order(name, tmp_path, bundled, reference):
    conv = convert(name, bundled, reference)
    fake, url, script = await fake_openai.start()
    cfg, env = _over_fake(conv, url, tmp_path)
    settings = parse_settings(cfg)
    catalog = Policies(settings).catalog
    runner, base = await start_in_process(build_gateway(settings, env=env))
    try:
        async with aiohttp.ClientSession() as session:
            for group, full in conv.chains.items():
                # A deployment with no known context window is dropped by req:context-fits (and listed in
                # the importer's notes); the rest keep LiteLLM's order.
                chain = [d for d in full if catalog.get(d).get("context_window") is not None]
                unknown = set(full) - set(chain)
                status, receipt = await _call(session, base, f"policy:{group}")
                assert _dropped_for_context(receipt) >= unknown
                if not chain:  # refused with a receipt that names the rule, never sent anywhere else
                    assert status == 422 and receipt["attempts"] == [], group
                    continue
                assert status == 200, (group, receipt.get("explanation"))
                assert receipt["outcome"]["deployment"] == chain[0], group
                script.push(*[Step(status=500)] * (len(chain) - 1))
                status, receipt = await _call(session, base, f"policy:{group}")
                assert status == 200, group
                assert [a["deployment"] for a in receipt["attempts"]] == chain, group
                assert receipt["policy"]["name"] == group
                status, receipt = await _call(session, base, group)  # `model: GROUP`, as under LiteLLM
                assert status == 200 and receipt["policy"]["name"] == group, group
                assert receipt["outcome"]["deployment"] == chain[0], group
    finally:
        await runner.cleanup()
        await fake.cleanup()


async def test_a_group_whose_deployments_all_fail_reports_every_attempt(tmp_path, bundled, reference):
    conv = convert("docs_configs_load_balancing.yaml", bundled, reference)
    chain = conv.chains["gpt-4o"]
    assert chain == ["openai/gpt-4o", "openai/gpt-3.5-turbo-16k"]
    fake, url, script = await fake_openai.start()
    cfg, env = _over_fake(conv, url, tmp_path)
    runner, base = await start_in_process(build_gateway(parse_settings(cfg), env=env))
    try:
        script.push(*[Step(status=503)] * len(chain))
        async with aiohttp.ClientSession() as session:
            status, receipt = await _call(session, base, "policy:gpt-4o")
        assert status >= 500
        assert [(a["deployment"], a["error_class"]) for a in receipt["attempts"]] == [
            (d, "server_error") for d in chain
        ]
    finally:
        await runner.cleanup()
        await fake.cleanup()


async def test_an_azure_group_keeps_its_deployment_name_api_version_and_key_variable(
    tmp_path, bundled, reference
):
    """The converted Azure provider as written (kind, azure, api_version, key variable) against a fake Azure
    OpenAI resource: only the endpoint is swapped."""
    conv = convert("azure_config.yaml", bundled, reference)
    fake, url, script = await fake_openai.start(api_key="azure-secret")
    cfg = yaml.safe_load(render_yaml(conv, source="x.yaml"))
    provider = cfg["providers"]["azure-openai-gpt-4-test-v-2"]
    assert (provider["api_key_env"], provider["azure"]) == ("AZURE_API_KEY", True)
    provider["base_url"] = url.removesuffix("/v1")
    cfg["store"] = f"sqlite:///{tmp_path / 'receipts.db'}"
    gw = build_gateway(parse_settings(cfg), env={"AZURE_API_KEY": "azure-secret"})
    runner, base = await start_in_process(gw)
    try:
        async with aiohttp.ClientSession() as session:
            status, receipt = await _call(session, base, "policy:gpt-4-team2")
        assert status == 200, receipt.get("explanation")
        assert receipt["outcome"]["deployment"] == "azure-openai-gpt-4-test-v-2/gpt-4"
        [seen] = script.seen
        assert seen.get("model") in (None, "gpt-4")  # Azure names the deployment in the URL
    finally:
        await runner.cleanup()
        await fake.cleanup()
