"""Verify benchmark: `unhardcoded verify`'s walk (review/verify.py) over a store of N receipts.

Writes N receipts (~2 KB bodies, 3 tenants, 200 distinct stored decisions of ~20 KB) through the store's
own write path (durability fast: group commits; the writer chains every one), signs a checkpoint per
tenant every 1,000 receipts, then times `verify_store` on a freshly opened store: every row read in
sequence order, its two hashes recomputed, every decision and checkpoint checked.

    .venv/bin/python bench/verify.py [--receipts 200000] [--backend sqlite|postgres|both] [--json]
    (PostgreSQL: $UNHARDCODED_TEST_PG, default postgresql://postgres@127.0.0.1:5432/test, a fresh schema)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from unhardcoded.gateway.checkpoints import Checkpointer
from unhardcoded.gateway.signing import Signer
from unhardcoded.review.verify import verify_store
from unhardcoded.store import ReceiptRecord, open_store
from unhardcoded.store.chain_read import ChainReader

PG_URL = os.environ.get("UNHARDCODED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TENANTS = [None, "acme", "globex"]


def _decisions(n: int = 200) -> list[tuple[str, bytes]]:
    rnd = random.Random(1)
    out = []
    for k in range(n):
        doc = {
            "candidates": [
                {"deployment": f"p{i}/m{i}", "status": "rejected", "cost": rnd.random()} for i in range(250)
            ],
            "k": k,
        }
        blob = orjson.dumps(doc)
        out.append((hashlib.sha256(blob).hexdigest(), blob))
    return out


def _record(i: int, rnd: random.Random, digest: str, blob: bytes | None, at: float) -> ReceiptRecord:
    rid = f"req_{i:024x}"
    body = {
        "request_id": rid,
        "status": "ok",
        "workload": "support",
        "outcome": {"deployment": "openai/gpt-4.1-mini", "usage": {"input_tokens": 812, "output_tokens": 96}},
        "explanation": "openai/gpt-4.1-mini won: the cheapest that passed every rule. " * 20,
        "attempts": [{"n": 1, "http_status": 200, "latency_ms": 412.5}],
    }
    return ReceiptRecord(
        request_id=rid,
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        parent_span_id=None,
        workflow_id=None,
        workflow_node=None,
        tenant=rnd.choice(TENANTS),
        workload="support",
        status="ok",
        created_at=at,
        finished_at=at + 0.4,
        deployment="openai/gpt-4.1-mini",
        fingerprint="fp",
        policy_sha256="ab" * 32,
        catalog_version="cd" * 32,
        decision_hash=digest,
        decision_blob=blob,
        cost_usd=rnd.random() / 100,
        baseline_cost_usd=0.004,
        savings_usd=0.001,
        latency_ms=412.5,
        body=orjson.dumps(body),
        input_tokens=812,
        output_tokens=96,
        cached_input_tokens=0,
        fallbacks=0,
    )


async def fill(url: str, n: int, signer: Signer) -> dict[str, Any]:
    rnd = random.Random(5)
    decs = _decisions()
    store = open_store(url, durability="fast")
    await store.open()
    cps = Checkpointer(store, signer, every=1000, every_s=3600)
    sent: set[str] = set()
    t0 = time.perf_counter()
    now = time.time() - n
    for i in range(n):
        digest, blob = decs[rnd.randrange(len(decs))]
        await store.write(_record(i, rnd, digest, None if digest in sent else blob, now + i))
        sent.add(digest)
        if i % 3_000 == 2_999:
            await asyncio.sleep(0.05)  # let the writer drain
            await cps.run_once()
    await store.close()  # flushes what fast durability still held
    async with open_store(url) as again:  # type: ignore[attr-defined]
        await Checkpointer(again, signer).run_once(force=True)
    seconds = time.perf_counter() - t0
    return {"receipts": n, "write_seconds": round(seconds, 1)}


async def measure(url: str, signer: Signer) -> dict[str, Any]:
    store = open_store(url)
    await store.open()
    try:
        t0 = time.perf_counter()
        report = await verify_store(ChainReader(store), public_keys=[signer.public])
        seconds = time.perf_counter() - t0
    finally:
        await store.close()
    entries = sum(c.entries for c in report.chains)
    assert report.exit_code == 0, report.to_dict()
    return {
        "verified": entries,
        "checkpoints": sum(c.checkpoints for c in report.chains),
        "verify_seconds": round(seconds, 2),
        "verified_per_s": round(entries / seconds),
    }


async def run(backend: str, n: int) -> dict[str, Any]:
    signer = Signer.new()
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="uh-verify-"))
        url = f"sqlite:///{folder / 'receipts.db'}"
        out = {"backend": "sqlite", **await fill(url, n, signer), **await measure(url, signer)}
        out["store_mb"] = round((folder / "receipts.db").stat().st_size / 1e6)
        return out
    import psycopg
    from psycopg import sql

    schema = f"uh_bench_{uuid.uuid4().hex[:10]}"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    try:
        return {"backend": "postgres", **await fill(url, n, signer), **await measure(url, signer)}
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--receipts", type=int, default=200_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [asyncio.run(run(b, args.receipts)) for b in backends]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"{r['backend']}: {r['verified']:,} receipts ({r['checkpoints']} checkpoints) verified in "
            f"{r['verify_seconds']} s = {r['verified_per_s']:,} receipts/s "
            f"(written in {r['write_seconds']} s)"
        )


if __name__ == "__main__":
    main()
