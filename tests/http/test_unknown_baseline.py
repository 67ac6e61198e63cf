"""A policy naming a baseline the catalog does not have is refused: savings against nothing are invented."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness

BAD = {"rules": [], "baseline": "nobody/nothing"}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def test_a_chat_call_with_an_unknown_baseline_is_a_400_naming_it(harness: Harness) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "policy": BAD}
    status, _, out = harness.post("/v1/chat/completions", body)
    assert status == 400 and out["error"]["param"] == "$.baseline"
    assert "nobody/nothing" in out["error"]["message"]
    assert harness.alpha.seen == [] and harness.beta.seen == []  # no provider was called


def test_the_dry_run_refuses_it_too(harness: Harness) -> None:
    status, _, out = harness.post("/x/rank", {"policy": BAD})
    assert status == 400 and out["error"]["param"] == "$.baseline"


def test_a_known_baseline_by_model_id_is_accepted(harness: Harness) -> None:
    status, _, out = harness.post("/x/rank", {"policy": {"baseline": "beta/top"}})
    assert status == 200, out


def test_the_cli_rank_exits_2(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps(BAD))
    r = subprocess.run(
        [sys.executable, "-m", "unhardcoded.cli", "rank", "--policy", str(policy)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "baseline" in r.stderr + r.stdout
