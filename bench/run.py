"""The side-by-side gateway bench: our gateway against LiteLLM's proxy and a bare aiohttp floor.

One run starts a mock OpenAI-compatible upstream, then each target in turn (direct to the mock,
the floor, LiteLLM, ours with durability strict and fast), drives it with wrk at each concurrency,
measures streaming time to first token, CPU per request and RSS, and prints one table. Raw
results go to bench/results/. See bench/README.md.

    python bench/run.py --quick                 # 3 s per point, a smoke run
    python bench/run.py --markdown              # the full run, plus a markdown table
    python bench/run.py --soak 10               # 10 minutes at concurrency 64 against ours-strict
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import aiohttp
except ImportError:
    sys.exit("bench/run.py needs aiohttp: run it with the project's venv (.venv/bin/python bench/run.py)")

import loadgen  # noqa: E402
import procstats  # noqa: E402
import report  # noqa: E402
import soak  # noqa: E402
import target_check  # noqa: E402
import targets  # noqa: E402
import ttft  # noqa: E402

OTHER_LOAD_PCT = 10.0  # other processes' CPU, in % of one core, above which a point is flagged
ALL_TARGETS = [
    "direct",
    "floor",
    *targets.FAST_FLOORS,
    "litellm",
    "before-strict",
    "before-fast",
    "ours-strict",
    "ours-fast",
]
# By default one faster floor: the pass-through on the gateway's own server and client (the others on demand).
DEFAULT_TARGETS = ["direct", "floor", "floor-h1", "floor-httptools", "litellm", "ours-strict", "ours-fast"]
POLICY = {
    "rules": [
        {"field": "bench_intelligence", "op": ">=", "value": 55},
        {"field": "geography", "op": "==", "value": "eu"},
        {"field": "capabilities", "op": "has", "value": "tools"},
        {"field": "context_window", "op": ">=", "value": 32000},
        {"field": "price_input_per_mtok", "op": "<=", "value": 5},
        {"field": "data_retention", "op": "==", "value": "none", "missing": "reject"},
    ],
    "rank": [{"by": "est_cost_usd", "order": "asc"}, {"by": "bench_intelligence", "order": "desc"}],
}
BODY: dict[str, Any] = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 32,
    "policy": POLICY,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per point (default 10)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s per point, 50 TTFT streams")
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated (default 1,16,64)")
    p.add_argument("--delays", default="0,50", help="mock delays in ms, comma-separated (default 0,50)")
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated targets")
    p.add_argument("--ttft-requests", type=int, default=None, help="streams per TTFT measure (200)")
    p.add_argument("--workers", type=int, default=None, help="pass --workers N to our gateway")
    p.add_argument("--gateway-cmd", default=None, help="our gateway's executable (.venv/bin/unhardcoded)")
    p.add_argument(
        "--mock-procs", type=int, default=None, help="mock processes on one port (1 per load core)"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk to separate cores")
    p.add_argument("--no-litellm-setup", action="store_true", help="do not run litellm_setup.sh if needed")
    p.add_argument("--keep-store", action="store_true", help="keep our gateway's SQLite receipt stores")
    p.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    p.add_argument("--out", default=str(HERE / "results"), help="where raw results go (bench/results)")
    p.add_argument("--soak", type=float, default=None, metavar="MINUTES", help="soak ours at c=64 instead")
    p.add_argument(
        "--store",
        default=None,
        help="our gateway's store URL (default: a fresh SQLite file per target), e.g. postgresql://...",
    )
    p.add_argument(
        "--before-cmd",
        default=None,
        help="an earlier build's executable, measured as before-strict/before-fast in the same run",
    )
    p.add_argument("--soak-target", default="ours-strict", help="target of --soak (default ours-strict)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 3.0)
    args.warmup = 2.0 if args.quick else 3.0
    args.ttft_requests = args.ttft_requests or (50 if args.quick else 200)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.delays = [float(d) for d in args.delays.split(",") if d]
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = set(args.targets) - set(ALL_TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}; known: {ALL_TARGETS}")
    if "direct" not in args.targets:
        args.targets.insert(0, "direct")  # added latency is measured against it
    return args


def cpu_layout(no_pin: bool) -> tuple[list[int] | None, list[int] | None, str]:
    """(cores for the mock, wrk and this script; cores for the target under test; description)."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return None, None, "none"
    half = len(cpus) // 2
    load, target = cpus[:half], cpus[half:]
    return load, target, f"mock+wrk+client on CPU {load}, target on CPU {target}"


