"""Receipt store throughput: how many receipts a second the group-commit writer commits.

Realistic shapes: ~2 KB receipt bodies, ~150 KB decision blobs shared by most records (20 distinct
decisions), the caller passing the blob only when `known_decision` says the writer lacks it, as the
gateway does. Strict durability at several concurrencies (each write awaits its commit), then fast
(written behind; timed until `close()` has flushed everything). Each point starts from an empty store.

    .venv/bin/python bench/receipts.py                          # SQLite, 20,000 receipts a point
    .venv/bin/python bench/receipts.py --backend postgres --n 10000
    .venv/bin/python bench/receipts.py --processes 2            # also: 2 processes on one SQLite file
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from unhardcoded.store import ReceiptRecord, ReceiptStore, SqliteStore

DISTINCT_DECISIONS = 20
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def make_decision(n: int, size: int = 150_000) -> tuple[bytes, str]:
    """About `size` bytes of decision: hundreds of candidates with their fates, as the engine writes."""
    candidates: list[dict[str, Any]] = []
    blob = b""
    i = 0
    while len(blob) < size:
        for _ in range(50):
            candidates.append(
                {
                    "deployment": f"provider{i % 17}/model-{i}@region-{n % 5}",
                    "status": "rejected" if i % 4 else "ranked",
                    "rejected_by": [
                        {
                            "rule_id": "quality-floor",
                            "source": "policy",
                            "field": "bench_intelligence",
                            "op": ">=",
                            "expected": 55,
                            "actual": 40 + i % 30,
                        },
                    ],
                    "rank": {
                        "position": i,
                        "keys": {"est_cost_usd": 0.0001 * i, "bench_intelligence": 50 + i % 40},
                    },
                    "est_cost_usd": 0.0001 * i,
                }
            )
            i += 1
        blob = orjson.dumps({"policy": {"workload": f"w{n}"}, "candidates": candidates, "n": n})
    return blob, hashlib.sha256(blob).hexdigest()


def make_body(i: int, request_id: str) -> bytes:
    """About 2 KB: ids, request features, attempts, outcome, explanation."""
    body = {
        "request_id": request_id,
        "trace_id": uuid.UUID(int=i).hex,
        "span_id": f"{i:016x}",
        "workflow": {"id": None, "node": None},
        "features": {"input_tokens": 812, "max_output_tokens": 512, "tools": True, "stream": False},
        "attempts": [
            {
                "deployment": "openai/gpt-4.1-mini",
                "start": 1_760_000_000.0 + i,
                "latency_ms": 480.2,
                "status": 429,
                "error_class": "rate_limited",
                "fell_back": True,
            },
            {
                "deployment": "google/gemini-2.5-flash@europe-west4",
                "start": 1_760_000_000.5 + i,
                "latency_ms": 612.9,
                "ttft_ms": 201.4,
                "status": 200,
                "error_class": None,
                "fell_back": False,
            },
        ],
        "outcome": {
            "deployment": "google/gemini-2.5-flash@europe-west4",
            "model": "gemini-2.5-flash",
            "usage": {"input_tokens": 812, "output_tokens": 233, "cached_tokens": 0},
            "cost_usd": 0.000823,
            "baseline": {"deployment": "openai/gpt-4.1", "cost_usd": 0.003488},
            "savings_usd": 0.002665,
            "latency_ms": 1093.1,
            "status": "ok",
        },
        "explanation": "gemini-2.5-flash won: cheapest of 7 that passed 4 rules; 31 rejected. " * 8,
        "pad": "x" * 600,
    }
    return orjson.dumps(body)


def make_records(n: int, decisions: list[tuple[bytes, str]], tag: str) -> list[ReceiptRecord]:
    out = []
    for i in range(n):
        request_id = f"{tag}-{i:08d}"
        # Most traffic shares a few decisions: the first five take 80 % of the calls.
        d = i % 5 if i % 5 else (i // 5) % DISTINCT_DECISIONS
        blob, digest = decisions[d]
        out.append(
            ReceiptRecord(
                request_id=request_id,
                trace_id=uuid.UUID(int=i).hex,
                span_id=f"{i:016x}",
                parent_span_id=None,
                workflow_id=None,
                workflow_node=None,
                tenant="acme",
                workload=f"w{i % 4}",
                status="ok",
                created_at=1_760_000_000.0 + i / 1000,
                finished_at=1_760_000_001.0 + i / 1000,
                deployment="google/gemini-2.5-flash@europe-west4",
                fingerprint=f"fp{d}",
                policy_sha256="ab" * 32,
                catalog_version="cd" * 32,
                decision_hash=digest,
                decision_blob=blob,
                cost_usd=0.000823,
                baseline_cost_usd=0.003488,
                savings_usd=0.002665,
                latency_ms=1093.1,
                body=make_body(i, request_id),
            )
        )
    return out


def without_known_blob(store: ReceiptStore, rec: ReceiptRecord) -> ReceiptRecord:
    if rec.decision_hash is not None and store.known_decision(rec.decision_hash):
        return dataclasses.replace(rec, decision_blob=None)
    return rec


async def run_point(store: ReceiptStore, records: list[ReceiptRecord], concurrency: int) -> dict[str, Any]:
    """Write every record (strict: `concurrency` tasks; fast: one loop), close, and time it."""
    await store.open()
    latencies: list[float] = []
    it = iter(records)
    start = time.perf_counter()
    if store.durability == "strict":

        async def worker() -> None:
            for rec in it:
                t = time.perf_counter()
                await store.write(without_known_blob(store, rec))
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        accepted = time.perf_counter() - start
    else:
        for rec in it:
            await store.write(without_known_blob(store, rec))
        accepted = time.perf_counter() - start
    await store.close()
    total = time.perf_counter() - start
    latencies.sort()
    stats = store.stats
    return {
        "durability": store.durability,
        "concurrency": concurrency,
        "n": len(records),
        "committed": stats.committed,
        "lost_on_close": stats.lost_on_close,
        "batches": stats.batches,
        "receipts_per_s": len(records) / total,
        "accepted_per_s": len(records) / accepted,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
    }


def new_store(args: argparse.Namespace, workdir: Path, durability: str, name: str) -> ReceiptStore:
    if args.backend == "sqlite":
        return SqliteStore(workdir / f"{name}.db", durability=durability)
    from unhardcoded.store.postgres import PostgresStore

    return PostgresStore(args.pg_url, schema=f"uh_bench_{name}", durability=durability)


def drop_schemas(args: argparse.Namespace, names: list[str]) -> None:
    if args.backend != "postgres":
        return
    import psycopg

    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "uh_bench_{name}" CASCADE')


def process_main(path: str, n: int, tag: str, concurrency: int, out: Any) -> None:
    decisions = [make_decision(k) for k in range(DISTINCT_DECISIONS)]
    records = make_records(n, decisions, tag)
    out.put(asyncio.run(run_point(SqliteStore(path), records, concurrency)))


def run_processes(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Several gateway-like processes writing strict receipts into one SQLite file at once."""
    path = str(workdir / "shared.db")
    asyncio.run(SqliteStore(path).open())  # migrate once so the timed part is only writes
    queue: Any = multiprocessing.get_context("spawn").Queue()
    procs = [
        multiprocessing.get_context("spawn").Process(
            target=process_main, args=(path, args.n, f"p{k}", 64, queue)
        )
        for k in range(args.processes)
    ]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    # Each process times itself; the slowest bounds the aggregate rate.
    slowest = max(r["n"] / r["receipts_per_s"] for r in results)
    return {
        "processes": args.processes,
        "n": args.n * args.processes,
        "receipts_per_s": args.n * args.processes / slowest,
        "committed": sum(r["committed"] for r in results),
        "wall_s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("UNHARDCODED_TEST_PG", PG_URL))
    parser.add_argument("--n", type=int, default=20_000, help="receipts per point")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--processes", type=int, default=0, help="also run N processes on one SQLite file")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    decisions = [make_decision(k) for k in range(DISTINCT_DECISIONS)]
    sizes = [len(b) for b, _ in decisions]
    records = make_records(args.n, decisions, "r")
    body = statistics.mean(len(r.body) for r in records)
    print(
        f"{args.backend}: {args.n} receipts a point, body {body:.0f} B, "
        f"{DISTINCT_DECISIONS} decisions of {min(sizes) // 1000}-{max(sizes) // 1000} KB, loop {args.loop}"
    )
    points = [("strict", int(c)) for c in args.concurrency.split(",")] + [("fast", 1)]
    results = []
    names = []
    with tempfile.TemporaryDirectory(prefix="uh-bench-") as tmp:
        workdir = Path(tmp)
        try:
            for durability, concurrency in points:
                name = f"{durability}_{concurrency}_{uuid.uuid4().hex[:6]}"
                names.append(name)
                store = new_store(args, workdir, durability, name)
                result = asyncio.run(run_point(store, records, concurrency))
                if args.backend == "sqlite":
                    result["bytes_per_receipt"] = (workdir / f"{name}.db").stat().st_size / args.n
                results.append(result)
                assert result["committed"] == args.n and result["lost_on_close"] == 0, result
                p50 = f"{result['p50_ms']:.2f}" if result["p50_ms"] is not None else "-"
                p99 = f"{result['p99_ms']:.2f}" if result["p99_ms"] is not None else "-"
                print(
                    f"  {durability:6} c={concurrency:<4} {result['receipts_per_s']:>9,.0f} receipts/s  "
                    f"batches {result['batches']:>6} (avg {args.n / result['batches']:>6.1f})  "
                    f"write p50 {p50} ms p99 {p99} ms"
                    + (f"  accepted {result['accepted_per_s']:,.0f}/s" if durability == "fast" else "")
                )
            if args.processes and args.backend == "sqlite":
                multi = run_processes(args, workdir)
                results.append(multi)
                print(
                    f"  strict {args.processes} processes x c=64 on one file: "
                    f"{multi['receipts_per_s']:,.0f} receipts/s (committed {multi['committed']})"
                )
        finally:
            drop_schemas(args, names)
    if args.json:
        args.json.write_text(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
