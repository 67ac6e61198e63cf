"""`unhardcoded verify` against a store tampered with under the gateway: the SQLite file and the PostgreSQL
tables are edited directly (as someone with write access to the database would), then the walker must name
the first sequence number that cannot be trusted, and an untouched store must pass.

The store: tenant acme with 12 receipts (signed checkpoints at 4, 8 and 12; from receipt 7 on, the calls
name a second decision) and tenant beta with 3 (one checkpoint at 3), so each tampering is also shown to
stay in the tenant it touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql

from tests.store.conftest import PG_URL
from tests.store.test_store import DECISIONS, record
from unhardcoded.gateway.checkpoints import Checkpointer
from unhardcoded.gateway.signing import Signer, checkpoint_message
from unhardcoded.review.verify import Report, verify_store
from unhardcoded.store import chain
from unhardcoded.store.chain_read import ROW_COLUMNS, ChainReader

if TYPE_CHECKING:
    from tests.store.conftest import Backend

SIGNER = Signer.new()


@dataclass
class Raw:
    """Direct SQL on the backend's tables, '?' placeholders, committed at the end of the block."""

    conn: Any
    ph: str

    def __call__(self, query: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(query.replace("?", self.ph), params)
        return list(cur.fetchall()) if cur.description else []


@contextlib.contextmanager
def raw(backend: Backend) -> Iterator[Raw]:
    if backend.path is not None:
        with contextlib.closing(sqlite3.connect(backend.path)) as lite:
            yield Raw(lite, "?")
            lite.commit()
        return
    with psycopg.connect(PG_URL) as pg:
        pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(backend.schema or "public")))
        yield Raw(pg, "%s")
        pg.commit()


async def build(backend: Backend) -> dict[int, str]:
    """The store described above; returns acme's seq -> chain hash."""
    async with backend.make() as store:
        cps = Checkpointer(store, SIGNER, every=4, every_s=3600)
        links = {}
        for i in range(1, 13):
            link = await store.write(record(i, d=0 if i < 7 else 1))
            assert link is not None
            links[link.seq] = link.hash
            if i <= 3:
                await store.write(record(100 + i, tenant="beta"))
            if i % 4 == 0:
                await cps.run_once()
        await cps.run_once(force=True)  # beta's 3
    return links


async def verify(backend: Backend, *, keys: list[Any] | None = None, **kw: Any) -> Report:
    async with backend.make() as store:
        reader = ChainReader(store, page=5)  # several pages per chain
        return await verify_store(reader, public_keys=[SIGNER.public] if keys is None else keys, **kw)


def only_problem(report: Report) -> tuple[str, int | None, str]:
    assert report.exit_code == 1, report.to_dict()
    [p] = report.problems
    beta = next(c for c in report.chains if c.tenant == "beta")
    assert beta.problem is None and beta.entries == 3  # the other tenant's chain is unaffected
    return p.tenant, p.seq, p.what


def relink(db: Raw, tenant: str, start: int) -> None:
    """What a careful forger does after editing entries: recompute every link from `start` on and fix the
    tenant's head, exactly as the writer would have."""
    prev = (
        chain.GENESIS
        if start == 1
        else db("SELECT chain_hash FROM receipts WHERE tenant = ? AND chain_seq = ?", (tenant, start - 1))[0][
            0
        ]
    )
    rows = db(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM receipts WHERE tenant = ? AND chain_seq >= ? "
        "ORDER BY chain_seq",
        (tenant, start),
    )
    seq = start - 1
    for values in rows:
        row = dict(zip(ROW_COLUMNS, values, strict=True))
        seq = row["chain_seq"]
        h = chain.entry_hash(tenant, seq, prev, chain.receipt_hash(row, bytes(row["body"])))
        db(
            "UPDATE receipts SET chain_prev = ?, chain_hash = ? WHERE request_id = ?",
            (prev, h, row["request_id"]),
        )
        prev = h
    db("UPDATE chain_heads SET seq = ?, hash = ? WHERE tenant = ?", (seq, prev, tenant))


async def test_an_untouched_store_verifies(backend: Backend) -> None:
    links = await build(backend)
    report = await verify(backend, claims=[(12, links[12]), (5, links[5])], tenant="acme")
    assert report.exit_code == 0, report.to_dict()
    [acme] = report.chains
    assert (acme.entries, acme.last_seq, acme.last_hash, acme.checkpoints) == (12, 12, links[12], 3)
    everything = await verify(backend)
    assert everything.exit_code == 0 and [c.entries for c in everything.chains] == [12, 3]


