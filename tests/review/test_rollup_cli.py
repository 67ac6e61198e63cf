"""`unhardcoded report` on a store of receipts made by real calls to fake providers: the table, CSV, JSON
(recomputed from the receipts' own bodies), the chart, and bad parameters named with their choices."""

from __future__ import annotations

import csv
import io
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.review.conftest import History, cli, load_json, run_async, with_store
from unhardcoded.cli import app


def bodies(url: str) -> list[dict]:
    async def read(store):  # type: ignore[no-untyped-def]
        return [await store.get(s["request_id"]) for s in await store.search(limit=10_000)]

    return list(run_async(with_store(url, read)))


def test_report_by_workload_answers_in_one_command(history: History) -> None:
    out = cli("report", "--by", "workload", "--since", "30d", "--store", history.url, "--json")
    assert out.returncode == 0, out.stderr
    doc = load_json(out.stdout)
    receipts = [b for b in bodies(history.url) if b["status"] != "started"]
    per_workload: dict[str, list[Decimal]] = {}
    for b in receipts:
        acc = per_workload.setdefault(b["policy"]["workload"], [Decimal(0), Decimal(0)])
        acc[0] += 1
        if b["outcome"]["cost_usd"] is not None:
            acc[1] += Decimal(repr(b["outcome"]["cost_usd"]))
    got = {g["workload"]: [Decimal(g["calls"]), Decimal(g["cost_usd"])] for g in doc["groups"]}
    assert got == per_workload
    assert doc["totals"]["calls"] == len(receipts)
    text = cli("report", "--by", "workload", "--since", "30d", "--store", history.url)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("report by workload, ")
    assert lines[1].split()[:3] == ["workload", "calls", "in"]
    assert any(line.split()[:2] == ["total", str(len(receipts))] for line in lines)
    for wl in per_workload:
        assert any(line.startswith(wl + " ") for line in lines), wl


def test_report_csv_has_one_row_per_group(history: History) -> None:
    out = cli("report", "--by", "deployment", "--since", "3650d", "--store", history.url, "--csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    doc = load_json(
        cli("report", "--by", "deployment", "--since", "3650d", "--store", history.url, "--json").stdout
    )
    assert [r["deployment"] for r in rows] == [g["deployment"] or "" for g in doc["groups"]]
    assert [r["cost_usd"] for r in rows] == [g["cost_usd"] or "" for g in doc["groups"]]
    assert {"calls", "savings_usd", "calls_without_baseline", "passed_over"} <= set(rows[0])


def test_report_chart_writes_an_svg(history: History, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "savings.svg"
    out = cli("report", "--since", "30d", "--store", history.url, "--chart", str(target))
    assert out.returncode == 0, out.stderr
    svg = target.read_text()
    assert "<svg" in svg and "support" in svg or "eu-quality" in svg or "default" in svg


def test_report_chart_without_matplotlib_names_the_extra(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    target = tmp_path / "c.png"
    res = CliRunner().invoke(app, ["report", "--store", history.url, "--chart", str(target)])
    assert res.exit_code == 2
    assert "unhardcoded[charts]" in res.output
    assert not target.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--by", "colour"], ["by", "workload, fingerprint, deployment, tenant, day"]),
        (["--since", "last tuesday"], ["since", "30d"]),
        (["--since", "2026-11-02T00:00:00Z", "--until", "2026-11-01"], ["until", "after since"]),
        (["--chart", "c.txt"], ["--chart", ".svg"]),
        (["--json", "--csv"], ["--json", "--csv"]),
    ],
)
def test_report_bad_parameters_exit_2_naming_them(
    history: History, args: list[str], words: list[str]
) -> None:
    out = cli("report", "--store", history.url, *args)
    assert out.returncode == 2
    for w in words:
        assert w in out.stderr, (w, out.stderr)
