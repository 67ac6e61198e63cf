"""The `unhardcoded` command: exit codes, JSON output, and a plain wheel install carrying the catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unhardcoded.cli import app

ROOT = Path(__file__).resolve().parents[1]
POLICY = {
    "rules": [
        {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 55},
        {"id": "eu-only", "field": "geography", "op": "==", "value": "eu"},
        {"id": "needs-tools", "field": "capabilities", "op": "has", "value": "tools"},
    ],
    "baseline": "openai/gpt-4.1",
}
runner = CliRunner()


def test_rank_prints_winner_and_every_rejection() -> None:
    result = runner.invoke(app, ["rank", "--policy", json.dumps(POLICY)])
    assert result.exit_code == 0, result.output
    assert "winner" in result.output and "(sigma-pol/v1)" in result.output
    assert "quality-floor" in result.output and "why each other deployment lost" in result.output


def test_rank_json_is_the_receipt_decision() -> None:
    result = runner.invoke(app, ["rank", "--policy", json.dumps(POLICY), "--json"])
    assert result.exit_code == 0
    d = json.loads(result.output)
    ranked = [c for c in d["candidates"] if c["status"] == "ranked"]
    assert d["plan"] == [c["deployment"] for c in sorted(ranked, key=lambda c: c["rank"])][:3]
    assert all(c["rejected_by"] for c in d["candidates"] if c["status"] == "rejected")
    assert d["counts"]["candidates"] == len(d["candidates"]) >= 300


def test_rank_exit_codes(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["rank", "--policy", '{"rules": [{"field": "nope", "op": "==", "value": 1}]}'])
    assert bad.exit_code == 2 and "$.rules[0].field" in bad.output
    none = {"rules": [{"field": "bench_intelligence", "op": ">", "value": 100}]}
    nothing = runner.invoke(app, ["rank", "--policy", json.dumps(none), "--brief"])
    assert nothing.exit_code == 3 and "no deployment passed" in nothing.output
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text("rules:\n  - {field: capabilities, op: has, value: vision}\n")
    request = tmp_path / "r.json"
    request.write_text(
        json.dumps({"model": "auto", "messages": [{"role": "user", "content": "x"}], "tools": [{}]})
    )
    ok = runner.invoke(app, ["rank", "--policy", str(policy_file), "--request", str(request), "--json"])
    assert ok.exit_code == 0
    assert any(r["id"] == "req:tools" for r in json.loads(ok.output)["rules"])


def test_overlay_errors_name_deployment_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "u.yaml"
    cfg.write_text(
        "catalog:\n  deployments:\n    - {id: acme/x, provider: acme, model: acme/x, context_window: big}\n"
    )
    result = runner.invoke(app, ["rank", "--policy", "{}", "--config", str(cfg)])
    assert result.exit_code == 1
    assert "acme/x" in result.output and "context_window" in result.output


def test_fields_catalog_schema() -> None:
    fields = json.loads(runner.invoke(app, ["fields", "--json"]).output)
    assert {"bench_intelligence", "geography", "est_cost_usd"} <= {f["name"] for f in fields}
    cat = json.loads(runner.invoke(app, ["catalog", "--json"]).output)
    assert len(cat["catalog_version"]) == 64 and len(cat["deployments"]) >= 300
    schema = json.loads(runner.invoke(app, ["schema", "policy"]).output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert runner.invoke(app, ["schema", "nope"]).exit_code == 2


@pytest.mark.slow
def test_plain_wheel_install_carries_the_catalog(tmp_path: Path) -> None:
    """`pip install` of the built wheel (not editable) runs `unhardcoded rank` with the bundled catalog."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = wheels.glob("unhardcoded-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Dependencies come from this environment (no download); the package itself from the wheel.
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "UNHARDCODED_CONFIG")}
    out = subprocess.run(
        [str(venv / "bin" / "unhardcoded"), "rank", "--policy", json.dumps(POLICY), "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["plan"]
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import unhardcoded, sys; print(unhardcoded.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))  # the wheel's copy, not the source tree


def test_demo_runs_with_no_keys_and_no_network(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("AWS_")}
    out = subprocess.run(
        [sys.executable, "-m", "unhardcoded.cli", "demo", "--port", "0"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "sim/flaky@eu-west-1: HTTP 503 server_error -> fell back" in out.stdout
    assert "after 1 fallback" in out.stdout
    assert (tmp_path / "unhardcoded-demo.db").exists()
