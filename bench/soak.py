"""``bench/run.py --soak MINUTES``: hold concurrency 64 against one target and watch its memory.

Samples the target's whole process tree RSS every 10 s while wrk runs, prints each sample, and
says at the end whether RSS grew: the last minute's median against the first minute's peak
(after a warm-up), plus a least-squares slope in MB per minute.
"""

from __future__ import annotations

import json
import statistics
from typing import TYPE_CHECKING, Any

import loadgen
import procstats
import targets

if TYPE_CHECKING:
    from run import Bench

SOAK_CONCURRENCY = 64
SAMPLE_EVERY_S = 10.0
GROWTH_MB = 5.0
GROWTH_FRACTION = 0.05


def slope_mb_per_min(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [t / 60.0 for t, _ in samples]
    ys = [kb / 1024.0 for _, kb in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / var if var else 0.0


def verdict(samples: list[tuple[float, int]]) -> dict[str, Any]:
    """Did RSS grow? The last minute's median against the first minute's peak (shorter for short soaks)."""
    end = samples[-1][0]
    window = min(60.0, end / 4)  # a minute, or a quarter of a short soak
    first = [kb for t, kb in samples if t <= window] or [samples[0][1]]
    last = [kb for t, kb in samples if t >= end - window] or [samples[-1][1]]
    baseline_mb = max(first) / 1024.0
    final_mb = statistics.median(last) / 1024.0
    growth = final_mb - baseline_mb
    grew = growth > max(GROWTH_MB, GROWTH_FRACTION * baseline_mb)
    return {
        "baseline_mb": round(baseline_mb, 1),
        "final_mb": round(final_mb, 1),
        "growth_mb": round(growth, 1),
        "slope_mb_per_min": round(slope_mb_per_min(samples), 3),
        "grew": grew,
        "window_s": round(window),
    }


def run(bench: Bench, target: str, minutes: float) -> int:
    delay_ms = bench.args.delays[0]
    print(f"Soak: {target}, concurrency {SOAK_CONCURRENCY}, {minutes:g} min, mock delay {delay_ms:g} ms")
    mock = bench.start_mock(delay_ms)
    try:
        if target == "direct":
            server = mock
        else:
            try:
                server = bench.make_server(target, mock, delay_ms)
                server.start(bench.body)
            except targets.NotAvailable as exc:
                print(f"{target}: not available: {exc}")
                return 1
        try:
            return _soak(bench, target, server, minutes, delay_ms)
        finally:
            if server is not mock:
                server.stop()
                if server.store_files:
                    print(f"receipt store: {server.store_bytes() / 2**20:.1f} MB")
                    if not bench.args.keep_store:
                        server.remove_store()
    finally:
        mock.stop()


def _soak(bench: Bench, target: str, server: targets.Server, minutes: float, delay_ms: float) -> int:
    idle_kb = procstats.rss_kb(procstats.tree_pids(server.pids))
    print(f"idle RSS {idle_kb / 1024:.1f} MB; warming up", flush=True)
    loadgen.run_wrk(server.url, bench.body_file, SOAK_CONCURRENCY, 5, server.api_key, bench.load_cpus)

    def show(t: float, kb: int) -> None:
        print(f"  t={t:7.0f} s  RSS {kb / 1024:8.1f} MB", flush=True)

    sampler = procstats.Sampler(server.pids, interval=SAMPLE_EVERY_S, on_sample=show)
    meter = procstats.CpuMeter(server.pids)
    with sampler:
        res = loadgen.run_wrk(
            server.url,
            bench.body_file,
            SOAK_CONCURRENCY,
            minutes * 60.0,
            server.api_key,
            bench.load_cpus,
            timeout_s=10.0,
        )
    cpu_s = meter.stop()
    v = verdict(sampler.samples)
    result = {
        "target": target,
        "minutes": minutes,
        "delay_ms": delay_ms,
        "concurrency": SOAK_CONCURRENCY,
        "idle_mb": round(idle_kb / 1024, 1),
        "wrk": res.as_dict(),
        "cpu_us_per_req": round(cpu_s * 1e6 / res.requests, 1) if res.requests else None,
        "samples": [{"t_s": round(t, 1), "rss_mb": round(kb / 1024, 1)} for t, kb in sampler.samples],
        **v,
    }
    out = bench.run_dir / f"soak-{target}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{res.requests} requests, {res.rps:.0f} req/s, p99 {res.p99_ms:.1f} ms, "
        f"{res.error_count} errors; CPU {result['cpu_us_per_req']} µs/req"
    )
    word = "GREW" if v["grew"] else "did not grow"
    print(
        f"RSS {word}: first {v['window_s']} s peak {v['baseline_mb']} MB, "
        f"last {v['window_s']} s median {v['final_mb']} MB "
        f"({v['growth_mb']:+} MB, slope {v['slope_mb_per_min']:+} MB/min). Samples: {out}"
    )
    return 1 if v["grew"] else 0
