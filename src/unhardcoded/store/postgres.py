"""PostgreSQL receipt store (psycopg 3, async), the shared store for several gateway replicas.
One writer task commits each queued group in one transaction on its own connection; reads use a few pooled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from unhardcoded.store import chain, policies, sums
from unhardcoded.store.base import (
    Item,
    Link,
    ReceiptRecord,
    StoreError,
    insert_decision_sql,
    settle,
)
from unhardcoded.store.group_commit import (
    GroupCommitStore,
    Links,
    flush_steps,
    gather,
    run_steps_async,
)
from unhardcoded.store.migrations import POSTGRES, migrate_postgres
from unhardcoded.store.plan import CommitPlan, final_sql, heads_sql, new_heads_sql, put_heads_sql, upsert_sql

Conn = psycopg.AsyncConnection[tuple[Any, ...]]
POLICY_LOCK_KEY = 0x706F6C  # any constant: the first key of the advisory locks that order policy versions

UPSERT = upsert_sql("%s", "%b")
SUMS = sums.upsert_sql("%s")
PUT_HEADS = put_heads_sql("%s")
NEW_HEADS = new_heads_sql("%s")
INSERT_DECISION = insert_decision_sql("%s", "%b")


class PostgresStore(GroupCommitStore):
    """A `ReceiptStore` in a PostgreSQL database, in `schema` when given (created if missing)."""

    placeholder = "%s"
    blob_placeholder = "%b"
    dialect = POSTGRES

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str | None = None,
        durability: str = "strict",
        busy_timeout_s: float = 10.0,
        max_batch: int = 4096,
        max_pending: int = 10_000,
        readers: int = 4,
    ) -> None:
        self.conninfo = conninfo
        self.schema = schema
        # busy_timeout_s is PostgreSQL's lock_timeout here: how long a write may wait for a lock.
        super().__init__(
            "the PostgreSQL receipt store",
            durability=durability,
            busy_timeout_s=busy_timeout_s,
            max_batch=max_batch,
            max_pending=max_pending,
        )
        self._queue: asyncio.Queue[list[Item] | None] = asyncio.Queue()
        self._writer: Conn | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle: list[Conn] = []
        self._read_slots = asyncio.Semaphore(readers)

    async def _connect(self) -> Conn:
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        try:
            if self.schema is not None:
                await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            await conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (f"{int(self.busy_timeout_s * 1000)}ms",)
            )
            # A month's roll-up groups ~16,000 sum rows: at the default 4 MB the grouping spills to disk
            # (EXPLAIN ANALYZE), and 32 MB took a quarter off the server's time. Per session, not server-wide.
            await conn.execute("SELECT set_config('work_mem', '32MB', false)")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _start(self) -> None:
        self._writer = await self._connect()
        try:
            await migrate_postgres(self._writer, self.schema)
        except BaseException:
            await self._writer.close()
            raise
        self._task = asyncio.create_task(self._run(), name="receipts-writer")

    async def _stop_writer(self) -> None:
        self._queue.put_nowait(None)
        assert self._task is not None
        await self._task

    async def _disconnect(self) -> None:
        for conn in [self._writer, *self._idle]:
            if conn is not None:
                await conn.close()
        self._idle.clear()

    async def write(self, record: ReceiptRecord, *, alone: bool = False) -> Link | None:
        wait = self._accept(record)
        future: asyncio.Future[Link | None] | None = (
            asyncio.get_running_loop().create_future() if wait else None
        )
        self.stats.written += 1
        self._queue.put_nowait([(record, future)])
        return await future if future is not None else None

    async def _run(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch, stop = gather(first, self._queue.get_nowait, asyncio.QueueEmpty, self.max_batch)
            await self._flush(batch)

    async def _flush(self, batch: list[Item]) -> None:
        # OperationalError (connection lost twice, lock timeout) is the server's state, not one record's data.
        steps = flush_steps([r for r, _ in batch], self._stored, psycopg.OperationalError)
        errors, links = await run_steps_async(steps, self._commit)
        self._count(batch, errors)
        settle(batch, errors, self._known, links)

    async def _commit(self, records: list[ReceiptRecord]) -> Links:
        for attempt in (1, 2):
            if self._writer is None or self._writer.closed or self._writer.broken:
                if self._writer is not None:
                    await self._writer.close()
                self._writer = None
                self._writer = await self._connect()
            try:
                return await self._commit_on(self._writer, records)
            except psycopg.OperationalError:
                # A lost connection (server restart, failover, idle kill): the batch is idempotent upserts,
                # so one retry on a fresh connection is safe even if the lost COMMIT did land.
                if attempt == 2 or not self._writer.broken:
                    raise
        raise AssertionError("unreachable")

    async def _commit_on(self, conn: Conn, records: list[ReceiptRecord]) -> Links:
        plan = CommitPlan.of(records, self._stored)
        found: list[str] = []
        async with conn.transaction(), conn.cursor() as cur:
            if plan.decisions:
                await cur.executemany(INSERT_DECISION, plan.decisions)
            if plan.unresolved:
                await cur.execute(plan.lookup_sql("%s"), plan.unresolved)
                found = plan.check(row[0] for row in await cur.fetchall())
            ids, tenants = plan.final_ids(), plan.tenants()
            done: dict[str, Link | None] = {}
            heads: dict[str, chain.Head] = {}
            if ids:
                # Lock the tenants' heads first, in tenant order (no deadlock between writers), then read
                # which requests are final: a writer that waited for our lock then sees our rows.
                await cur.executemany(NEW_HEADS, [(t,) for t in tenants])
                await cur.execute(heads_sql("%s", len(tenants), lock=True), tenants)
                heads = {t: chain.Head(seq, h) for t, seq, h in await cur.fetchall()}
                await cur.execute(final_sql("%s", len(ids)), ids)
                done = {
                    rid: Link(seq, h) if seq is not None else None for rid, seq, h in await cur.fetchall()
                }
            out = plan.finish(done, heads)
            await cur.executemany(UPSERT, out.rows)
            for stmt, rows in zip(SUMS, out.sums, strict=True):
                if rows:
                    await cur.executemany(stmt, rows)
            if out.heads:
                await cur.executemany(PUT_HEADS, out.heads)
        plan.committed(self._stored, found)
        return out.links

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[Conn]:
        self._check_open()
        async with self._read_slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            finally:
                if self._state == "open" and not conn.closed and not conn.broken:
                    self._idle.append(conn)
                else:
                    await conn.close()

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # A pooled connection may have been closed by a server restart while idle: one retry on a fresh one.
        for attempt in (1, 2):
            try:
                async with self._reader() as conn:
                    cur = await conn.execute(query, params)
                    return await cur.fetchall()
            except psycopg.OperationalError:
                if attempt == 2:
                    raise StoreError("the PostgreSQL store is unreachable") from None
                self._drop_idle()
        raise AssertionError("unreachable")

    async def _execute(self, query: str, params: Sequence[Any]) -> None:
        for attempt in (1, 2):
            try:
                async with self._reader() as conn:
                    await conn.execute(query, params)
                    return
            except psycopg.OperationalError:
                if attempt == 2:
                    raise StoreError("the PostgreSQL store is unreachable") from None
                self._drop_idle()

    def _drop_idle(self) -> None:
        """Forget pooled reader connections (a restarted server has closed them all)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()

    async def put_policy(
        self, tenant: str | None, name: str, doc_json: str, fingerprint: str, sha256: str
    ) -> int:
        params = policies.insert_params(tenant, name, doc_json, fingerprint, sha256, time.time())
        async with self._reader() as conn, conn.transaction():
            # Writers of one (tenant, name) take turns, so each reads the version the last one added.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (POLICY_LOCK_KEY, f"{tenant or ''}/{name}")
            )
            cur = await conn.execute(policies.insert_sql("%s"), params)
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])
