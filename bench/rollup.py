"""Roll-up benchmark: a 30-day `unhardcoded report` over 1,000,000 receipts, SQLite and PostgreSQL.

Writes N receipts spread over 32 days through the store's own write path (durability fast, so group
commits; the hourly-sum triggers run on every row), each with a real decision over the bundled catalog
(~700 deployments; W workloads x K request sizes distinct decisions), usage, cost and baseline priced as
the gateway prices them, some fallbacks and errors. Then times `rollup(store, by, "30d")` for every `by`
on a freshly opened store (new connections), and `spend_since` for a budget's day and month.

    .venv/bin/python bench/rollup.py [--receipts 1000000] [--backend sqlite|postgres|both] [--json]
    (PostgreSQL: $UNHARDCODED_TEST_PG, default postgresql://postgres@127.0.0.1:5432/test, a fresh schema)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from unhardcoded.catalog.load import build_catalog
from unhardcoded.gateway.receipts import Priced
from unhardcoded.policy.memo import DecisionMemo
from unhardcoded.policy.parse import parse_policy
from unhardcoded.policy.request import RequestFeatures
from unhardcoded.providers.base import Usage
from unhardcoded.review.rebuild import decision_hash
from unhardcoded.review.rollup import rollup
from unhardcoded.store import ReceiptRecord, open_store

PG_URL = os.environ.get("UNHARDCODED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DAY = 86400.0
WORKLOADS = {
    "support-bot": [{"field": "bench_intelligence", "op": ">=", "value": 45}],
    "eu-search": [{"field": "geography", "op": "==", "value": "eu"}],
    "agent": [{"field": "capabilities", "op": "has", "value": "tools"}],
    "summarise": [{"field": "bench_intelligence", "op": ">=", "value": 30}],
    "classify": [],
}
SIZES = 40  # distinct request sizes per workload: distinct decisions


def decisions(catalog: Any) -> list[tuple[str, Any, str, bytes, list[str]]]:
    """(workload, policy, decision hash, blob, plan) for every workload and request size."""
    memo = DecisionMemo(len(WORKLOADS) * SIZES + 1)
    out = []
    for wl, rules in WORKLOADS.items():
        policy = parse_policy(
            {"workload": wl, "rules": rules, "baseline": "openai/gpt-4.1"}, catalog.fields, name=None
        )
        for k in range(SIZES):
            features = RequestFeatures(
                est_input_tokens=200 + 150 * k, est_output_tokens=512, max_output_tokens=None
            )
            d = memo.decide(policy, catalog, features)
            digest, doc = decision_hash(d)
            out.append((wl, policy, digest, orjson.dumps(doc), list(d.plan)))
    return out


async def fill(url: str, n: int, now: float) -> dict[str, Any]:
    catalog = build_catalog()
    decs = decisions(catalog)
    rnd = random.Random(5)
    store = open_store(url, durability="fast")
    await store.open()
    await store.put_catalog(catalog.version, orjson.dumps(catalog.to_dict()))
    sent: set[str] = set()
    t0 = time.perf_counter()
    # Receipts are written as calls happen: in time order (which is also how they lie in the table).
    times = sorted(now - rnd.uniform(0, 32 * DAY) for _ in range(n))
    for i in range(n):
        wl, policy, digest, blob, plan = decs[rnd.randrange(len(decs))]
        at = times[i]
        roll = rnd.random()
        status = "error" if roll < 0.01 or not plan else "ok"
        fallbacks = 1 if 0.01 <= roll < 0.04 and len(plan) > 1 else 0
        dep = None if status == "error" else plan[fallbacks]
        usage = Usage(rnd.randrange(50, 6000), rnd.randrange(10, 900), rnd.choice([0, 0, 0, 128]))
        priced = Priced.of(catalog, dep, usage if dep else None, policy.baseline)
        rid = f"req_{i:024x}"
        body = {"request_id": rid, "status": status, "workload": wl, "outcome": {"deployment": dep}}
        await store.write(
            ReceiptRecord(
                request_id=rid,
                trace_id=f"{i:032x}",
                span_id=f"{i:016x}",
                parent_span_id=None,
                workflow_id=None,
                workflow_node=None,
                tenant=rnd.choice([None, "acme", "globex"]),
                workload=wl,
                status=status,
                created_at=at,
                finished_at=at + 1.5,
                deployment=dep,
                fingerprint=policy.fingerprint,
                policy_sha256=policy.sha256,
                catalog_version=catalog.version,
                decision_hash=digest,
                decision_blob=None if digest in sent else blob,
                cost_usd=priced.cost_usd,
                baseline_cost_usd=priced.baseline_cost_usd,
                savings_usd=priced.savings_usd,
                latency_ms=900.0,
                body=orjson.dumps(body),
                input_tokens=usage.input_tokens if dep else None,
                output_tokens=usage.output_tokens if dep else None,
                cached_input_tokens=usage.cached_input_tokens if dep else None,
                fallbacks=fallbacks,
            )
        )
        sent.add(digest)
        if i % 10_000 == 9_999:
            await asyncio.sleep(0)  # let the writer drain (fast durability would wait anyway past 10,000)
    await store.close()
    seconds = time.perf_counter() - t0
    return {"receipts": n, "write_seconds": round(seconds, 1), "written_per_s": round(n / seconds)}


async def measure(url: str, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # The first roll-up ever over these decisions extracts each one's passers once and keeps them in the
    # store (decision_passers); every later one, in any process, reads them. Timed apart.
    store = open_store(url)
    await store.open()
    try:
        t0 = time.perf_counter()
        await rollup(store, "workload", "30d", now=now)
        out["first_ever"] = {"seconds": round(time.perf_counter() - t0, 3)}
    finally:
        await store.close()
    for by in ("workload", "fingerprint", "deployment", "tenant", "day"):
        store = open_store(url)
        await store.open()
        try:
            t0 = time.perf_counter()
            res = await rollup(store, by, "30d", now=now)
            out[by] = {"seconds": round(time.perf_counter() - t0, 3), "groups": len(res["groups"])}
            if by == "workload":
                out["totals"] = res["totals"]
                out["passed_over_example"] = res["groups"][0]["passed_over"][:2]
        finally:
            await store.close()
    store = open_store(url)
    await store.open()
    try:
        for label, since in (("spend_today", now - now % DAY), ("spend_month", now - 30 * DAY)):
            t0 = time.perf_counter()
            spent = await store.spend_since(since, workload="support-bot", tenant=None)
            out[label] = {"seconds": round(time.perf_counter() - t0, 4), "usd": str(spent)}
    finally:
        await store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receipts", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--keep", type=Path, help="keep the stores (a SQLite file here, schema uh_bench_keep); reuse"
    )
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = folder / "rollup.now"  # the fill's "now", so a kept store is measured over the same 30 days
        now = float(stamp.read_text()) if args.keep and stamp.exists() else time.time()
        stamp.write_text(repr(now))
        urls = []
        if args.backend in ("sqlite", "both"):
            urls.append(("sqlite", f"sqlite:///{folder / 'rollup.db'}", None))
        if args.backend in ("postgres", "both"):
            schema = "uh_bench_keep" if args.keep else f"uh_bench_{uuid.uuid4().hex[:10]}"
            urls.append(("postgres", f"{PG_URL}?schema={schema}", schema))
        for name, url, schema in urls:
            try:
                filled: dict[str, Any] = {"receipts": args.receipts, "write_seconds": 0, "written_per_s": 0}
                if not (args.keep and (folder / f"{name}.filled").exists()):
                    filled = asyncio.run(fill(url, args.receipts, now))
                    (folder / f"{name}.filled").write_text(json.dumps(filled))
                elif args.keep:
                    filled = json.loads((folder / f"{name}.filled").read_text())
                results[name] = {**filled, **asyncio.run(measure(url, now))}
            finally:
                if schema is not None and not args.keep:
                    import psycopg
                    from psycopg import sql

                    with psycopg.connect(PG_URL, autocommit=True) as conn:
                        conn.execute(
                            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                        )
            if not args.json:
                r = results[name]
                print(
                    f"{name}: {r['receipts']:,} receipts written in {r['write_seconds']}s "
                    f"({r['written_per_s']:,}/s, fast durability, hourly-sum triggers on)"
                )
                print(
                    f"  first roll-up ever (extracts {len(WORKLOADS) * SIZES} decisions' passers): "
                    f"{r['first_ever']['seconds']:.3f}s"
                )
                for by in ("workload", "fingerprint", "deployment", "tenant", "day"):
                    print(f"  rollup by {by:<11} 30d: {r[by]['seconds']:.3f}s  ({r[by]['groups']} groups)")
                for label in ("spend_today", "spend_month"):
                    print(f"  {label}: {r[label]['seconds'] * 1000:.1f} ms")
                t = r["totals"]
                print(
                    f"  30d totals: {t['calls']:,} calls, cost {t['cost_usd']} USD, baseline "
                    f"{t['baseline_cost_usd']} USD, savings {t['savings_usd']} USD ({t['savings_pct']}%)"
                )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
