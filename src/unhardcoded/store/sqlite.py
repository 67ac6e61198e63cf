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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from unhardcoded.store import chain, policies, sums
from unhardcoded.store.base import (
    Item,
    Link,
    ReceiptRecord,
    check_record,
    insert_decision_sql,
    settle,
    write_error,
)
from unhardcoded.store.group_commit import GroupCommitStore, Links, flush_steps, gather, run_steps
from unhardcoded.store.migrations import SQLITE, migrate_sqlite
from unhardcoded.store.plan import CommitPlan, final_sql, heads_sql, put_heads_sql, upsert_sql

T = TypeVar("T")

PAGE_SIZE = 8192
UPSERT = upsert_sql("?", "?")
SUMS = sums.upsert_sql("?")
PUT_HEADS = put_heads_sql("?")
INSERT_DECISION = insert_decision_sql("?", "?")


# The WAL is checkpointed once about this many pages were appended since the last checkpoint (4 MB of 8 KB
# pages). A commit appends ~10 pages whatever its size (the table's and each index's last leaf,
# the sums, the chain head) plus about one per record: one record alone ~11 pages, a batch of 32 ~47
# (measured before a final stopped rewriting four indexes; a lone final is now ~6.4, a started row ~9.8,
# so the estimate runs high and checkpoints come a little early). Counting pages, not records: under
# load (batches of ~27) a checkpoint every ~370 records instead of every 64 (checkpoints cost ~20 us of
# writer CPU per receipt at 64, ~10 at 256); one record per commit (a single caller), every ~46 commits,
# and a smaller WAL than before (4.6 MB against 6.3 in the WAL bound test).
CHECKPOINT_PAGES = 512


def wal_pages(records: int) -> int:
    """About how many WAL pages one commit of `records` records appends."""
    return 10 + records


