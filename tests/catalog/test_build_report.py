"""`scripts/build_catalog.py --report`: the providers, and the gaps no saved source fills (they stay null)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = Path("/work/shared/data/sources")
CATALOG = REPO / "src" / "unhardcoded" / "catalog" / "data" / "catalog.json"
GAP_FIELDS = ("price_input_per_mtok", "price_output_per_mtok", "context_window")


@pytest.mark.skipif(not SOURCES.is_dir(), reason="needs the raw source files")
def test_report_lists_every_gap_of_the_bundled_catalog_and_nothing_else():
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_catalog.py"), "--report", "--sources", str(SOURCES)],
        capture_output=True,
        text=True,
        check=True,
    )
    deployments = json.loads(CATALOG.read_text())["deployments"]
    providers = sorted({d["provider"] for d in deployments})
    assert f"{len(deployments)} deployments, {len(providers)} providers: {', '.join(providers)}" in run.stdout
    gaps = {d["id"] for d in deployments if any(d[f] is None for f in GAP_FIELDS)}
    listed = {line.strip().split(":")[0] for line in run.stdout.splitlines() if line.startswith("  ")}
    assert listed == gaps
    assert len(gaps) <= 2  # issue 14: only what no saved source states (Alibaba qwen3-30b-a3b, Cohere A+)


@pytest.mark.skipif(not SOURCES.is_dir(), reason="needs the raw source files")
def test_refresh_from_newer_copies_says_what_changed_and_writes_nothing(tmp_path):
    import shutil

    from typer.testing import CliRunner

    from unhardcoded.cli import app

    newer = tmp_path / "sources"
    shutil.copytree(SOURCES, newer)
    litellm = next(newer.glob("litellm-*.json"))
    litellm.chmod(0o644)
    doc = json.loads(litellm.read_text())
    doc["perplexity/sonar"]["input_cost_per_token"] = 2e-06  # a price rise in the newer copy
    litellm.write_text(json.dumps(doc))
    before = CATALOG.read_bytes()
    r = CliRunner().invoke(app, ["catalog", "refresh", "--from", str(newer)])
    assert r.exit_code == 1, r.output
    assert "1 changed (1 price" in r.output
    assert "~ perplexity/sonar\n    price_input_per_mtok: 1 -> 2" in r.output
    assert CATALOG.read_bytes() == before
    r = CliRunner().invoke(app, ["catalog", "refresh", "--from", str(SOURCES)])
    assert r.exit_code == 0 and "no differences" in r.output
