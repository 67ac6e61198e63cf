"""Turns the bench's raw results into one table: rich in a terminal, else plain text, or markdown.

Rows are target × delay × concurrency. "+p50"/"+p99" are the target's latency percentiles minus
those of the same load sent straight to the mock; TTFT columns likewise (streaming, sequential,
shown on each target's lowest-concurrency row). Ratios compare our throughput with LiteLLM's and
the floor's at the same delay and concurrency. "other CPU" flags points during which processes
outside the bench used at least 10% of a core (their numbers are worse than on a quiet machine).
"""

from __future__ import annotations

from typing import Any

TARGET_ORDER = [
    "direct",
    "floor",
    "floor-httptools",
    "floor-h1",
    "floor-uvicorn",
    "floor-uvicorn-aiohttp",
    "floor-granian",
    "litellm",
    "before-strict",
    "before-fast",
    "ours-strict",
    "ours-fast",
]
HEADERS = [
    "delay",
    "conc",
    "target",
    "req/s",
    "p50/p99 ms",
    "added p50/p99 ms",
    "TTFT added p50/p99 ms",
    "CPU µs/req",
    "RSS idle/peak MB",
    "ours/LiteLLM",
    "ours/floor",
    "errors",
    "other CPU",
]


def _order(name: str) -> int:
    return TARGET_ORDER.index(name) if name in TARGET_ORDER else len(TARGET_ORDER)


def annotate(results: dict[str, Any]) -> None:
    """Add added latency (vs direct) and throughput ratios to every row, in place."""
    runs = results["runs"]
    by_key = {(r["target"], r["delay_ms"], r["concurrency"]): r for r in runs if "rps" in r}
    for r in runs:
        if "rps" not in r:
            continue
        direct = by_key.get(("direct", r["delay_ms"], r["concurrency"]))
        if direct:
            r["added_p50_ms"] = round(r["p50_ms"] - direct["p50_ms"], 3)
            r["added_p99_ms"] = round(r["p99_ms"] - direct["p99_ms"], 3)
        if r["target"].startswith(("ours", "before")):
            for other in ("litellm", "floor"):
                ref = by_key.get((other, r["delay_ms"], r["concurrency"]))
                if ref and ref["rps"] > 0:
                    r[f"ratio_{other}"] = round(r["rps"] / ref["rps"], 2)
    ttft = {(t["target"], t["delay_ms"]): t for t in results.get("ttft", [])}
    for t in results.get("ttft", []):
        direct = ttft.get(("direct", t["delay_ms"]))
        if direct and t.get("ttft_p50_ms") is not None and direct.get("ttft_p50_ms") is not None:
            t["added_p50_ms"] = round(t["ttft_p50_ms"] - direct["ttft_p50_ms"], 3)
            t["added_p99_ms"] = round(t["ttft_p99_ms"] - direct["ttft_p99_ms"], 3)


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _signed(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    """The table as strings, sorted by delay, concurrency, then target (so a group compares)."""
    ttft = {(t["target"], t["delay_ms"]): t for t in results.get("ttft", [])}
    runs = sorted(results["runs"], key=lambda r: (r["delay_ms"], r["concurrency"], _order(r["target"])))
    lowest: dict[tuple[str, float], int] = {}
    for r in runs:
        key = (r["target"], r["delay_ms"])
        lowest[key] = min(lowest.get(key, r["concurrency"]), r["concurrency"])
    out = []
    for r in runs:
        row = [f"{r['delay_ms']:g} ms", str(r["concurrency"]), r["target"]]
        if "rps" not in r:
            failed = f"failed: {r.get('error', '?')}"[:48]
            out.append([*row, *["—"] * (len(HEADERS) - 5), failed, ""])
            continue
        t = ttft.get((r["target"], r["delay_ms"]))
        ttft_cell = ""
        if t and r["concurrency"] == lowest[(r["target"], r["delay_ms"])]:
            if t.get("ttft_p50_ms") is None:
                ttft_cell = f"failed ({t.get('errors', 0)} errors)"
            elif r["target"] == "direct":  # the baseline itself: its absolute TTFT, in parentheses
                ttft_cell = f"({_num(t['ttft_p50_ms'], 2)} / {_num(t['ttft_p99_ms'], 2)})"
            else:
                ttft_cell = f"{_signed(t.get('added_p50_ms'))} / {_signed(t.get('added_p99_ms'))}"
        errors = sum(r["errors"].values())
        added = ""
        if r["target"] != "direct":
            added = f"{_signed(r.get('added_p50_ms'))} / {_signed(r.get('added_p99_ms'))}"
        row += [
            _num(r["rps"], 0),
            f"{_num(r['p50_ms'], 2)} / {_num(r['p99_ms'], 2)}",
            added,
            ttft_cell,
            _num(r.get("cpu_us_per_req"), 0),
            f"{_num(r.get('rss_idle_mb'), 0)} / {_num(r.get('rss_peak_mb'), 0)}",
            f"{r['ratio_litellm']:.2f}×" if "ratio_litellm" in r else "",
            f"{r['ratio_floor']:.2f}×" if "ratio_floor" in r else "",
            f"{errors} of {r['requests']}" if errors else "",
            f"{r['other_cpu_pct']:.0f}%" if r.get("other_cpu_pct", 0) >= 10 else "",
        ]
        out.append(row)
    return out


def header_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    a = results["settings"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['memory_gib']} GiB, "
        f"{m['kernel']}, Python {m['python']}",
        f"Load: wrk closed loop, {a['duration_s']:g} s per point after {a['warmup_s']:g} s warm-up; "
        f"TTFT: {a['ttft_requests']} sequential streams. Pinning: {a['pinning']}",
    ]
    if results.get("versions"):
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    return lines


