"""Two gateway processes on one PostgreSQL database, called at the same time for one tenant: one chain,
sequence numbers 1..N each given once (no gap, no fork), every response's x-unhardcoded-receipt is the
stored row, both processes' signed checkpoints agree with the chain, and the whole store verifies."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.store.conftest import PG_URL, postgres_unavailable
from unhardcoded.gateway.signing import Signer
from unhardcoded.review.verify import verify_store
from unhardcoded.store.chain_read import ChainReader
from unhardcoded.store.postgres import PostgresStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CALLS = 120  # 60 per process, 8 at a time


@pytest.fixture
def schema() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason is not None:
        message = f"no PostgreSQL server answers at {PG_URL} ({reason}); set UNHARDCODED_TEST_PG"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- CI=true, so this is a failure, not a skip")
        pytest.skip(message)
    name = f"uh_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        assert all(p.poll() is None for p in procs), "a process exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def _call(port: int, n: int) -> tuple[str, str]:
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "n%d"}]}' % n
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=body,
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers["x-unhardcoded-request-id"], r.headers["x-unhardcoded-receipt"]


def test_two_processes_one_tenant_one_chain(tmp_path: Path, schema: str) -> None:
    signer = Signer.new()
    (tmp_path / "signing.pem").write_bytes(signer.private_pem())
    up, ports = _free_port(), [_free_port(), _free_port()]
    cfg = tmp_path / "u.yaml"
    cfg.write_text(
        "providers:\n"
        f"  sim: {{kind: openai, base_url: 'http://127.0.0.1:{up}/v1', api_key_env: SIM_KEY}}\n"
        "catalog:\n  bundled: false\n  deployments:\n"
        "    - {id: sim/a, model: sim/a, provider: sim, upstream_model: a, price_input_per_mtok: 1,\n"
        "       price_output_per_mtok: 2, context_window: 100000, capabilities: [streaming]}\n"
        f"store: '{PG_URL}?schema={schema}'\n"
        f"checkpoints: {{signing_key_file: '{tmp_path / 'signing.pem'}', every: 7, every_s: 3600}}\n"
    )
    env = {**os.environ, "SIM_KEY": "sk-sim"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "unhardcoded.testing.fake_openai", "--port", str(up)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
    ]
    try:
        _wait(f"http://127.0.0.1:{up}/v1/models", procs)
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "unhardcoded.cli",
                        "serve",
                        "--config",
                        str(cfg),
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait(f"http://127.0.0.1:{port}/healthz", procs)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: _call(ports[n % 2], n), range(CALLS)))
    finally:
        for p in reversed(procs):
            p.terminate()  # SIGTERM: each gateway closes cleanly, signing its last checkpoint
        for p in procs:
            p.wait(30)
    seqs = sorted(int(proof.split(":")[0]) for _, proof in answers)
    assert seqs == list(range(1, CALLS + 1))  # each number once: no gap, no fork

    async def check() -> None:
        async with PostgresStore(PG_URL, schema=schema) as store:
            for rid, proof in answers:
                [(seq, h)] = await store._fetch(
                    "SELECT chain_seq, chain_hash FROM receipts WHERE request_id = %s", (rid,)
                )
                assert f"{seq}:{h}" == proof
            reader = ChainReader(store)
            report = await verify_store(reader, public_keys=[signer.public], claims=[(CALLS, "0" * 64)])
            assert report.exit_code == 1  # a wrong client-held hash is caught (the test can fail)
            last = next(p for _, p in answers if p.startswith(f"{CALLS}:"))
            report = await verify_store(
                reader, public_keys=[signer.public], claims=[(CALLS, last.split(":")[1])]
            )
            assert report.exit_code == 0, report.to_dict()
            [result] = report.chains
            assert (result.entries, result.last_seq) == (CALLS, CALLS)
            cps = await reader.checkpoints("")
            assert cps and cps[-1].seq == CALLS  # the closing checkpoints reach the end of the chain
            assert result.checkpoints == len(cps)

    asyncio.run(check())