async def test_one_byte_of_a_body(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        [(body,)] = db("SELECT body FROM receipts WHERE tenant = 'acme' AND chain_seq = 5")
        body = bytes(body)
        i = body.index(b'"ok"')
        db(
            "UPDATE receipts SET body = ? WHERE tenant = 'acme' AND chain_seq = 5",
            (body[:i] + b'"oK"' + body[i + 4 :],),
        )
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 5) and "req-00005 was altered" in what


async def test_a_cost(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        db("UPDATE receipts SET cost_usd = 0.0011 WHERE tenant = 'acme' AND chain_seq = 7")
    assert only_problem(await verify(backend))[:2] == ("acme", 7)


@pytest.mark.parametrize(
    "last, missing",
    [(6, "entry 6 is missing"), (10, "entries 6..10 are missing")],  # 6..10: a whole page of the walk
)
async def test_rows_deleted_in_the_middle(backend: Backend, last: int, missing: str) -> None:
    await build(backend)
    with raw(backend) as db:
        db("DELETE FROM receipts WHERE tenant = 'acme' AND chain_seq BETWEEN 6 AND ?", (last,))
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 6) and missing in what


async def test_the_last_rows_deleted_and_the_head_fixed_are_caught_by_the_checkpoint(
    backend: Backend,
) -> None:
    links = await build(backend)
    with raw(backend) as db:
        db("DELETE FROM receipts WHERE tenant = 'acme' AND chain_seq >= 10")
        db("UPDATE chain_heads SET seq = 9, hash = ? WHERE tenant = 'acme'", (links[9],))
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 10) and "signed checkpoint" in what and "truncated" in what


async def test_the_last_rows_and_their_checkpoint_deleted_are_caught_by_a_client_held_hash(
    backend: Backend,
) -> None:
    links = await build(backend)
    with raw(backend) as db:
        db("DELETE FROM receipts WHERE tenant = 'acme' AND chain_seq >= 10")
        db("DELETE FROM checkpoints WHERE tenant = 'acme' AND seq = 12")
        db("UPDATE chain_heads SET seq = 9, hash = ? WHERE tenant = 'acme'", (links[9],))
    assert (await verify(backend, tenant="acme")).exit_code == 0  # what the store alone can no longer show
    report = await verify(backend, tenant="acme", claims=[(12, links[12])])
    [p] = report.problems
    assert (p.seq, report.exit_code) == (10, 1) and "client-held receipt vouches for entry 12" in p.what


async def test_the_last_rows_deleted_are_caught_by_the_chain_head(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        db("DELETE FROM receipts WHERE tenant = 'acme' AND chain_seq >= 11")
        db("DELETE FROM checkpoints WHERE tenant = 'acme'")
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 11) and "chain_heads says the chain reaches 12" in what


async def test_two_rows_swapped(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        db("UPDATE receipts SET chain_seq = -1 WHERE tenant = 'acme' AND chain_seq = 3")
        db("UPDATE receipts SET chain_seq = 3 WHERE tenant = 'acme' AND chain_seq = 9")
        db("UPDATE receipts SET chain_seq = 9 WHERE tenant = 'acme' AND chain_seq = -1")
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 3) and "reordered" in what


def _forge(db: Raw, at: int) -> None:
    """Splice a forged receipt in at `at` (later entries move up one) and recompute the chain after it."""
    rows = db(f"SELECT {', '.join(ROW_COLUMNS)} FROM receipts WHERE tenant = 'acme' AND chain_seq = ?", (at,))
    forged = dict(zip(ROW_COLUMNS, rows[0], strict=True))
    forged.update(request_id="req-forged", cost_usd=0.0)
    last = db("SELECT MAX(chain_seq) FROM receipts WHERE tenant = 'acme'")[0][0]
    for seq in range(last, at - 1, -1):  # one by one, top down: the (tenant, seq) index stays unique
        db("UPDATE receipts SET chain_seq = ? WHERE tenant = 'acme' AND chain_seq = ?", (seq + 1, seq))
    db(
        f"INSERT INTO receipts ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})",
        [forged[c] for c in ROW_COLUMNS],
    )
    relink(db, "acme", at)


async def test_a_forged_row_with_a_recomputed_chain_is_caught_by_the_checkpoint(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        _forge(db, 5)
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 5) and "entries 5..8 were rewritten" in what
    assert (await verify(backend, tenant="acme", keys=[])).cannot  # checkpoints but no key: cannot verify


async def test_a_forged_row_with_rewritten_checkpoints_fails_their_signature(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        _forge(db, 5)
        for seq in (8, 12):  # what the chain now says there; the signature cannot follow without the key
            [(h,)] = db("SELECT chain_hash FROM receipts WHERE tenant = 'acme' AND chain_seq = ?", (seq,))
            db("UPDATE checkpoints SET hash = ? WHERE tenant = 'acme' AND seq = ?", (h, seq))
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 5) and "checkpoint of entry 8 is forged or altered" in what


