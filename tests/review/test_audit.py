"""Audit over receipts of real calls: per fingerprint the rules and what each excluded (recomputed here from
every receipt read whole), and for one call the proof that a rule was enforced (or that it cannot be)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest

from tests.e2e.harness import DEPLOYMENTS
from tests.review.conftest import History, cli, load_json, run_async, tamper, with_store
from unhardcoded.errors import UserError
from unhardcoded.review.audit import audit
from unhardcoded.review.replay import ReplayNotFound

REGION = {d["id"]: d["region"] for d in DEPLOYMENTS}


def run(url: str, **kw: Any) -> dict[str, Any]:
    return run_async(with_store(url, lambda s: audit(s, **kw)))  # type: ignore[no-any-return]


def excluded_per_rule(url: str, fingerprint: str) -> dict[str, Counter[str]]:
    """rule id -> deployment -> calls in which it excluded that deployment, from every receipt read whole."""

    async def read(store: Any) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for row in await store.search(fingerprint=fingerprint, limit=10_000):
            receipt = await store.get(row["request_id"])
            for c in receipt["decision"]["candidates"]:
                for f in c.get("rejected_by") or []:
                    out.setdefault(f["rule_id"], Counter())[c["deployment"]] += 1
        return out

    result: dict[str, Counter[str]] = run_async(with_store(url, read))
    return result


def test_per_fingerprint_rules_and_exclusions_by_region(history: History) -> None:
    fp = history.fingerprints["EU60"]
    out = run(history.url, fingerprint=fp, since="30d")
    (f,) = out["policies"]
    assert f["fingerprint"] == fp and f["calls"] == 13 and f["statuses"] == {"ok": 13}
    assert f["canonical_rules"] == [
        {"id": "q", "field": "bench_intelligence", "op": ">=", "value": 60, "missing": "reject"}
    ]
    expected = excluded_per_rule(history.url, fp)
    rules = {r["rule_id"]: r for r in f["rules"]}
    for rid, per_dep in expected.items():
        r = rules[rid]
        assert {d["deployment"]: d["calls"] for d in r["deployments"]} == dict(per_dep)
        assert r["exclusions"] == sum(per_dep.values()) and r["excluded"] == len(per_dep)
        assert r["by_region"] == dict(Counter(REGION[d] for d in per_dep))
    q = rules["q"]
    assert q["calls"] == 13 and [d["actual"] for d in q["deployments"]] == [50]  # alpha/cheap, bench 50
    assert q["by_capability"] == {"json_schema": 1, "streaming": 1, "tools": 1, "vision": 1}
    assert rules["rt:circuit-open"]["calls"] == 1  # the one call made while alpha/mid's circuit was open
    assert all(r["calls"] == 0 and r["excluded"] == 0 for r in f["rules"] if r["rule_id"] not in expected)


def test_every_fingerprint_and_one_rule(history: History) -> None:
    whole = run(history.url, since="30d")
    assert sum(f["calls"] for f in whole["policies"]) == whole["receipts"] == 19
    named = next(f for f in whole["policies"] if f["name"] == "eu-quality")
    assert named["workloads"] == {"support": 1}
    only = run(history.url, rule="eu", since="30d")
    assert [f["name"] for f in only["policies"]] == ["eu-quality"]
    (r,) = only["policies"][0]["rules"]
    assert r["rule_id"] == "eu" and r["by_region"] == {"us-east-1": 1}
    assert r["deployments"] == [
        {
            "deployment": "beta/top",
            "region": "us-east-1",
            "capabilities": sorted(DEPLOYMENTS[3]["capabilities"]),
            "actual": "us",
            "calls": 1,
        }
    ]


def test_unknown_rule_and_bad_window_name_the_parameter(history: History) -> None:
    with pytest.raises(UserError) as e:
        run(history.url, rule="no-such-rule")
    assert e.value.path == "rule" and "eu" in (e.value.choices or []) and "q" in (e.value.choices or [])
    with pytest.raises(UserError) as e:
        run(history.url, since="last week")
    assert e.value.path == "since" and e.value.choices
    with pytest.raises(UserError) as e:
        run(history.url, since="2026-01-02", until="2026-01-01")
    assert e.value.path == "until"


def test_proof_for_one_call(history: History) -> None:
    out = run(history.url, request_id=history.ids["named"], rule="eu")
    assert out["enforced"] and out["hash_verified"] and out["rebuilt_identical"]
    assert out["content_hash"] == out["decision_hash"]
    (r,) = out["rules"]
    assert r["excluded"] == [
        {
            "deployment": "beta/top",
            "actual": "us",
            "region": "us-east-1",
            "capabilities": sorted(DEPLOYMENTS[3]["capabilities"]),
        }
    ]
    assert r["winner"] == "alpha/mid" and r["winner_passed"] and r["winner_value"] == "eu"
    assert r["evaluated_on"] == len(DEPLOYMENTS) and r["count_agrees"] and r["attempted_passed"]
    every = run(history.url, request_id=history.ids["named"])
    assert [p["rule_id"] for p in every["rules"]][:2] == ["quality", "eu"] and every["enforced"]
    with pytest.raises(UserError) as e:
        run(history.url, request_id=history.ids["named"], rule="q")
    assert e.value.path == "rule" and e.value.choices and "eu" in e.value.choices
    with pytest.raises(ReplayNotFound):
        run(history.url, request_id="req_nope")


def test_proof_of_a_call_nothing_passed_and_of_a_fallback(history: History) -> None:
    none = run(history.url, request_id=history.ids["no_route"])
    assert none["enforced"] and none["status"] == "no_route"
    assert none["rules"][0]["excluded_count"] == len(DEPLOYMENTS) and none["rules"][0]["winner"] is None
    fb = run(history.url, request_id=history.ids["fallback"], rule="q")
    assert fb["enforced"] and fb["rules"][0]["attempted_passed"]


def test_a_tampered_decision_is_not_proven(tmp_history: History) -> None:
    rid = tmp_history.ids["inline"]

    def let_cheap_through(doc: dict[str, Any]) -> None:
        for c in doc["candidates"]:
            if c["deployment"] == "alpha/cheap":
                c["rejected_by"] = []

    tamper(tmp_history.db, rid, let_cheap_through)
    out = run(tmp_history.url, request_id=rid, rule="q")
    assert not out["enforced"] and not out["hash_verified"] and not out["rebuilt_identical"]
    assert out["rules"][0]["excluded"] == [] and not out["rules"][0]["count_agrees"]
    shown = cli("audit", "--request", rid, "--rule", "q", "--store", str(tmp_history.db))
    assert shown.returncode == 4 and "NOT PROVEN" in shown.stdout and "DOES NOT MATCH" in shown.stdout


def test_cli_audit_table_csv_json(history: History) -> None:
    db = str(history.db)
    proof = cli("audit", "--request", history.ids["named"], "--rule", "eu", "--store", db)
    assert proof.returncode == 0, proof.stderr
    assert (
        proof.stdout.startswith("ENFORCED") and "winner alpha/mid passed it (geography = eu)" in proof.stdout
    )
    assert "beta/top             us                 us-east-1" in proof.stdout
    rows = list(
        csv.DictReader(
            io.StringIO(cli("audit", "--request", history.ids["named"], "--csv", "--store", db).stdout)
        )
    )
    assert {(r["rule_id"], r["deployment"], r["verdict"]) for r in rows if r["rule_id"] == "eu"} == {
        ("eu", "beta/top", "excluded"),
        ("eu", "alpha/mid", "winner passed"),
    }
    table = cli("audit", "--fingerprint", history.fingerprints["EU60"], "--since", "30d", "--store", db)
    assert table.returncode == 0 and "13 governed (ok 13)" in table.stdout
    js = load_json(cli("audit", "--since", "30d", "--store", db, "--json").stdout)
    assert sum(f["calls"] for f in js["policies"]) == 19
    period_csv = list(csv.DictReader(io.StringIO(cli("audit", "--rule", "q", "--store", db, "--csv").stdout)))
    assert [(r["rule_id"], r["deployment"], r["calls"]) for r in period_csv] == [("q", "alpha/cheap", "13")]
    bad = cli("audit", "--rule", "nope", "--store", db)
    assert bad.returncode == 2 and "rule:" in bad.stderr and "valid:" in bad.stderr
    late = cli("audit", "--since", "1d", "--until", "2d", "--store", db)
    assert late.returncode == 2 and "until:" in late.stderr


def test_values_with_brackets_survive_a_terminal(history: History) -> None:
    """On a terminal rich reads `[tools]` as markup; a list value must still print whole."""
    from rich.console import Console

    from unhardcoded.review.render_audit import render_audit, render_proof

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system=None, width=250)
    render_proof(console, run(history.url, request_id=history.ids["tools"], rule="req:tools"))
    assert "capabilities = [json_schema, streaming, tools, vision]" in buf.getvalue()
    render_audit(console, run(history.url, rule="req:tools", since="30d"))
    assert "capabilities has tools" in buf.getvalue()
