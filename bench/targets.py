"""The servers the bench starts: the mock upstream, the floor, LiteLLM's proxy and our gateway.

Each runs in its own process group (so that a server with workers stops whole), pinned with
``taskset`` when the bench pins, its output sent to a log file. ``start()`` waits until one real
chat completion answers 200 and otherwise says why the target is not available.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from loadgen import taskset_prefix

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LITELLM_VENV = HERE / ".venv-litellm"
LITELLM_CONFIG = HERE / "litellm_config.yaml"
GATEWAY_TEMPLATE = HERE / "gateway.yaml"
MOCK_KEY = "sk-bench"
CHAT_PATH = "/v1/chat/completions"
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit)|Error)\b:?")


class NotAvailable(RuntimeError):
    """The target could not be started; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: bytes, api_key: str, timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Server:
    """One started server: its process, log and the URL of its chat completions endpoint."""

    name: str
    cmd: list[str]
    port: int
    log_path: Path
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset it
    api_key: str = MOCK_KEY
    cpus: list[int] | None = None
    ready_timeout: float = 30.0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    copies: int = 1
    store_files: list[Path] = field(default_factory=list)  # the receipt store, removed after the run

    def store_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.store_files if p.exists())

    def remove_store(self) -> None:
        for path in self.store_files:
            path.unlink(missing_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CHAT_PATH}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self, probe_body: bytes) -> None:
        """Start the process(es), then wait for a 200 to ``probe_body``; raise NotAvailable if none."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the children keep writing to it
        env = {**os.environ, **self.env}
        for key in [k for k, v in env.items() if v is None]:
            del env[key]
        try:
            for i in range(self.copies):
                # Several copies share the port (SO_REUSEPORT): one core each, round robin.
                pin = [self.cpus[i % len(self.cpus)]] if self.cpus and self.copies > 1 else self.cpus
                self.procs.append(
                    subprocess.Popen(
                        [*taskset_prefix(pin), *self.cmd],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env=env,  # type: ignore[arg-type]
                        cwd=REPO,
                        start_new_session=True,
                    )
                )
        except OSError as exc:
            raise NotAvailable(f"{self.cmd[0]}: {exc}") from exc
        finally:
            log.close()
        self._wait_ready(probe_body)

    def _wait_ready(self, probe_body: bytes) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    self.stop()
                    raise NotAvailable(f"exited with code {p.returncode}: {self.log_tail()}")
            try:
                status, body = _post(self.url, probe_body, self.api_key, timeout=5.0)
            except (OSError, urllib.error.URLError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(0.2)
                continue
            if status == 200:
                return
            last = f"HTTP {status}: {body[:300].decode(errors='replace')}"
            time.sleep(0.5)
        self.stop()
        raise NotAvailable(f"not ready after {self.ready_timeout:.0f} s ({last}); log: {self.log_path}")

    def log_tail(self) -> str:
        """The log's last exception line if it has one, else its last two lines."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        lines = [ln.strip(" \t│|╰╯─") for ln in text]
        lines = [ln for ln in lines if ln]
        tail = lines[-40:]
        for i in range(len(tail) - 1, -1, -1):
            if EXCEPTION_LINE.match(tail[i]):
                # rich wraps a long message onto the next line(s): keep one more
                return " ".join(tail[i : i + 2])[:400]
        return " | ".join(lines[-2:])[:400]

    def stop(self, grace: float = 10.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()
            _signal_group(p, signal.SIGKILL)  # leftover workers of the group, if any
        self.procs.clear()


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, sig)  # the group this bench made with start_new_session


def mock_server(
    delay_ms: float, logs: Path, cpus: list[int] | None, copies: int = 1, python: str = sys.executable
) -> Server:
    port = free_port()
    cmd = [python, str(HERE / "mock_upstream.py"), "--port", str(port), "--delay-ms", f"{delay_ms:g}"]
    if copies > 1:
        cmd.append("--reuse-port")
    return Server("mock", cmd, port, logs / f"mock-{delay_ms:g}ms.log", cpus=cpus, copies=copies)


