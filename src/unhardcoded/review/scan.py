"""Reading a period of receipts: the `since`/`until` window checked once, and the receipts in it in pages.

Shared by audit and what-if. Reads through `ReceiptStore.search` only (newest first, `until` exclusive),
so memory stays at one page however long the history.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from unhardcoded.errors import UserError
from unhardcoded.review.period import parse_when
from unhardcoded.store.base import ReceiptStore

When = str | float | int | None  # "30d", "2026-11-01T00:00:00Z", or epoch seconds


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until) in epoch seconds; None is open-ended."""

    since: float | None
    until: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


def _when(value: When, name: str, now: float) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UserError(f"{name}: expected a span like 30d or an ISO 8601 timestamp", path=name)
    if isinstance(value, int | float):
        return float(value)
    return parse_when(value, now=now, name=name)


def parse_window(since: When = None, until: When = None, *, now: float | None = None) -> Window:
    """The window of a question: each bound a span before now (`30d`) or an ISO 8601 timestamp; `until`
    must not come before `since`. Errors name the parameter (UserError.path)."""
    t = time.time() if now is None else now
    a, b = _when(since, "since", t), _when(until, "until", t)
    if a is not None and b is not None and b < a:
        raise UserError(
            f"until: {until!r} is before since {since!r}; give an until at or after since", path="until"
        )
    return Window(a, b)


async def pages(
    store: ReceiptStore,
    window: Window,
    *,
    fingerprint: str | None = None,
    workload: str | None = None,
    tenant: str | None = None,
    page: int = 2000,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Summaries (the store's indexed columns) of every receipt in the window, newest first, each once;
    `tenant`: that tenant's only (None: every tenant's).

    `until` is exclusive, so each next page asks for everything up to just past the oldest row read: rows
    sharing that timestamp come back and are skipped by id; only the ids at that one timestamp are kept.
    """
    bound = window.until
    edge_ts: float | None = None
    edge_ids: set[str] = set()
    size = page
    while True:
        rows = await store.search(
            fingerprint=fingerprint,
            workload=workload,
            tenant=tenant,
            since=window.since,
            until=bound,
            limit=size,
        )
        new = [r for r in rows if not (r["created_at"] == edge_ts and r["request_id"] in edge_ids)]
        if new:
            yield new
        if len(rows) < size:
            return
        oldest = float(rows[-1]["created_at"])
        if not new:  # a whole page at one timestamp, all read already: read a wider page at that bound
            size *= 2
            continue
        at_oldest = {r["request_id"] for r in rows if r["created_at"] == oldest}
        edge_ids = edge_ids | at_oldest if oldest == edge_ts else at_oldest
        edge_ts = oldest
        bound = math.nextafter(oldest, math.inf)
        size = page


async def count(store: ReceiptStore, window: Window, **filters: Any) -> int:
    """How many receipts `pages` would yield (for a progress bar's total)."""
    n = 0
    async for rows in pages(store, window, **filters):
        n += len(rows)
    return n
