"""The tamper-evident chain as the writer builds it (store/chain.py, store/plan.py): the canonical form is
RFC 8785's, every final receipt is linked in its tenant's chain in commit order, the hashes recomputed from
the stored rows match, and concurrent writers never fork or skip a sequence number."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import sqlite3
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.store.test_store import record
from unhardcoded.store import chain
from unhardcoded.store.base import RECEIPT_COLUMNS, Link

if TYPE_CHECKING:
    from tests.store.conftest import Backend

COLUMNS = (*RECEIPT_COLUMNS, *chain.CHAIN_COLUMNS)

finite = st.floats(allow_nan=False, allow_infinity=False)
scalar = st.one_of(st.none(), st.text(), st.integers(-(2**53) + 1, 2**53 - 1), finite)


@given(st.dictionaries(st.text(alphabet="abcdefgh_AZ09 ", max_size=8), scalar, max_size=12))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_canonical_is_rfc8785(doc: dict[str, Any]) -> None:
    assert chain.canonical(doc) == rfc8785.dumps(doc)


@given(finite)
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_float_is_written_as_ecmascript_does(x: float) -> None:
    assert chain.es_number(x).encode() == rfc8785.dumps(x)
    assert chain.canonical({"x": x}) == b'{"x":' + rfc8785.dumps(x) + b"}"


@pytest.mark.parametrize(
    "x, text",
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123e18, "123000000000000000000"),
    ],
)
def test_es_number_edges(x: float, text: str) -> None:
    assert chain.es_number(x) == text


def test_record_hash_is_the_hash_of_the_stored_row() -> None:
    r = dataclasses.replace(record(1), cost_usd=3.1e-06, latency_ms=12.0, body=b'{"a": 1}')
    row = {c: getattr(r, c) for c in RECEIPT_COLUMNS}
    assert chain.record_hash(r) == chain.receipt_hash(row, r.body)
    changed = dict(row, cost_usd=3.2e-06)
    assert chain.receipt_hash(changed, r.body) != chain.receipt_hash(row, r.body)
    assert chain.receipt_hash(row, b'{"a": 2}') != chain.receipt_hash(row, r.body)


@given(
    cost=st.one_of(st.none(), finite),
    created=finite,
    latency=st.one_of(st.none(), finite),
    tenant=st.one_of(st.none(), st.text(max_size=20)),
    tokens=st.one_of(st.none(), st.integers(0, 2**53 - 1)),
    body=st.binary(max_size=64),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_writers_fast_hash_is_the_definition(
    cost: float | None,
    created: float,
    latency: float | None,
    tenant: str | None,
    tokens: int | None,
    body: bytes,
) -> None:
    r = dataclasses.replace(
        record(1),
        cost_usd=cost,
        created_at=created,
        latency_ms=latency,
        tenant=tenant,
        input_tokens=tokens,
        body=body,
    )
    row = {c: getattr(r, c) for c in RECEIPT_COLUMNS}
    assert chain.record_hash(r) == chain.receipt_hash(row, body)
    doc = {c: row[c] for c in RECEIPT_COLUMNS if c != "body"}
    doc["body_sha256"] = hashlib.sha256(body).hexdigest()
    assert chain.receipt_hash(row, body) == hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


def stored_rows(backend: Backend) -> list[dict[str, Any]]:
    query = f"SELECT {', '.join(COLUMNS)} FROM receipts WHERE status <> 'started'"
    if backend.path is not None:
        with contextlib.closing(sqlite3.connect(backend.path)) as conn:
            rows = conn.execute(query).fetchall()
    else:
        with psycopg.connect(backend.url.split("?")[0], autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(backend.schema or "public")))
            rows = conn.execute(query).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def walk(rows: list[dict[str, Any]]) -> dict[str, Link]:
    """Check each tenant's chain the way a verifier would; return its head."""
    heads: dict[str, Link] = {}
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_tenant.setdefault(row["tenant"] or "", []).append(row)
    for tenant, chained in by_tenant.items():
        chained.sort(key=lambda r: r["chain_seq"])
        assert [r["chain_seq"] for r in chained] == list(range(1, len(chained) + 1)), tenant
        prev = chain.GENESIS
        for r in chained:
            assert r["chain_prev"] == prev
            body = bytes(r["body"])
            own = chain.receipt_hash(r, body)
            assert r["chain_hash"] == chain.entry_hash(r["tenant"], r["chain_seq"], prev, own)
            prev = r["chain_hash"]
        heads[tenant] = Link(chained[-1]["chain_seq"], prev)
    return heads


async def test_finals_are_chained_per_tenant_and_the_stored_rows_verify(backend: Backend) -> None:
    writes = []
    for i in range(60):
        tenant = [None, "acme", "globex"][i % 3]
        final = record(i, blob=i == 0, tenant=tenant, cost_usd=[None, 1.5e-06, 0.25, 7.0][i % 4])
        writes.append(dataclasses.replace(final, status="started", cost_usd=None))
        writes.append(final)
    async with backend.make() as store:
        for w in writes[:20]:  # one by one (SQLite commits these inline)
            await store.write(w)
        links = await asyncio.gather(*(store.write(w) for w in writes[20:]))  # group commits
        again = await store.write(writes[-1])  # a final written twice keeps its place
    assert again is not None and again == links[-1]
    assert all(link is None for link in links[0::2])  # `started` records are not chained
    heads = walk(stored_rows(backend))
    assert {t: h.seq for t, h in heads.items()} == {"": 20, "acme": 20, "globex": 20}
    assert links[-1] in heads.values()


async def test_two_writers_on_one_store_share_one_sequence(backend: Backend) -> None:
    """Two store objects (two writers, as two gateway workers have) racing on one tenant's chain."""
    async with backend.make() as one, backend.make() as two:
        writes = [
            (one if i % 2 else two).write(record(i, blob=i < 2, tenant="acme", workload=f"w{i % 5}"))
            for i in range(200)
        ]
        links = await asyncio.gather(*writes)
    assert sorted(link.seq for link in links if link is not None) == list(range(1, 201))
    assert walk(stored_rows(backend))["acme"].seq == 200
