"""`unhardcoded serve --workers 2`: two processes on one port, one SQLite store, nothing lost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


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
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "unhardcoded.testing.fake_openai", "--port", str(up)], env=env
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "unhardcoded.cli",
                "serve",
                "--config",
                str(cfg),
                "--port",
                str(gw),
                "--workers",
                "2",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    try:
        _wait(f"http://127.0.0.1:{up}/v1/models")
        _wait(f"http://127.0.0.1:{gw}/healthz")
        ids = []
        for i in range(40):
            body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": f"n{i}"}]}).encode()
            req = urllib.request.Request(
                f"http://127.0.0.1:{gw}/v1/chat/completions", body, {"content-type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                ids.append(r.headers["x-unhardcoded-request-id"])
        for rid in ids:  # whichever worker answers, it reads what the other wrote
            with urllib.request.urlopen(f"http://127.0.0.1:{gw}/x/receipts/{rid}", timeout=10) as r:
                assert json.loads(r.read())["status"] == "ok"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    assert procs[1].stderr is not None
    with procs[1].stderr as err:
        log = err.read()
    assert log.count("pid ") == 2, log  # two worker processes started
