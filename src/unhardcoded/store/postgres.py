"""PostgreSQL receipt store (psycopg 3, async), the shared store for several gateway replicas.
One writer task commits each queued group in one transaction on its own connection; reads use a few pooled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from unhardcoded.store.base import (
    DecisionCache,
    Item,
    ReceiptRecord,
    StoreClosedError,
    StoreError,
    StoreStats,
    StoreWriteError,
    check_durability,
    check_record,
    decision_rows,
    decisions_sql,
    expand,
    expand_trace,
    get_sql,
    insert_catalog_sql,
    insert_decision_sql,
    search_sql,
    settle,
    summaries,
    trace_sql,
    unknown_decision,
    unresolved_hashes,
    upsert_receipt_sql,
    write_error,
)
from unhardcoded.store.migrations import migrate_postgres

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

UPSERT = upsert_receipt_sql("%s", "%b")
INSERT_DECISION = insert_decision_sql("%s", "%b")


class PostgresStore:
    """A `ReceiptStore` in a PostgreSQL database, in `schema` when given (created if missing)."""

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
        self.durability = check_durability(durability)
        self.stats = StoreStats()
        self.busy_timeout_s = busy_timeout_s  # lock_timeout: how long a write may wait for a lock
        self.max_batch = max_batch
        self.max_pending = max_pending  # beyond this, fast writes wait like strict ones rather than pile up
        self._state = "new"
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._known = DecisionCache()
        self._stored = DecisionCache()
        self._writer: Conn | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle: list[Conn] = []
        self._read_slots = asyncio.Semaphore(readers)

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _connect(self) -> Conn:
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        try:
            if self.schema is not None:
                await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            await conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (f"{int(self.busy_timeout_s * 1000)}ms",)
            )
        except BaseException:
            await conn.close()
            raise
        return conn

    async def open(self) -> None:
        if self._state != "new":
            raise StoreError("this PostgreSQL store was already opened")
        self._writer = await self._connect()
        try:
            await migrate_postgres(self._writer, self.schema)
        except BaseException:
            await self._writer.close()
            raise
        self._task = asyncio.create_task(self._run(), name="receipts-writer")
        self._state = "open"

    async def close(self) -> None:
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        self._queue.put_nowait(None)
        assert self._task is not None
        await self._task
        self.stats.lost_on_close = self.stats.pending
        for conn in [self._writer, *self._idle]:
            if conn is not None:
                await conn.close()
        self._idle.clear()

    def known_decision(self, decision_hash: str) -> bool:
        return decision_hash in self._known

    async def write(self, record: ReceiptRecord, *, alone: bool = False) -> None:
        if self._state != "open":
            raise StoreClosedError("the PostgreSQL receipt store is not open")
        if record.decision_blob is not None and record.decision_hash is not None:
            self._known.add(record.decision_hash)
        wait = self.durability == "strict" or self.stats.pending >= self.max_pending
        future = asyncio.get_running_loop().create_future() if wait else None
        self.stats.written += 1
        self._queue.put_nowait((record, future))
        if future is not None:
            await future

    async def _run(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._flush(batch)

    async def _flush(self, batch: list[Item]) -> None:
        """Commit a group; if it fails on one record's data, retry one by one so only that record fails."""
        records = [record for record, _ in batch]
        errors: list[StoreWriteError | None] = [check_record(r, self._stored) for r in records]
        good = [i for i, e in enumerate(errors) if e is None]
        try:
            await self._commit([records[i] for i in good])
        except Exception as exc:
            if isinstance(exc, psycopg.OperationalError) or len(good) == 1:
                for i in good:
                    errors[i] = write_error(records[i], exc)
            else:
                for i in good:
                    try:
                        await self._commit([records[i]])
                    except Exception as one:
                        errors[i] = write_error(records[i], one)
        failed = sum(e is not None for e in errors)
        self.stats.failed += failed
        self.stats.committed += len(batch) - failed
        self.stats.batches += 1
        settle(batch, errors, self._known)

    async def _commit(self, records: list[ReceiptRecord]) -> None:
        if not records:
            return
        for attempt in (1, 2):
            if self._writer is None or self._writer.closed or self._writer.broken:
                if self._writer is not None:
                    await self._writer.close()
                self._writer = None
                self._writer = await self._connect()
            try:
                await self._commit_on(self._writer, records)
                return
            except psycopg.OperationalError:
                # A lost connection (server restart, failover, idle kill): the batch is idempotent upserts,
                # so one retry on a fresh connection is safe even if the lost COMMIT did land.
                if attempt == 2 or not self._writer.broken:
                    raise

    async def _commit_on(self, conn: Conn, records: list[ReceiptRecord]) -> None:
        decisions = decision_rows(records, self._stored)
        unresolved = unresolved_hashes(records, decisions, self._stored)
        found: list[str] = []
        async with conn.transaction(), conn.cursor() as cur:
            if decisions:
                await cur.executemany(INSERT_DECISION, decisions)
            if unresolved:
                await cur.execute(decisions_sql("%s", len(unresolved), blobs=False), unresolved)
                found = [row[0] for row in await cur.fetchall()]
                if len(found) < len(unresolved):
                    raise unknown_decision(sorted(set(unresolved) - set(found)))
            await cur.executemany(UPSERT, [r.params() for r in records])
        for digest in [d for d, _ in decisions] + found:
            self._stored.add(digest)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[Conn]:
        if self._state != "open":
            raise StoreClosedError("the PostgreSQL receipt store is not open")
        async with self._read_slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            finally:
                if self._state == "open" and not conn.closed and not conn.broken:
                    self._idle.append(conn)
                else:
                    await conn.close()

    async def put_catalog(self, version: str, blob: bytes) -> None:
        async with self._reader() as conn:
            await conn.execute(insert_catalog_sql("%s", "%b"), (version, blob, time.time()))

    async def get_catalog(self, version: str) -> bytes | None:
        async with self._reader() as conn:
            cur = await conn.execute("SELECT blob FROM catalogs WHERE version = %s", (version,))
            row = await cur.fetchone()
        return None if row is None else bytes(row[0])

    async def get(self, request_id: str) -> dict[str, Any] | None:
        async with self._reader() as conn:
            cur = await conn.execute(get_sql("%s"), (request_id,))
            row = await cur.fetchone()
        return None if row is None else expand(row[0], row[1])

    async def trace(self, trace_id: str) -> list[dict[str, Any]]:
        async with self._reader() as conn:
            cur = await conn.execute(trace_sql("%s"), (trace_id,))
            rows = await cur.fetchall()
            hashes = sorted({h for _, h in rows if h is not None})
            blobs: dict[str, bytes] = {}
            if hashes:
                cur = await conn.execute(decisions_sql("%s", len(hashes)), hashes)
                blobs = {h: bytes(b) for h, b in await cur.fetchall()}
        # Many receipts of 100+ KB decisions: parse off the loop.
        return await asyncio.to_thread(expand_trace, [(bytes(b), h) for b, h in rows], blobs)

    async def search(
        self,
        *,
        workload: str | None = None,
        since: float | None = None,
        until: float | None = None,
        deployment: str | None = None,
        fingerprint: str | None = None,
        tenant: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        filters = {
            "workload": workload,
            "since": since,
            "until": until,
            "deployment": deployment,
            "fingerprint": fingerprint,
            "tenant": tenant,
            "status": status,
        }
        query, params = search_sql("%s", filters, limit)
        async with self._reader() as conn:
            cur = await conn.execute(query, params)
            return summaries(await cur.fetchall())
