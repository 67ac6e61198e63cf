"""What-if benchmark: receipts per minute through `unhardcoded simulate` (review/simulate.py). Target: 50,000.

Writes N receipts into a fresh SQLite store through the store's own write path, each with a real decision
over the bundled catalog (~700 deployments, a ~200 KB decision stored once per content hash) and a usage,
then times `simulate` of a stricter policy against the same catalog. D distinct request shapes (features)
are shared by the N calls, as real traffic shares prompt sizes; decisions are memoised by features.

Two stores: with the receipt's token columns filled (the store's summaries carry usage; each distinct
decision's head is read once through `ReceiptStore.decisions`), and with them left NULL (each receipt read
whole through `ReceiptStore.get`, which also parses its decision: the cost of receipts stored before the
token columns existed).

    .venv/bin/python bench/simulate.py [--receipts N] [--distinct D] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
from unhardcoded.review.money import usage_cost
from unhardcoded.review.rebuild import decision_hash
from unhardcoded.review.simulate import simulate
from unhardcoded.store import ReceiptRecord, SqliteStore

THEN = {
    "workload": "bench",
    "rules": [{"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 40}],
    "baseline": "openai/gpt-4.1",
}
NEW = {
    "workload": "bench",
    "rules": [
        {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 50},
        {"id": "eu-only", "field": "geography", "op": "==", "value": "eu"},
        {"id": "tools", "field": "capabilities", "op": "has", "value": "tools"},
    ],
    "baseline": "openai/gpt-4.1",
}
TOKEN_FIELDS = {"input_tokens", "output_tokens", "cached_input_tokens"}


async def fill(path: Path, n: int, distinct: int, *, token_columns: bool) -> None:
    catalog = build_catalog()
    policy = parse_policy(THEN, catalog.fields, name=None)
    memo = DecisionMemo(distinct + 1)
    store = SqliteStore(path, durability="fast")
    await store.open()
    await store.put_catalog(catalog.version, orjson.dumps(catalog.to_dict()))
    has_columns = {f.name for f in dataclasses.fields(ReceiptRecord)} >= TOKEN_FIELDS
    t0 = time.time() - n
    hashed: dict[int, tuple[str, dict[str, Any]]] = {}
    for i in range(n):
        k = i % distinct
        features = RequestFeatures(
            est_input_tokens=100 + 10 * k, est_output_tokens=512, max_output_tokens=None
        )
        d = memo.decide(policy, catalog, features)
        if k not in hashed:  # hashing a ~200 KB decision per receipt would make the fill the whole run
            hashed[k] = decision_hash(d)
        digest, doc = hashed[k]
        usage = {"input_tokens": 90 + 10 * k + i % 7, "output_tokens": 40 + i % 300, "cached_input_tokens": 0}
        winner = d.plan[0]
        cost = usage_cost(catalog.get(winner), usage)
        rid = f"req_{i:024x}"
        body = {
            "request_id": rid,
            "trace_id": f"{i:032x}",
            "status": "ok",
            "pinned": None,
            "policy": {"fingerprint": policy.fingerprint, "sha256": policy.sha256, "workload": "bench"},
            "catalog_version": catalog.version,
            "features": features.to_dict(),
            "decision_hash": digest,
            "attempts": [],
            "outcome": {"status": "ok", "deployment": winner, "usage": usage, "cost_usd": float(cost or 0)},
        }
        extra: dict[str, Any] = {}
        if has_columns and token_columns:
            extra = {k: usage[k] for k in TOKEN_FIELDS}
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
                deployment=winner,
                fingerprint=policy.fingerprint,
                policy_sha256=policy.sha256,
                catalog_version=catalog.version,
                decision_hash=digest,
                decision_blob=None if store.known_decision(digest) else orjson.dumps(doc),
                cost_usd=float(cost or 0),
                baseline_cost_usd=None,
                savings_usd=None,
                latency_ms=None,
                body=orjson.dumps(body),
                **extra,
            )
        )
    await store.close()


async def measure(path: Path) -> dict[str, Any]:
    catalog = build_catalog()
    store = SqliteStore(path)
    await store.open()
    cpu0 = time.process_time()
    try:
        out = await simulate(store, NEW, catalog=catalog, since=None)
    finally:
        await store.close()
    cpu = time.process_time() - cpu0  # this process's CPU: the machine is shared, wall time is not ours
    res = {
        k: out[k] for k in ("receipts", "calls", "moved", "distinct_decisions", "seconds", "receipts_per_min")
    }
    res["no_route"] = out["no_route"]["calls"]
    res["cpu_seconds"] = round(cpu, 3)
    res["receipts_per_cpu_min"] = round(60 * out["receipts"] / cpu) if cpu else None
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=100_000)
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--slow-receipts", type=int, default=5000, help="receipts for the store without tokens")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = (("token columns", args.receipts, True), ("read whole", args.slow_receipts, False))
        for label, n, columns in runs:
            path = Path(tmp) / f"{label.replace(' ', '-')}.db"
            asyncio.run(fill(path, n, min(args.distinct, n), token_columns=columns))
            results[label] = asyncio.run(measure(path))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for label, r in results.items():
        print(
            f"{label:>13}: {r['receipts']} receipts, {r['distinct_decisions']} distinct decisions, "
            f"{r['moved']} moved, {r['no_route']} no route; {r['seconds']:.2f}s -> "
            f"{r['receipts_per_min']:,} receipts/min ({r['receipts_per_cpu_min']:,} per CPU minute)"
        )


if __name__ == "__main__":
    main()