def thread_lines(results: dict[str, Any]) -> list[str]:
    """Where each target's CPU went at the highest concurrency with the fastest mock: its event loop
    (main thread), its other threads (our gateway: the receipt writer and the WAL checkpointer) and the Rust
    client's runtime."""
    runs = [r for r in results.get("runs", []) if r.get("cpu_us_by_thread") and r["target"] != "direct"]
    if not runs:
        return []
    delay = min(r["delay_ms"] for r in runs)
    conc = max(r["concurrency"] for r in runs if r["delay_ms"] == delay)
    parts = []
    for r in sorted(runs, key=lambda r: _order(r["target"])):
        if r["delay_ms"] == delay and r["concurrency"] == conc:
            t = r["cpu_us_by_thread"]
            split = " + ".join(f"{k} {t[k]:.0f}" for k in ("main", "other", "client") if t.get(k, 0) >= 0.5)
            parts.append(f"{r['target']} {split}")
    head = f"CPU µs/req by thread at c={conc}, {delay:g} ms (main loop + other threads + Rust client): "
    return [head + "; ".join(parts)]


def footer_lines(results: dict[str, Any]) -> list[str]:
    lines = [f"{name}: not available: {why}" for name, why in results.get("unavailable", {}).items()]
    lines += thread_lines(results)
    lines += results.get("notes", [])
    return lines


def markdown(results: dict[str, Any]) -> str:
    rows = table_rows(results)
    out = [*(f"{line}  " for line in header_lines(results)), ""]
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("|" + "|".join("---:" if i > 2 else "---" for i in range(len(HEADERS))) + "|")
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    footer = footer_lines(results)
    if footer:
        out += ["", *(f"- {line}" for line in footer)]
    return "\n".join(out) + "\n"


def plain(results: dict[str, Any]) -> str:
    rows = [HEADERS, *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    text = [*header_lines(results), ""]
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        text.append("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in pairs))
        if n == 0:
            text.append("  ".join("-" * w for w in widths))
    return "\n".join([*text, "", *footer_lines(results)])


def print_table(results: dict[str, Any]) -> None:
    """Print the run's table with rich when it is installed, else as plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(plain(results))
        return
    probe = Console()
    console = Console(width=probe.width if probe.is_terminal else 200)
    for line in header_lines(results):
        console.print(line, highlight=False)
    table = Table(show_lines=False, header_style="bold")
    for i, name in enumerate(HEADERS):
        table.add_column(name, justify="right" if i > 2 else "left", overflow="fold")
    previous = None
    for row in table_rows(results):
        group = (row[0], row[1])
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        style = "bold" if row[2].startswith("ours") else None
        table.add_row(*row, style=style)
    console.print(table)
    for line in footer_lines(results):
        console.print(line, highlight=False)
