"""What the receipt writer's SQLite commits cost per call, in the writer's own thread.

Strict durability writes two records per call: the `started` row (before any provider is called) and the
final one. This commits the realistic records of bench/receipts.py through `SqliteStore._commit` (the
writer's transaction: decisions, chain links, roll-up sums, chain heads) in batches, as the writer does
(batch 1: one caller alone, committed inline; batch 32: under load), and reports CPU µs per call for
started + final and for the final alone, and the WAL checkpoint's share at the writer's interval. With
``--busy``, a second Python thread spins meanwhile, as the event loop does under load: the writer then
pays for the GIL hand-offs its SQLite statements cause.

With ``--stored N`` the store first holds N receipts (committed untimed, in batches of 32): the cost of
an index insert depends on how the keys arrive once the indexes outgrow the caches. Ids are made as the
gateway makes them (``Ids``: request and trace ids lead with the time); ``--ids random`` makes them all
random, as before 2026-12-03.

    .venv/bin/python bench/store_commit.py [--n 4000] [--busy] [--stored 200000] [--ids random]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from receipts import DISTINCT_DECISIONS, make_decision, make_records

from unhardcoded.gateway.receipts import Ids
from unhardcoded.store import ReceiptRecord, SqliteStore
from unhardcoded.store.sqlite import CHECKPOINT_PAGES, wal_pages


def started(r: ReceiptRecord) -> ReceiptRecord:
    return dataclasses.replace(
        r, status="started", finished_at=None, deployment=None, cost_usd=None, baseline_cost_usd=None,
        savings_usd=None, latency_ms=None,
    )  # fmt: skip


def with_ids(records: list[ReceiptRecord], kind: str) -> list[ReceiptRecord]:
    """The records with request and trace ids made as the gateway makes them, one call per ms
    (``ordered``), or all random (``random``)."""
    now = [1_764_720_000.0]
    ids = Ids(seed=7, clock=lambda: now[0])
    out = []
    for r in records:
        now[0] += 0.001
        if kind == "random":
            request_id, trace_id = "req_" + ids.hex(12), ids.hex(16)
        else:
            request_id, trace_id = ids.request_id(), ids.trace_id()
        out.append(dataclasses.replace(r, request_id=request_id, trace_id=trace_id))
    return out


def measure(
    finals: list[ReceiptRecord], batch: int, with_started: bool, stored: Sequence[ReceiptRecord] = ()
) -> tuple[float, float]:
    """(commit µs per call, checkpoint µs per call), thread CPU time, after `stored` was committed."""

    async def run() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "r.db")
            await store.open()
            conn = store._writer  # the writer's own connection, used here from this thread alone
            assert conn is not None
            commit = checkpoint = 0.0
            pages = 0
            try:
                for i in range(0, len(stored), 32):
                    store._commit(conn, list(stored[i : i + 32]))
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                for i in range(0, len(finals), batch):
                    chunk = finals[i : i + batch]
                    # As the gateway sends them: a decision's blob goes with the first record naming it.
                    if with_started:
                        bare = [dataclasses.replace(r, decision_blob=None) for r in chunk]
                        groups = [[started(r) for r in chunk], bare]
                    else:
                        groups = [chunk]
                    for group in groups:
                        t0 = time.thread_time()
                        store._commit(conn, group)
                        commit += time.thread_time() - t0
                        pages += wal_pages(len(group))
                        if pages >= CHECKPOINT_PAGES:
                            pages = 0
                            t0 = time.thread_time()
                            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                            checkpoint += time.thread_time() - t0
            finally:
                await store.close()
            n = len(finals)
            return commit / n * 1e6, checkpoint / n * 1e6

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--busy", action="store_true", help="spin a second Python thread meanwhile")
    ap.add_argument("--stored", type=int, default=0, help="receipts already in the store (default 0)")
    ap.add_argument("--ids", choices=("ordered", "random"), default="ordered", help="how ids are made")
    args = ap.parse_args()
    decisions = [make_decision(d) for d in range(DISTINCT_DECISIONS)]
    seen: set[str | None] = set()
    records = []
    for r in with_ids(make_records(args.stored + args.n, decisions, "commit"), args.ids):
        blob = None if r.decision_hash in seen else r.decision_blob  # each blob travels once
        seen.add(r.decision_hash)
        records.append(dataclasses.replace(r, decision_blob=blob))
    stored, finals = records[: args.stored], records[args.stored :]
    if stored:  # the measured calls' decisions are in the store already
        finals = [dataclasses.replace(r, decision_blob=None) for r in finals]
    stop = threading.Event()
    if args.busy:

        def spin() -> None:
            while not stop.is_set():
                sum(range(1000))

        threading.Thread(target=spin, daemon=True).start()
    try:
        print(
            f"{len(finals):,} calls (~{len(finals[0].body):,} B bodies) after {len(stored):,} stored, "
            f"{args.ids} ids; writer CPU µs per call:"
        )
        for batch in (1, 32):
            both, ck_both = measure(finals, batch, with_started=True, stored=stored)
            final, ck_final = measure(finals, batch, with_started=False, stored=stored)
            print(
                f"  batch {batch:>2}: started + final {both:6.1f} (+ checkpoints {ck_both:5.1f}), "
                f"final alone {final:6.1f} (+ {ck_final:5.1f}): the started row costs {both - final:5.1f}"
            )
    finally:
        stop.set()


if __name__ == "__main__":
    main()
