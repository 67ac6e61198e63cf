"""`unhardcoded serve --workers 2`: two processes on one port, one SQLite store, both serving, nothing lost.

Which worker served a call is read from the kernel, not from the gateway: the test keeps its connection
open and looks up which worker process holds the server end of it (/proc, Linux only, as SO_REUSEPORT is).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker")
# Searched in the whole log, not line by line: with PYTHONUNBUFFERED set, print() writes the text and its
# newline separately, so two workers starting together can interleave as "...pid 1...pid 2\n\n".
_PID = re.compile(r"\bpid (\d+)")
_ESTABLISHED = "01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def _server_socket_inodes(server_port: int, client_port: int) -> set[str]:
    """Inodes of the accepted sockets whose local port is the gateway's and remote port is ours."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for row in f:
                cols = row.split()
                local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
                if (
                    state == _ESTABLISHED
                    and int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    found.add(inode)
    return found


def _owner(pids: list[int], server_port: int, client_port: int) -> int:
    """The worker whose process holds the server end of the connection from `client_port`."""
    inodes = _server_socket_inodes(server_port, client_port)
    assert inodes, f"no established connection {client_port} -> {server_port}"
    owners = []
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        if not fd_dir.exists():  # that worker died: the callers' loop reports who served what
            continue
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed between listing and reading
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners.append(pid)
                break
    assert len(owners) == 1, (owners, pids)
    return owners[0]


def _call(port: int, n: int) -> tuple[http.client.HTTPConnection, str]:
    """One chat call; the connection is left open (the caller closes it) so its owner can be looked up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": f"n{n}"}]})
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    assert resp.status == 200, raw
    rid = resp.getheader("x-unhardcoded-request-id")
    assert rid
    return conn, rid


@pytest.mark.slow
def test_two_workers_share_the_port_and_the_store(tmp_path: Path) -> None:
    up, gw = _free_port(), _free_port()
    cfg = tmp_path / "u.yaml"
    cfg.write_text(
        "providers:\n"
        f"  sim: {{kind: openai, base_url: 'http://127.0.0.1:{up}/v1', api_key_env: SIM_KEY}}\n"
        "catalog:\n  bundled: false\n  deployments:\n"
        "    - {id: sim/a, model: sim/a, provider: sim, upstream_model: a, price_input_per_mtok: 1,\n"
        "       price_output_per_mtok: 2, context_window: 100000, capabilities: [streaming]}\n"
        f"store: sqlite:///{tmp_path / 'r.db'}\n"
    )
    env = {**os.environ, "SIM_KEY": "sk-sim"}
    fake = subprocess.Popen(
        [sys.executable, "-m", "unhardcoded.testing.fake_openai", "--port", str(up)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "unhardcoded.cli", "serve", "--config", str(cfg), "--port", str(gw),
         "--workers", "2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert server.stderr is not None
    stderr = server.stderr

    def read_stderr() -> None:  # a thread, so that the pipe never fills and blocks the workers
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    log: list[str] = []
    failure: Exception | None = None
    try:
        # A worker prints its pid line before it binds, and the first to bind answers /healthz while the
        # other may still be starting: so wait for both lines, then call until both have served.
        pids: list[int] = []
        deadline = time.time() + 60
        while len(pids) < 2:
            assert time.time() < deadline and server.poll() is None, f"exit {server.poll()}: {''.join(log)}"
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            log.append(line)
            pids = [int(pid) for pid in _PID.findall("".join(log))]
        assert len(set(pids)) == 2, log
        _wait(f"http://127.0.0.1:{up}/v1/models")
        _wait(f"http://127.0.0.1:{gw}/healthz")
        served: dict[int, list[str]] = {pid: [] for pid in pids}
        n = 0
        # The kernel spreads new connections over the two listeners by a hash: each call has an even chance
        # to reach either, so this stops after a few calls once both listen; the cap only bounds a failure.
        while n < 40 or not all(served.values()):
            assert n < 400, {pid: len(ids) for pid, ids in served.items()}
            conn, rid = _call(gw, n)
            assert conn.sock is not None
            try:
                served[_owner(pids, gw, conn.sock.getsockname()[1])].append(rid)
            finally:
                conn.close()
            n += 1
        for pid, ids in served.items():
            assert ids, f"worker {pid} served no call"
        for rid in (rid for ids in served.values() for rid in ids):  # each worker reads what the other wrote
            with urllib.request.urlopen(f"http://127.0.0.1:{gw}/x/receipts/{rid}", timeout=10) as r:
                assert json.loads(r.read())["status"] == "ok"
    except Exception as exc:  # reported below with the workers' log, which says why
        failure = exc
    finally:
        for p in (server, fake):
            p.terminate()
        for p in (server, fake):
            p.wait(20)
        reader.join(10)
        server.stderr.close()
    while not lines.empty():
        log.append(lines.get())
    if failure is not None:
        raise AssertionError(f"{failure!r}\n--- the gateway's stderr ---\n{''.join(log)}") from failure
    assert server.returncode is not None
    assert len(_PID.findall("".join(log))) == 2, "".join(log)


def test_pid_lines_are_found_when_two_workers_interleave() -> None:
    interleaved = "unhardcoded: 1 deployments, pid 9560unhardcoded: 1 deployments, pid 9561\n\n"
    assert _PID.findall(interleaved) == ["9560", "9561"]
