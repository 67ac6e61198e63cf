"""bench/target_check.py: issue 15's targets read from one run's results, met or missed by how much."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import target_check


def run(target: str, delay: float, conc: int, rps: float, **kw: Any) -> dict[str, Any]:
    return {"target": target, "delay_ms": delay, "concurrency": conc, "rps": rps, **kw}


def results(ours_rps: float, ours_cpu: float) -> dict[str, Any]:
    return {
        "runs": [
            run("floor", 0, 64, 1000, cpu_us_per_req=150),
            run("litellm", 0, 64, 20),
            run("ours-strict", 0, 64, ours_rps, cpu_us_per_req=ours_cpu, rss_peak_mb=90),
            run("floor", 0, 1, 500, added_p50_ms=0.4, added_p99_ms=1.0),
            run("ours-strict", 0, 1, 400, added_p50_ms=0.3, added_p99_ms=2.0, rss_peak_mb=88),
            run("direct", 50, 64, 1000),
            run("ours-strict", 50, 64, 960),
        ],
        "ttft": [
            {"target": "floor", "delay_ms": 0, "added_p50_ms": 0.5},
            {"target": "ours-strict", "delay_ms": 0, "added_p50_ms": 0.6},
        ],
    }


def test_each_target_is_met_or_missed_with_the_measured_value() -> None:
    lines = target_check.check(results(ours_rps=1200, ours_cpu=140))
    text = "\n".join(lines)
    assert "c=64 throughput vs the aiohttp floor: met — 1.20x" in text
    assert "CPU per request vs the floor: met — 0.93x" in text
    assert "c=64 throughput vs LiteLLM: met — 60.0x" in text
    assert "c=1 added p50 vs the floor's: met" in text
    assert "c=1 added p99 vs the floor's: MISSED — +2.00 vs +1.00 ms" in text
    assert "stream TTFT added vs the floor's: MISSED — +0.60 vs +0.50 ms" in text
    assert "share of direct: met — 96%" in text
    assert "RSS: met — peak 90 MB" in text


def test_a_slower_gateway_misses_throughput_and_cpu() -> None:
    text = "\n".join(target_check.check(results(ours_rps=500, ours_cpu=300)))
    assert "throughput vs the aiohttp floor: MISSED — 0.50x" in text
    assert "CPU per request vs the floor: MISSED — 2.00x" in text
    assert "vs LiteLLM: MISSED — 25.0x" in text
