"""The receipt store seam: the record the gateway writes, the Protocol both backends implement, shared SQL.
No I/O here. Backends never parse a receipt body on the write path; readers get the decision expanded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Protocol, get_type_hints

import orjson

from unhardcoded.errors import UnhardcodedError

STATUSES = ("started", "ok", "error", "partial", "no_route", "incomplete")
FINAL_STATUSES = tuple(s for s in STATUSES if s != "started")
DURABILITIES = ("strict", "fast")

log = logging.getLogger("unhardcoded.store")


# Not frozen: two are built per call, and a frozen 28-field __init__ costs 3.4 us against 0.5 (measured);
# nothing changes a record once built.
@dataclass(slots=True)
class ReceiptRecord:
    """One receipt as stored: indexed columns, the decision by content hash, and the rest as opaque bytes.

    The one definition of the `receipts` row: every field but `decision_blob` (which goes to `decisions`)
    is a column, in this order; RECEIPT_COLUMNS, the SQL and `params()` derive from it, and a test checks
    the migrated tables against it. A second write with the same `request_id` replaces the row (`started`
    -> final). `decision_blob` may be None when `ReceiptStore.known_decision(decision_hash)` said the
    writer already has it.
    """

    request_id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    workflow_id: str | None
    workflow_node: str | None
    tenant: str | None
    workload: str
    status: str
    created_at: float
    finished_at: float | None
    deployment: str | None
    fingerprint: str | None
    policy_sha256: str | None
    catalog_version: str
    decision_hash: str | None
    decision_blob: bytes | None
    cost_usd: float | None
    baseline_cost_usd: float | None
    savings_usd: float | None
    latency_ms: float | None
    body: bytes
    # Added by m002 (after `body`, as ALTER TABLE appends them): what roll-ups and budgets sum without
    # parsing bodies. Optional so a writer that does not know them still works (they stay NULL).
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    fallbacks: int | None = None  # attempts that fell back to the next candidate
    policy_name: str | None = None  # a stored or configured policy's name, when the call named one
    policy_version: int | None = None  # the stored policy's version (None for config and inline policies)

    def params(self) -> tuple[Any, ...]:
        """The values in RECEIPT_COLUMNS order."""
        values: tuple[Any, ...] = _ROW(self)
        return values


@dataclass(frozen=True, slots=True)
class Link:
    """Where a committed final receipt sits in its tenant's chain (store/chain.py): what the
    `x-unhardcoded-receipt` response header tells a client."""

    seq: int
    hash: str

    def header(self) -> str:
        return f"{self.seq}:{self.hash}"


_NOT_COLUMNS = ("decision_blob",)  # stored once per hash in `decisions`, not on the receipt row
_HINTS = get_type_hints(ReceiptRecord)
RECEIPT_COLUMNS = tuple(f.name for f in fields(ReceiptRecord) if f.name not in _NOT_COLUMNS)
BLOB_COLUMNS = tuple(c for c in RECEIPT_COLUMNS if _HINTS[c] is bytes)  # bound as binary by PostgreSQL
SUMMARY_COLUMNS = tuple(c for c in RECEIPT_COLUMNS if c not in BLOB_COLUMNS)  # what search returns
_ROW = operator.attrgetter(*RECEIPT_COLUMNS)


@dataclass(slots=True)
class StoreStats:
    """Counters of one store object. `pending` is what `fast` durability could lose on a crash right now."""

    written: int = 0  # accepted by write()
    committed: int = 0
    failed: int = 0  # the write raised to its strict caller, or was logged (fast)
    batches: int = 0  # group commits run by the writer
    lost_on_close: int = 0  # accepted but neither committed nor failed when close() returned

    @property
    def pending(self) -> int:
        return self.written - self.committed - self.failed


class StoreError(UnhardcodedError):
    """The receipt store could not do what was asked."""


class StoreClosedError(StoreError):
    """The store is not open (never opened, or already closed)."""


class StoreWriteError(StoreError):
    """One receipt was not stored; `__cause__` holds the backend's error."""

    def __init__(self, message: str, *, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(message)


class UnknownDecisionError(StoreError):
    """A record names a decision by hash without its blob, and the store does not have it."""


class ReceiptStore(Protocol):
    """Where receipts, decisions (once per content hash) and catalog versions are kept.

    Implemented by `SqliteStore` and `PostgresStore`. A store is bound to the event loop that opened it.
    """

    durability: str  # "strict" | "fast"
    stats: StoreStats

    async def open(self) -> None:
        """Apply migrations and start the writer."""

    async def close(self) -> None:
        """Flush everything accepted, stop the writer, close connections."""

    async def write(self, record: ReceiptRecord, *, alone: bool = False) -> Link | None:
        """strict: return once the record is committed (or raise StoreWriteError), with a final receipt's
        place in its tenant's chain (None for a `started` record). fast: return None at once.

        `alone`: the caller is the only call in flight, so a backend may commit inline rather than hand
        the record to its group-commit writer (a latency win at low load only)."""

    def known_decision(self, decision_hash: str) -> bool:
        """True when the writer already has this decision, so the caller may pass decision_blob=None."""

    async def put_catalog(self, version: str, blob: bytes) -> None:
        """Keep this catalog version (idempotent: the first blob for a version stays)."""

    async def get_catalog(self, version: str) -> bytes | None: ...

    async def get(self, request_id: str) -> dict[str, Any] | None:
        """The receipt body with the decision expanded under "decision"."""

    async def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every receipt of a trace, oldest first, each expanded."""

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
        after: tuple[float, str] | None = None,  # the page after this (created_at, request_id)
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Summaries (the indexed columns, no body), newest first; `since` <= created_at < `until`."""

    async def rollup_rows(
        self,
        by: Sequence[str],
        since: float,
        until: float,
        *,
        tenant: str | None = None,
        workload: str | None = None,
    ) -> list[dict[str, Any]]:
        """Exact integer sums of final receipts in [since, until) per (*by, deployment, decision_hash,
        catalog_version), from the hourly sums plus the two edge hours; `by` from store.rollups.BY."""

    async def decisions(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """The stored decision blobs of these content hashes (the ones the store has)."""

    async def decision_passers(self, hashes: Sequence[str]) -> dict[str, list[tuple[str, float | None]]]:
        """Per decision hash, its ranked candidates (deployment, estimated cost) in rank order (kept in the
        store once extracted); unknown or unreadable decisions are left out."""

    async def spend_since(
        self, since: float, *, workload: str | None = None, tenant: str | None = None
    ) -> Decimal:
        """Committed cost in USD of the final receipts created at or after `since` (None: any)."""

    async def put_policy(
        self, tenant: str | None, name: str, doc_json: str, fingerprint: str, sha256: str
    ) -> int:
        """Add the next version (1, 2, ...) of the stored policy (tenant, name); return its number."""

    async def get_policies(self, tenant: str | None, name: str | None = None) -> list[dict[str, Any]]:
        """Every version (of `name`, or of every name), by name then version: newest last.
        Each: tenant, name, version, policy (parsed), doc_json, fingerprint, sha256, created_at."""

    async def latest_policies(self, tenant: str | None) -> dict[str, dict[str, Any]]:
        """The newest version of each stored policy name of `tenant`."""


def check_durability(durability: str) -> str:
    if durability not in DURABILITIES:
        raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
    return durability


class DecisionCache:
    """A bounded set of decision hashes, most recently used last. Touched by one thread only."""

    __slots__ = ("_data", "limit")

    def __init__(self, limit: int = 8192) -> None:
        self._data: OrderedDict[str, None] = OrderedDict()
        self.limit = limit

    def __contains__(self, decision_hash: object) -> bool:
        if decision_hash in self._data:
            self._data.move_to_end(decision_hash)  # type: ignore[arg-type]
            return True
        return False

    def __len__(self) -> int:
        return len(self._data)

    def add(self, decision_hash: str) -> None:
        self._data[decision_hash] = None
        self._data.move_to_end(decision_hash)
        if len(self._data) > self.limit:
            self._data.popitem(last=False)

    def discard(self, decision_hash: str) -> None:
        self._data.pop(decision_hash, None)


def check_record(record: ReceiptRecord, stored: DecisionCache) -> StoreWriteError | None:
    """A decision blob must hash to its address: one wrong blob would poison every receipt naming it."""
    blob, digest = record.decision_blob, record.decision_hash
    if blob is None or (digest is not None and digest in stored):
        return None
    if digest is None:
        return StoreWriteError(
            f"receipt {record.request_id}: decision_blob without decision_hash", request_id=record.request_id
        )
    if hashlib.sha256(blob).hexdigest() != digest:
        return StoreWriteError(
            f"receipt {record.request_id}: decision_blob does not hash to {digest}",
            request_id=record.request_id,
        )
    return None


def decision_rows(records: Iterable[ReceiptRecord], stored: DecisionCache) -> list[tuple[str, bytes]]:
    """The (hash, blob) pairs this batch must insert: each new hash once, none the writer already stored."""
    rows: dict[str, bytes] = {}
    for r in records:
        if r.decision_blob is not None and r.decision_hash is not None and r.decision_hash not in stored:
            rows.setdefault(r.decision_hash, r.decision_blob)
    return sorted(rows.items())  # in hash order: two writers inserting the same new decisions cannot deadlock


Item = tuple["ReceiptRecord", "asyncio.Future[Link | None] | None"]  # a queued record and its strict waiter


def settle(
    batch: Sequence[Item],
    errors: Sequence[StoreWriteError | None],
    known: DecisionCache,
    links: Mapping[str, Link] | None = None,
) -> None:
    """On the event loop: wake each strict writer with its outcome (a final's chain link, or None); log
    what fast durability lost."""
    for (record, future), error in zip(batch, errors, strict=True):
        if error is not None:
            if record.decision_blob is not None and record.decision_hash is not None:
                known.discard(record.decision_hash)  # its carrier failed: later callers must send the blob
            if future is None:
                log.error(
                    "receipt %s lost (durability=fast): %s", record.request_id, error.__cause__ or error
                )
        if future is None or future.done():
            continue
        if error is None:
            final = links is not None and record.status != "started"
            future.set_result(links.get(record.request_id) if final and links is not None else None)
        else:
            future.set_exception(error)


def unresolved_hashes(
    records: Iterable[ReceiptRecord], inserting: Iterable[tuple[str, bytes]], stored: DecisionCache
) -> list[str]:
    """Hashes named without a blob that neither this batch nor the writer's memory vouches for.

    The writer checks these against the table instead of a FOREIGN KEY: SQLite's check halved insert
    throughput here, and PostgreSQL's takes a share lock on the few hot decision rows every receipt names.
    """
    provided = {digest for digest, _ in inserting}
    return sorted(
        {
            r.decision_hash
            for r in records
            if r.decision_blob is None
            and r.decision_hash is not None
            and r.decision_hash not in provided
            and r.decision_hash not in stored
        }
    )


def unknown_decision(missing: Sequence[str]) -> UnknownDecisionError:
    return UnknownDecisionError(f"decision {', '.join(missing)} is not in the store: send its decision_blob")


def write_error(record: ReceiptRecord, exc: BaseException) -> StoreWriteError:
    err = StoreWriteError(f"receipt {record.request_id} was not stored: {exc}", request_id=record.request_id)
    err.__cause__ = exc
    return err


def insert_decision_sql(ph: str, blob_ph: str) -> str:
    return f"INSERT INTO decisions (hash, blob) VALUES ({ph}, {blob_ph}) ON CONFLICT (hash) DO NOTHING"


def insert_catalog_sql(ph: str, blob_ph: str) -> str:
    return (
        f"INSERT INTO catalogs (version, blob, created_at) VALUES ({ph}, {blob_ph}, {ph}) "
        "ON CONFLICT (version) DO NOTHING"
    )


def get_sql(ph: str) -> str:
    return (
        "SELECT r.body, d.blob, r.chain_seq, r.chain_prev, r.chain_hash FROM receipts r "
        f"LEFT JOIN decisions d ON d.hash = r.decision_hash WHERE r.request_id = {ph}"
    )


def trace_sql(ph: str) -> str:
    return (
        "SELECT body, decision_hash, chain_seq, chain_prev, chain_hash FROM receipts "
        f"WHERE trace_id = {ph} ORDER BY created_at, request_id"
    )


def decisions_sql(ph: str, n: int, *, blobs: bool = True) -> str:
    return f"SELECT hash{', blob' if blobs else ''} FROM decisions WHERE hash IN ({', '.join([ph] * n)})"


def search_sql(ph: str, filters: dict[str, Any], limit: int) -> tuple[str, list[Any]]:
    """SQL and parameters for `ReceiptStore.search`; `filters` holds the keyword arguments given."""
    where: list[str] = []
    params: list[Any] = []
    for column in ("workload", "deployment", "fingerprint", "tenant", "status", "trace_id"):
        if filters.get(column) is not None:
            where.append(f"{column} = {ph}")
            params.append(filters[column])
    if filters.get("since") is not None:
        where.append(f"created_at >= {ph}")
        params.append(float(filters["since"]))
    if filters.get("until") is not None:
        where.append(f"created_at < {ph}")
        params.append(float(filters["until"]))
    after = filters.get("after")  # keyset paging: rows older than (created_at, request_id), newest first
    if after is not None:
        where.append(f"(created_at < {ph} OR (created_at = {ph} AND request_id < {ph}))")
        params += [float(after[0]), float(after[0]), str(after[1])]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    params.append(max(0, int(limit)))
    sql = (
        f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM receipts{clause} "
        f"ORDER BY created_at DESC, request_id DESC LIMIT {ph}"
    )
    return sql, params


def expand(body: bytes, blob: bytes | None, link: Sequence[Any] = (None, None, None)) -> dict[str, Any]:
    """A stored receipt as readers see it: the decision expanded and, once final, its place in its
    tenant's chain (store/chain.py)."""
    receipt: dict[str, Any] = orjson.loads(body)
    receipt["decision"] = orjson.loads(blob) if blob is not None else None
    seq, prev, digest = link
    if seq is not None:
        receipt["chain"] = {"seq": seq, "prev": prev, "hash": digest}
    return receipt


def expand_trace(rows: Sequence[Sequence[Any]], blobs: dict[str, bytes]) -> list[dict[str, Any]]:
    """Rows of trace_sql: (body, decision_hash, *chain link)."""
    return [expand(body, blobs.get(h) if h is not None else None, link) for body, h, *link in rows]


def summaries(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(SUMMARY_COLUMNS, row, strict=True)) for row in rows]
