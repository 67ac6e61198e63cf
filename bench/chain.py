"""What the tamper-evident chain and the writer's roll-up sums cost per receipt, in the writer.

Times, on the same realistic records bench/receipts.py writes, the two pure steps the group-commit writer
adds per final receipt (store/plan.py): linking it into its tenant's chain (`chain.link_all`: the RFC 8785
row hash, the body hash, the entry hash) and adding its sums (`sums.batch_sums`), against the whole
commit of a batch of the same records to a SQLite file in the same run. Best of several repeats, so a
busy machine inflates it less.

    .venv/bin/python bench/chain.py [--n 5000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
import timeit
from pathlib import Path

from receipts import DISTINCT_DECISIONS, make_decision, make_records

from unhardcoded.store import ReceiptRecord, SqliteStore, chain, sums


def commit_us(records: list[ReceiptRecord], repeat: int) -> float:
    """µs per receipt of writing `records` through a SQLite store (strict, group commit)."""

    async def once() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            async with SqliteStore(Path(tmp) / "r.db") as store:
                t0 = time.process_time()
                await asyncio.gather(*(store.write(r) for r in records))
                return (time.process_time() - t0) / len(records) * 1e6

    return min(asyncio.run(once()) for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    decisions = [make_decision(d) for d in range(DISTINCT_DECISIONS)]
    seen: set[str | None] = set()
    records = []
    for i, r in enumerate(make_records(args.n, decisions, "chain")):
        # Each decision's blob travels once, as the gateway sends it (known_decision).
        blob = None if r.decision_hash in seen else r.decision_blob
        seen.add(r.decision_hash)
        records.append(dataclasses.replace(r, tenant=f"t{i % 3}", decision_blob=blob))
    n, rep = len(records), args.repeat
    link = min(timeit.repeat(lambda: chain.link_all(records, {}), number=1, repeat=rep)) / n * 1e6
    add = min(timeit.repeat(lambda: sums.batch_sums(records), number=1, repeat=rep)) / n * 1e6
    whole = commit_us(records, max(3, rep // 2))
    print(f"{n:,} receipts (~{len(records[0].body):,} B bodies, 3 tenants), best of {rep}:")
    print(f"  chain link (row + body + entry hash): {link:6.1f} µs/receipt")
    print(f"  roll-up sums (per batch, by key):     {add:6.1f} µs/receipt")
    print(f"  whole strict write, SQLite (CPU):     {whole:6.1f} µs/receipt  "
          f"(chain {link / whole:.0%} of it, sums {add / whole:.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
