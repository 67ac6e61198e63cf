"""`Recorder._write_final`: the final receipt is retried while the store is down, with a back-off from 50 ms
doubling up to 1 s, for up to `retry_s` (5 s), after which the error goes up and the `started` record
stands for the call.

The store is a real SQLite file whose write lock another connection takes while the provider answers (as
another process's writer would) and gives back, or not, from within the Recorder's back-off. The Recorder's
clock is virtual: its `asyncio.sleep` records each delay and moves its `time.monotonic` on by it, so the
back-off and the deadline are seen exactly and nothing waits.

Written from the survivors of `make mutation` on `gateway/record.py` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.gateway.scripted import KEYS, ScriptedTransport, settings
from unhardcoded.gateway import record
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import Timeouts, UpstreamResponse
from unhardcoded.providers.base import HttpCall
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store.base import StoreError
from unhardcoded.store.sqlite import SqliteStore

REQUEST = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
BACKOFF_TO_5_S = [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]  # 4.55 s; one more second would pass 5 s


class LockingTransport(ScriptedTransport):
    """Answers as scripted, after another connection took the store's write lock: the call's `started`
    record is in, its final receipt meets a locked database."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.blocker: sqlite3.Connection | None = None

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        self.blocker = sqlite3.connect(self.db, isolation_level=None)
        self.blocker.execute("BEGIN IMMEDIATE")
        return await super().send(call, timeouts)

    def release(self) -> None:
        if self.blocker is not None:
            self.blocker.rollback()
            self.blocker.close()
            self.blocker = None


class Clock:
    """The Recorder's clock: `sleep` records its delay, moves `monotonic` on by it, and after
    `release_after` sleeps gives the write lock back."""

    def __init__(self, transport: LockingTransport, release_after: int | None) -> None:
        self.now = 0.0
        self.sleeps: list[Any] = []
        self._transport = transport
        self._release_after = release_after

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        if len(self.sleeps) == self._release_after:
            self._transport.release()
        await asyncio.sleep(0)


class Locked:
    """A gateway over a real SQLite store that never waits for a lock (busy timeout 0) and a transport
    that takes the store's lock before answering."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch, *, release_after: int | None) -> None:
        s = settings(tmp)
        self.store = SqliteStore(tmp / "r.db", busy_timeout_s=0)
        self.transport = LockingTransport(self.store.path)
        self.clock = Clock(self.transport, release_after)
        real = SimpleNamespace(time=time.time, perf_counter=time.perf_counter)
        monkeypatch.setattr(record, "time", SimpleNamespace(monotonic=self.clock.monotonic, **vars(real)))
        monkeypatch.setattr(record, "asyncio", SimpleNamespace(sleep=self.clock.sleep))
        self.gw = Gateway(s, Policies(s), self.store, self.transport, load_adapters(), env=KEYS)

    async def __aenter__(self) -> Locked:
        await self.gw.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.transport.release()
        await self.gw.close()


async def test_the_final_receipt_waits_out_a_store_locked_for_three_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Locked(tmp_path, monkeypatch, release_after=3) as rig:
        reply = await rig.gw.chat(ChatRequest.parse(REQUEST, {}))
        failed = rig.store.stats.failed
        receipt = await rig.gw.receipt(reply.headers["x-unhardcoded-request-id"])
    assert reply.status == 200
    assert rig.clock.sleeps == [0.05, 0.1, 0.2]  # a sleep after each failed attempt, doubling
    assert failed == 3  # three attempts failed, the fourth committed
    assert re.fullmatch(r"\d+:[0-9a-f]{64}", reply.headers["x-unhardcoded-receipt"])
    assert receipt is not None and receipt["status"] == "ok"


async def test_a_store_locked_for_good_fails_the_call_once_retry_s_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Locked(tmp_path, monkeypatch, release_after=None) as rig:
        assert rig.gw._recorder.retry_s == 5.0  # the default: the gateway does not set it
        with pytest.raises(StoreError):
            await rig.gw.chat(ChatRequest.parse(REQUEST, {}))
        failed = rig.store.stats.failed
        rig.transport.release()
        (receipt,) = await rig.gw.search()
    assert rig.clock.sleeps == BACKOFF_TO_5_S  # capped at 1 s, and no sleep that would end past 5 s
    assert failed == len(BACKOFF_TO_5_S) + 1
    assert receipt["status"] == "started"  # the started record stands for the call


async def test_a_back_off_that_ends_exactly_at_the_deadline_is_still_slept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Locked(tmp_path, monkeypatch, release_after=None) as rig:
        rig.gw._recorder.retry_s = 0.05 + 0.1  # the second sleep ends on the deadline, the third after it
        with pytest.raises(StoreError):
            await rig.gw.chat(ChatRequest.parse(REQUEST, {}))
    assert rig.clock.sleeps == [0.05, 0.1]
