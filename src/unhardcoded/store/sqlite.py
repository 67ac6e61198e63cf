"""SQLite receipt store (WAL): one writer thread drains a queue and commits each group in one transaction.
Never blocks the event loop: reads run in threads, strict writers await a future the writer thread settles.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

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
from unhardcoded.store.migrations import migrate_sqlite

T = TypeVar("T")

PAGE_SIZE = 8192
UPSERT = upsert_receipt_sql("?", "?")
INSERT_DECISION = insert_decision_sql("?", "?")


CHECKPOINT_EVERY = 64  # records between WAL checkpoints (each commit appends ~8 pages of 8 KB)


class SqliteStore:
    """A `ReceiptStore` in one SQLite file. Open it with `await store.open()` (or `async with`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        durability: str = "strict",
        busy_timeout_s: float = 10.0,
        max_batch: int = 4096,
        max_pending: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self.durability = check_durability(durability)
        self.stats = StoreStats()
        self.busy_timeout_s = busy_timeout_s
        self.max_batch = max_batch
        self.max_pending = max_pending  # beyond this, fast writes wait like strict ones rather than pile up
        self._state = "new"
        # Records written during one turn of the event loop go to the writer as one list: one queue
        # operation and at most one writer wake-up per turn, however many calls finished in it.
        self._queue: queue.SimpleQueue[list[Item] | None] = queue.SimpleQueue()
        self._outbox: list[Item] = []
        self._known = DecisionCache()  # event-loop thread only
        self._stored = DecisionCache()  # writer thread only: hashes it committed
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        # Held while a group is committed. At low load a strict write commits inline on the event loop
        # (see write); the lock keeps that and the writer thread from ever interleaving.
        self._commit_lock = threading.Lock()
        self._since_checkpoint = 0  # records committed since the writer last checkpointed
        self._inline: sqlite3.Connection | None = None

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _connect(self) -> sqlite3.Connection:
        # timeout= is SQLite's busy_timeout: other processes' writers hold the lock for a batch at a time.
        # Autocommit at the driver level: the writer issues BEGIN IMMEDIATE / COMMIT itself.
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        # Only takes effect on a new file. A ~2.3 KB receipt row leaves most of a 4 KB page empty (one row
        # fits); 8 KB pages hold three, which halved the file and doubled group-commit throughput here.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        # Switching to WAL takes a lock SQLite's busy handler does not wait for: another worker opening
        # the same new file at the same moment gets "locked" at once. Once in WAL, nothing to switch.
        for attempt in range(50):
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.02)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connect_inline(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA busy_timeout=0")  # never wait on the event loop: queue instead
        conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints are the writer thread's job, off the loop
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            migrate_sqlite(conn)
        except BaseException:
            conn.close()
            raise
        # The writer checkpoints itself, between batches (see _run), never inside a COMMIT that strict
        # callers wait on: SQLite's automatic checkpoint there showed as a 376 ms p99 spike in the bench.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    async def open(self) -> None:
        if self._state != "new":
            raise StoreError(f"store {self.path} was already opened")
        self._loop = asyncio.get_running_loop()
        self._writer = await asyncio.to_thread(self._open_writer)
        self._inline = await asyncio.to_thread(self._connect_inline)
        self._thread = threading.Thread(
            target=self._run, name=f"receipts-writer:{self.path.name}", daemon=True
        )
        self._thread.start()
        self._state = "open"

    async def close(self) -> None:
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        self._handoff()
        self._queue.put(None)
        assert self._thread is not None
        await asyncio.to_thread(self._thread.join)
        await asyncio.sleep(0)  # let the writer's last settle callback run
        self.stats.lost_on_close = self.stats.pending
        if self._inline is not None:
            self._inline.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break

    def known_decision(self, decision_hash: str) -> bool:
        return decision_hash in self._known

    async def write(self, record: ReceiptRecord, *, alone: bool = False) -> None:
        if self._state != "open":
            raise StoreClosedError(f"receipt store {self.path} is not open")
        assert self._loop is not None
        if record.decision_blob is not None and record.decision_hash is not None:
            self._known.add(record.decision_hash)
        wait = self.durability == "strict" or self.stats.pending >= self.max_pending
        if wait and alone and not self._outbox and self._queue.empty() and self._commit_inline(record):
            return
        future = self._loop.create_future() if wait else None
        self.stats.written += 1
        self._outbox.append((record, future))
        if len(self._outbox) == 1:
            self._loop.call_soon(self._handoff)
        if future is not None:
            await future

    def _commit_inline(self, record: ReceiptRecord) -> bool:
        """Commit one strict record right here when the caller is the only call in flight and nothing is
        queued: at low load that saves two thread hand-offs per receipt (under load, group commit wins).
        False (and nothing written) when the writer is busy or another process holds the database lock
        (the inline connection never waits for it); the caller queues."""
        if self._inline is None or not self._commit_lock.acquire(blocking=False):
            return False
        try:
            error = check_record(record, self._stored)
            if error is None:
                try:
                    self._commit(self._inline, [record])
                    self._since_checkpoint += 1
                    if self._since_checkpoint >= CHECKPOINT_EVERY:
                        self._queue.put([])  # wake the writer to checkpoint, off the event loop
                except sqlite3.OperationalError:
                    return False  # locked by another process: let the writer wait for it
                except Exception as exc:
                    error = write_error(record, exc)
            self.stats.written += 1
            if error is None:
                self.stats.committed += 1
                self.stats.batches += 1
            else:
                self.stats.failed += 1
        finally:
            self._commit_lock.release()
        if error is not None:
            if record.decision_blob is not None and record.decision_hash is not None:
                self._known.discard(record.decision_hash)
            raise error
        return True

    def _handoff(self) -> None:
        if self._outbox:
            items, self._outbox = self._outbox, []
            self._queue.put(items)

    def _run(self) -> None:
        assert self._writer is not None
        stop = False
        try:
            while not stop:
                first = self._queue.get()
                if first is None:
                    break
                batch = list(first)
                while len(batch) < self.max_batch:
                    try:
                        items = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if items is None:
                        stop = True
                        break
                    batch.extend(items)
                if batch:
                    with self._commit_lock:
                        self._flush(self._writer, batch)
                self._since_checkpoint += len(batch)
                if self._since_checkpoint >= CHECKPOINT_EVERY:
                    # After the batch's callers were woken; small and often, so none is long. RESTART (not
                    # PASSIVE) so the WAL starts over from its beginning instead of growing: an inline
                    # write meanwhile finds the lock taken and queues instead of waiting.
                    self._since_checkpoint = 0
                    with contextlib.suppress(sqlite3.Error):
                        self._writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        finally:
            self._writer.close()

    def _flush(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        """Commit a group; if it fails on one record's data, retry one by one so only that record fails."""
        records = [record for record, _ in batch]
        errors: list[StoreWriteError | None] = [check_record(r, self._stored) for r in records]
        good = [i for i, e in enumerate(errors) if e is None]
        try:
            self._commit(conn, [records[i] for i in good])
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError) or len(good) == 1:
                for i in good:
                    errors[i] = write_error(records[i], exc)
            else:
                for i in good:
                    try:
                        self._commit(conn, [records[i]])
                    except Exception as one:
                        errors[i] = write_error(records[i], one)
        failed = sum(e is not None for e in errors)
        self.stats.failed += failed
        self.stats.committed += len(batch) - failed
        self.stats.batches += 1
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            self._loop.call_soon_threadsafe(settle, batch, errors, self._known)

    def _commit(self, conn: sqlite3.Connection, records: list[ReceiptRecord]) -> None:
        if not records:
            return
        decisions = decision_rows(records, self._stored)
        unresolved = unresolved_hashes(records, decisions, self._stored)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if decisions:
                conn.executemany(INSERT_DECISION, decisions)
            found = []
            if unresolved:
                found = [
                    row[0]
                    for row in conn.execute(decisions_sql("?", len(unresolved), blobs=False), unresolved)
                ]
                if len(found) < len(unresolved):
                    raise unknown_decision(sorted(set(unresolved) - set(found)))
            conn.executemany(UPSERT, [r.params() for r in records])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        for digest in [d for d, _ in decisions] + found:
            self._stored.add(digest)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._state != "open":
            raise StoreClosedError(f"receipt store {self.path} is not open")
        return await asyncio.to_thread(self._with_reader, fn)

    def _with_reader(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            return fn(conn)
        finally:
            if self._state == "open":
                self._readers.put(conn)
            else:
                conn.close()

    async def put_catalog(self, version: str, blob: bytes) -> None:
        sql = insert_catalog_sql("?", "?")
        await self._read(lambda c: c.execute(sql, (version, blob, time.time())))

    async def get_catalog(self, version: str) -> bytes | None:
        def query(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT blob FROM catalogs WHERE version = ?", (version,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read(query)

    async def get(self, request_id: str) -> dict[str, Any] | None:
        def query(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(get_sql("?"), (request_id,)).fetchone()
            return None if row is None else expand(row[0], row[1])

        return await self._read(query)

    async def trace(self, trace_id: str) -> list[dict[str, Any]]:
        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(trace_sql("?"), (trace_id,)).fetchall()
            hashes = sorted({h for _, h in rows if h is not None})
            blobs = dict(conn.execute(decisions_sql("?", len(hashes)), hashes).fetchall()) if hashes else {}
            return expand_trace(rows, blobs)

        return await self._read(query)

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
        sql, params = search_sql("?", filters, limit)
        return await self._read(lambda c: summaries(c.execute(sql, params).fetchall()))
