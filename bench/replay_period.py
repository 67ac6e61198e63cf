"""Replay benchmark: receipts replayed per second by `unhardcoded replay --fingerprint F --since ...`.

Writes N receipts under one policy into a fresh SQLite store through the store's own write path (each
with a real decision over the bundled catalog, ~700 deployments), then times `replay_period` against
the same catalog: every distinct decision is rebuilt as then (catalog from the stored JSON, compared by
content hash) and decided now. Two histories: D distinct decisions (request sizes) shared by the N calls,
the usual shape, and N distinct decisions (the worst case: nothing to share).

    .venv/bin/python bench/replay_period.py [--receipts N] [--distinct D] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from unhardcoded.catalog.load import build_catalog
from unhardcoded.policy.memo import DecisionMemo
from unhardcoded.policy.parse import parse_policy
from unhardcoded.policy.request import RequestFeatures
from unhardcoded.review.period import replay_period
from unhardcoded.review.rebuild import decision_hash
from unhardcoded.store import ReceiptRecord, SqliteStore

POLICY = {
    "workload": "bench",
    "rules": [
        {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 40},
        {"id": "eu-only", "field": "geography", "op": "==", "value": "eu"},
        {"id": "tools", "field": "capabilities", "op": "has", "value": "tools"},
    ],
    "baseline": "openai/gpt-4.1",
}


async def fill(path: Path, n: int, distinct: int) -> str:
    catalog = build_catalog()
    policy = parse_policy(POLICY, catalog.fields, name=None)
    memo = DecisionMemo(distinct + 1)
    store = SqliteStore(path, durability="strict")
    await store.open()
    await store.put_catalog(catalog.version, orjson.dumps(catalog.to_dict()))
    t0 = time.time() - n
    for i in range(n):
        k = i % distinct
        features = RequestFeatures(
            est_input_tokens=100 + 10 * k, est_output_tokens=512, max_output_tokens=None
        )
        d = memo.decide(policy, catalog, features)
        digest, doc = decision_hash(d)
        rid = f"req_{i:024x}"
        body = {
            "request_id": rid,
            "trace_id": f"{i:032x}",
            "created_at": None,
            "status": "ok",
            "policy": {"fingerprint": policy.fingerprint, "sha256": policy.sha256, "workload": "bench"},
            "catalog_version": catalog.version,
            "features": features.to_dict(),
            "decision_hash": digest,
            "attempts": [],
            "outcome": {"status": "ok", "deployment": d.plan[0] if d.plan else None},
        }
        await store.write(
            ReceiptRecord(
                request_id=rid,
                trace_id=f"{i:032x}",
                span_id=f"{i:016x}",
                parent_span_id=None,
                workflow_id=None,
                workflow_node=None,
                tenant=None,
                workload="bench",
                status="ok",
                created_at=t0 + i,
                finished_at=t0 + i,
                deployment=d.plan[0] if d.plan else None,
                fingerprint=policy.fingerprint,
                policy_sha256=policy.sha256,
                catalog_version=catalog.version,
                decision_hash=digest,
                decision_blob=None if store.known_decision(digest) else orjson.dumps(doc),
                cost_usd=None,
                baseline_cost_usd=None,
                savings_usd=None,
                latency_ms=None,
                body=orjson.dumps(body),
            )
        )
    await store.close()
    return policy.fingerprint


async def measure(path: Path, fingerprint: str) -> dict[str, Any]:
    # Today's catalog: the bundled one with one price cut, so "now" decides afresh and diffs in full.
    raw = build_catalog().to_dict()
    cut = next(d for d in raw["deployments"] if d.get("geography") == "eu")
    catalog = build_catalog(overlay=[{"id": cut["id"], "price_input_per_mtok": 0.0001}])
    store = SqliteStore(path)
    await store.open()
    cpu0 = time.process_time()
    try:
        out = await replay_period(store, fingerprint=fingerprint, since=None, catalog_now=catalog)
    finally:
        await store.close()
    cpu = time.process_time() - cpu0  # this process's CPU: the machine is shared, wall time is not ours
    assert out["identical"], out["mismatches"] or out["errors"]
    res = {k: out[k] for k in ("calls", "distinct_decisions", "seconds", "receipts_per_s")}
    res["cpu_seconds"] = round(cpu, 3)
    res["receipts_per_cpu_s"] = round(out["calls"] / cpu, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=5000)
    ap.add_argument("--distinct", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, distinct in (("shared", args.distinct), ("all distinct", args.receipts)):
            path = Path(tmp) / f"{distinct}.db"
            fp = asyncio.run(fill(path, args.receipts, distinct))
            results[label] = asyncio.run(measure(path, fp))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for label, r in results.items():
        print(
            f"{label:>13}: {r['calls']} receipts, {r['distinct_decisions']} distinct decisions, "
            f"{r['seconds']:.2f}s -> {r['receipts_per_s']:.0f} receipts/s "
            f"({r['cpu_seconds']:.2f} CPU s -> {r['receipts_per_cpu_s']:.0f} receipts per CPU second)"
        )


if __name__ == "__main__":
    main()