class SqliteStore(GroupCommitStore):
    """A `ReceiptStore` in one SQLite file. Open it with `await store.open()` (or `async with`)."""

    placeholder = "?"
    blob_placeholder = "?"
    dialect = SQLITE

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
        super().__init__(
            f"receipt store {self.path}",
            durability=durability,
            busy_timeout_s=busy_timeout_s,
            max_batch=max_batch,
            max_pending=max_pending,
        )
        # Records written during one turn of the event loop go to the writer as one list: one queue
        # operation and at most one writer wake-up per turn, however many calls finished in it.
        self._queue: queue.SimpleQueue[list[Item] | None] = queue.SimpleQueue()
        self._outbox: list[Item] = []
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        # Held while a group is committed. At low load a strict write commits inline on the event loop
        # (see write); the lock keeps that and the writer thread from ever interleaving.
        self._commit_lock = threading.Lock()
        self._since_checkpoint = 0  # WAL pages appended (estimated) since the last checkpoint was asked for
        self._inline: sqlite3.Connection | None = None
        # Checkpoints in two steps (see _checkpoint): True asks the checkpointer thread for a PASSIVE one,
        # None stops it.
        self._checkpoints: queue.SimpleQueue[bool | None] = queue.SimpleQueue()
        self._checkpointer: threading.Thread | None = None
        self._checkpointing = False  # asked for and not finished: no second one is queued meanwhile
        self._restart_due = False  # the PASSIVE step is done: the writer restarts the WAL next

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

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = await asyncio.to_thread(self._open_writer)
        self._inline = await asyncio.to_thread(self._connect_inline)
        conn = await asyncio.to_thread(self._connect)  # the checkpointer's, before any thread starts
        self._thread = threading.Thread(
            target=self._run, name=f"receipts-writer:{self.path.name}", daemon=True
        )
        self._thread.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint, args=(conn,), name=f"receipts-checkpoint:{self.path.name}", daemon=True
        )
        self._checkpointer.start()

    async def _stop_writer(self) -> None:
        self._handoff()
        self._queue.put(None)
        assert self._thread is not None and self._checkpointer is not None
        await asyncio.to_thread(self._thread.join)
        self._checkpoints.put(None)
        await asyncio.to_thread(self._checkpointer.join)
        await asyncio.sleep(0)  # let the writer's last settle callback run

    async def _disconnect(self) -> None:
        if self._inline is not None:
            self._inline.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break

    async def write(self, record: ReceiptRecord, *, alone: bool = False) -> Link | None:
        wait = self._accept(record)
        assert self._loop is not None
        if wait and alone and not self._outbox and self._queue.empty():
            committed, link = self._commit_inline(record)
            if committed:
                return link
        future = self._loop.create_future() if wait else None
        self.stats.written += 1
        self._outbox.append((record, future))
        if len(self._outbox) == 1:
            self._loop.call_soon(self._handoff)
        if future is not None:
            result: Link | None = await future
            return result
        return None

    def _commit_inline(self, record: ReceiptRecord) -> tuple[bool, Link | None]:
        """Commit one strict record right here when the caller is the only call in flight and nothing is
        queued: at low load that saves two thread hand-offs per receipt (under load, group commit wins).
        False (and nothing written) when the writer is busy or another process holds the database lock
        (the inline connection never waits for it); the caller queues."""
        if self._inline is None or not self._commit_lock.acquire(blocking=False):
            return False, None
        links: Links = {}
        try:
            error = check_record(record, self._stored)
            if error is None:
                try:
                    links = self._commit(self._inline, [record])
                    self._appended(wal_pages(1))
                except sqlite3.OperationalError:
                    return False, None  # locked by another process: let the writer wait for it
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
        return True, links.get(record.request_id) if record.status != "started" else None

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
                batch, stop = gather(first, self._queue.get_nowait, queue.Empty, self.max_batch)
                if batch:
                    with self._commit_lock:
                        self._flush(self._writer, batch)
                        self._appended(wal_pages(len(batch)))
                if self._restart_due:
                    self._restart(self._writer)
        finally:
            self._writer.close()

    def _appended(self, pages: int) -> None:
        """A commit appended about `pages` WAL pages (under the commit lock): ask for a checkpoint if due."""
        self._since_checkpoint += pages
        if self._since_checkpoint >= CHECKPOINT_PAGES and not self._checkpointing:
            self._since_checkpoint = 0
            self._checkpointing = True
            self._checkpoints.put(True)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """The checkpointer thread. A checkpoint of ~4 MB takes ~2 ms, mostly copying pages and syncing
        files; done by the writer or inline (as before), every caller waiting on a commit meanwhile waited
        for it: one call at a time, p99 4.5-5.0 ms then, 2.2-2.4 now (1.3-1.8 with no checkpoints at all),
        in alternated 5 s runs. Step one, here: PASSIVE, which copies what the WAL holds while commits go
        on. Step two, only when the WAL has not started over by itself since the last checkpoint (commits
        never paused): the writer's `_restart` copies what was appended meanwhile (little) and makes the
        WAL start over instead of growing."""
        try:
            while self._checkpoints.get():
                frames = self._passes(conn)
                if frames <= CHECKPOINT_PAGES * 3 // 2:
                    # The WAL started over since the last checkpoint: a commit that finds it all copied
                    # back does that by itself. At low load this is the rule.
                    self._checkpointing = False
                    continue
                # Commits went on throughout (under load), so the WAL never started over: step two.
                self._restart_due = True
                self._queue.put([])  # wake the writer if it waits for work
        finally:
            conn.close()

    @staticmethod
    def _passes(conn: sqlite3.Connection) -> int:
        """Two PASSIVE checkpoints: the second copies back what was committed during the first (little),
        so that at low load the WAL is all copied back and the next commit starts it over (four passes
        cost more CPU under load and did no better alone). Returns how many frames the WAL held at the
        first (0: it could not be read)."""
        frames = 0
        with contextlib.suppress(sqlite3.Error):
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return int(frames)

    def _restart(self, conn: sqlite3.Connection) -> None:
        """Step two of a checkpoint, on the writer thread between its commits. It must not wait for a
        reader that holds an old snapshot (a long search): RESTART would, for the whole busy timeout,
        with every strict caller behind it. So no wait: a busy database is tried again at the next
        checkpoint, the WAL growing meanwhile."""
        self._restart_due = False
        # The commit lock: an inline commit meanwhile queues instead of finding the WAL locked.
        with self._commit_lock, contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA busy_timeout=0")
            try:
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        self._checkpointing = False

    def _flush(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        # OperationalError (locked, disk full, I/O) is the database's state, not one record's data.
        steps = flush_steps([r for r, _ in batch], self._stored, sqlite3.OperationalError)
        errors, links = run_steps(steps, lambda records: self._commit(conn, records))
        self._count(batch, errors)
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            self._loop.call_soon_threadsafe(settle, batch, errors, self._known, links)

    def _commit(self, conn: sqlite3.Connection, records: list[ReceiptRecord]) -> Links:
        plan = CommitPlan.of(records, self._stored)
        conn.execute("BEGIN IMMEDIATE")  # the write lock: chain heads read here cannot move under us
        try:
            if plan.decisions:
                conn.executemany(INSERT_DECISION, plan.decisions)
            found = []
            if plan.unresolved:
                found = plan.check(row[0] for row in conn.execute(plan.lookup_sql("?"), plan.unresolved))
            ids, tenants = plan.final_ids(), plan.tenants()
            done: dict[str, Link | None] = {}
            heads: dict[str, chain.Head] = {}
            if ids:
                for rid, seq, h in conn.execute(final_sql("?", len(ids)), ids):
                    done[rid] = Link(seq, h) if seq is not None else None
                for t, seq, h in conn.execute(heads_sql("?", len(tenants), lock=False), tenants):
                    heads[t] = chain.Head(seq, h)
            out = plan.finish(done, heads)
            conn.executemany(UPSERT, out.rows)
            for sql, rows in zip(SUMS, out.sums, strict=True):
                if rows:
                    conn.executemany(sql, rows)
            if out.heads:
                conn.executemany(PUT_HEADS, out.heads)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        plan.committed(self._stored, found)
        return out.links

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
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

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._read(lambda c: c.execute(query, params).fetchall())

    async def _execute(self, query: str, params: Sequence[Any]) -> None:
        await self._read(lambda c: c.execute(query, params))

    async def put_policy(
        self, tenant: str | None, name: str, doc_json: str, fingerprint: str, sha256: str
    ) -> int:
        params = policies.insert_params(tenant, name, doc_json, fingerprint, sha256, time.time())

        def insert(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: the next version is read and taken at once
            try:
                version = int(conn.execute(policies.insert_sql("?"), params).fetchone()[0])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return version

        return await self._read(insert)
