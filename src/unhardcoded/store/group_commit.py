"""Group commit, shared by both stores: batching queued writes, planning one transaction (decision rows,
receipt rows), retrying a failed group record by record, counting and settling the callers, and the read
side both stores answer the same way. The stores keep only their driver calls.

The retry logic is a generator (`flush_steps`) so the SQLite writer thread and the PostgreSQL writer task
run the same decisions, one synchronously and one with await.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, ClassVar, Self

import orjson

from unhardcoded.store import policies, rollups
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
    decisions_sql,
    expand,
    expand_trace,
    get_sql,
    insert_catalog_sql,
    search_sql,
    summaries,
    trace_sql,
    write_error,
)
from unhardcoded.store.chain import Link
from unhardcoded.store.migrations import Dialect

Errors = list[StoreWriteError | None]
Links = dict[str, Link]  # request_id -> where its committed final sits in its tenant's chain
# Yields the records to commit in one transaction, receives what that commit raised (None: committed),
# returns each record's error.
FlushSteps = Generator[list[ReceiptRecord], Exception | None, Errors]


def flush_steps(
    records: Sequence[ReceiptRecord], stored: DecisionCache, connection_error: type[Exception]
) -> FlushSteps:
    """One batch's commits. The records that pass `check_record` go in one transaction; if it fails on a
    `connection_error` (or holds one record) they all fail with it, otherwise each is retried alone so only
    the record whose data is bad fails."""
    errors: Errors = [check_record(r, stored) for r in records]
    good = [i for i, e in enumerate(errors) if e is None]
    if not good:
        return errors
    failure = yield [records[i] for i in good]
    if failure is None:
        return errors
    if isinstance(failure, connection_error) or len(good) == 1:
        for i in good:
            errors[i] = write_error(records[i], failure)
        return errors
    for i in good:
        one = yield [records[i]]
        if one is not None:
            errors[i] = write_error(records[i], one)
    return errors


def run_steps(steps: FlushSteps, commit: Callable[[list[ReceiptRecord]], Links]) -> tuple[Errors, Links]:
    """Drive `flush_steps` with a blocking commit (the SQLite writer thread). Returns each record's error
    and the chain links of the committed finals."""
    links: Links = {}
    try:
        records = next(steps)
        while True:
            try:
                links.update(commit(records))
                failure = None
            except Exception as exc:
                failure = exc
            records = steps.send(failure)
    except StopIteration as done:
        errors: Errors = done.value
        return errors, links


async def run_steps_async(
    steps: FlushSteps, commit: Callable[[list[ReceiptRecord]], Awaitable[Links]]
) -> tuple[Errors, Links]:
    """Drive `flush_steps` with an awaitable commit (the PostgreSQL writer task)."""
    links: Links = {}
    try:
        records = next(steps)
        while True:
            try:
                links.update(await commit(records))
                failure = None
            except Exception as exc:
                failure = exc
            records = steps.send(failure)
    except StopIteration as done:
        errors: Errors = done.value
        return errors, links


def gather(
    first: list[Item], take: Callable[[], list[Item] | None], empty: type[Exception], max_batch: int
) -> tuple[list[Item], bool]:
    """A batch: `first`, then what is already queued (`take()` until it raises `empty`), up to `max_batch`
    records. True when the stop marker (None) was taken: the writer ends after this batch."""
    batch = list(first)
    while len(batch) < max_batch:
        try:
            items = take()
        except empty:
            break
        if items is None:
            return batch, True
        batch.extend(items)
    return batch, False


class GroupCommitStore:
    """The `ReceiptStore` surface both backends share. A subclass sets `placeholder` / `blob_placeholder`
    (its driver's parameter markers) and implements `write` and the driver calls (`_start`, `_stop_writer`,
    `_disconnect`, `_fetch`, `_execute`)."""

    placeholder: ClassVar[str]
    blob_placeholder: ClassVar[str]
    dialect: ClassVar[Dialect]

    def __init__(
        self, name: str, *, durability: str, busy_timeout_s: float, max_batch: int, max_pending: int
    ) -> None:
        self.name = name  # for messages: "receipt store /path/r.db", "the PostgreSQL receipt store"
        self.durability = check_durability(durability)
        self.stats = StoreStats()
        self.busy_timeout_s = busy_timeout_s
        self.max_batch = max_batch
        self.max_pending = max_pending  # beyond this, fast writes wait like strict ones rather than pile up
        self._state = "new"
        self._known = DecisionCache()  # event-loop side: decisions some accepted write carries
        self._stored = DecisionCache()  # writer side: decisions it committed

    async def open(self) -> None:
        """Apply migrations and start the writer."""
        if self._state != "new":
            raise StoreError(f"{self.name} was already opened")
        await self._start()
        self._state = "open"

    async def close(self) -> None:
        """Flush everything accepted, stop the writer, close connections."""
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        await self._stop_writer()
        self.stats.lost_on_close = self.stats.pending
        await self._disconnect()

    async def _start(self) -> None:
        """Connect, migrate, start the writer."""
        raise NotImplementedError

    async def _stop_writer(self) -> None:
        """Hand the writer the stop marker after everything accepted; return once it has ended."""
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._state != "open":
            raise StoreClosedError(f"{self.name} is not open")

    def known_decision(self, decision_hash: str) -> bool:
        return decision_hash in self._known

    def _accept(self, record: ReceiptRecord) -> bool:
        """On the event loop, as a write arrives: whether its caller waits for the commit."""
        self._check_open()
        if record.decision_blob is not None and record.decision_hash is not None:
            self._known.add(record.decision_hash)
        return self.durability == "strict" or self.stats.pending >= self.max_pending

    def _count(self, batch: Sequence[Item], errors: Errors) -> None:
        failed = sum(e is not None for e in errors)
        self.stats.failed += failed
        self.stats.committed += len(batch) - failed
        self.stats.batches += 1

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of one read-only query on a reader connection (StoreClosedError when not open)."""
        raise NotImplementedError

    async def _execute(self, query: str, params: Sequence[Any]) -> None:
        """One autocommitted statement on a reader connection."""
        raise NotImplementedError

    async def put_catalog(self, version: str, blob: bytes) -> None:
        await self._execute(
            insert_catalog_sql(self.placeholder, self.blob_placeholder), (version, blob, time.time())
        )

    async def get_catalog(self, version: str) -> bytes | None:
        rows = await self._fetch(f"SELECT blob FROM catalogs WHERE version = {self.placeholder}", (version,))
        return bytes(rows[0][0]) if rows else None

    async def get(self, request_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(get_sql(self.placeholder), (request_id,))
        if not rows:
            return None
        body, blob, *link = rows[0]
        return expand(bytes(body), None if blob is None else bytes(blob), link)

    async def trace(self, trace_id: str) -> list[dict[str, Any]]:
        rows = await self._fetch(trace_sql(self.placeholder), (trace_id,))
        hashes = sorted({row[1] for row in rows if row[1] is not None})
        blobs: dict[str, bytes] = {}
        if hashes:
            blobs = {
                h: bytes(b)
                for h, b in await self._fetch(decisions_sql(self.placeholder, len(hashes)), hashes)
            }
        # Many receipts of 100+ KB decisions: parse off the loop.
        return await asyncio.to_thread(expand_trace, [(bytes(b), *rest) for b, *rest in rows], blobs)

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
        trace_id: str | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        filters = {
            "trace_id": trace_id,
            "after": after,
            "workload": workload,
            "since": since,
            "until": until,
            "deployment": deployment,
            "fingerprint": fingerprint,
            "tenant": tenant,
            "status": status,
        }
        query, params = search_sql(self.placeholder, filters, limit)
        return summaries(await self._fetch(query, params))

    async def rollup_rows(
        self,
        by: Sequence[str],
        since: float,
        until: float,
        *,
        tenant: str | None = None,
        workload: str | None = None,
    ) -> list[dict[str, Any]]:
        """Integer sums of the final receipts created in [since, until), per (*by, deployment, decision_hash,
        catalog_version); '' keys come back as None. See store/rollups.py for the columns."""
        unknown = [b for b in by if b not in rollups.BY]
        if unknown:
            raise ValueError(f"by: {unknown[0]!r} is not one of {', '.join(rollups.BY)}")
        query, params = rollups.rollup_sql(
            self.dialect, self.placeholder, by, since, until, tenant=tenant, workload=workload
        )
        names = rollups.column_names(by)
        n_keys = len(by) + 3
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in await self._fetch(query, params):
            key = tuple(None if v == "" else v for v in row[:n_keys])
            sums = [int(v or 0) for v in row[n_keys:]]
            have = out.get(key)
            if have is None:
                out[key] = dict(zip(names, (*key, *sums), strict=True))
            else:  # the same group from the whole hours and from an edge hour
                for name, v in zip(names[n_keys:], sums, strict=True):
                    have[name] += v
        return [r for r in out.values() if r["calls"]]

    async def spend_since(
        self, since: float, *, workload: str | None = None, tenant: str | None = None
    ) -> Decimal:
        query, params = rollups.spend_sql(
            self.dialect, self.placeholder, since, tenant=tenant, workload=workload
        )
        units = sum(int(row[0] or 0) for row in await self._fetch(query, params))
        return Decimal(units).scaleb(-rollups.MONEY_SCALE)

    async def decisions(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """The stored decision blobs of these content hashes (the ones the store has)."""
        wanted = sorted(set(hashes))
        out: dict[str, bytes] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            out.update(
                (h, bytes(b))
                for h, b in await self._fetch(decisions_sql(self.placeholder, len(chunk)), chunk)
            )
        return out

    async def decision_passers(self, hashes: Sequence[str]) -> dict[str, list[tuple[str, float | None]]]:
        """Per decision hash, its ranked candidates (deployment, estimated cost) in rank order. Read from
        `decision_passers`, or extracted from the decision once and kept there; hashes the store does not
        have, or whose decision is unreadable, are left out."""
        wanted = sorted(set(hashes))
        ph = self.placeholder
        found: dict[str, bytes] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            query = (
                f"SELECT hash, passers FROM decision_passers WHERE hash IN ({', '.join([ph] * len(chunk))})"
            )
            found.update((h, bytes(b)) for h, b in await self._fetch(query, chunk))
        missing = [h for h in wanted if h not in found]
        if missing:
            blobs = await self.decisions(missing)
            made = await asyncio.to_thread(lambda: {h: rollups.passers_of(b) for h, b in blobs.items()})
            new = [(h, p) for h, p in made.items() if p is not None]
            for i in range(0, len(new), 200):
                rows = new[i : i + 200]
                values = ", ".join(f"({ph}, {self.blob_placeholder})" for _ in rows)
                await self._execute(
                    f"INSERT INTO decision_passers (hash, passers) VALUES {values} "
                    "ON CONFLICT (hash) DO NOTHING",
                    [x for pair in rows for x in pair],
                )
            found.update(new)
        return {h: [(d, e) for d, e in orjson.loads(b)] for h, b in found.items()}

    async def get_policies(self, tenant: str | None, name: str | None = None) -> list[dict[str, Any]]:
        query, params = policies.select_sql(self.placeholder, tenant, name)
        return [policies.as_dict(row) for row in await self._fetch(query, params)]

    async def latest_policies(self, tenant: str | None) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in await self.get_policies(tenant)}  # ordered by version: last wins
