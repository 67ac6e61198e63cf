"""The hourly sums behind roll-ups and budgets, on both backends: whatever is written (started then final,
a final rewritten, money unknown), any period's sums equal the same sums recomputed from the records."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import random
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from unhardcoded.store.base import ReceiptRecord
from unhardcoded.store.rollups import VALUES

if TYPE_CHECKING:
    from tests.store.conftest import Backend

BLOBS = {hashlib.sha256(b).hexdigest(): b for b in (b'{"d": 1}', b'{"d": 2}')}
H0 = 1_764_633_600.0  # 2025-12-02T00:00:00Z, a day and hour boundary
E10 = Decimal(10) ** 10


def rec(i: int, created_at: float, **changes: Any) -> ReceiptRecord:
    base = ReceiptRecord(
        request_id=f"req-{i:06d}",
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        parent_span_id=None,
        workflow_id=None,
        workflow_node=None,
        tenant=None,
        workload="support",
        status="ok",
        created_at=created_at,
        finished_at=created_at + 1,
        deployment="a/cheap",
        fingerprint="fp-1",
        policy_sha256=None,
        catalog_version="cv-1",
        decision_hash=None,
        decision_blob=None,
        cost_usd=0.0012,
        baseline_cost_usd=0.004,
        savings_usd=0.0028,
        latency_ms=10.0,
        body=b"{}",
        input_tokens=100,
        output_tokens=20,
        cached_input_tokens=0,
        fallbacks=0,
    )
    return dataclasses.replace(base, **changes)


def units(x: float | None) -> int:
    return 0 if x is None else int((Decimal(repr(x)) * E10).to_integral_value())


def expected(
    records: list[ReceiptRecord], by: str, since: float, until: float
) -> dict[tuple[Any, ...], dict[str, int]]:
    """The same sums, straight from the records, with exact Decimal money."""
    out: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: dict.fromkeys(VALUES, 0))
    for r in records:
        if r.status == "started" or not since <= r.created_at < until:
            continue
        group = math.floor(r.created_at / 3600) // 24 if by == "day" else getattr(r, by)
        s = out[(group, r.deployment, r.decision_hash, r.catalog_version)]
        both = r.cost_usd is not None and r.baseline_cost_usd is not None
        s["calls"] += 1
        s[r.status if r.status in ("ok", "partial", "no_route") else "errors"] += 1
        s["fallback_calls"] += bool(r.fallbacks)
        s["fallbacks"] += r.fallbacks or 0
        s["usage_calls"] += r.input_tokens is not None
        s["input_tokens"] += r.input_tokens or 0
        s["output_tokens"] += r.output_tokens or 0
        s["cached_input_tokens"] += r.cached_input_tokens or 0
        s["priced_calls"] += r.cost_usd is not None
        s["cost_e10"] += units(r.cost_usd)
        s["unpriced_calls"] += r.status in ("ok", "partial") and r.cost_usd is None
        s["compared_calls"] += both
        s["compared_cost_e10"] += units(r.cost_usd) if both else 0
        s["baseline_e10"] += units(r.baseline_cost_usd) if both else 0
    return dict(out)


def history(n: int, seed: int) -> tuple[list[ReceiptRecord], list[ReceiptRecord]]:
    """What is written, in order (some started first, some finals written twice), and the stored finals."""
    rnd = random.Random(seed)
    writes, final = [], {}
    for i in range(n):
        at = H0 + rnd.uniform(0, 60 * 3600)  # three UTC days
        r = rec(
            i,
            at,
            tenant=rnd.choice([None, "acme", "globex"]),
            workload=rnd.choice(["support", "search"]),
            fingerprint=rnd.choice(["fp-1", "fp-2", None]),
            deployment=rnd.choice(["a/cheap", "b/dear", None]),
            decision_hash=(h := rnd.choice([None, *sorted(BLOBS)])),
            decision_blob=BLOBS.get(h or ""),
            status=rnd.choice(["ok", "ok", "ok", "partial", "error", "no_route"]),
            cost_usd=rnd.choice([None, round(rnd.uniform(0, 0.02), 10)]),
            baseline_cost_usd=rnd.choice([None, round(rnd.uniform(0, 0.05), 10)]),
            input_tokens=rnd.choice([None, rnd.randrange(5000)]),
            output_tokens=rnd.randrange(900),
            cached_input_tokens=rnd.randrange(50),
            fallbacks=rnd.choice([None, 0, 0, 1, 2]),
        )
        # A final written twice: the first stands, the second changes no sum.
        first = dataclasses.replace(r, cost_usd=0.5, fallbacks=7, workload="other")
        twice = rnd.random() < 0.1
        if rnd.random() < 0.3:  # the started record holds what its final will (the call's workload, ...)
            stands = first if twice else r
            writes.append(dataclasses.replace(stands, status="started", cost_usd=None, deployment=None))
        final[r.request_id] = r
        if twice:
            writes.append(first)
            final[r.request_id] = first
        writes.append(r)
    return writes, list(final.values())


@pytest.mark.parametrize("by", ["workload", "fingerprint", "deployment", "tenant", "day"])
async def test_rollup_rows_equal_sums_recomputed_from_the_records(backend: Backend, by: str) -> None:
    writes, final = history(400, seed=len(by))
    async with backend.make() as store:
        for r in writes[:150]:  # some one by one, the rest in group commits
            await store.write(r)
        await asyncio.gather(*(store.write(r) for r in writes[150:]))
        periods = [
            (H0, H0 + 7 * 3600),  # whole hours
            (H0 + 1234.5, H0 + 5 * 3600 + 17.25),  # edges inside hours
            (H0 + 1800, H0 + 2700),  # inside one hour
            (H0 + 3600 - 0.001, H0 + 3 * 3600 + 0.001),
            (H0 - 86400, H0 + 86400),
            (H0 + 1234.5, H0 + 50 * 3600 + 17.25),  # edge hours, whole hours of edge days, a whole day
            (H0 + 23 * 3600 + 1, H0 + 25 * 3600 - 1),  # two edge hours on two days, nothing between
            (H0 + 2 * 3600, H0 + 48 * 3600),
        ]
        for since, until in periods:
            rows = await store.rollup_rows([by], since, until)
            got = {(r[by], r["deployment"], r["decision_hash"], r["catalog_version"]): r for r in rows}
            want = expected(final, by, since, until)
            assert set(got) == set(want), (since, until)
            for key, sums in want.items():
                assert {v: got[key][v] for v in VALUES} == sums, (since, until, key)


async def test_rollup_rows_filter_by_tenant_and_workload(backend: Backend) -> None:
    records = [
        rec(1, H0 + 10, tenant="acme"),
        rec(2, H0 + 4000, tenant="acme", workload="search"),
        rec(3, H0 + 8000, tenant="globex"),
        rec(4, H0 + 9000),
    ]
    async with backend.make() as store:
        await asyncio.gather(*(store.write(r) for r in records))
        rows = await store.rollup_rows(["tenant"], H0, H0 + 86400, tenant="acme", workload="support")
        assert [(r["tenant"], r["calls"]) for r in rows] == [("acme", 1)]
        rows = await store.rollup_rows(["tenant"], H0, H0 + 86400)
        assert sorted((r["tenant"] or "", r["calls"]) for r in rows) == [("", 1), ("acme", 2), ("globex", 1)]
        with pytest.raises(ValueError, match="by: 'colour'"):
            await store.rollup_rows(["colour"], H0, H0 + 1)


async def test_spend_since_sums_committed_cost_of_final_receipts(backend: Backend) -> None:
    writes, final = history(300, seed=7)
    async with backend.make() as store:
        await asyncio.gather(*(store.write(r) for r in writes))
        for since in (
            H0 - 5,
            H0,
            H0 + 1234.5,
            H0 + 3 * 3600,
            H0 + 30.5 * 3600,
            H0 + 47 * 3600,
            H0 + 99 * 3600,
        ):
            for workload, tenant in ((None, None), ("support", None), (None, "acme"), ("search", "globex")):
                want = sum(
                    (
                        Decimal(repr(r.cost_usd))
                        for r in final
                        if r.created_at >= since
                        and r.cost_usd is not None
                        and workload in (None, r.workload)
                        and tenant in (None, r.tenant)
                    ),
                    Decimal(0),
                )
                got = await store.spend_since(since, workload=workload, tenant=tenant)
                assert got == want, (since, workload, tenant)
        # a started record costs nothing yet; its final counts once
        r = rec(9999, H0 + 7200.5, cost_usd=1.25)
        before = await store.spend_since(H0 + 7200)
        await store.write(dataclasses.replace(r, status="started", cost_usd=None))
        assert await store.spend_since(H0 + 7200) == before
        await store.write(r)
        await store.write(r)  # the same final again (a retried commit): still once
        assert await store.spend_since(H0 + 7200) == before + Decimal("1.25")


async def test_sums_survive_reopening_and_count_receipts_from_before_the_migration(backend: Backend) -> None:
    async with backend.make() as store:
        await store.write(rec(1, H0 + 5, cost_usd=0.25))
    async with backend.make() as store:
        await store.write(rec(2, H0 + 6, cost_usd=0.5))
        assert await store.spend_since(H0) == Decimal("0.75")


async def test_decision_passers_are_extracted_once_and_kept(backend: Backend) -> None:
    decision = {
        "candidates": [
            {"deployment": "c/x", "status": "ranked", "rank": 2, "est_cost_usd": 0.5},
            {"deployment": "r/y", "status": "rejected", "est_cost_usd": 0.1},
            {"deployment": "a/z", "status": "ranked", "rank": 1, "est_cost_usd": None},
        ]
    }
    blob = orjson.dumps(decision)
    good, bad = hashlib.sha256(blob).hexdigest(), hashlib.sha256(b"[1]").hexdigest()
    async with backend.make() as store:
        await store.write(rec(1, H0, decision_hash=good, decision_blob=blob))
        await store.write(rec(2, H0, decision_hash=bad, decision_blob=b"[1]"))
        want = {good: [("a/z", None), ("c/x", 0.5)]}
        assert await store.decision_passers([good, bad, "nope"]) == want
        assert backend.count("decision_passers") == 1
        assert await store.decision_passers([good]) == want  # now read from the kept row
    assert backend.count("decision_passers") == 1


async def test_two_writers_adding_to_the_same_sums_at_once_lose_nothing(backend: Backend) -> None:
    """Two store objects (two connections, two writers) committing batches that touch the same sum rows in
    different orders: no deadlock, no lost update."""
    writes, final = history(2000, seed=3)
    a, b = backend.make(), backend.make()
    async with a, b:
        # each writer gets every other request (a request is written by one process), reversed for one of
        # them: their batches cross, on the same sum rows and the same new decisions
        mine = [r for r in writes if int(r.request_id[-6:]) % 2 == 0]
        theirs = [r for r in writes if int(r.request_id[-6:]) % 2 == 1]
        order = {r.request_id: n for n, r in enumerate(reversed(theirs))}  # requests reversed, versions not
        theirs.sort(key=lambda r: order[r.request_id])
        await asyncio.gather(*(a.write(r) for r in mine), *(b.write(r) for r in theirs))
        assert a.stats.failed == b.stats.failed == 0
        rows = await a.rollup_rows(["workload"], H0 - 86400, H0 + 86400 * 4)
    got = {(r["workload"], r["deployment"], r["decision_hash"], r["catalog_version"]): r for r in rows}
    want = expected(final, "workload", H0 - 86400, H0 + 86400 * 4)
    assert {k: {v: got[k][v] for v in VALUES} for k in got} == want


async def test_the_first_final_of_a_request_stands_inside_one_group_commit(backend: Backend) -> None:
    first = rec(1, H0 + 7200, workload="zzz", cost_usd=0.5)
    second = rec(1, H0 + 10, workload="aaa", cost_usd=0.25)  # a second final write: changes nothing
    async with backend.make() as store:
        _, link1, link2 = await asyncio.gather(
            store.write(rec(0, H0)), store.write(first), store.write(second)
        )
        [row] = await store.search(workload="zzz")
        assert row["request_id"] == "req-000001" and row["cost_usd"] == 0.5
        assert await store.search(workload="aaa") == []
        assert link1 is not None and link1 == link2  # the second write answers with the stored link
        assert await store.spend_since(H0) == Decimal("0.5012")