def versions(args: argparse.Namespace) -> dict[str, str]:
    out = {"wrk": "?", "aiohttp": aiohttp.__version__}
    with contextlib.suppress(OSError, IndexError):
        out["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
    try:
        import uvloop

        out["uvloop"] = str(getattr(uvloop, "__version__", "?"))
    except ImportError:
        out["uvloop"] = "not installed"
    pip = targets.LITELLM_VENV / "bin" / "pip"
    if "litellm" in args.targets and pip.exists():
        show = subprocess.run([str(pip), "show", "litellm"], capture_output=True, text=True).stdout
        out["litellm"] = next((ln.split()[1] for ln in show.splitlines() if ln.startswith("Version:")), "?")
    return out


def ensure_litellm(args: argparse.Namespace) -> None:
    if "litellm" not in args.targets or (targets.LITELLM_VENV / "bin" / "litellm").exists():
        return
    if args.no_litellm_setup:
        return
    print("LiteLLM is not installed yet: running bench/litellm_setup.sh (takes a few minutes)", flush=True)
    subprocess.run(["bash", str(HERE / "litellm_setup.sh")], check=False)


class Bench:
    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.load_cpus, self.target_cpus, self.pinning = cpu_layout(args.no_pin)
        self.body_file = run_dir / "body.json"
        self.body = json.dumps(BODY).encode()
        self.body_file.write_bytes(self.body)
        self.stream_body = ttft.streaming_body(BODY)
        self.runs: list[dict[str, Any]] = []
        self.ttft: list[dict[str, Any]] = []
        self.unavailable: dict[str, str] = {}
        self.stores: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def make_server(self, name: str, mock: targets.Server, delay_ms: float) -> targets.Server:
        if name == "floor":
            return targets.floor_server(mock, self.logs, self.target_cpus)
        if name in targets.FAST_FLOORS:
            return targets.fast_floor_server(name, mock, self.logs, self.target_cpus)
        if name == "litellm":
            return targets.litellm_server(mock, self.logs, self.target_cpus)
        who, durability = name.split("-", 1)
        if who == "before" and not self.args.before_cmd:
            raise targets.NotAvailable("--before-cmd names no earlier build of the gateway")
        return targets.gateway_server(
            mock,
            self.logs,
            self.run_dir,
            durability,
            self.target_cpus,
            self.args.workers,
            self.args.before_cmd if who == "before" else self.args.gateway_cmd,
            name=name,
            store_url=self.args.store,
        )

    def start_mock(self, delay_ms: float) -> targets.Server:
        copies = self.args.mock_procs or (len(self.load_cpus) if self.load_cpus else 1)
        mock = targets.mock_server(delay_ms, self.logs, self.load_cpus, copies)
        mock.start(self.body)
        return mock

    def measure(self, name: str, server: targets.Server, delay_ms: float, mock: targets.Server) -> None:
        """Idle RSS, warm-up, one wrk run per concurrency, then TTFT; rows go to self.runs."""
        args = self.args
        time.sleep(0.5)
        idle_mb = procstats.rss_kb(procstats.tree_pids(server.pids)) / 1024
        try:
            loadgen.run_wrk(server.url, self.body_file, 16, args.warmup, server.api_key, self.load_cpus)
        except loadgen.LoadError as exc:
            print(f"  warm-up failed: {exc}", flush=True)
        for conc in args.concurrency:
            row: dict[str, Any] = {"target": name, "delay_ms": delay_ms, "concurrency": conc}
            meter = procstats.CpuMeter(server.pids)
            threads = procstats.ThreadMeter(server.pids)
            other = procstats.OtherLoad(sorted({*server.pids, *mock.pids}))
            try:
                with procstats.Sampler(server.pids) as sampler:
                    res = loadgen.run_wrk(
                        server.url, self.body_file, conc, args.duration, server.api_key, self.load_cpus
                    )
            except (loadgen.LoadError, subprocess.TimeoutExpired) as exc:
                row["error"] = str(exc)
                print(f"  c={conc}: {exc}", flush=True)
                self.runs.append(row)
                continue
            cpu_s = meter.stop()
            by_thread = threads.stop()
            row["other_cpu_pct"] = round(other.stop(), 1)
            row.update(res.as_dict())
            row["cpu_s"] = round(cpu_s, 3)
            row["cpu_us_per_req"] = round(cpu_s * 1e6 / res.requests, 1) if res.requests else None
            if res.requests:  # where it went: event loop, receipt writer (and other threads), Rust client
                row["cpu_us_by_thread"] = {k: round(v * 1e6 / res.requests, 1) for k, v in by_thread.items()}
            row["rss_idle_mb"] = round(idle_mb, 1)
            row["rss_peak_mb"] = round(sampler.peak_kb / 1024, 1)
            self.runs.append(row)
            errs = f", {res.error_count} errors {res.errors}" if res.error_count else ""
            if row["other_cpu_pct"] >= OTHER_LOAD_PCT:
                errs += f"  (other processes used {row['other_cpu_pct']:.0f}% of a core)"
            print(
                f"  c={conc:<3} {res.rps:9.1f} req/s  p50 {res.p50_ms:8.2f} ms  p99 {res.p99_ms:8.2f} ms  "
                f"cpu {row['cpu_us_per_req'] or 0:7.0f} µs/req  rss {row['rss_peak_mb']:6.1f} MB{errs}",
                flush=True,
            )
        result = asyncio.run(ttft.measure(server.url, self.stream_body, args.ttft_requests, server.api_key))
        summary = {"target": name, "delay_ms": delay_ms, **result.summary()}
        self.ttft.append(summary)
        p50, p99 = summary["ttft_p50_ms"], summary["ttft_p99_ms"]
        if p50 is None:
            print(f"  ttft: failed, {result.errors} errors: {result.first_error}", flush=True)
        else:
            print(f"  ttft p50 {p50:.2f} ms  p99 {p99:.2f} ms  ({result.errors} errors)", flush=True)

    def run(self) -> None:
        for delay_ms in self.args.delays:
            print(f"\n== mock delay {delay_ms:g} ms ==", flush=True)
            try:
                mock = self.start_mock(delay_ms)
            except targets.NotAvailable as exc:
                sys.exit(f"the mock upstream did not start: {exc}")
            try:
                for name in self.args.targets:
                    self.run_target(name, mock, delay_ms)
            finally:
                mock.stop()

    def run_target(self, name: str, mock: targets.Server, delay_ms: float) -> None:
        if name in self.unavailable:
            return
        print(f"-- {name}", flush=True)
        if name == "direct":
            self.measure(name, mock, delay_ms, mock)
            return
        try:
            server = self.make_server(name, mock, delay_ms)
            t0 = time.monotonic()
            server.start(self.body)
        except targets.NotAvailable as exc:
            self.unavailable[name] = str(exc)
            print(f"  not available: {exc}", flush=True)
            return
        print(f"  ready in {time.monotonic() - t0:.1f} s (pid {server.pids[0]})", flush=True)
        try:
            self.measure(name, server, delay_ms, mock)
        finally:
            server.stop()
            self.note_store(name, server, delay_ms)

    def note_store(self, name: str, server: targets.Server, delay_ms: float) -> None:
        """Record how big the receipt store grew, then remove it unless --keep-store."""
        if not server.store_files:
            return
        size = server.store_bytes()
        mine = [r for r in self.runs if r["target"] == name and r["delay_ms"] == delay_ms]
        served = sum(r.get("requests", 0) for r in mine)
        self.stores.append({"target": name, "delay_ms": delay_ms, "bytes": size, "load_requests": served})
        print(f"  receipt store {size / 2**20:.1f} MB after {served} load requests (plus warm-up and TTFT)")
        if not self.args.keep_store:
            server.remove_store()

    def check_other_load(self) -> None:
        busy = [r for r in self.runs if r.get("other_cpu_pct", 0) >= OTHER_LOAD_PCT]
        if busy:
            worst = max(r["other_cpu_pct"] for r in busy)
            self.notes.append(
                f"other processes on this machine used CPU during {len(busy)} of {len(self.runs)} points "
                f"(up to {worst:.0f}% of a core): those numbers are worse than on a quiet machine"
            )

    def check_ceiling(self) -> None:
        """Note any point where a target came close to the mock's own throughput."""
        direct = {(r["delay_ms"], r["concurrency"]): r for r in self.runs if r["target"] == "direct"}
        for r in self.runs:
            ref = direct.get((r["delay_ms"], r["concurrency"]))
            if r["delay_ms"] or r["target"] == "direct" or not ref or "rps" not in r:
                continue  # with a delay throughput is bound by latency, not by the mock's CPU
            if r["rps"] > 0.7 * ref["rps"]:
                self.notes.append(
                    f"{r['target']} at {r['delay_ms']:g} ms, c={r['concurrency']} reached "
                    f"{r['rps'] / ref['rps']:.0%} of the mock's direct throughput: the mock may be its limit"
                )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        loadgen.wrk_path()
    except loadgen.LoadError as exc:
        sys.exit(str(exc))
    started = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.out).resolve() / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    machine = procstats.machine_info()
    print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['kernel']}, Python {machine['python']}",
        flush=True,
    )
    ensure_litellm(args)
    idle = procstats.OtherLoad([])
    time.sleep(1.0)
    busy = idle.stop()
    if busy >= OTHER_LOAD_PCT:
        print(f"note: before the run, other processes used {busy:.0f}% of a core: expect noisy numbers")
    bench = Bench(args, run_dir)
    if bench.load_cpus:
        os.sched_setaffinity(0, bench.load_cpus)  # this script's TTFT client shares the load cores
    print(f"Pinning: {bench.pinning}; results in {run_dir}", flush=True)
    if args.workers and bench.target_cpus and args.workers > len(bench.target_cpus):
        cores = len(bench.target_cpus)
        print(f"note: {args.workers} workers share {cores} pinned core(s); --no-pin spreads them")
    if args.soak is not None:
        return soak.run(bench, args.soak_target, args.soak)
    bench.run()
    bench.check_ceiling()
    bench.check_other_load()
    results: dict[str, Any] = {
        "machine": machine,
        "versions": versions(args),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "delays_ms": args.delays,
            "ttft_requests": args.ttft_requests,
            "pinning": bench.pinning,
            "workers": args.workers,
            "targets": args.targets,
        },
        "body": BODY,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_s": round(time.time() - started, 1),
        "runs": bench.runs,
        "ttft": bench.ttft,
        "stores": bench.stores,
        "unavailable": bench.unavailable,
        "notes": bench.notes,
    }
    report.annotate(results)
    out = Path(args.out).resolve() / f"bench-{stamp}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    (run_dir / "table.md").write_text(report.markdown(results))
    print()
    report.print_table(results)
    targets_met = target_check.check(results)
    if targets_met:
        print("\nIssue 15 targets (ours-strict, ratios to peers in this run):")
        for line in targets_met:
            print("  " + line)
        (run_dir / "targets.txt").write_text("\n".join(targets_met) + "\n")
    print(f"\nWall time {results['wall_s']:.0f} s. Raw results: {out}")
    if args.markdown:
        print()
        print(report.markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
