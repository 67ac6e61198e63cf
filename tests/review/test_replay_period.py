"""A policy over a period: past calls under one fingerprint, grouped then-winner -> now-winner."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import DEPLOYMENTS
from tests.review.conftest import (
    History,
    catalog_with,
    cli,
    load_json,
    run_async,
    tamper,
    with_store,
    write_config,
)
from unhardcoded.errors import UserError
from unhardcoded.review.period import parse_when, replay_period

PRICE_CUT = {"beta/mid2": {"price_input_per_mtok": 0.1, "price_output_per_mtok": 0.2}}


def period(history: History, **kw: Any) -> dict[str, Any]:
    kw.setdefault("catalog_now", catalog_with(PRICE_CUT))
    kw.setdefault("since", None)
    return run_async(
        with_store(
            history.url,
            lambda s: replay_period(s, fingerprint=history.fingerprints["EU60"], **kw),
        )
    )


def test_period_groups_then_winner_to_now_winner(history: History) -> None:
    out = period(history)
    # 13 calls under EU60: inline, stream, tools, fallback, two more failures, circuit open, six sizes.
    assert out["calls"] == 13 and out["identical"] and out["errors"] == []
    # One call went to beta/mid2 then (alpha/mid's circuit was open, and stays open "as then").
    assert out["groups"] == [
        {"then": "alpha/mid", "now": "beta/mid2", "calls": 12, "moved": True},
        {"then": "beta/mid2", "now": "beta/mid2", "calls": 1, "moved": False},
    ]
    assert out["would_route_elsewhere"] == 12
    assert 1 < out["distinct_decisions"] < out["calls"]


def test_period_same_catalog_moves_nothing_and_pages_give_the_same_answer(history: History) -> None:
    same = catalog_with({})
    whole = period(history, catalog_now=same)
    paged = period(history, catalog_now=same, page=2)
    assert whole["would_route_elsewhere"] == 0
    assert paged["groups"] == whole["groups"] and paged["calls"] == whole["calls"] == 13


def test_period_since_and_progress(history: History) -> None:
    seen: list[tuple[int, int]] = []
    future = period(history, since=time.time() + 3600)
    assert future["calls"] == 0 and future["groups"] == []
    out = period(history, progress=lambda n, total: seen.append((n, total)))
    assert sum(n for n, _ in seen) == out["calls"] and {t for _, t in seen} == {out["calls"]}


def test_period_reports_a_tampered_decision(tmp_history: History) -> None:
    tamper(tmp_history.db, tmp_history.ids["inline"], lambda doc: doc["candidates"].reverse())
    out = period(tmp_history)
    assert not out["identical"] and len(out["mismatches"]) == 1
    assert out["mismatches"][0]["first_difference"]["where"] == "candidate"
    cli_out = cli(
        "replay",
        "--fingerprint",
        tmp_history.fingerprints["EU60"],
        "--since",
        "1d",
        "--store",
        str(tmp_history.db),
    )
    assert cli_out.returncode == 4 and "MISMATCH" in cli_out.stdout


def test_cli_period_human_and_json(history: History, tmp_path: Path) -> None:
    fp = history.fingerprints["EU60"]
    deps = [{**d, **PRICE_CUT.get(d["id"], {})} for d in DEPLOYMENTS]
    cfg = str(write_config(tmp_path / "u.yaml", history.db, deps))
    out = cli("replay", "--fingerprint", fp, "--since", "30d", "--config", cfg)
    assert out.returncode == 0, out.stderr
    assert "12 of 13 would route elsewhere today" in out.stdout and "receipts/s" in out.stdout
    assert "alpha/mid    beta/mid2      12  yes" in out.stdout
    js = load_json(cli("replay", "--fingerprint", fp, "--since", "30d", "--config", cfg, "--json").stdout)
    assert js["calls"] == 13 and js["receipts_per_s"] > 0 and js["would_route_elsewhere"] == 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", 1_000_000 - 30 * 86400),
        ("12h", 1_000_000 - 43200),
        ("90m", 1_000_000 - 5400),
        ("2w", 1_000_000 - 14 * 86400),
        ("1970-01-02T00:00:00Z", 86400),
        ("1970-01-02", 86400),
    ],
)
def test_parse_when(text: str, expected: float) -> None:
    assert parse_when(text, now=1_000_000) == expected


def test_parse_when_rejects_what_it_cannot_read() -> None:
    with pytest.raises(UserError, match="since: expected a span"):
        parse_when("soon", now=0)