async def test_a_forged_row_with_checkpoints_signed_by_another_key(backend: Backend) -> None:
    await build(backend)
    forger = Signer.new()
    with raw(backend) as db:
        _forge(db, 5)
        for seq in (8, 12):
            [(h,)] = db("SELECT chain_hash FROM receipts WHERE tenant = 'acme' AND chain_seq = ?", (seq,))
            db("DELETE FROM checkpoints WHERE tenant = 'acme' AND seq = ?", (seq,))
            at = time.time()
            sig = forger.sign(checkpoint_message("acme", seq, h, at))
            db(
                "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                ("acme", seq, h, at, forger.public.key_id, sig),
            )
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 5) and "signed by an unknown key" in what


async def test_a_stored_decision_altered(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        db(
            "UPDATE decisions SET blob = ? WHERE hash = ?",
            (DECISIONS[1][1].replace(b"w1", b"w9"), DECISIONS[1][2]),
        )
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 7) and f"decision {DECISIONS[1][2]} was altered" in what


async def test_a_stored_decision_deleted(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        db("DELETE FROM decisions WHERE hash = ?", (DECISIONS[0][2],))
    report = await verify(backend)  # both tenants' first receipts name it
    assert [(p.tenant, p.seq) for p in report.problems] == [("acme", 1), ("beta", 1)]
    assert f"decision {DECISIONS[0][2]} is not in the store" in report.problems[0].what


async def test_a_final_row_inserted_outside_the_chain(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        rows = db(f"SELECT {', '.join(ROW_COLUMNS)} FROM receipts WHERE tenant = 'acme' AND chain_seq = 2")
        row = dict(zip(ROW_COLUMNS, rows[0], strict=True))
        row.update(
            request_id="req-slipped-in",
            chain_seq=None,
            chain_prev=None,
            chain_hash=None,
            finished_at=time.time(),
        )
        db(
            f"INSERT INTO receipts ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})",
            [row[c] for c in ROW_COLUMNS],
        )
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", None) and "req-slipped-in is final but outside the chain" in what


async def test_the_chain_head_altered(backend: Backend) -> None:
    await build(backend)
    with raw(backend) as db:
        db("UPDATE chain_heads SET hash = ? WHERE tenant = 'acme'", ("f" * 64,))
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 12) and "chain_heads holds another hash" in what


@pytest.mark.parametrize("claim_seq", [3, 12])
async def test_a_client_held_hash_that_differs(backend: Backend, claim_seq: int) -> None:
    await build(backend)
    report = await verify(backend, tenant="acme", claims=[(claim_seq, "e" * 64)])
    [p] = report.problems
    assert report.exit_code == 1 and p.seq == (1 if claim_seq == 3 else 9)  # from the last hash that matched
    assert "does not match the client-held receipt" in p.what


async def test_an_entry_appended_beyond_the_head(backend: Backend) -> None:
    links = await build(backend)
    with raw(backend) as db:
        rows = db(f"SELECT {', '.join(ROW_COLUMNS)} FROM receipts WHERE tenant = 'acme' AND chain_seq = 12")
        row = dict(zip(ROW_COLUMNS, rows[0], strict=True))
        row.update(request_id="req-appended", chain_seq=13, chain_prev=links[12])
        row["chain_hash"] = chain.entry_hash(
            "acme", 13, links[12], chain.receipt_hash(row, bytes(row["body"]))
        )
        db(
            f"INSERT INTO receipts ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})",
            [row[c] for c in ROW_COLUMNS],
        )
    tenant, seq, what = only_problem(await verify(backend))
    assert (tenant, seq) == ("acme", 13) and "beyond chain_heads (12)" in what


async def test_a_live_store_verifies_while_receipts_are_written(backend: Backend) -> None:
    """Receipts and checkpoints committed during the walk never look like tampering."""
    async with backend.make() as store:
        cps = Checkpointer(store, SIGNER, every=7, every_s=3600)
        for i in range(30):
            await store.write(record(i))

        async def keep_writing() -> None:
            for i in range(30, 230):
                await store.write(record(i, tenant="acme" if i % 3 else "beta"))
                if i % 10 == 0:
                    await cps.run_once()

        writer = asyncio.create_task(keep_writing())
        reports = []
        while not writer.done():
            reports.append(await verify_store(ChainReader(store, page=4), public_keys=[SIGNER.public]))
        await writer
        reports.append(await verify_store(ChainReader(store, page=4), public_keys=[SIGNER.public]))
    assert all(r.exit_code == 0 for r in reports), [r.to_dict() for r in reports if r.exit_code]
    assert sum(c.entries for c in reports[-1].chains) == 230 and len(reports) > 1