def floor_server(mock: Server, logs: Path, cpus: list[int] | None, python: str = sys.executable) -> Server:
    port = free_port()
    cmd = [python, str(HERE / "floor.py"), "--port", str(port), "--upstream", mock.base]
    return Server("floor", cmd, port, logs / "floor.log", cpus=cpus)


# The faster pass-through floors beside the aiohttp one: name -> (script, upstream client).
FAST_FLOORS = {
    "floor-httptools": ("floor_httptools.py", "pyreqwest"),
    "floor-uvicorn": ("floor_uvicorn.py", "pyreqwest"),
    "floor-uvicorn-aiohttp": ("floor_uvicorn.py", "aiohttp"),
    "floor-granian": ("floor_granian.py", "pyreqwest"),
    "floor-h1": ("floor_h1.py", "pyreqwest"),  # the gateway's own server (http/h1.py, listener.py)
}


def fast_floor_server(
    name: str, mock: Server, logs: Path, cpus: list[int] | None, python: str = sys.executable
) -> Server:
    script, client = FAST_FLOORS[name]
    port = free_port()
    cmd = [python, str(HERE / script), "--port", str(port), "--upstream", mock.base, "--client", client]
    return Server(name, cmd, port, logs / f"{name}.log", cpus=cpus)


def litellm_server(mock: Server, logs: Path, cpus: list[int] | None) -> Server:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        raise NotAvailable(f"{exe.relative_to(REPO)} not found: run bench/litellm_setup.sh")
    port = free_port()
    master_key = "sk-" + secrets.token_hex(32)
    env: dict[str, str | None] = {
        "MOCK_API_BASE": f"{mock.base}/v1",
        "MOCK_API_KEY": MOCK_KEY,
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DATABASE_URL": None,
    }
    cmd = [str(exe), "--config", str(LITELLM_CONFIG), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--num_workers", "1"]
    return Server(
        "litellm", cmd, port, logs / "litellm.log", env=env, api_key=master_key, cpus=cpus, ready_timeout=180
    )


def gateway_exe(override: str | None) -> str:
    exe = override or os.environ.get("BENCH_GATEWAY_CMD") or str(REPO / ".venv" / "bin" / "unhardcoded")
    if not (Path(exe).exists() or shutil.which(exe)):
        raise NotAvailable(f"{exe} not found (make run installs it into .venv)")
    return exe


def gateway_server(
    mock: Server,
    logs: Path,
    workdir: Path,
    durability: str,
    cpus: list[int] | None,
    workers: int | None = None,
    exe: str | None = None,
    *,
    name: str | None = None,
    store_url: str | None = None,
) -> Server:
    binary = gateway_exe(exe)
    name = name or f"ours-{durability}"
    port = free_port()
    store = workdir / f"bench-{name}-{mock.port}.db"
    store_files = [Path(f"{store}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    for path in store_files:
        path.unlink(missing_ok=True)
    text = string.Template(GATEWAY_TEMPLATE.read_text()).safe_substitute(
        MOCK_PORT=str(mock.port),
        STORE_URL=store_url or f"sqlite:///{store}",
        DURABILITY=durability,
    )
    config = workdir / f"gateway-{name}.yaml"
    config.write_text(text)
    cmd = [binary, "serve", "--config", str(config), "--port", str(port)]
    if workers:
        cmd += ["--workers", str(workers)]
    api_key = os.environ.get("BENCH_GATEWAY_API_KEY", MOCK_KEY)
    return Server(
        name,
        cmd,
        port,
        logs / f"{name}.log",
        env={"MOCK_API_KEY": MOCK_KEY},
        api_key=api_key,
        cpus=cpus,
        ready_timeout=60,
        store_files=store_files,
    )
