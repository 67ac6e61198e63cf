"""Issue 15's targets, checked against one run's results: each met, or missed by how much.

Every target is a ratio to a peer measured in the same run (the aiohttp floor, LiteLLM, direct), since
absolute figures on these machines move 2-4x from one day to the next.
"""

from __future__ import annotations

from typing import Any

TARGET = "ours-strict"


def _run(results: dict[str, Any], target: str, delay: float, conc: int) -> dict[str, Any] | None:
    for r in results.get("runs", []):
        if r["target"] == target and r["delay_ms"] == delay and r["concurrency"] == conc and "rps" in r:
            return dict(r)
    return None


def _ttft(results: dict[str, Any], target: str, delay: float) -> dict[str, Any] | None:
    for t in results.get("ttft", []):
        if t["target"] == target and t["delay_ms"] == delay:
            return dict(t)
    return None


def _line(name: str, measured: float | None, want: str, ok: bool | None, detail: str) -> str:
    if measured is None or ok is None:
        return f"{name}: not measured in this run ({detail})"
    verdict = "met" if ok else "MISSED"
    return f"{name}: {verdict} — {detail} (target {want})"


def check(results: dict[str, Any]) -> list[str]:
    """One line per target: met, or missed with the measured value beside the target."""
    lines: list[str] = []
    ours, floor, lite = (_run(results, t, 0, 64) for t in (TARGET, "floor", "litellm"))
    if ours and floor:
        ratio = ours["rps"] / floor["rps"]
        lines.append(
            _line(
                "c=64 throughput vs the aiohttp floor",
                ratio,
                ">= 1.0x",
                ratio >= 1.0,
                f"{ratio:.2f}x ({ours['rps']:,.0f} vs {floor['rps']:,.0f} req/s)",
            )
        )
        cpu_o, cpu_f = ours.get("cpu_us_per_req"), floor.get("cpu_us_per_req")
        if cpu_o and cpu_f:
            r = cpu_o / cpu_f
            lines.append(
                _line(
                    "CPU per request vs the floor",
                    r,
                    "<= 1.0x",
                    r <= 1.0,
                    f"{r:.2f}x ({cpu_o:.0f} vs {cpu_f:.0f} us)",
                )
            )
    if ours and lite:
        r = ours["rps"] / lite["rps"]
        lines.append(_line("c=64 throughput vs LiteLLM", r, ">= 40x", r >= 40, f"{r:.1f}x"))
    o1, f1 = _run(results, TARGET, 0, 1), _run(results, "floor", 0, 1)
    if o1 and f1 and "added_p50_ms" in o1 and "added_p50_ms" in f1:
        lines.append(
            _line(
                "c=1 added p50 vs the floor's",
                o1["added_p50_ms"],
                "<= 1.0x",
                o1["added_p50_ms"] <= f1["added_p50_ms"],
                f"+{o1['added_p50_ms']:.2f} vs +{f1['added_p50_ms']:.2f} ms",
            )
        )
        lines.append(
            _line(
                "c=1 added p99 vs the floor's",
                o1["added_p99_ms"],
                "<= 1.5x",
                o1["added_p99_ms"] <= 1.5 * f1["added_p99_ms"],
                f"+{o1['added_p99_ms']:.2f} vs +{f1['added_p99_ms']:.2f} ms",
            )
        )
    to, tf = _ttft(results, TARGET, 0), _ttft(results, "floor", 0)
    if to and tf and to.get("added_p50_ms") is not None and tf.get("added_p50_ms") is not None:
        lines.append(
            _line(
                "stream TTFT added vs the floor's",
                to["added_p50_ms"],
                "<= 1.0x",
                to["added_p50_ms"] <= tf["added_p50_ms"],
                f"+{to['added_p50_ms']:.2f} vs +{tf['added_p50_ms']:.2f} ms",
            )
        )
    o50, d50 = _run(results, TARGET, 50, 64), _run(results, "direct", 50, 64)
    if o50 and d50:
        share = o50["rps"] / d50["rps"]
        lines.append(
            _line("50 ms upstream, c=64, share of direct", share, ">= 95 %", share >= 0.95, f"{share:.0%}")
        )
    peaks = [r.get("rss_peak_mb") for r in results.get("runs", []) if r["target"] == TARGET]
    peaks = [p for p in peaks if p]
    if peaks:
        lines.append(_line("RSS", max(peaks), "<= 100 MB", max(peaks) <= 100, f"peak {max(peaks):.0f} MB"))
    fast = _run(results, "ours-fast", 0, 64)
    if ours and fast:
        lines.append(
            f"fast ahead of strict at c=64 by {fast['rps'] / ours['rps'] - 1:+.0%} (stated, no target)"
        )
    return lines
