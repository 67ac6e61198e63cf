"""Every receipt real gateway calls leave replays as then identically; an altered stored decision is a
loud mismatch naming the first differing candidate (exit 4)."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import orjson

from tests.review.conftest import History, catalog_with, cli, load_json, run_async, tamper, with_store
from unhardcoded.review.replay import Replayer, replay


def _replay_all(hist: History, **kw: Any) -> dict[str, dict[str, Any]]:
    async def work(store: Any) -> dict[str, dict[str, Any]]:
        out = {}
        for kind, rid in hist.ids.items():
            res = await replay(store, request_id=rid, catalog_now=kw.get("catalog_now"))
            out[kind] = res["receipts"][0]
        return out

    return run_async(with_store(hist.url, work))


def test_every_kind_of_receipt_replays_as_then_identically(history: History) -> None:
    results = _replay_all(history)
    for kind, r in results.items():
        v = r["as_then"]
        assert v["identical"], (kind, v)
        assert v["rebuilt_hash"] == v["decision_hash"] == v["stored_hash"]
    # The history holds what the test set out to make: each kind of call and each runtime rule.
    statuses = {k: r["status"] for k, r in results.items()}
    assert statuses["no_route"] == "no_route" and statuses["fallback"] == "ok"


def test_the_history_covers_runtime_rules_and_waivers(history: History) -> None:
    async def work(store: Any) -> dict[str, Any]:
        return {k: await store.get(rid) for k, rid in history.ids.items()}

    got = run_async(with_store(history.url, work))
    rules = {k: [r["id"] for r in v["decision"]["rules"]] for k, v in got.items()}
    assert "rt:no-key" in rules["named"]
    assert "rt:circuit-open" in rules["circuit_open"]
    assert got["waived"]["decision"]["waived"] == ["rt:circuit-open"]
    assert "lim:max-est-cost" in rules["limit"] and "req:streaming" in rules["stream"]
    assert [a["deployment"] for a in got["fallback"]["attempts"]] == ["alpha/mid", "beta/mid2"]


def test_as_then_rebuilds_from_the_stored_catalog_not_todays(history: History) -> None:
    """With another catalog as 'now', the as-then rebuild must come from the catalog kept in the store."""
    now = catalog_with({"alpha/mid": {"price_output_per_mtok": 0.01}})

    async def work(store: Any) -> dict[str, Any]:
        rep = Replayer(store, now)
        return await rep.replay_receipt(await store.get(history.ids["inline"]))

    r = run_async(with_store(history.url, work))
    assert r["as_then"]["identical"]
    assert r["now"]["catalog_now"] == now.version != r["now"]["catalog_then"]


def test_an_altered_stored_decision_is_a_mismatch_naming_the_first_differing_candidate(
    tmp_history: History,
) -> None:
    rid = tmp_history.ids["inline"]

    def flip(doc: dict[str, Any]) -> None:
        beta = next(c for c in doc["candidates"] if c["deployment"] == "beta/mid2")
        beta["rank_values"]["est_cost_usd"] = 0.0  # a quiet edit to one candidate

    tamper(tmp_history.db, rid, flip)
    res = run_async(with_store(tmp_history.url, lambda s: replay(s, request_id=rid, catalog_now=None)))
    v = res["receipts"][0]["as_then"]
    assert not res["identical"] and res["mismatches"] == 1
    assert v["first_difference"]["deployment"] == "beta/mid2"
    assert v["first_difference"]["fields"] == ["rank_values"]
    assert v["stored_hash"] != v["decision_hash"] == v["rebuilt_hash"]

    out = cli("replay", rid, "--store", str(tmp_history.db))
    assert out.returncode == 4, out.stdout + out.stderr
    assert "MISMATCH" in out.stdout and "first differing candidate: beta/mid2" in out.stdout
    js = cli("replay", rid, "--store", str(tmp_history.db), "--json")
    assert js.returncode == 4
    assert load_json(js.stdout)["receipts"][0]["as_then"]["first_difference"]["deployment"] == "beta/mid2"


def test_an_altered_plan_is_a_mismatch_too(tmp_history: History) -> None:
    rid = tmp_history.ids["named"]
    tamper(tmp_history.db, rid, lambda doc: doc["plan"].reverse())
    out = cli("replay", rid, "--store", str(tmp_history.db), "--json")
    assert out.returncode == 4
    assert load_json(out.stdout)["receipts"][0]["as_then"]["first_difference"]["where"] == "plan"


def test_cli_replays_each_receipt_and_a_trace_exit_0(history: History) -> None:
    for kind in ("fallback", "stream", "no_route", "waived", "pinned"):
        out = cli("replay", history.ids[kind], "--store", str(history.db))
        assert out.returncode == 0, (kind, out.stdout, out.stderr)
        assert "as then  identical" in out.stdout
        assert "now      " not in out.stdout or "error" not in out.stdout


def test_cli_bad_input_exits_2(history: History, tmp_path: Any) -> None:
    assert cli("replay", "req_nope", "--store", str(history.db)).returncode == 2
    assert cli("replay", "--store", str(history.db)).returncode == 2
    assert cli("replay", "x", "--store", str(tmp_path / "missing.db")).returncode == 2
    bad_since = cli(
        "replay", "--fingerprint", "1-2 (sigma-pol/v1)", "--since", "soon", "--store", str(history.db)
    )
    assert bad_since.returncode == 2 and "since" in bad_since.stderr


def test_a_receipt_disagreeing_with_its_decision_or_a_lost_catalog_is_loud(tmp_history: History) -> None:
    rid, other = tmp_history.ids["named"], tmp_history.ids["pinned"]
    with contextlib.closing(sqlite3.connect(tmp_history.db)) as conn:
        (body,) = conn.execute("SELECT body FROM receipts WHERE request_id = ?", (rid,)).fetchone()
        doc = orjson.loads(body)
        doc["features"]["est_input_tokens"] += 1
        conn.execute("UPDATE receipts SET body = ? WHERE request_id = ?", (orjson.dumps(doc), rid))
        conn.execute("DELETE FROM catalogs")
        conn.commit()
    out = load_json(cli("replay", rid, "--store", str(tmp_history.db), "--json").stdout)
    v = out["receipts"][0]["as_then"]
    assert not v["identical"] and "is not kept in the store" in v["error"]
    human = cli("replay", other, "--store", str(tmp_history.db))
    assert human.returncode == 4 and "CANNOT REPLAY" in human.stdout

    # With the catalog given as "now" (the same version), the receipt's own features are checked.
    async def work(store: Any) -> dict[str, Any]:
        return await Replayer(store, catalog_with({})).replay_receipt(await store.get(rid))

    r = run_async(with_store(tmp_history.url, work))
    assert r["as_then"]["first_difference"]["where"] == "receipt.features"
