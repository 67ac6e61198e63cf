"""bench/procstats.py's CPU split by thread (event loop, other threads, Rust client) read from /proc of a
real process, and bench/report.py's line that prints it for the busiest point."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import procstats
import report

# A process whose main thread sleeps while a second Python thread burns CPU: the split must put the CPU
# on "other", not on "main".
BUSY_THREAD = """
import threading, time, sys
def burn():
    end = time.monotonic() + 30
    while time.monotonic() < end:
        sum(range(1000))
threading.Thread(target=burn, daemon=True).start()
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_thread_meter_puts_a_busy_thread_on_other_and_an_idle_main_near_zero() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BUSY_THREAD], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        meter = procstats.ThreadMeter(proc.pid)
        time.sleep(1.0)
        split = meter.stop()
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert split.get("other", 0.0) >= 0.3  # the burning thread: about a second of CPU
    assert split.get("main", 0.0) < split["other"] / 5  # the sleeping main thread
    assert "client" not in split or split["client"] == 0.0


def run(target: str, delay: float, conc: int, threads: dict[str, float] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"target": target, "delay_ms": delay, "concurrency": conc, "rps": 1.0}
    if threads is not None:
        row["cpu_us_by_thread"] = threads
    return row


def test_the_report_prints_the_split_of_the_busiest_fastest_point_per_target() -> None:
    results = {
        "runs": [
            run("direct", 0, 64, {"main": 30.0}),
            run("floor", 0, 64, {"main": 120.0, "other": 0.2, "client": 0.0}),
            run("ours-strict", 0, 64, {"main": 190.4, "other": 108.0, "client": 41.0}),
            run("ours-strict", 0, 1, {"main": 900.0, "other": 9.0, "client": 70.0}),  # not the busiest
            run("ours-strict", 50, 64, {"main": 500.0}),  # not the fastest mock
            run("litellm", 0, 64, None),  # no split measured
        ]
    }
    (line,) = report.thread_lines(results)
    assert line.startswith("CPU µs/req by thread at c=64, 0 ms")
    assert "floor main 120;" in line  # threads under half a µs are left out
    assert line.endswith("ours-strict main 190 + other 108 + client 41")
    assert "direct" not in line and "litellm" not in line and "900" not in line and "500" not in line
    assert line in report.footer_lines(results)


def test_no_split_measured_prints_nothing() -> None:
    assert report.thread_lines({"runs": [run("floor", 0, 64, None)]}) == []
