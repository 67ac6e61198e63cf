"""CPU time and memory of a server's whole process tree, read from Linux's /proc.

CPU is utime+stime of every live process in the tree (the root and all its descendants, so a
master with workers counts whole), in clock ticks; RSS is VmRSS summed over the tree. A
``Sampler`` thread keeps the largest tree RSS seen while a load runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int, tid: int | None = None) -> list[str] | None:
    """Fields of /proc/<pid>/stat (or of its thread's, /proc/<pid>/task/<tid>/stat) after the command
    name, or None when the process or thread is gone."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        with open(path, "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    return raw[raw.rfind(")") + 2 :].split()


def tree_pids(roots: int | list[int]) -> list[int]:
    """The root process(es) and every live descendant of them."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    todo = [r for r in ([roots] if isinstance(roots, int) else roots) if os.path.exists(f"/proc/{r}")]
    out: list[int] = []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    """utime+stime in clock ticks for each pid still alive."""
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # After the name: state(0) ppid(1) ... utime(11) stime(12).
            out[pid] = int(fields[11]) + int(fields[12])
    return out


def _status_kb(pid: int, key: bytes) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_kb(pids: list[int]) -> int:
    """Resident set size of the processes, summed, in KiB."""
    return sum(_status_kb(pid, b"VmRSS:") for pid in pids)


def hwm_kb(pids: list[int]) -> int:
    """Peak resident set size (VmHWM) of the processes, summed, in KiB."""
    return sum(_status_kb(pid, b"VmHWM:") for pid in pids)


def system_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class OtherLoad:
    """CPU that processes outside the bench used while it measured, in % of one core.

    All cores' busy time, less the CPU of the process trees the bench knows (the target, the mock)
    and of this script and its waited-for children (wrk). Other work on the machine (a test suite,
    a build) shows up here and makes that point's numbers worse than they would be.
    """

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.meter = CpuMeter(roots)
        self.busy = system_busy_s()
        self.own = self._own()
        self.t0 = time.monotonic()

    @staticmethod
    def _own() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def stop(self) -> float:
        known = self.meter.stop() + (self._own() - self.own)
        elapsed = time.monotonic() - self.t0
        other = system_busy_s() - self.busy - known
        return max(other, 0.0) * 100.0 / elapsed if elapsed > 0 else 0.0


class CpuMeter:
    """CPU seconds a process tree spent between ``__init__`` and ``stop()``."""

    def __init__(self, roots: int | list[int]) -> None:
        self.roots = roots
        self.start = cpu_ticks(tree_pids(roots))

    def stop(self) -> float:
        end = cpu_ticks(tree_pids(self.roots))
        ticks = sum(t - self.start.get(pid, 0) for pid, t in end.items())
        return max(ticks, 0) / CLK_TCK


def _thread_kind(pid: int, tid: int) -> str:
    """What a thread is, for the CPU split: the event loop (a process's main thread), the Rust HTTP
    client's runtime (pyreqwest names its threads), or another thread (in our gateway, the receipt
    writer and the WAL checkpointer: Python 3.11 threads carry no OS name, so they are told apart by being
    neither)."""
    if tid == pid:
        return "main"
    try:
        with open(f"/proc/{pid}/task/{tid}/comm", "rb") as f:
            comm = f.read().decode(errors="replace").strip()
    except OSError:
        return "other"
    return "client" if comm.startswith(("pyreqwest", "tokio")) else "other"


def thread_ticks(pids: list[int]) -> dict[tuple[int, int], tuple[str, int]]:
    """(pid, tid) -> (kind, utime+stime ticks) of every live thread of the processes."""
    out = {}
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            fields = _stat_fields(pid, tid)
            if fields is not None:
                out[(pid, tid)] = (_thread_kind(pid, tid), int(fields[11]) + int(fields[12]))
    return out


class ThreadMeter:
    """CPU seconds a process tree spent between ``__init__`` and ``stop()``, split by thread kind
    (``_thread_kind``): where a request's CPU goes, main loop against receipt writer against client."""

    def __init__(self, roots: int | list[int]) -> None:
        self.roots = roots
        self.start = thread_ticks(tree_pids(roots))

    def stop(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, (kind, ticks) in thread_ticks(tree_pids(self.roots)).items():
            spent = ticks - self.start.get(key, (kind, 0))[1]
            out[kind] = out.get(kind, 0.0) + max(spent, 0) / CLK_TCK
        return out


@dataclass
class Sampler:
    """Samples a process tree's RSS every ``interval`` seconds in a thread; keeps every sample."""

    roots: int | list[int]
    interval: float = 0.1
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    on_sample: Callable[[float, int], None] | None = None

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        kb = rss_kb(tree_pids(self.roots))
        t = time.monotonic() - self._t0
        self.samples.append((t, kb))
        if self.on_sample is not None:
            self.on_sample(t, kb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    @property
    def peak_kb(self) -> int:
        return max((kb for _, kb in self.samples), default=0)


def machine_info() -> dict[str, str | int]:
    """CPU model, core count, kernel and Python version, for the top of the report."""
    import platform

    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = 0.0
    with contextlib.suppress(ValueError, OSError):
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": f"{mem_gib:.1f}",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
