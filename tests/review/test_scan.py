"""Reading a window of receipts in pages: each receipt once, even when many share one timestamp; the window
checked once, with errors that name the parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.review.conftest import run_async
from unhardcoded.errors import UserError
from unhardcoded.review.scan import Window, pages, parse_window
from unhardcoded.store import ReceiptRecord, SqliteStore


def record(n: int, created_at: float) -> ReceiptRecord:
    return ReceiptRecord(
        request_id=f"req_{n:04d}",
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        parent_span_id=None,
        workflow_id=None,
        workflow_node=None,
        tenant=None,
        workload="w",
        status="ok",
        created_at=created_at,
        finished_at=created_at,
        deployment="alpha/cheap",
        fingerprint="fp",
        policy_sha256=None,
        catalog_version="v",
        decision_hash=None,
        decision_blob=None,
        cost_usd=None,
        baseline_cost_usd=None,
        savings_usd=None,
        latency_ms=None,
        body=b"{}",
    )


# 2 newest, then 7 sharing one timestamp (more than a page), then 3 older.
TIMES = [1001.0] * 2 + [1000.0] * 7 + [999.0] * 3


async def read_all(path: Path, window: Window, page: int) -> list[list[str]]:
    store = SqliteStore(path)
    await store.open()
    try:
        for n, ts in enumerate(TIMES):
            await store.write(record(n, ts))
        return [[r["request_id"] for r in rows] async for rows in pages(store, window, page=page)]
    finally:
        await store.close()


@pytest.mark.parametrize("page", [1, 2, 3, 5, 100])
def test_each_receipt_once_whatever_the_page(tmp_path: Path, page: int) -> None:
    got = run_async(read_all(tmp_path / "r.db", Window(None, None), page))
    ids = [i for rows in got for i in rows]
    assert sorted(ids) == [f"req_{n:04d}" for n in range(len(TIMES))] and len(ids) == len(set(ids))
    assert all(len(rows) <= max(page, 1) * 8 for rows in got)


def test_window_bounds_are_since_inclusive_until_exclusive(tmp_path: Path) -> None:
    got = run_async(read_all(tmp_path / "r.db", Window(999.5, 1001.0), 2))
    assert sorted(i for rows in got for i in rows) == [f"req_{n:04d}" for n in range(2, 9)]


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("1d", None, Window(100_000 - 86400, None)),
        ("1970-01-02T00:00:00Z", "2h", Window(86400, 100_000 - 7200)),
        (5.0, 7, Window(5.0, 7.0)),
        (None, "", Window(None, None)),
    ],
)
def test_parse_window(since: Any, until: Any, expected: Window) -> None:
    assert parse_window(since, until, now=100_000) == expected


@pytest.mark.parametrize(
    ("since", "until", "path"),
    [("soon", None, "since"), (None, "later", "until"), ("1h", "2h", "until"), ([1], None, "since")],
)
def test_bad_window(since: Any, until: Any, path: str) -> None:
    with pytest.raises(UserError) as e:
        parse_window(since, until, now=100_000)
    assert e.value.path == path and e.value.message.startswith(f"{path}:")
