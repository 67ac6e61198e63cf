"""A spend cap shared by two gateway processes on one PostgreSQL database, raced past by concurrent calls
through both: the spend committed past the cap is at most the calls that were in flight.

One deployment, priced 1 and 2 USD per million input and output tokens; the fake provider bills ceil(chars
/ 4) input tokens and one output token per word, so a call's cost is known from its message. A first call
spends most of the cap; then both processes are called at once, `PER_PROCESS` calls in flight in each, each
call answered after `DELAY_MS`, far more calls than the rest of the cap pays for.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from tests.faults.procs import free_port, wait_up
from tests.store.conftest import PG_URL, postgres_unavailable
from unhardcoded.store.postgres import PostgresStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CAP = Decimal("0.0003")  # 300 micro-dollars a day
PER_PROCESS = 2  # calls in flight in each process at any time: 4 in all
CALLS = 40  # in the race, 20 through each process
DELAY_MS = 150
SMALL = "race0001"  # 8 chars, one word: 2 input + 1 output token = 4e-6 USD
BIG = "x" * 4 * 272  # 272 input + 1 output token = 274e-6 USD: 26e-6 (6.5 small calls) left, under 10 %


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


def _call(port: int, text: str) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    body = orjson.dumps({"model": "auto", "max_tokens": 1, "messages": [{"role": "user", "content": text}]})
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=body,
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def _costs(schema: str) -> list[Decimal]:
    async def read() -> list[Decimal]:
        async with PostgresStore(PG_URL, schema=schema) as store:
            rows = await store._fetch(
                "SELECT cost_usd FROM receipts WHERE status = 'ok' ORDER BY created_at", ()
            )
        return [Decimal(repr(c)) for (c,) in rows]

    return asyncio.run(read())


def test_two_processes_race_past_a_cap_by_at_most_the_calls_in_flight(tmp_path: Path, schema: str) -> None:
    up, ports = free_port(), [free_port(), free_port()]
    cfg = tmp_path / "u.yaml"
    cfg.write_text(
        "providers:\n"
        f"  sim: {{kind: openai, base_url: 'http://127.0.0.1:{up}/v1', api_key_env: SIM_KEY}}\n"
        "catalog:\n  bundled: false\n  deployments:\n"
        "    - {id: sim/a, model: sim/a, provider: sim, upstream_model: a, price_input_per_mtok: 1,\n"
        "       price_output_per_mtok: 2, context_window: 100000, max_output_tokens: 4096}\n"
        f"store: '{PG_URL}?schema={schema}'\n"
        f"budgets: [{{id: daily, usd: {CAP}, period: day}}]\n"
    )
    env = {**os.environ, "SIM_KEY": "sk-sim"}
    fake = [sys.executable, "-m", "unhardcoded.testing.fake_openai", "--port", str(up)]
    procs = [subprocess.Popen([*fake, "--delay-ms", str(DELAY_MS)], env=env, stdout=subprocess.DEVNULL)]
    try:
        wait_up(f"http://127.0.0.1:{up}/v1/models")
        for port in ports:
            serve = [
                sys.executable,
                "-m",
                "unhardcoded.cli",
                "serve",
                "--config",
                str(cfg),
                "--port",
                str(port),
            ]
            procs.append(
                subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        for port in ports:
            wait_up(f"http://127.0.0.1:{port}/healthz")
        status, first = _call(ports[0], BIG)
        assert status == 200, first
        with ThreadPoolExecutor(2 * PER_PROCESS) as pool:  # two workers per port: PER_PROCESS in flight each
            jobs = [pool.submit(_call, ports[i % 2], SMALL) for i in range(CALLS)]
            answers = [j.result() for j in jobs]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(30)
    refused = [body for status, body in answers if status == 429]
    assert refused and "daily" in refused[0]["error"]["message"]  # the cap was reached and named
    assert all(status in (200, 429) for status, _ in answers), answers
    costs = _costs(schema)
    big, small = costs[0], costs[1:]
    assert big == Decimal("274e-6") and set(small) == {Decimal("4e-6")}
    assert len(small) == sum(1 for status, _ in answers if status == 200) >= 1
    overshoot = sum(costs) - CAP
    # At most the calls in flight when the last call was let through: 2 x PER_PROCESS small ones.
    assert overshoot <= 2 * PER_PROCESS * Decimal("4e-6"), (overshoot, len(small))
