"""What-if: a new policy over the receipts of real calls (fake providers, a real SQLite file), with every
number recomputed here another way: each receipt read whole, usage x the harness catalog's prices, summed
with Decimal."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import DEPLOYMENTS
from tests.review.conftest import History, catalog_with, cli, load_json, run_async, with_store, write_config
from unhardcoded.errors import PolicyError, UserError
from unhardcoded.review.simulate import simulate

PRICES = {
    d["id"]: (Decimal(repr(d["price_input_per_mtok"])), Decimal(repr(d["price_output_per_mtok"])))
    for d in DEPLOYMENTS
}
# Only beta/top (bench 80, keyed) passes both: every call moves there, and q70 is what blocks each one.
TOP_ONLY = {
    "rules": [
        {"id": "q70", "field": "bench_intelligence", "op": ">=", "value": 70},
        {"id": "keyed", "field": "provider", "op": "in", "value": ["alpha", "beta"]},
    ],
    "baseline": "beta/top",
}
CHEAPEST_EU = {
    "rules": [{"id": "eu-only", "field": "geography", "op": "==", "value": "eu"}],
    "baseline": "beta/top",
}
NOTHING = {"rules": [{"id": "impossible", "field": "bench_intelligence", "op": ">", "value": 99}]}


def exact(d: Decimal) -> str:
    """Money as the results write it: the exact decimal, as a string."""
    return format(d.normalize(), "f")


def run(history: History, policy: Any, **kw: Any) -> dict[str, Any]:
    kw.setdefault("catalog", catalog_with({}))
    kw.setdefault("since", "30d")
    return run_async(with_store(kw.pop("url", history.url), lambda s: simulate(s, policy, **kw)))


def answered(url: str, workload: str | None = None) -> list[dict[str, Any]]:
    """Every answered, unpinned receipt, read whole (the slow way simulate avoids)."""

    async def read(store: Any) -> list[dict[str, Any]]:
        rows = await store.search(workload=workload, limit=10_000)
        receipts = [await store.get(r["request_id"]) for r in rows if r["status"] in ("ok", "partial")]
        return [r for r in receipts if not r.get("pinned")]

    out: list[dict[str, Any]] = run_async(with_store(url, read))
    return out


def cost(deployment: str, usage: dict[str, Any]) -> Decimal:
    pin, pout = PRICES[deployment]
    return (usage["input_tokens"] * pin + usage["output_tokens"] * pout) / 1_000_000


def test_every_call_moves_to_the_one_passer_priced_on_its_real_usage(history: History) -> None:
    out = run(history, TOP_ONLY)
    calls = answered(history.url)
    actual = sum((Decimal(repr(r["outcome"]["cost_usd"])) for r in calls), Decimal(0))
    projected = sum((cost("beta/top", r["outcome"]["usage"]) for r in calls), Decimal(0))
    assert out["calls"] == len(calls) == 15
    assert out["cost"]["calls"] == 15 and out["unpriced"] == 0
    assert out["cost"]["actual_usd"] == exact(actual) and out["cost"]["projected_usd"] == exact(projected)
    assert out["cost"]["difference_usd"] == exact(projected - actual)
    # The baseline is the projected deployment itself: it would save exactly nothing.
    assert out["baseline"]["deployment"] == "beta/top" and out["baseline"]["savings_projected_usd"] == "0"
    assert out["baseline"]["savings_actual_usd"] == exact(projected - actual)
    then = {}
    for r in calls:
        then[r["outcome"]["deployment"]] = then.get(r["outcome"]["deployment"], 0) + 1
    assert {m["from"]: m["calls"] for m in out["moves"]} == then
    assert {m["to"] for m in out["moves"]} == {"beta/top"} and out["moved"] == 15 and out["stayed"] == 0
    bites = {r["rule_id"]: r for r in out["rules"]}
    assert out["rules"][0]["rule_id"] == "q70" and bites["q70"]["calls_blocked"] == 15
    assert bites["keyed"]["calls_blocked"] == 0 and bites["keyed"]["exclusions"] == 15  # gamma, every call
    assert out["skipped"] == {"no_route": 1, "pinned": 3}
    assert 1 < out["distinct_decisions"] < out["calls"]  # memoised by features


def test_cheapest_eu_moves_only_what_did_not_go_to_alpha_cheap(history: History) -> None:
    out = run(history, CHEAPEST_EU)
    calls = answered(history.url)
    # gamma/nokey (eu, cheapest) wins unless today's runtime says it has no key.
    assert {m["to"] for m in out["moves"]} == {"gamma/nokey"} and out["runtime"] == "none"
    projected = sum((cost("gamma/nokey", r["outcome"]["usage"]) for r in calls), Decimal(0))
    assert out["cost"]["projected_usd"] == exact(projected)


def test_no_passing_candidate_is_counted_with_what_those_calls_cost(history: History) -> None:
    out = run(history, NOTHING)
    calls = answered(history.url)
    assert out["no_route"]["calls"] == 15 and out["moves"] == [] and out["cost"]["calls"] == 0
    assert out["no_route"]["actual_usd"] == exact(
        sum((Decimal(repr(r["outcome"]["cost_usd"])) for r in calls), Decimal(0))
    )
    assert out["rules"][0] == {
        "rule_id": "impossible",
        "source": "policy",
        "test": "bench_intelligence > 99",
        "calls_blocked": 15,
        "exclusions": 15 * len(DEPLOYMENTS),
    }


def test_workload_window_and_progress(history: History) -> None:
    support = run(history, TOP_ONLY, workload="support")
    assert support["calls"] == len(answered(history.url, "support")) == 1
    future = run(history, TOP_ONLY, since="2099-01-01T00:00:00Z")
    assert future["receipts"] == 0 and future["calls"] == 0 and future["cost"]["actual_usd"] == "0"
    seen: list[tuple[int, int]] = []
    out = run(history, TOP_ONLY, progress=lambda n, total: seen.append((n, total)), page=4)
    assert sum(n for n, _ in seen) == out["receipts"] == 19 and {t for _, t in seen} == {19}
    assert out["cost"] == run(history, TOP_ONLY)["cost"]  # pages of 4 give the same answer


def copy_store(history: History, path: Path, tokens: str) -> str:
    """A copy of the history whose token columns are NULL (as receipts stored before them) or filled
    from each receipt's own usage (as the store keeps them)."""
    with (
        contextlib.closing(sqlite3.connect(history.db)) as src,
        contextlib.closing(sqlite3.connect(path)) as dst,
    ):
        src.backup(dst)
        usage = "json_extract(CAST(body AS TEXT), '$.outcome.usage.{}')"
        if tokens == "null":
            dst.execute("UPDATE receipts SET input_tokens = NULL, output_tokens = NULL")
        else:
            dst.execute(
                "UPDATE receipts SET "
                + ", ".join(
                    f"{c} = {usage.format(c)}"
                    for c in ("input_tokens", "output_tokens", "cached_input_tokens")
                )
            )
            (filled,) = dst.execute("SELECT count(*) FROM receipts WHERE input_tokens IS NOT NULL").fetchone()
            assert filled == 15 + 3  # the answered calls, pinned ones included
        dst.commit()
    return f"sqlite:///{path}"


