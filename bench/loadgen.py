"""Closed-loop load with wrk: one POST body, fixed concurrency, bounded in time.

wrk keeps ``concurrency`` connections busy, each sending the next request as soon as the last
answer arrives. ``wrk_post.lua`` prints the run's totals and latency percentiles as one JSON line
that this module parses. Non-2xx answers count as errors (wrk's ``errors.status``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_post.lua"
MARKER = "BENCH_JSON "


class LoadError(RuntimeError):
    pass


@dataclass
class WrkResult:
    concurrency: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def ok_requests(self) -> int:
        return max(self.requests - self.errors.get("status", 0), 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "errors": self.errors,
        }


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return path


def taskset_prefix(cpus: list[int] | None) -> list[str]:
    """``taskset -c ...`` to pin a command to ``cpus``, or nothing when there is no pinning."""
    if not cpus or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", ",".join(str(c) for c in cpus)]


def run_wrk(
    url: str,
    body_file: Path,
    concurrency: int,
    duration_s: float,
    api_key: str = "sk-bench",
    cpus: list[int] | None = None,
    timeout_s: float = 10.0,
) -> WrkResult:
    """One wrk run of ``duration_s`` seconds at ``concurrency`` connections (one wrk thread)."""
    cmd = [
        *taskset_prefix(cpus),
        wrk_path(),
        "-t1",
        f"-c{concurrency}",
        f"-d{max(int(round(duration_s)), 1)}s",
        f"--timeout={int(timeout_s)}s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_API_KEY": api_key}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LoadError(f"wrk failed (exit {proc.returncode}): {' | '.join(tail)}")
    data = json.loads(line[len(MARKER) :])
    lat = data["latency_us"]
    duration = data["duration_us"] / 1e6
    return WrkResult(
        concurrency=concurrency,
        requests=data["requests"],
        duration_s=duration,
        rps=data["requests"] / duration if duration else 0.0,
        p50_ms=lat["p50"] / 1000.0,
        p90_ms=lat["p90"] / 1000.0,
        p99_ms=lat["p99"] / 1000.0,
        max_ms=lat["max"] / 1000.0,
        errors={k: int(v) for k, v in data["errors"].items()},
    )
