"""Reading the tamper-evident chain and its signed checkpoints back, for `unhardcoded verify` and the
checkpointing task. Plain SQL over a store's own read connections (`_fetch`, `_execute`), the same for
SQLite and PostgreSQL; the walker that judges what it reads is review/verify.py.

Rows come in pages in sequence order through the (COALESCE(tenant, ''), chain_seq) index, so a store of
millions of receipts is never held in memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from unhardcoded.store.base import RECEIPT_COLUMNS
from unhardcoded.store.chain import CHAIN_COLUMNS

__all__ = ["ChainRow", "Checkpoint", "ChainReader", "Readable"]

ROW_COLUMNS = (*RECEIPT_COLUMNS, *CHAIN_COLUMNS)
_BODY = RECEIPT_COLUMNS.index("body")
PAGE = 2000


class Readable(Protocol):
    """What a store offers here (both GroupCommitStore backends do)."""

    placeholder: str

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    async def _execute(self, query: str, params: Sequence[Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One chained receipt as stored: its columns (body apart, as bytes) and its chain link."""

    row: dict[str, Any]
    body: bytes
    seq: int
    prev: str | None
    hash: str | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed (tenant key, seq, hash, time). `tenant` is the chain key: '' for the default tenant."""

    tenant: str
    seq: int
    hash: str
    created_at: float
    key_id: str
    signature: str


def _chain_row(values: tuple[Any, ...]) -> ChainRow:
    row = dict(zip(ROW_COLUMNS, values, strict=True))
    body = bytes(row.pop("body"))
    return ChainRow(row, body, int(row["chain_seq"]), row["chain_prev"], row["chain_hash"])


class ChainReader:
    """The chain's SQL over one open store."""

    def __init__(self, store: Readable, page: int = PAGE) -> None:
        self.store = store
        self.ph = store.placeholder
        self.page = page

    async def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self.store._fetch(query, params)

    async def chain_keys(self) -> list[str]:
        """Every chain key that has a head, a chained receipt or a checkpoint."""
        rows = await self._rows(
            "SELECT tenant FROM chain_heads UNION SELECT tenant FROM checkpoints "
            "UNION SELECT DISTINCT COALESCE(tenant, '') FROM receipts WHERE chain_seq IS NOT NULL"
        )
        return sorted({str(r[0]) for r in rows})

    async def head(self, key: str) -> tuple[int, str] | None:
        rows = await self._rows(f"SELECT seq, hash FROM chain_heads WHERE tenant = {self.ph}", (key,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    async def heads(self) -> dict[str, tuple[int, str]]:
        return {
            str(t): (int(s), str(h))
            for t, s, h in await self._rows("SELECT tenant, seq, hash FROM chain_heads")
        }

    async def walk(self, key: str, after: int = 0) -> AsyncGenerator[list[ChainRow], None]:
        """Pages of the chain `key` in sequence order, the entries after `after`.

        Each page asks for a range of sequence numbers (after, after + page], not "the next `page` rows":
        an untouched chain has no gaps, so the range holds exactly the page, and the read never depends on
        the planner's statistics (right after a bulk load PostgreSQL's are stale, and a LIMIT query then
        sorted every remaining row of the tenant for each page). A short range is the end of the chain or
        a gap: the next stored entry, if any, is looked up by itself and the walk goes on from there."""
        columns, ph = ", ".join(ROW_COLUMNS), self.ph
        in_range = (
            f"SELECT {columns} FROM receipts WHERE COALESCE(tenant, '') = {ph} "
            f"AND chain_seq > {ph} AND chain_seq <= {ph} ORDER BY chain_seq"
        )
        following = (
            f"SELECT {columns} FROM receipts WHERE COALESCE(tenant, '') = {ph} "
            f"AND chain_seq > {ph} ORDER BY chain_seq LIMIT 1"
        )

        lo = after  # the range being read is (lo, lo + page]

        def fetch(start: int) -> asyncio.Task[list[tuple[Any, ...]]]:
            nonlocal lo
            lo = start
            return asyncio.ensure_future(self._rows(in_range, [key, start, start + self.page]))

        pending = fetch(after)
        try:
            while True:
                rows = await pending
                page = [_chain_row(r) for r in rows]
                full = len(rows) == self.page
                if full:  # the next range is read (in the store's thread or connection) while this is hashed
                    pending = fetch(page[-1].seq)
                if page:
                    yield page
                if full:
                    continue
                nxt = await self._rows(following, [key, page[-1].seq if page else lo])
                if not nxt:
                    return
                yield [_chain_row(nxt[0])]
                pending = fetch(int(nxt[0][ROW_COLUMNS.index("chain_seq")]))
        finally:  # stopped early (a problem found): drop the read ahead, and retrieve its outcome
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending

    async def decision_blobs(self, hashes: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for i in range(0, len(hashes), 500):
            chunk = list(hashes[i : i + 500])
            query = f"SELECT hash, blob FROM decisions WHERE hash IN ({', '.join([self.ph] * len(chunk))})"
            found.update((str(h), bytes(b)) for h, b in await self._rows(query, chunk))
        return found

    async def chain_started_at(self) -> float | None:
        """When m004 (the chain) was applied: a final receipt finished after it must be chained."""
        rows = await self._rows("SELECT applied_at FROM migrations WHERE name = 'm004_chain'")
        return float(rows[0][0]) if rows else None

    async def unchained(self, since: float, limit: int = 100) -> list[tuple[str | None, str, float]]:
        """Final receipts outside the chain that finished at or after `since` (tenant, request_id,
        finished_at): the writer chains every final it stores, so these were put there by hand."""
        rows = await self._rows(
            "SELECT tenant, request_id, COALESCE(finished_at, created_at) AS t FROM receipts "
            "WHERE chain_seq IS NULL AND status <> 'started' "
            f"AND COALESCE(finished_at, created_at) >= {self.ph} ORDER BY t LIMIT {int(limit)}",
            (since,),
        )
        return [(r[0], str(r[1]), float(r[2])) for r in rows]

    # -- checkpoints -------------------------------------------------------------------------------

    async def checkpoints(
        self, key: str | None = None, *, after: tuple[str, int] | None = None, limit: int | None = None
    ) -> list[Checkpoint]:
        """Checkpoints of one chain key (or of all), by chain key then sequence number, those after the
        (chain key, seq) `after` when given."""
        ph = self.ph
        where: list[str] = []
        params: list[Any] = []
        if key is not None:
            where.append(f"tenant = {ph}")
            params.append(key)
        if after is not None:
            where.append(f"(tenant > {ph} OR (tenant = {ph} AND seq > {ph}))")
            params += [after[0], after[0], after[1]]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = await self._rows(
            f"SELECT tenant, seq, hash, created_at, key_id, signature FROM checkpoints{clause} "
            f"ORDER BY tenant, seq{tail}",
            params,
        )
        return [Checkpoint(str(t), int(s), str(h), float(c), str(k), str(g)) for t, s, h, c, k, g in rows]

    async def latest_checkpoints(self) -> dict[str, tuple[int, float]]:
        """Per chain key, the highest checkpointed sequence number and when it was signed."""
        rows = await self._rows(
            "SELECT c.tenant, c.seq, c.created_at FROM checkpoints c "
            "WHERE c.seq = (SELECT MAX(m.seq) FROM checkpoints m WHERE m.tenant = c.tenant)"
        )
        return {str(t): (int(s), float(c)) for t, s, c in rows}

    async def put_checkpoint(self, cp: Checkpoint) -> None:
        ph = self.ph
        await self.store._execute(
            "INSERT INTO checkpoints (tenant, seq, hash, created_at, key_id, signature) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (tenant, seq) DO NOTHING",
            (cp.tenant, cp.seq, cp.hash, cp.created_at, cp.key_id, cp.signature),
        )
