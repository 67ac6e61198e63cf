"""OpenTelemetry export micro-benchmark: what `OtelExporter.export()` costs the caller per finished call.

Exports N receipts (a fallback: one server span, two client spans, three rejection events) as fast as
the loop goes, with time.perf_counter_ns around each call, against (a) a live OTLP/HTTP receiver on
127.0.0.1 in another process (the batch processor's worker sends while we export, as in production) and
(b) a collector that is down (connections refused). Also times the pure receipt → span plan step alone.
Then waits for everything to arrive and reports what was delivered.

    .venv/bin/python bench/otel_export.py [--n 10000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from unhardcoded.config import OtelConfig
from unhardcoded.gateway.otel import OtelExporter
from unhardcoded.gateway.otel.spans import plan_spans

REJECTIONS = {"quality-floor": 589, "eu-only": 621, "needs-tools": 0, "rt:no-key": 3}
_ATTEMPT = {"ttft_ms": None, "error": None, "waited_s": None, "warnings": []}
# A finished receipt as the gateway builds it: a 503 that fell back, then a 200.
RECEIPT: dict[str, Any] = {
    "schema": "unhardcoded-receipt/v1",
    "request_id": "req_80112daa6ae384f49c967d9f",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "parent_span_id": "a3ce929d0e0e4736",
    "workflow": None,
    "tenant": None,
    "created_at": "2026-12-02T16:17:45.123Z",
    "status": "ok",
    "simulated": False,
    "pinned": None,
    "policy": {
        "fingerprint": "3202476868-3183020371 (sigma-pol/v1)",
        "sha256": "36badce3" + "0" * 56,
        "workload": "support-bot",
        "name": "support-bot",
    },
    "catalog_version": "ce576f1f6c67f76c7221070798410d69599b4a6fe50245a1f0a7c218adf96999",
    "features": {"est_input_tokens": 12, "est_output_tokens": 512, "needs_tools": False, "stream": False},
    "decision_hash": "d" * 64,
    "attempts": [
        {
            **_ATTEMPT,
            "deployment": "openai/gpt-4.1-mini",
            "provider": "openai",
            "started_at": "2026-12-02T16:17:45.125Z",
            "latency_ms": 0.9,
            "http_status": 503,
            "error_class": "server_error",
            "fell_back": True,
        },
        {
            **_ATTEMPT,
            "deployment": "vertex/google/gemini-3.7-flash@eu",
            "provider": "vertex",
            "started_at": "2026-12-02T16:17:45.127Z",
            "latency_ms": 35.5,
            "http_status": 200,
            "error_class": None,
            "fell_back": False,
        },
    ],
    "outcome": {
        "status": "ok",
        "deployment": "vertex/google/gemini-3.7-flash@eu",
        "model": "gemini-3.7-flash-001",
        "usage": {"input_tokens": 12, "output_tokens": 9, "cached_input_tokens": 0},
        "cost_usd": 1.92e-05,
        "baseline": {"deployment": "openai/gpt-4.1", "cost_usd": 9.6e-05},
        "savings_usd": 7.68e-05,
        "latency_ms": 41.25,
        "ttft_ms": None,
        "finish_reason": "stop",
        "error": None,
    },
    "warnings": [],
    "explanation": "vertex/google/gemini-3.7-flash@eu won: cheapest of 14 that passed 4 rules",
}


def receipts(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        r = copy.deepcopy(RECEIPT)
        r["span_id"] = f"{i + 1:016x}"
        r["request_id"] = f"req_{i:024x}"
        out.append(r)
    return out


def timed(fn: Callable[[dict[str, Any]], Any], items: list[dict[str, Any]]) -> dict[str, float]:
    gc.collect()
    gc.disable()
    laps: list[int] = []
    t0 = time.perf_counter_ns()
    for r in items:
        a = time.perf_counter_ns()
        fn(r)
        laps.append(time.perf_counter_ns() - a)
    total = time.perf_counter_ns() - t0
    gc.enable()
    laps.sort()
    return {
        "calls": len(items),
        "total_ms": round(total / 1e6, 1),
        "mean_us": round(total / len(items) / 1e3, 1),
        "p50_us": round(laps[len(laps) // 2] / 1e3, 1),
        "p99_us": round(laps[int(len(laps) * 0.99)] / 1e3, 1),
        "max_us": round(laps[-1] / 1e3, 1),
    }


class ReceiverProcess:
    """The OTLP receiver in its own process, as a collector would be: decoding must not share our GIL."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "unhardcoded.testing.otlp_receiver", "--port", str(port), "--quiet"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "OTLP/HTTP receiver at URL" once it listens
        self.url = line.rsplit(" ", 1)[-1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run(exporter: OtelExporter, items: list[dict[str, Any]], *, down: bool = False) -> dict[str, Any]:
    for r in items[:200]:  # warm-up: imports, caches, the first batch
        exporter.export(r, REJECTIONS)
    cpu0 = time.process_time()
    out = timed(lambda r: exporter.export(r, REJECTIONS, candidates=700, passed=14), items)
    t0 = time.perf_counter()
    if not down:
        exporter.flush()  # everything queued goes out now (close() alone gives up after close_timeout_s)
    out["flush_s"] = round(time.perf_counter() - t0, 2)
    asyncio.run(exporter.close())
    # Every thread of this process: the calls, plus the worker encoding and sending in the background.
    out["cpu_us"] = round((time.process_time() - cpu0) / len(items) * 1e6, 1)
    s = exporter.stats()
    out["stats"] = {k: getattr(s, k) for k in ("queued", "exported", "failed", "dropped", "invalid")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=None, help="max spans per OTLP request (default: ours)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    items = receipts(args.n)
    results: dict[str, Any] = {}

    results["plan_only"] = timed(lambda r: plan_spans(r, REJECTIONS), items)
    results["plan_only"]["cpu_us"] = results["plan_only"]["mean_us"]

    rp = ReceiverProcess()
    batch = {} if args.batch is None else {"max_batch": args.batch}
    live = OtelExporter(OtelConfig(endpoint=rp.url), max_queue_size=4 * 3 * args.n, **batch)
    results["live_collector"] = run(live, items)
    rp.stop()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = OtelExporter(
        OtelConfig(endpoint=f"http://127.0.0.1:{port}"),
        max_queue_size=4 * 3 * args.n,
        close_timeout_s=2.0,
        **batch,
    )
    results["collector_down"] = run(down, items, down=True)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"export() per call, {args.n} receipts of 3 spans + 3 events each (µs); CPU/call: all threads,")
    print("encoding and sending included")
    print(f"{'case':16} {'mean':>7} {'p50':>7} {'p99':>7} {'max':>8} {'CPU/call':>9}  delivered")
    for name, r in results.items():
        st = r.get("stats")
        tail = f"{st['exported']} exported, {st['failed']} failed, {st['dropped']} dropped" if st else ""
        row = f"{name:16} {r['mean_us']:7} {r['p50_us']:7} {r['p99_us']:7} {r['max_us']:8} {r['cpu_us']:9}"
        print(f"{row}  {tail}")


if __name__ == "__main__":
    main()
