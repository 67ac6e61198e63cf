"""Off a terminal every table prints every value whole: `unhardcoded catalog | grep gpt-4.1` finds it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.review.conftest import cli


def test_catalog_prints_every_id_whole_when_piped() -> None:
    out = cli("catalog")
    assert out.returncode == 0
    ids = [d["id"] for d in json.loads(cli("catalog", "--json").stdout)["deployments"]]
    lines = out.stdout.splitlines()
    first_cells = {line.split()[0] for line in lines[2:] if line.strip()}
    assert set(ids) <= first_cells
    assert any(line.split()[0] == "openai/gpt-4.1" for line in lines[2:])
    assert "…" not in out.stdout


def test_fields_prints_custom_fields_and_whole_descriptions_when_piped(tmp_path: Path) -> None:
    cfg = tmp_path / "u.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "catalog": {
                    "fields": {
                        "internal_eval": {
                            "type": "number",
                            "unit": "score",
                            "description": "our eval suite, 0-100",
                        }
                    }
                }
            }
        )
    )
    out = cli("fields", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("internal_eval"))
    assert "our eval suite, 0-100" in row and "score" in row
    for f in json.loads(cli("fields", "--config", str(cfg), "--json").stdout):
        assert f["description"] in out.stdout


def test_rank_tables_are_whole_when_piped() -> None:
    policy = {"rules": [{"id": "eu-only", "field": "geography", "op": "==", "value": "eu"}]}
    out = cli("rank", "--policy", json.dumps(policy))
    assert out.returncode == 0
    d = json.loads(cli("rank", "--policy", json.dumps(policy), "--json").stdout)
    passed = [c["deployment"] for c in d["candidates"] if c["status"] == "ranked"]
    assert len(passed) > 20 and all(p in out.stdout for p in passed)  # every passer, not the first 20
    assert "…" not in out.stdout.replace("sha256", "").split("\n", 2)[2]
    long_line = max(out.stdout.splitlines(), key=len)
    assert len(long_line) > 80  # not wrapped at the 80 columns a pipe reports
