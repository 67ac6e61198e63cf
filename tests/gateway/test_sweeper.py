"""The sweeper (gateway/sweeper.py): a call lost in flight ends as an `incomplete` receipt; a live call,
here or in a sibling worker, is never touched. A lost call is made the way a crash makes one: the task
running it is cancelled after its `started` record was committed, so nothing writes its final record."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jsonschema

from tests.gateway.scripted import Answer, Rig
from unhardcoded.gateway.receipt_schema import receipt_schema
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.sweeper import INCOMPLETE, Sweeper

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


async def lost_call(rig: Rig, tenant: str | None = None) -> str:
    """A call whose process 'dies' while the provider thinks: its started record stays."""
    rig.transport.push("a", Answer(delay_s=60))
    before = len(rig.transport.seen)
    req = ChatRequest.parse(BODY, {}, tenant=tenant)
    task = asyncio.create_task(rig.gw.chat(req))
    while len(rig.transport.seen) == before:  # the started record is committed before the provider call
        await asyncio.sleep(0.005)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = await rig.gw.search(status="started")
    return str(rows[0]["request_id"])


def sweeper(rig: Rig, older_than_s: float = 60.0) -> Sweeper:
    return Sweeper(rig.gw._store, older_than_s=older_than_s, every_s=1.0, metrics=rig.gw._metrics)


async def test_a_lost_call_becomes_incomplete_and_counts(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await lost_call(rig, tenant="acme")
        started = await rig.gw.receipt(rid)
        assert started is not None and started["status"] == "started"
        s = sweeper(rig)
        assert await s.sweep(now=time.time() + 61) == 1
        r = await rig.gw.receipt(rid)
        assert r is not None
        jsonschema.validate(r, receipt_schema())
        assert (r["status"], r["outcome"]["status"]) == (INCOMPLETE, INCOMPLETE)
        assert r["outcome"]["error"]["error_class"] == INCOMPLETE
        assert "lost this call" in r["outcome"]["error"]["message"] and r["explanation"]
        assert r["tenant"] == "acme" and r["request_id"] == rid
        assert r["decision_hash"] == started["decision_hash"] and r["candidates"] == started["candidates"]
        (row,) = await rig.gw.search(status=INCOMPLETE)
        assert row["request_id"] == rid and row["finished_at"] is not None
        assert row["tenant"] == "acme" and row["status"] == INCOMPLETE
        day = await rig.gw.rollup({"by": "tenant", "since": "1d"})
        assert _calls(day, "acme") == 1  # a final receipt: it counts in the sums
        assert await s.sweep(now=time.time() + 62) == 0  # done once
        assert 'unhardcoded_calls_total{status="incomplete"' in rig.gw.metrics_text()


def _calls(rollup: dict[str, Any], tenant: str) -> int:
    return sum(int(g["calls"]) for g in rollup["groups"] if g["tenant"] == tenant)


async def test_a_live_call_is_never_swept(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(delay_s=0.3))
        task = asyncio.create_task(rig.gw.chat(ChatRequest.parse(BODY, {})))
        while not rig.transport.seen:
            await asyncio.sleep(0.005)
        s = sweeper(rig)
        # Younger than the call budget plus the grace (60 s): it may be running here or in a sibling worker.
        assert await s.sweep(now=time.time() + 30) == 0
        reply = await task
        rid = reply.headers["x-unhardcoded-request-id"]
        r = await rig.gw.receipt(rid)
        assert r is not None and r["status"] == "ok"
        assert await s.sweep(now=time.time() + 3600) == 0  # final receipts are not the sweeper's


async def test_the_gateway_sweeps_at_startup_by_itself(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await lost_call(rig)
    # A restart with a tiny budget and no grace: the startup sweep finds the lost call at once.
    async with Rig(tmp_path, call_timeout_s=0.01, sweep_grace_s=0) as rig:
        deadline = time.monotonic() + 20
        while (await rig.gw.receipt(rid) or {}).get("status") != INCOMPLETE:
            assert time.monotonic() < deadline, "the startup sweep never ran"
            await asyncio.sleep(0.02)


async def test_every_page_of_lost_calls_is_swept(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rids = {await lost_call(rig) for _ in range(3)}
        s = sweeper(rig)
        import unhardcoded.gateway.sweeper as mod

        page, mod._PAGE = mod._PAGE, 2  # three lost calls over two pages
        try:
            assert await s.sweep(now=time.time() + 61) == 3
        finally:
            mod._PAGE = page
        rows = await rig.gw.search(status=INCOMPLETE)
        assert {r["request_id"] for r in rows} == rids
        assert await rig.gw.search(status="started") == []


async def test_two_workers_sweeping_the_same_call_finish_it_once(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await lost_call(rig, tenant="acme")
        first, second = sweeper(rig), sweeper(rig)
        later = time.time() + 61
        done = await asyncio.gather(first.sweep(now=later), second.sweep(now=later))
        assert sum(done) >= 1
        r = await rig.gw.receipt(rid)
        assert r is not None and r["status"] == INCOMPLETE
        assert [row["request_id"] for row in await rig.gw.search()] == [rid]
        day = await rig.gw.rollup({"by": "tenant", "since": "1d"})
        assert _calls(day, "acme") == 1  # counted once, whichever sweeper's write stood
