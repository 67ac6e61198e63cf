"""What the receipt writer's SQLite commits cost per call, in the writer's own thread.

Strict durability writes two records per call: the `started` row (before any provider is called) and the
final one. This commits the realistic records of bench/receipts.py through `SqliteStore._commit` (the
writer's transaction: decisions, chain links, roll-up sums, chain heads) in batches, as the writer does
(batch 1: one caller alone, committed inline; batch 32: under load), and reports CPU µs per call for
started + final and for the final alone, and the WAL checkpoint's share at the writer's interval. With
``--busy``, a second Python thread spins meanwhile, as the event loop does under load: the writer then
pays for the GIL hand-offs its SQLite statements cause.

    .venv/bin/python bench/store_commit.py [--n 4000] [--busy]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import threading
import time
from pathlib import Path

from receipts import DISTINCT_DECISIONS, make_decision, make_records

from unhardcoded.store import ReceiptRecord, SqliteStore
from unhardcoded.store.sqlite import CHECKPOINT_PAGES, wal_pages


def started(r: ReceiptRecord) -> ReceiptRecord:
    return dataclasses.replace(
        r, status="started", finished_at=None, deployment=None, cost_usd=None, baseline_cost_usd=None,
        savings_usd=None, latency_ms=None,
    )  # fmt: skip


def measure(finals: list[ReceiptRecord], batch: int, with_started: bool) -> tuple[float, float]:
    """(commit µs per call, checkpoint µs per call), thread CPU time."""

    async def run() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "r.db")
            await store.open()
            conn = store._writer  # the writer's own connection, used here from this thread alone
            assert conn is not None
            commit = checkpoint = 0.0
            pages = 0
            try:
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
    args = ap.parse_args()
    decisions = [make_decision(d) for d in range(DISTINCT_DECISIONS)]
    seen: set[str | None] = set()
    finals = []
    for r in make_records(args.n, decisions, "commit"):
        blob = None if r.decision_hash in seen else r.decision_blob  # each blob travels once
        seen.add(r.decision_hash)
        finals.append(dataclasses.replace(r, decision_blob=blob))
    stop = threading.Event()
    if args.busy:

        def spin() -> None:
            while not stop.is_set():
                sum(range(1000))

        threading.Thread(target=spin, daemon=True).start()
    try:
        print(f"{len(finals):,} calls (~{len(finals[0].body):,} B bodies), writer CPU µs per call:")
        for batch in (1, 32):
            both, ck_both = measure(finals, batch, with_started=True)
            final, ck_final = measure(finals, batch, with_started=False)
            print(
                f"  batch {batch:>2}: started + final {both:6.1f} (+ checkpoints {ck_both:5.1f}), "
                f"final alone {final:6.1f} (+ {ck_final:5.1f}): the started row costs {both - final:5.1f}"
            )
    finally:
        stop.set()


if __name__ == "__main__":
    main()
