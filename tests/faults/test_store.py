"""The receipt store failing (issue 10 item 3): a full or read-only disk under SQLite (a size-capped tmpfs,
or an ext4 loop mount for read-only files, mounted by the test: root only, skipped elsewhere), and a private
PostgreSQL server stopped mid-load.

What must hold: in strict a call whose `started` record cannot be written is refused (503 + Retry-After)
before any provider is called; a call in flight keeps at least its `started` record, which the sweeper
later finishes as `incomplete`; `fast` counts what it dropped; the gateway recovers by itself once the store
is back.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults.harness import Q60, FaultHarness
from tests.faults.storefail import SmallDisk, private_postgres, small_disk
from unhardcoded.testing.script import Step

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "policy": Q60}
# Breaking and mending the disk, by name: (break, mend). Read-only is the files made immutable on ext4
# (storefail.py says why not a read-only remount: the kernel refuses it while SQLite has the files open).
HOW: dict[str, tuple[Callable[[SmallDisk], None], Callable[[SmallDisk], None]]] = {
    "full": (SmallDisk.fill, SmallDisk.free),
    "read-only": (SmallDisk.read_only, SmallDisk.writable),
}


@pytest.fixture
def disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SmallDisk]:
    how = getattr(getattr(request.node, "callspec", None), "params", {}).get("how")
    with small_disk(tmp_path, ext4=how == "read-only") as d:
        yield d


def on_disk(tmp_path: Path, disk: SmallDisk, durability: str = "strict", **kw: Any) -> FaultHarness:
    store = {"store": f"sqlite:///{disk.path / 'receipts.db'}"}
    return FaultHarness.start_faulty(tmp_path, relay=False, config=store, durability=durability, **kw)


def settled(h: FaultHarness) -> None:
    """Wait until the store has nothing queued (fast writes behind)."""
    deadline = time.time() + 10
    while h.get("/healthz")[1]["receipts_pending"] and time.time() < deadline:
        time.sleep(0.02)


def metric(h: FaultHarness, prefix: str) -> list[str]:
    return [line for line in h.get("/metrics")[1].splitlines() if line.startswith(prefix)]


# -- SQLite: a full or read-only disk ----------------------------------------------------------------


@pytest.mark.parametrize("how", sorted(HOW))
def test_strict_store_failure_calls_no_provider_and_recovers(
    tmp_path: Path, disk: SmallDisk, how: str
) -> None:
    h = on_disk(tmp_path, disk)
    try:
        assert h.post("/v1/chat/completions", BODY)[0] == 200
        seen = len(h.alpha.seen) + len(h.beta.seen)
        HOW[how][0](disk)
        status, _, body = h.post("/v1/chat/completions", BODY)
        assert status >= 500 and body["error"]["message"]  # an OpenAI-shaped error, never an answer
        assert len(h.alpha.seen) + len(h.beta.seen) == seen  # no provider was called
        assert h.get("/healthz")[0] == 200
        HOW[how][1](disk)
        status, headers, _ = h.post("/v1/chat/completions", BODY)  # recovered by itself
        assert status == 200
        assert h.receipt(headers["x-unhardcoded-request-id"])["status"] == "ok"
    finally:
        HOW[how][1](disk)
        h.stop()


@pytest.mark.parametrize("how", sorted(HOW))
def test_strict_refuses_with_503_and_retry_after(tmp_path: Path, disk: SmallDisk, how: str) -> None:
    h = on_disk(tmp_path, disk)
    try:
        HOW[how][0](disk)
        status, headers, body = h.post("/v1/chat/completions", BODY)
        assert status == 503, body
        assert int({k.lower(): v for k, v in headers.items()}.get("retry-after", "0")) >= 1
        assert not h.alpha.seen and not h.beta.seen
    finally:
        HOW[how][1](disk)
        h.stop()


def _in_flight_while_the_disk_fills(tmp_path: Path, disk: SmallDisk, mend_after_s: float | None) -> Any:
    """One call whose provider answers after 2 s; the disk fills meanwhile (and is mended later)."""
    h = on_disk(tmp_path, disk)
    h.alpha.push(Step(delay_s=2.0))
    out: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: out.update(r=h.post("/v1/chat/completions", BODY)))
    caller.start()
    deadline = time.time() + 5
    while not h.alpha.seen and time.time() < deadline:  # the started record is written: now break it
        time.sleep(0.01)
    disk.fill()
    if mend_after_s is not None:
        threading.Timer(mend_after_s, disk.free).start()
    caller.join(15)
    disk.free()
    return h, out["r"]


def test_a_call_in_flight_when_the_store_fails_keeps_its_started_record(
    tmp_path: Path, disk: SmallDisk
) -> None:
    h, (status, headers, body) = _in_flight_while_the_disk_fills(tmp_path, disk, None)
    try:
        # The product names a call whose final record never landed by its `started` record.
        status2, headers2, _ = h.post("/v1/chat/completions", BODY)
        assert status2 == 200
        ids = _receipt_ids(h)
        assert len(ids) == 2  # the call in flight left its record; the next call its own
        statuses = sorted(h.receipt(rid)["status"] for rid in ids)
        assert statuses in (["ok", "started"], ["ok", "ok"])
        assert status in (200, 500, 503)
        # Once older than the call budget plus the grace, the sweeper finishes it: `incomplete`.
        h.run(h.gateway._sweeper.sweep(now=time.time() + 3600))
        statuses = sorted(h.receipt(rid)["status"] for rid in ids)
        assert statuses in (["incomplete", "ok"], ["ok", "ok"])
    finally:
        h.stop()


def test_a_call_in_flight_finishes_with_its_receipt_once_the_store_is_back(
    tmp_path: Path, disk: SmallDisk
) -> None:
    h, (status, headers, body) = _in_flight_while_the_disk_fills(tmp_path, disk, 0.5)
    try:
        assert status == 200, body
        assert h.receipt(headers["x-unhardcoded-request-id"])["status"] == "ok"
    finally:
        h.stop()


def _receipt_ids(h: FaultHarness) -> list[str]:
    import sqlite3

    store = h.gateway._store
    with sqlite3.connect(store.path) as conn:
        return [row[0] for row in conn.execute("SELECT request_id FROM receipts")]


def test_fast_answers_while_the_store_fails_and_recovers(tmp_path: Path, disk: SmallDisk) -> None:
    h = on_disk(tmp_path, disk, durability="fast")
    try:
        assert h.post("/v1/chat/completions", BODY)[0] == 200
        settled(h)
        disk.fill()
        for _ in range(3):  # fast answers whatever the store does
            assert h.post("/v1/chat/completions", BODY)[0] == 200
        settled(h)
        assert h.gateway._store.stats.failed >= 3
        disk.free()
        status, headers, _ = h.post("/v1/chat/completions", BODY)
        assert status == 200
        settled(h)
        assert h.receipt(headers["x-unhardcoded-request-id"])["status"] == "ok"
    finally:
        disk.free()
        h.stop()


def test_fast_counts_what_it_dropped_on_metrics_and_healthz(tmp_path: Path, disk: SmallDisk) -> None:
    h = on_disk(tmp_path, disk, durability="fast")
    try:
        settled(h)
        disk.fill()
        for _ in range(3):
            assert h.post("/v1/chat/completions", BODY)[0] == 200
        settled(h)
        health = h.get("/healthz")[1]
        dropped = [v for k, v in health.items() if "dropped" in k or "failed" in k or "lost" in k]
        assert dropped and dropped[0] >= 3, health
        lines = [x for x in h.get("/metrics")[1].splitlines() if "receipts" in x and not x.startswith("#")]
        assert any(
            ("dropped" in x or "failed" in x or "lost" in x) and float(x.split()[-1]) >= 3 for x in lines
        )
    finally:
        disk.free()
        h.stop()


# -- PostgreSQL stopped mid-load ---------------------------------------------------------------------


@pytest.mark.slow
def test_postgres_stopped_mid_load(tmp_path: Path) -> None:
    with private_postgres() as pg:
        h = FaultHarness.start_faulty(tmp_path, relay=False, config={"store": pg.url})
        stop_load = threading.Event()
        results: list[tuple[int, dict[str, str], Any]] = []

        def caller() -> None:
            # Bounded: a gateway that never recovers must fail this test, not fill the memory.
            while not stop_load.is_set() and len(results) < 20_000:
                results.append(h.post("/v1/chat/completions", BODY))

        try:
            pool = concurrent.futures.ThreadPoolExecutor(6)
            try:
                for _ in range(6):
                    pool.submit(caller)
                _wait_for(lambda: len(results) >= 30)
                pg.stop("fast")
                n_down = len(results)
                _wait_for(lambda: len(results) >= n_down + 20)  # calls go on, failing cleanly
                down = results[n_down + 6 :]  # past the calls that were in flight at the stop
                pg.start()
                n_up = len(results)
                _wait_for(lambda: sum(1 for r in results[n_up:] if r[0] == 200) >= 20)  # recovered
            finally:
                stop_load.set()  # before the pool's shutdown waits for the callers
                pool.shutdown(wait=True)
            assert all(r[0] >= 500 and r[2]["error"]["message"] for r in down)
            assert h.get("/healthz")[0] == 200
            ok = {r[1]["x-unhardcoded-request-id"] for r in results if r[0] == 200}
            assert len(ok) >= 50
            # strict: every answered call has its final receipt. Read on a connection of our own: the
            # gateway's pooled readers may still hold connections from before the restart (see below).
            with psycopg.connect(pg.url) as conn:
                rows = dict(conn.execute("SELECT request_id, status FROM receipts").fetchall())
            assert {rid: rows.get(rid) for rid in ok} == dict.fromkeys(ok, "ok")
        finally:
            stop_load.set()
            h.stop()


@pytest.mark.slow
def test_postgres_down_is_a_503_with_retry_after(tmp_path: Path) -> None:
    with private_postgres() as pg:
        h = FaultHarness.start_faulty(tmp_path, relay=False, config={"store": pg.url})
        try:
            assert h.post("/v1/chat/completions", BODY)[0] == 200
            pg.stop("fast")
            seen = len(h.alpha.seen)
            status, headers, body = h.post("/v1/chat/completions", BODY)
            assert len(h.alpha.seen) == seen
            assert (
                status == 503 and int({k.lower(): v for k, v in headers.items()}.get("retry-after", "0")) >= 1
            ), (status, body)
        finally:
            h.stop()


@pytest.mark.slow
def test_postgres_reads_recover_after_a_restart(tmp_path: Path) -> None:
    with private_postgres() as pg:
        h = FaultHarness.start_faulty(tmp_path, relay=False, config={"store": pg.url})
        try:
            status, headers, _ = h.post("/v1/chat/completions", BODY)
            rid = headers["x-unhardcoded-request-id"]
            assert h.get(f"/x/receipts/{rid}")[0] == 200  # a reader connection now sits in the pool
            pg.stop("fast")
            pg.start()
            assert h.get(f"/x/receipts/{rid}")[0] == 200
        finally:
            h.stop()


def _wait_for(cond: Callable[[], bool], limit_s: float = 30) -> None:
    deadline = time.time() + limit_s
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)
