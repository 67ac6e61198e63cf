"""Roll-ups on SQLite and PostgreSQL: money summed exactly over 100,000 receipts, unknown prices and
baselines counted apart, the passed-over pricier candidates of receipts made by real gateway calls
recomputed independently from their bodies, and bad parameters named."""

from __future__ import annotations

import dataclasses
import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from tests.review.conftest import History
from unhardcoded.catalog.model import Deployment
from unhardcoded.errors import UserError
from unhardcoded.review.rebuild import catalog_from_blob
from unhardcoded.review.rollup import rollup, series
from unhardcoded.store import open_store
from unhardcoded.store.base import ReceiptRecord, ReceiptStore

PG_URL = os.environ.get("UNHARDCODED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = 1_764_700_000.0
DAY = 86400.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.db'}"
        return
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL}")
    schema = f"uh_rollup_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def rec(i: int, at: float, **changes: Any) -> ReceiptRecord:
    base = ReceiptRecord(
        request_id=f"req-{i:07d}",
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        parent_span_id=None,
        workflow_id=None,
        workflow_node=None,
        tenant=None,
        workload="support",
        status="ok",
        created_at=at,
        finished_at=at + 1,
        deployment="a/cheap",
        fingerprint="fp-1",
        policy_sha256=None,
        catalog_version="cv",
        decision_hash=None,
        decision_blob=None,
        cost_usd=None,
        baseline_cost_usd=None,
        savings_usd=None,
        latency_ms=1.0,
        body=b"{}",
        input_tokens=10,
        output_tokens=5,
        cached_input_tokens=0,
        fallbacks=0,
    )
    return dataclasses.replace(base, **changes)


def price(dep: Deployment | None, inp: int, cached: int, out: int) -> Decimal | None:
    """Written apart from review/rollup.py's: usage x catalog prices, exactly."""
    if dep is None or dep.get("price_input_per_mtok") is None or dep.get("price_output_per_mtok") is None:
        return None
    p_in, p_out = (
        Decimal(repr(dep.get("price_input_per_mtok"))),
        Decimal(repr(dep.get("price_output_per_mtok"))),
    )
    p_cached = dep.get("price_cached_input_per_mtok")
    p_c = p_in if p_cached is None else Decimal(repr(p_cached))
    return ((inp - min(cached, inp)) * p_in + min(cached, inp) * p_c + out * p_out) / 1_000_000


async def opened(url: str, durability: str = "strict") -> ReceiptStore:
    store = open_store(url, durability=durability)
    await store.open()
    return store


async def test_money_over_100000_receipts_is_exact(store_url: str) -> None:
    rnd = random.Random(11)
    records = []
    for i in range(100_000):
        cost = round(rnd.uniform(0, 0.03), 10) if rnd.random() > 0.01 else None
        base = round(rnd.uniform(0, 0.09), 10) if rnd.random() > 0.02 else None
        records.append(
            rec(
                i,
                NOW - rnd.uniform(0, 29 * DAY),
                workload=rnd.choice(["support", "search", "summarise"]),
                cost_usd=cost,
                baseline_cost_usd=base,
            )
        )
    store = await opened(store_url, durability="fast")
    try:
        for r in records:
            await store.write(r)
    finally:
        await store.close()
    assert store.stats.committed == 100_000
    store = await opened(store_url)
    try:
        out = await rollup(store, "workload", "30d", now=NOW)
    finally:
        await store.close()
    exact_cost: dict[str, Decimal] = defaultdict(Decimal)
    compared: dict[str, Decimal] = defaultdict(Decimal)
    baseline: dict[str, Decimal] = defaultdict(Decimal)
    apart: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    floats = 0.0
    for r in records:
        if r.cost_usd is None:
            apart[r.workload][0] += 1
            continue
        exact_cost[r.workload] += Decimal(repr(r.cost_usd))
        floats += r.cost_usd
        if r.baseline_cost_usd is None:
            apart[r.workload][1] += 1
            continue
        compared[r.workload] += Decimal(repr(r.cost_usd))
        baseline[r.workload] += Decimal(repr(r.baseline_cost_usd))
    groups = {g["workload"]: g for g in out["groups"]}
    assert set(groups) == {"support", "search", "summarise"}
    for wl, g in groups.items():
        assert Decimal(g["cost_usd"]) == exact_cost[wl]
        assert Decimal(g["baseline_cost_usd"]) == baseline[wl]
        assert Decimal(g["savings_usd"]) == baseline[wl] - compared[wl]
        assert [g["calls_without_price"], g["calls_without_baseline"]] == apart[wl]
    assert Decimal(out["totals"]["cost_usd"]) == sum(exact_cost.values())
    assert Decimal(repr(floats)) != sum(exact_cost.values())  # what adding floats would have reported
    assert out["totals"]["calls"] == 100_000


async def test_unknown_price_or_baseline_is_counted_apart_not_as_zero_savings(store_url: str) -> None:
    store = await opened(store_url)
    try:
        for r in (
            rec(1, NOW - 100, cost_usd=0.01, baseline_cost_usd=0.04),
            rec(2, NOW - 100, cost_usd=0.02, baseline_cost_usd=None),  # baseline unknown
            rec(3, NOW - 100, cost_usd=None, baseline_cost_usd=0.05),  # price unknown
            rec(4, NOW - 100, status="error", deployment=None, input_tokens=None, fallbacks=2),
            rec(5, NOW - 40 * DAY, cost_usd=9.0, baseline_cost_usd=9.5),  # before the period
            rec(6, NOW - 50, status="started", cost_usd=None),  # not final
        ):
            await store.write(r)
        out = await rollup(store, "workload", "30d", now=NOW)
    finally:
        await store.close()
    [g] = out["groups"]
    assert g["calls"] == 4 and g["errors"] == 1 and g["error_rate"] == 0.25 and g["fallback_rate"] == 0.25
    assert g["cost_usd"] == "0.03" and g["calls_without_price"] == 1 and g["calls_without_baseline"] == 1
    assert g["compared_calls"] == 1 and g["compared_cost_usd"] == "0.01" and g["baseline_cost_usd"] == "0.04"
    assert g["savings_usd"] == "0.03" and g["savings_pct"] == 75.0
    assert g["calls_without_usage"] == 1 and g["input_tokens"] == 30
    assert g["passed_over"] == [] and g["calls_not_compared_with_passers"] == 3  # no decision stored


