"""`unhardcoded serve --workers N` and a fake upstream as real processes, and a crowd of concurrent calls.

Every call carries a W3C traceparent with a trace id of its own and says `call-<i>` in its message, so a
call can be found in the store (by trace id) and in what the fake upstream saw (by its text) after the
gateway is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.canary import SIM_KEY

_PID = re.compile(r"\bpid (\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, limit_s: float = 30) -> None:
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


def trace_of(i: int) -> str:
    return f"{0xFA17 << 96 | i:032x}"


@dataclass
class Outcome:
    i: int
    stream: bool
    completed: bool = False  # the client saw the whole answer (the body, or [DONE])
    request_id: str | None = None
    status: int | None = None


@dataclass
class Gateway:
    """A gateway in its own process group of processes (the parent and its workers), and a fake upstream."""

    tmp: Path
    workers: int = 2
    delay_ms: float = 0
    chunk_delay_ms: float = 0
    call_timeout_s: float = 30
    sweep_grace_s: float = 60  # a started receipt older than the two is a lost call (`incomplete`)
    port: int = field(default_factory=free_port)
    upstream_port: int = field(default_factory=free_port)
    server: subprocess.Popen[str] | None = None
    fake: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.tmp / "receipts.db"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        cfg = self.tmp / "u.yaml"
        cfg.write_text(
            "providers:\n"
            f"  sim: {{kind: openai, base_url: 'http://127.0.0.1:{self.upstream_port}/v1',\n"
            "        api_key_env: SIM_KEY,\n"
            "        first_byte_timeout_s: 20, idle_timeout_s: 20, timeout_s: 30}\n"
            f"call_timeout_s: {self.call_timeout_s}\n"
            f"sweep_grace_s: {self.sweep_grace_s}\n"
            "catalog:\n  bundled: false\n  deployments:\n"
            "    - {id: sim/a, model: sim/a, provider: sim, upstream_model: a, price_input_per_mtok: 1,\n"
            "       price_output_per_mtok: 2, context_window: 100000, capabilities: [streaming]}\n"
            f"store: sqlite:///{self.db}\n"
            "durability: strict\n"
        )
        return cfg

    def start_upstream(self) -> None:
        args = [sys.executable, "-m", "unhardcoded.testing.fake_openai", "--port", str(self.upstream_port),
                "--delay-ms", str(self.delay_ms), "--chunk-delay-ms", str(self.chunk_delay_ms)]  # fmt: skip
        self.fake = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(f"http://127.0.0.1:{self.upstream_port}/v1/models")

    def start(self, workers: int | None = None) -> list[int]:
        """Start serving; returns the worker pids (the parent's own when it serves alone)."""
        n = self.workers if workers is None else workers
        cfg = self.write_config()
        env = {**os.environ, "SIM_KEY": SIM_KEY, "PYTHONUNBUFFERED": "1"}
        args = [sys.executable, "-m", "unhardcoded.cli", "serve", "--config", str(cfg), "--port",
                str(self.port), "--workers", str(n)]  # fmt: skip
        self.log = []
        self._close_previous()
        self.server = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        err = self.server.stderr
        assert err is not None
        threading.Thread(target=lambda: [self.log.append(x) for x in err], daemon=True).start()
        deadline = time.time() + 60
        while len(self.pids()) < n:
            assert time.time() < deadline and self.server.poll() is None, "".join(self.log)
            time.sleep(0.05)
        wait_up(self.url + "/healthz")
        return self.pids()

    def _close_previous(self) -> None:
        if self.server is not None:
            assert self.server.poll() is not None, "the previous gateway still runs"
            if self.server.stderr is not None:
                self.server.stderr.close()

    def pids(self) -> list[int]:
        return [int(p) for p in _PID.findall("".join(self.log))]

    def kill(self) -> None:
        """SIGKILL the workers and the parent, each by its pid: nothing gets to flush."""
        assert self.server is not None
        for pid in [*self.pids(), self.server.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.server.wait(10)
        deadline = time.time() + 10
        while any(_alive(p) for p in self.pids()) and time.time() < deadline:
            time.sleep(0.02)

    def terminate(self, limit_s: float = 30) -> int:
        assert self.server is not None
        self.server.send_signal(signal.SIGTERM)
        return self.server.wait(limit_s)

    def upstream_saw(self) -> set[int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.upstream_port}/_seen", timeout=10) as r:
            seen = json.loads(r.read())
        found = set()
        for s in seen:
            m = re.search(r"call-(\d+)", json.dumps(s["body"]))
            if m:
                found.add(int(m.group(1)))
        return found

    def stop_all(self) -> None:
        for p in (self.server, self.fake):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        for pid in self.pids():  # a worker left behind by a failed test
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.server is not None and self.server.stderr is not None:
            self.server.stderr.close()

    def settled_receipts(self, limit_s: float = 60) -> dict[str, tuple[str, dict[str, Any]]]:
        """The receipts once the gateway's sweeper has finished every `started` one."""
        deadline = time.time() + limit_s
        while True:
            receipts = self.receipts()
            if all(s != "started" for s, _ in receipts.values()):
                return receipts
            assert time.time() < deadline, "the sweeper left started receipts"
            time.sleep(0.1)

    def receipts(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """trace id -> (status, body), read from the SQLite file itself."""
        conn = sqlite3.connect(self.db)
        try:
            rows = conn.execute("SELECT trace_id, status, body FROM receipts").fetchall()
        finally:
            conn.close()
        return {t: (s, json.loads(b)) for t, s, b in rows}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our child, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def one_call(
    session: aiohttp.ClientSession, url: str, i: int, stream: bool, out: Outcome, wait_s: float
) -> None:
    await asyncio.sleep(wait_s)
    body = {
        "model": "auto",
        "stream": stream,
        "messages": [{"role": "user", "content": f"call-{i} a b c d e"}],
    }
    headers = {"traceparent": f"00-{trace_of(i)}-{i + 1:016x}-01"}
    try:
        async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as resp:
            out.status = resp.status
            out.request_id = resp.headers.get("x-unhardcoded-request-id")
            data = await resp.read()
            out.completed = resp.status == 200 and (data.rstrip().endswith(b"[DONE]") if stream else
                                                    b'"choices"' in data)  # fmt: skip
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        pass


def crowd(url: str, n: int, *, stop_when: Any = None, stagger_s: float = 0.0) -> tuple[list[Outcome], Any]:
    """n concurrent calls (every other one streaming; call i starts after i * stagger_s), on a loop in this
    thread. `stop_when(outcomes)` runs in a thread once the calls are under way and its result is returned
    (it kills or stops the gateway)."""
    outcomes = [Outcome(i, stream=i % 2 == 1) for i in range(n)]

    async def main() -> Any:
        conn = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
            calls = [
                asyncio.create_task(one_call(session, url, o.i, o.stream, o, o.i * stagger_s))
                for o in outcomes
            ]
            result = await asyncio.to_thread(stop_when, outcomes) if stop_when else None
            await asyncio.gather(*calls)
            return result

    return outcomes, asyncio.run(main())
