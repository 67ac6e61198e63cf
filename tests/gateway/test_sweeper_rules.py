"""The sweeper (gateway/sweeper.py) rule by rule: its period from the settings, the window each sweep reads,
what a sweep does with a receipt that is already final, the lost call's final body, the counter it adds,
and how the background loop reports a failing store. Written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import Rig, settings
from tests.gateway.test_sweeper import lost_call, sweeper
from unhardcoded.gateway.metrics import Metrics
from unhardcoded.gateway.receipts import iso
from unhardcoded.gateway.sweeper import INCOMPLETE, LOST, Sweeper, incomplete_body
from unhardcoded.store.base import StoreError


class Searches:
    """A store double recording each search; `pages` are answered in turn (then empty pages)."""

    def __init__(self, *pages: list[dict[str, Any]], fail: BaseException | None = None) -> None:
        self.pages = list(pages)
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    async def search(self, **kw: Any) -> list[dict[str, Any]]:
        self.calls.append(kw)
        if self.fail is not None:
            raise self.fail
        return self.pages.pop(0) if self.pages else []

    async def get(self, request_id: str) -> dict[str, Any] | None:
        return None


def test_the_period_and_age_come_from_the_call_budget_and_the_grace(tmp_path: Path) -> None:
    for timeout, grace, every in ((10, 30, 20.0), (1, 0, 1.0), (1.5, 0.5, 1.0), (100, 60, 60.0), (3, 0, 1.5)):
        s = Sweeper.for_settings(
            None, settings(tmp_path, call_timeout_s=timeout, sweep_grace_s=grace), Metrics()
        )  # type: ignore[arg-type]
        assert (s.older_than_s, s.every_s) == (timeout + grace, every)


async def test_the_first_sweep_reads_all_history_later_ones_the_window_since_the_last() -> None:
    store = Searches()
    s = Sweeper(store, older_than_s=100, every_s=10)  # type: ignore[arg-type]
    assert await s.sweep(now=1000.0) == 0
    assert store.calls == [{"status": "started", "since": None, "until": 900.0, "after": None, "limit": 500}]
    await s.sweep(now=1030.0)  # from the previous cutoff, less one period (the windows overlap)
    assert store.calls[-1] == {
        "status": "started",
        "since": 890.0,
        "until": 930.0,
        "after": None,
        "limit": 500,
    }
    assert s.swept == 0


async def test_a_full_page_is_followed_by_the_next_from_its_last_row() -> None:
    page = [{"request_id": f"r{i:03d}", "created_at": float(i)} for i in range(500)]
    store = Searches(page, [{"request_id": "late", "created_at": 600.0}])
    s = Sweeper(store, older_than_s=1, every_s=1)  # type: ignore[arg-type]
    assert await s.sweep(now=1000.0) == 0  # every row is gone from the store (get answers None)
    assert [c["after"] for c in store.calls] == [None, (499.0, "r499")]


async def test_a_receipt_already_final_is_left_alone(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        code, r = await rig.call()
        assert code == 200
        (row,) = await rig.gw.search()
        s = sweeper(rig)
        assert await s._finish(row, time.time()) == 0
        assert await s._finish({**row, "request_id": "no-such-call"}, time.time()) == 0
        again = await rig.gw.receipt(r["request_id"])
        assert again is not None and again["status"] == "ok"
        assert "incomplete" not in rig.gw.metrics_text()


async def test_a_lost_call_is_counted_under_its_workload(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await lost_call(rig)
        s = sweeper(rig)
        assert await s.sweep(now=time.time() + 61) == 1 and s.swept == 1
        text = rig.gw.metrics_text()
    line = next(x for x in text.splitlines() if 'status="incomplete"' in x)
    assert line == 'unhardcoded_calls_total{status="incomplete",workload="default"} 1'


async def test_a_sweeper_without_metrics_still_finishes_the_call(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await lost_call(rig)
        s = Sweeper(rig.gw._store, older_than_s=60, every_s=1)
        assert await s.sweep(now=time.time() + 61) == 1
        r = await rig.gw.receipt(rid)
        assert r is not None and r["status"] == INCOMPLETE


def test_the_final_body_of_a_lost_call() -> None:
    started = {
        "request_id": "r1",
        "status": "started",
        "decision": {"big": "expanded for readers"},
        "outcome": {"deployment": None, "status": "started"},
        "attempts": [],
    }
    body = incomplete_body(started, 1700000000.5)
    assert body == {
        "request_id": "r1",
        "status": INCOMPLETE,
        "outcome": {
            "deployment": None,
            "status": INCOMPLETE,
            "error": {"error_class": INCOMPLETE, "message": LOST, "recorded_at": iso(1700000000.5)},
        },
        "attempts": [],
        "explanation": f"Incomplete: {LOST}.",
    }
    assert started["status"] == "started" and started["outcome"]["status"] == "started"  # not changed
    bare = incomplete_body({"request_id": "r2"}, 0.0)
    assert bare["outcome"] == {
        "status": INCOMPLETE,
        "error": {"error_class": INCOMPLETE, "message": LOST, "recorded_at": "1970-01-01T00:00:00.000Z"},
    }


async def until(predicate: Any) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_the_loop_logs_a_store_that_is_down_and_tries_again(caplog: pytest.LogCaptureFixture) -> None:
    store = Searches(fail=StoreError("database is locked"))
    s = Sweeper(store, older_than_s=1, every_s=0.01)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="unhardcoded.sweeper"):
        s.start()
        await until(lambda: len(store.calls) >= 2)  # it goes on after a failure
        await s.close()
    (rec, *_) = [r for r in caplog.records if r.name == "unhardcoded.sweeper"]
    assert rec.levelno == logging.WARNING and rec.exc_info is None
    assert rec.getMessage() == "sweeping lost calls failed, will retry in 0.01s: database is locked"
    assert s._task is None
    await s.close()  # twice is harmless


async def test_the_loop_logs_any_other_failure_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    store = Searches(fail=ValueError("odd row"))
    s = Sweeper(store, older_than_s=1, every_s=0.01)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="unhardcoded.sweeper"):
        s.start()
        await until(lambda: len(store.calls) >= 2)
        await s.close()
    (rec, *_) = [r for r in caplog.records if r.name == "unhardcoded.sweeper"]
    assert rec.levelno == logging.ERROR and rec.exc_info is not None
    assert rec.getMessage() == "sweeping lost calls failed, will retry in 0.01s"


async def test_swept_counts_every_sweep_and_each_sweep_says_how_many(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Rig(tmp_path) as rig:
        s = sweeper(rig)
        with caplog.at_level(logging.WARNING, logger="unhardcoded.sweeper"):
            await lost_call(rig)
            assert await s.sweep(now=time.time() + 61) == 1
            await lost_call(rig)
            await lost_call(rig)
            assert await s.sweep(now=time.time() + 62) == 2
            assert await s.sweep(now=time.time() + 63) == 0
        assert s.swept == 3
    said = [r.getMessage() for r in caplog.records if r.name == "unhardcoded.sweeper"]
    assert said == ["recorded 1 lost call(s) as incomplete", "recorded 2 lost call(s) as incomplete"]


async def test_the_background_task_is_named_and_closing_an_unstarted_sweeper_is_harmless() -> None:
    metrics = Metrics()
    s = Sweeper.for_settings(Searches(), settings(Path("/nonexistent")), metrics)  # type: ignore[arg-type]
    assert s._metrics is metrics
    await s.close()  # never started: nothing to stop
    s.start()
    assert s._task is not None and s._task.get_name() == "receipt-sweeper"
    await s.close()
    assert s._task is None