async def test_bad_parameters_name_the_parameter_and_the_choices(tmp_path: Path) -> None:
    store = await opened(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with pytest.raises(UserError) as by:
            await rollup(store, "colour", "30d")
        assert by.value.path == "by" and by.value.choices == [
            "workload",
            "fingerprint",
            "deployment",
            "tenant",
            "day",
        ]
        with pytest.raises(UserError) as since:
            await rollup(store, "day", "last tuesday")
        assert since.value.path == "since" and "30d" in str(since.value)
        with pytest.raises(UserError) as until:
            await rollup(store, "day", "2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z")
        assert until.value.path == "until" and "after since" in str(until.value)
        assert (await rollup(store, "day", "7d"))["groups"] == []
    finally:
        await store.close()


async def _copy_with_usage(history: History, url: str) -> list[dict[str, Any]]:
    """The history's receipts written again as the gateway writes them once it passes usage (tokens,
    fallbacks); returns their expanded bodies."""
    src = await opened(history.url)
    dst = await opened(url)
    try:
        bodies = []
        for s in await src.search(limit=10_000):
            body = await src.get(s["request_id"])
            assert body is not None
            decision = body.pop("decision")
            blob = (await src.decisions([s["decision_hash"]]))[s["decision_hash"]] if decision else None
            catalog = await src.get_catalog(s["catalog_version"])
            assert catalog is not None
            await dst.put_catalog(s["catalog_version"], catalog)
            usage = (body.get("outcome") or {}).get("usage") or {}
            fields = {k: v for k, v in s.items() if k in {f.name for f in dataclasses.fields(ReceiptRecord)}}
            await dst.write(
                ReceiptRecord(
                    **{
                        **fields,
                        "decision_blob": blob,
                        "body": orjson.dumps(body),
                        "input_tokens": usage.get("input_tokens"),
                        "output_tokens": usage.get("output_tokens"),
                        "cached_input_tokens": usage.get("cached_input_tokens"),
                        "fallbacks": sum(1 for a in body["attempts"] if a["fell_back"]),
                    }
                )
            )
            bodies.append({**body, "decision": orjson.loads(blob) if blob else None})
        return bodies
    finally:
        await src.close()
        await dst.close()


@pytest.mark.parametrize("by", ["workload", "deployment", "fingerprint"])
async def test_passed_over_candidates_of_real_calls_recomputed_from_the_bodies(
    history: History, store_url: str, by: str
) -> None:
    bodies = await _copy_with_usage(history, store_url)
    store = await opened(store_url)
    try:
        out = await rollup(store, by, "3650d", passed_over=1000)
        days = await series(store, "3650d")
        catalogs = {
            b["catalog_version"]: catalog_from_blob(
                await store.get_catalog(b["catalog_version"]) or b"", b["catalog_version"]
            )
            for b in bodies
        }
    finally:
        await store.close()
    want: dict[Any, dict[str, list[Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: [Decimal(0), Decimal(0)])
    )
    calls: dict[Any, int] = defaultdict(int)
    for b in bodies:
        key = {"workload": b["policy"]["workload"], "fingerprint": b["policy"]["fingerprint"]}.get(by)
        key = b["outcome"]["deployment"] if by == "deployment" else key
        calls[key] += 1
        usage = b["outcome"]["usage"]
        if b["status"] not in ("ok", "partial") or not usage or not b["decision"]:
            continue
        cat = catalogs[b["catalog_version"]]
        u = (usage["input_tokens"], usage["cached_input_tokens"], usage["output_tokens"])
        chosen = price(cat.get(b["outcome"]["deployment"]), *u)
        assert chosen is not None
        # pricier: as the decision estimated it for that request; what it would have cost: real usage
        est = {c["deployment"]: c["est_cost_usd"] for c in b["decision"]["candidates"]}
        mine = est[b["outcome"]["deployment"]]
        for c in b["decision"]["candidates"]:
            would = price(cat.get(c["deployment"]), *u)
            if (
                c["status"] == "ranked"
                and c["deployment"] != b["outcome"]["deployment"]
                and would is not None
                and mine is not None
                and c["est_cost_usd"] is not None
                and c["est_cost_usd"] > mine
            ):
                want[key][c["deployment"]][0] += would
                want[key][c["deployment"]][1] += chosen
    groups = {g[by]: g for g in out["groups"]}
    assert sum(d["calls"] for d in days) == out["totals"]["calls"] == len(bodies)
    assert {k: g["calls"] for k, g in groups.items()} == dict(calls)
    assert any(g["passed_over"] for g in groups.values())
    for key, g in groups.items():
        got = {
            p["deployment"]: [Decimal(p["would_cost_usd"]), Decimal(p["chosen_cost_usd"])]
            for p in g["passed_over"]
        }
        assert got == dict(want.get(key, {})), key
        per_call = [Decimal(p["extra_usd"]) / p["calls"] for p in g["passed_over"]]
        assert per_call == sorted(per_call), key  # the nearest alternatives first
