"""Lost calls become `incomplete`: a call in flight when its process died (SIGKILL, a crash, the machine
going down) left a `started` receipt that nothing will ever finish. The sweeper finds such receipts and
writes each one's final receipt, status `incomplete`, through the normal store write, so lost calls are
counted in every sum and sit in the chain like any other final receipt.

Only receipts older than `call_timeout_s` plus a grace period are touched: no live call, in this process
or in a sibling worker or replica sharing the store, can still be running then (a call's budget spans
its fallbacks and its stream, and its final write retries for 5 s), so the grace covers that retry and
clock skew between machines. Two sweepers finishing the same receipt is harmless: a receipt that is
already final is not replaced.

One sweep at startup, then one every `every_s`. The first covers the whole history; later ones read only
the window since the previous cutoff, so a sweep never rescans what an earlier one cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

import orjson

from unhardcoded.config import Settings
from unhardcoded.gateway.metrics import Metrics
from unhardcoded.gateway.receipts import iso
from unhardcoded.store.base import ReceiptRecord, ReceiptStore, StoreError

log = logging.getLogger("unhardcoded.sweeper")

INCOMPLETE = "incomplete"
LOST = (
    "the gateway lost this call before it ended (its process stopped or crashed): no final receipt was "
    "written, so whether a provider answered, and what it cost, is unknown"
)
_FIELDS = tuple(f.name for f in dataclasses.fields(ReceiptRecord))
_PAGE = 500


class Sweeper:
    """Finishes `started` receipts older than `older_than_s` as `incomplete`. One per gateway."""

    def __init__(
        self, store: ReceiptStore, *, older_than_s: float, every_s: float, metrics: Metrics | None = None
    ) -> None:
        self._store = store
        self.older_than_s = older_than_s
        self.every_s = every_s
        self._metrics = metrics
        self._since: float | None = None  # the previous sweep's cutoff: older receipts are settled
        self._task: asyncio.Task[None] | None = None
        self.swept = 0  # receipts this sweeper finished

    @classmethod
    def for_settings(cls, store: ReceiptStore, settings: Settings, metrics: Metrics) -> Sweeper:
        """`started` receipts older than the call budget plus `sweep_grace_s` are lost calls."""
        older = settings.call_timeout_s + settings.sweep_grace_s
        return cls(store, older_than_s=older, every_s=min(60.0, max(1.0, older / 2)), metrics=metrics)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="receipt-sweeper")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except StoreError as e:  # the store is down: the next sweep reads the same window again
                log.warning("sweeping lost calls failed, will retry in %gs: %s", self.every_s, e)
            except Exception:
                log.exception("sweeping lost calls failed, will retry in %gs", self.every_s)
            await asyncio.sleep(self.every_s)

    async def sweep(self, now: float | None = None) -> int:
        """Finish every `started` receipt created before `now - older_than_s`; how many were finished."""
        now = time.time() if now is None else now
        cutoff = now - self.older_than_s
        # The windows overlap by one period, so a clock step or a late commit cannot open a gap.
        since = None if self._since is None else self._since - self.every_s
        done, after = 0, None
        while True:
            rows = await self._store.search(
                status="started", since=since, until=cutoff, after=after, limit=_PAGE
            )
            for row in rows:
                done += await self._finish(row, now)
            if len(rows) < _PAGE:
                break
            after = (rows[-1]["created_at"], rows[-1]["request_id"])
        self._since = cutoff
        self.swept += done
        if done:
            log.warning("recorded %d lost call(s) as %s", done, INCOMPLETE)
        return done

    async def _finish(self, row: dict[str, Any], now: float) -> int:
        started = await self._store.get(row["request_id"])
        if started is None or started.get("status") != "started":
            return 0  # finished meanwhile by its call or another sweeper
        body = incomplete_body(started, now)
        values = {name: row[name] for name in _FIELDS if name in row}
        values.update(status=INCOMPLETE, finished_at=now, decision_blob=None, body=orjson.dumps(body))
        # The started record carried the decision blob, so the store has it: the hash alone names it.
        await self._store.write(ReceiptRecord(**values))
        if self._metrics is not None:
            labels = (("status", INCOMPLETE), ("workload", row["workload"]))
            self._metrics.inc("unhardcoded_calls_total", labels)
        return 1


def incomplete_body(started: dict[str, Any], now: float) -> dict[str, Any]:
    """The final receipt of a lost call: its `started` receipt, ended as `incomplete`."""
    body = {k: v for k, v in started.items() if k != "decision"}  # readers get it expanded again
    outcome = dict(body.get("outcome") or {})
    outcome.update(
        status=INCOMPLETE,
        error={"error_class": INCOMPLETE, "message": LOST, "recorded_at": iso(now)},
    )
    body.update(status=INCOMPLETE, outcome=outcome, explanation=f"Incomplete: {LOST}.")
    return body
