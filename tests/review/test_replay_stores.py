"""Replay and trace on a PostgreSQL store by URL, and a trace of several calls replayed node by node."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.e2e.harness import Harness
from tests.review.conftest import EU60, History, chat, cli, load_json, run_async, with_store
from unhardcoded.review.replay import ReplayNotFound, replay

PG_URL = os.environ.get("UNHARDCODED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_store_url() -> Iterator[str]:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL}")
    schema = f"uh_review_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.postgres
def test_replay_and_trace_on_postgres_by_url(pg_store_url: str, tmp_path: Path) -> None:
    h = Harness.start(tmp_path, config={"store": pg_store_url})
    try:
        ids = [chat(h, "eu-quality"), chat(h, EU60, stream=True), chat(h, model="alpha/cheap")]
    finally:
        h.stop()
    for rid in ids:
        out = cli("replay", rid, "--store", pg_store_url, "--json")
        assert out.returncode == 0, out.stdout + out.stderr
        assert load_json(out.stdout)["receipts"][0]["as_then"]["identical"]
    shown = cli("trace", ids[0], "--store", pg_store_url)
    assert shown.returncode == 0 and shown.stdout.startswith("alpha/mid won")
    listed = load_json(cli("trace", "--list", "--store", pg_store_url, "--json").stdout)["receipts"]
    assert {r["request_id"] for r in listed} == set(ids)


def test_a_trace_of_several_calls_replays_each_node(tmp_path: Path) -> None:
    trace_id = uuid.uuid4().hex
    h = Harness.start(tmp_path)
    try:
        for n in range(3):
            body: dict[str, Any] = {
                "model": "auto",
                "messages": [{"role": "user", "content": "x" * (300 * n + 1)}],
            }
            status, _, _ = h.post(
                "/v1/chat/completions",
                {**body, "policy": EU60},
                headers={"traceparent": f"00-{trace_id}-{n + 1:016x}-01"},
            )
            assert status == 200
    finally:
        h.stop()
    hist = History(tmp_path / "receipts.db")

    async def work(store: Any) -> dict[str, Any]:
        return await replay(store, trace_id=trace_id, catalog_now=None)

    out = run_async(with_store(hist.url, work))
    assert len(out["receipts"]) == 3 and out["identical"] and out["mismatches"] == 0
    assert {r["trace_id"] for r in out["receipts"]} == {trace_id}
    assert all(r["now"]["error"].startswith("no catalog for now") for r in out["receipts"])
    by_cli = cli("replay", trace_id, "--store", str(hist.db))
    assert by_cli.returncode == 0 and by_cli.stdout.count("as then  identical") == 3

    async def missing(store: Any) -> None:
        with pytest.raises(ReplayNotFound):
            await replay(store, trace_id="0" * 32, catalog_now=None)
        with pytest.raises(ReplayNotFound):
            await replay(store, request_id="req_none", catalog_now=None)

    run_async(with_store(hist.url, missing))