def test_token_columns_or_whole_receipts_give_the_same_answer(history: History, tmp_path: Path) -> None:
    drop = ("seconds", "receipts_per_min", "window")
    slow = run(history, TOP_ONLY, url=copy_store(history, tmp_path / "null.db", "null"))
    fast = run(history, TOP_ONLY, url=copy_store(history, tmp_path / "filled.db", "filled"))
    assert slow["calls"] == 15 and slow["skipped"] == {"no_route": 1, "pinned": 3}
    assert {k: v for k, v in slow.items() if k not in drop} == {
        k: v for k, v in fast.items() if k not in drop
    }


@pytest.mark.parametrize(
    ("kw", "path"),
    [
        ({"since": "soon"}, "since"),
        ({"since": "1d", "until": "2d"}, "until"),
        ({"until": "yesterday"}, "until"),
    ],
)
def test_bad_window_names_the_parameter(history: History, kw: dict[str, str], path: str) -> None:
    with pytest.raises(UserError) as e:
        run(history, TOP_ONLY, **kw)
    assert e.value.path == path and (path == "until" and "before" in e.value.message or e.value.choices)


def test_a_policy_that_does_not_validate_names_its_path(history: History) -> None:
    with pytest.raises(PolicyError) as e:
        run(history, {"rules": [{"field": "nope", "op": "==", "value": 1}]})
    assert e.value.path == "$.rules[0].field" and "bench_intelligence" in (e.value.choices or [])


def test_cli_simulate_table_json_csv(history: History, tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path / "u.yaml", history.db, DEPLOYMENTS))
    pol = tmp_path / "new.json"
    pol.write_text(json.dumps(TOP_ONLY))
    out = cli("simulate", "--policy", str(pol), "--since", "30d", "--config", cfg)
    assert out.returncode == 0, out.stderr
    assert "15 of 15 calls would change deployment; 0 would find no passing candidate" in out.stdout
    assert "q70" in out.stdout and "alpha/mid    beta/top" in out.stdout
    js = load_json(cli("simulate", "--policy", str(pol), "--config", cfg, "--json").stdout)
    assert js == {
        **run(history, TOP_ONLY),
        "seconds": js["seconds"],
        "receipts_per_min": js["receipts_per_min"],
        "window": js["window"],
    }
    csv_out = cli("simulate", "--policy", str(pol), "--config", cfg, "--csv").stdout.splitlines()
    assert csv_out[0] == "from,to,calls,moved,priced_calls,actual_usd,projected_usd" and len(
        csv_out
    ) == 1 + len(js["moves"])
    bad = cli("simulate", "--policy", str(pol), "--config", cfg, "--since", "soon")
    assert bad.returncode == 2 and "since:" in bad.stderr and "ISO 8601" in bad.stderr


def test_cli_simulate_a_policy_the_config_names(history: History, tmp_path: Path) -> None:
    path = write_config(tmp_path / "u.yaml", history.db, DEPLOYMENTS)
    cfg = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**cfg, "policies": {"top-only": TOP_ONLY}}))
    out = cli("simulate", "--policy", "top-only", "--workload", "default", "--config", str(path), "--json")
    assert out.returncode == 0, out.stderr
    js = load_json(out.stdout)
    direct = run(history, TOP_ONLY, workload="default")
    assert js["cost"] == direct["cost"] and js["moves"] == direct["moves"] and js["calls"] == 14
