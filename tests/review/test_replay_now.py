"""Now against then: each catalog overlay change gives exactly the expected diff, value by value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import DEPLOYMENTS, dep
from tests.review.conftest import History, catalog_with, cli, load_json, run_async, with_store, write_config
from unhardcoded.catalog.model import Catalog
from unhardcoded.review.replay import Replayer

FIELDS_Q = ["bench_intelligence", "context_window", "max_output_tokens"]


def est(pin: float, pout: float) -> float:
    # The "inline" receipt: ~5 input tokens, max_tokens 64 (same float operations as the decision).
    return pin * (5 / 1e6) + pout * (64 / 1e6)


def now_diff(history: History, catalog: Catalog, kind: str = "inline") -> dict[str, Any]:
    async def work(store: Any) -> dict[str, Any]:
        r = await Replayer(store, catalog).replay_receipt(await store.get(history.ids[kind]))
        assert r["as_then"]["identical"], r["as_then"]
        return dict(r["now"])

    return run_async(with_store(history.url, work))


def moved(dep_id: str, then: str, now: str, rank_then: int | None, rank_now: int | None, **kw: Any):
    return {
        "deployment": dep_id,
        "then": then,
        "now": now,
        "rank_then": rank_then,
        "rank_now": rank_now,
        "rules": kw.get("rules", []),
        "values": kw.get("values", []),
    }


def test_same_catalog_same_winner_nothing_changed(history: History) -> None:
    d = now_diff(history, catalog_with({}))
    assert d["same_winner"] and d["winner_now"] == "alpha/mid"
    assert (d["changed"], d["added"], d["gone"]) == ([], [], [])
    assert d["est_cost_then_usd"] == d["est_cost_now_usd"] == est(0.3, 0.6)


def test_price_cut(history: History) -> None:
    d = now_diff(
        history, catalog_with({"beta/mid2": {"price_input_per_mtok": 0.1, "price_output_per_mtok": 0.2}})
    )
    assert (d["winner_then"], d["winner_now"], d["same_winner"]) == ("alpha/mid", "beta/mid2", False)
    assert d["changed"] == [
        moved("alpha/mid", "winner", "planned", 1, 2),
        moved(
            "beta/mid2",
            "planned",
            "winner",
            2,
            1,
            values=[
                {"field": "price_input_per_mtok", "then": 0.4, "now": 0.1},
                {"field": "price_output_per_mtok", "then": 0.8, "now": 0.2},
                {"field": "est_cost_usd", "then": est(0.4, 0.8), "now": est(0.1, 0.2)},
            ],
        ),
    ]
    assert (d["added"], d["gone"]) == ([], [])
    assert (d["est_cost_then_usd"], d["est_cost_now_usd"]) == (est(0.3, 0.6), est(0.1, 0.2))


def test_score_change_now_passes_the_quality_rule(history: History) -> None:
    d = now_diff(history, catalog_with({"alpha/cheap": {"bench_intelligence": 62}}))
    assert d["winner_now"] == "alpha/cheap"
    rule = {
        "rule_id": "q",
        "source": "policy",
        "field": "bench_intelligence",
        "op": ">=",
        "expected": 60,
        "then": 50,
        "now": 62,
        "now_passes": True,
    }
    assert d["changed"] == [
        moved(
            "alpha/cheap",
            "rejected",
            "winner",
            None,
            1,
            rules=[rule],
            values=[{"field": "bench_intelligence", "then": 50, "now": 62}],
        ),
        moved("alpha/mid", "winner", "planned", 1, 2),
        moved("beta/mid2", "planned", "planned", 2, 3),
        moved("beta/top", "planned", "passed", 3, 4),
    ]


def test_score_drop_now_fails(history: History) -> None:
    d = now_diff(history, catalog_with({"alpha/mid": {"bench_intelligence": 59.5}}))
    assert d["changed"][0] == moved(
        "alpha/mid",
        "winner",
        "rejected",
        1,
        None,
        rules=[
            {
                "rule_id": "q",
                "source": "policy",
                "field": "bench_intelligence",
                "op": ">=",
                "expected": 60,
                "then": 60,
                "now": 59.5,
                "now_passes": False,
            }
        ],
        values=[{"field": "bench_intelligence", "then": 60, "now": 59.5}],
    )


def test_region_removed(history: History) -> None:
    d = now_diff(history, catalog_with({"alpha/mid": None}))
    assert d["gone"] == [{"deployment": "alpha/mid", "then": "winner"}]
    assert d["changed"] == [
        moved("beta/mid2", "planned", "winner", 2, 1),
        moved("beta/top", "planned", "planned", 3, 2),
    ]
    assert (d["winner_now"], d["added"]) == ("beta/mid2", [])


def test_deployment_added(history: History) -> None:
    new = dep("beta/new", "new", 0.05, 0.1, 70)
    d = now_diff(history, catalog_with({}, [new]))
    assert d["added"] == [{"deployment": "beta/new", "now": "winner", "rank_now": 1, "rejected_by": []}]
    assert d["changed"] == [
        moved("alpha/mid", "winner", "planned", 1, 2),
        moved("beta/mid2", "planned", "planned", 2, 3),
        moved("beta/top", "planned", "passed", 3, 4),
    ]
    assert d["est_cost_now_usd"] == est(0.05, 0.1)


def test_a_deployment_added_for_a_provider_without_a_key_then_stays_without_one(history: History) -> None:
    d = now_diff(history, catalog_with({}, [dep("gamma/new", "nk2", 0.001, 0.001, 95)]))
    assert d["added"] == [
        {"deployment": "gamma/new", "now": "rejected", "rank_now": None, "rejected_by": ["rt:no-key"]}
    ]
    assert d["same_winner"]


def test_cli_now_diff_human_and_json(history: History, tmp_path: Path) -> None:
    deps = [
        {
            **d,
            **({"price_output_per_mtok": 0.2, "price_input_per_mtok": 0.1} if d["id"] == "beta/mid2" else {}),
        }
        for d in DEPLOYMENTS
    ]
    cfg = write_config(tmp_path / "u.yaml", history.db, deps)
    out = cli("replay", history.ids["inline"], "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert "new winner: alpha/mid → beta/mid2" in out.stdout
    assert (
        "changed  beta/mid2 planned #2 → winner: price_input_per_mtok 0.4 → 0.1; "
        "price_output_per_mtok 0.8 → 0.2" in out.stdout
    )
    js = load_json(cli("replay", history.ids["inline"], "--config", str(cfg), "--json").stdout)
    assert js["receipts"][0]["now"]["winner_now"] == "beta/mid2"


def test_cli_live_uses_the_keys_of_this_environment(history: History, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "u.yaml", history.db, DEPLOYMENTS)
    env = {"ALPHA_KEY": "a", "BETA_KEY": "", "GAMMA_KEY": "g"}
    out = cli("replay", history.ids["inline"], "--config", str(cfg), "--live", "--json", env=env)
    assert out.returncode == 0, out.stderr
    now = load_json(out.stdout)["receipts"][0]["now"]
    assert now["runtime"] == "live"
    by_id = {c["deployment"]: c for c in now["changed"]}
    assert by_id["beta/mid2"]["now"] == "rejected"
    assert by_id["beta/mid2"]["rules"][0]["rule_id"] == "rt:no-key"
    assert by_id["gamma/nokey"]["then"] == "rejected" and by_id["gamma/nokey"]["now"] == "winner"
