"""`unhardcoded import litellm CONFIG [-o FILE]`: prints or writes the converted config, lists the rest."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from tests.imports.conftest import FIXTURES
from unhardcoded.cli import app
from unhardcoded.config import load_settings
from unhardcoded.gateway.policies import Policies


def test_writes_a_config_that_the_gateway_loads_and_lists_the_rest(tmp_path):
    out = tmp_path / "unhardcoded.yaml"
    r = CliRunner().invoke(app, ["import", "litellm", str(FIXTURES / "load_balancer.yaml"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "policy:gpt-3.5-turbo -> openai/gpt-3.5-turbo > openrouter/gpt-3.5-turbo" in r.output
    assert "not converted:" in r.output and "mistralai" in r.output
    policies = Policies(load_settings(out))
    assert policies.named("gpt-3.5-turbo").name == "gpt-3.5-turbo"
    assert "# Not converted" in out.read_text()


def test_prints_yaml_without_out(tmp_path):
    r = CliRunner().invoke(app, ["import", "litellm", str(FIXTURES / "simple_config.yaml")])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.output)["policies"]["gpt-3.5-turbo"]["rules"][0]["value"] == ["openai/gpt-5-mini"]


def test_bad_input_exits_1(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("general_settings: {}\n")
    r = CliRunner().invoke(app, ["import", "litellm", str(bad)])
    assert r.exit_code == 1
    r = CliRunner().invoke(app, ["import", "litellm", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 1
