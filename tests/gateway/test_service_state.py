"""The gateway's own state between calls (gateway/service.py): when a worker re-reads the stored policies
another worker added (at most every 2 s, every 0.25 s for a name it has not seen), the live runtime
rules (the open circuits, as the decision shows them, and waived when they would leave nothing), the
calls in flight, the store's counters on /metrics, and a named workflow's search.

In process: gateways over a scripted transport and one real SQLite file (tests/gateway/scripted.py); two
`Rig`s over the same file are two workers of one deployment. The re-read clock is the module's
`time.monotonic`, replaced by a clock the test moves (no test waits). Written from the `service.py`
survivors of `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import unhardcoded.gateway.service as service
from tests.gateway.scripted import KEYS, Answer, Rig, ScriptedTransport, chunk, settings
from unhardcoded.errors import RequestError, UserError
from unhardcoded.gateway.auth import Caller
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import Timeouts
from unhardcoded.providers.base import HttpCall
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store.base import StoreWriteError
from unhardcoded.store.sqlite import SqliteStore

ADMIN = Caller(None, "admin")
ACME = Caller("acme", "client")
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}]}
DEAR = {"rank": [{"by": "est_cost_usd", "order": "desc"}]}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


class Clock:
    """`service.time` with a monotonic clock the test sets; wall time and perf_counter stay real."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def perf_counter() -> float:
        return time.perf_counter()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(1000.0)
    monkeypatch.setattr(service, "time", c)
    return c


async def version_used(rig: Rig, name: str, tenant: str | None = "acme") -> int | None:
    """The stored policy version a call naming `name` ran under (from its receipt)."""
    reply = await rig.gw.chat(ChatRequest.parse({**BODY, "policy": name}, {}, tenant=tenant))
    r = await rig.gw.receipt(str(reply.headers["x-unhardcoded-request-id"]))
    assert r is not None and r["policy"]["name"] == name
    version: int | None = r["policy"]["version"]
    return version


# -- stored policies added by another worker -----------------------------------------------------------


async def test_a_known_stored_policy_is_read_again_after_two_seconds(tmp_path: Path, clock: Clock) -> None:
    async with Rig(tmp_path) as rig, Rig(tmp_path) as other:
        v1 = await other.gw.add_policy({"name": "p", "policy": CHEAP}, ACME)
        assert await version_used(rig, "p") == 1  # first named: read at once
        v2 = await other.gw.add_policy({"name": "p", "policy": DEAR}, ACME)  # the other worker's new version
        clock.now = 1000.3
        assert await version_used(rig, "p") == 1  # a name it knows: not read again yet
        what_if = await rig.gw.simulate({"policy": "p", "since": "1d"}, ACME)
        assert what_if["policy"]["sha256"] == v1["sha256"]
        clock.now = 1002.0
        assert await version_used(rig, "p") == 1  # exactly 2 s: still the version it has
        clock.now = 1002.5
        assert await version_used(rig, "p") == 2  # more than 2 s: read again
        what_if = await rig.gw.simulate({"policy": "p", "since": "1d"}, ACME)
        assert what_if["policy"]["sha256"] == v2["sha256"]
        clock.now = 1002.6
        assert await version_used(rig, "p") == 2  # and read again 2 s after that, not before


async def test_an_unknown_name_is_looked_up_after_a_quarter_second(tmp_path: Path, clock: Clock) -> None:
    async with Rig(tmp_path) as rig, Rig(tmp_path) as other:
        await other.gw.add_policy({"name": "old", "policy": CHEAP}, ACME)
        assert await version_used(rig, "old") == 1  # acme's stored policies read at 1000.0
        await other.gw.add_policy({"name": "new", "policy": DEAR}, ACME)
        clock.now = 1000.25
        with pytest.raises(UserError):  # exactly 0.25 s: not looked up yet
            await version_used(rig, "new")
        clock.now = 1000.26
        assert await version_used(rig, "new") == 1


async def test_a_call_naming_no_stored_policy_does_not_reset_the_read_time(
    tmp_path: Path, clock: Clock
) -> None:
    async with Rig(tmp_path) as rig, Rig(tmp_path) as other:
        await other.gw.add_policy({"name": "old", "policy": CHEAP}, ACME)
        assert await version_used(rig, "old") == 1  # acme's stored policies read at 1000.0
        clock.now = 1000.3
        for unnamed in ({}, {"policy": CHEAP}):  # no stored policy named: nothing read, nothing reset
            await rig.gw.chat(ChatRequest.parse({**BODY, **unnamed}, {}, tenant="acme"))
        await other.gw.add_policy({"name": "new", "policy": DEAR}, ACME)
        clock.now = 1000.5  # 0.5 s after the last read: a name not seen yet is looked up
        assert await version_used(rig, "new") == 1


async def test_each_tenant_has_its_own_read_time(tmp_path: Path, clock: Clock) -> None:
    async with Rig(tmp_path) as rig, Rig(tmp_path) as other:
        await other.gw.add_policy({"name": "p", "policy": CHEAP}, ACME)
        await other.gw.add_policy({"name": "p", "policy": CHEAP}, Caller("beta", "client"))
        assert await version_used(rig, "p", "acme") == 1
        await other.gw.add_policy({"name": "p", "policy": DEAR}, ACME)
        clock.now = 1001.0
        assert await version_used(rig, "p", "beta") == 1  # beta read now; acme's read time is its own
        assert await version_used(rig, "p", "acme") == 1
        clock.now = 1002.1
        assert await version_used(rig, "p", "acme") == 2


async def test_a_worker_whose_clock_just_started_reads_a_stored_policy_named_first(
    tmp_path: Path, clock: Clock
) -> None:
    clock.now = 1.0  # the monotonic clock counts from an arbitrary point; never read means read now
    async with Rig(tmp_path) as rig:
        await rig.gw.add_policy({"name": "p", "policy": CHEAP}, ACME)
        assert await version_used(rig, "p") == 1


# -- live runtime rules --------------------------------------------------------------------------------


async def open_a(rig: Rig) -> None:
    """Two failures open a/one's and a/two's circuits (breaker.failures = 2); b/three answers."""
    for _ in range(2):
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
        await rig.call(CHEAP)


async def test_an_open_circuit_is_a_soft_runtime_rule_on_the_deployment_id(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        before = rig.gw.dry_run({"policy": CHEAP})  # decided (and memoised) with every circuit closed
        assert "rt:circuit-open" not in [r["id"] for r in before["rules"]] and before["plan"][0] == "a/one"
        await open_a(rig)
        out = rig.gw.dry_run({"policy": CHEAP})
        (rule,) = [r for r in out["rules"] if r["id"] == "rt:circuit-open"]
        assert rule == {
            "id": "rt:circuit-open",
            "source": "runtime",
            "field": "id",
            "op": "circuit_closed",
            "value": "closed",
            "missing": "reject",
            "rejected": 2,
        }
        assert out["plan"] == ["b/three", "c/four"]
        a_one = next(c for c in out["candidates"] if c["deployment"] == "a/one")
        assert a_one["rejected_by"] == [
            {
                "rule_id": "rt:circuit-open",
                "source": "runtime",
                "field": "id",
                "op": "circuit_closed",
                "expected": "closed",
                "actual": "2 consecutive failures, last: server_error",
            }
        ]
        code, r = await rig.call(CHEAP)  # a call decides the same way
        assert code == 200 and r["plan"] == ["b/three", "c/four"]
        assert [x for x in r["rules"] if x["id"] == "rt:circuit-open"] == [rule]


async def test_an_open_circuit_is_waived_when_it_would_leave_nothing(tmp_path: Path) -> None:
    not_c = {**CHEAP, "rules": [{"field": "id", "op": "!=", "value": "c/four"}]}
    async with Rig(tmp_path) as rig:
        await open_a(rig)
        rig.transport.push("b", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
        await rig.call(not_c)  # b/three fails twice too (after a/one and a/two were passed over)
        await rig.call(not_c)
        out = rig.gw.dry_run({"policy": not_c})
        assert out["waived"] == ["rt:circuit-open"]
        assert out["plan"] == ["a/one", "a/two", "b/three"]


# -- calls in flight -----------------------------------------------------------------------------------


async def test_calls_in_flight_count_every_call_under_way(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        gate, all_in = asyncio.Event(), asyncio.Event()
        arrived: list[str] = []
        send, open_stream = rig.transport.send, rig.transport.open_stream

        def held(kind: str, opener: Any) -> Any:
            async def wait_then_open(call: HttpCall, timeouts: Timeouts) -> Any:
                arrived.append(kind)
                if len(arrived) == 3:
                    all_in.set()
                await gate.wait()
                return await opener(call, timeouts)

            return wait_then_open

        rig.transport.send = held("send", send)  # type: ignore[method-assign]
        rig.transport.open_stream = held("stream", open_stream)  # type: ignore[method-assign]
        sink = _Sink()
        rig.transport.push("c", Answer(chunks=[chunk("hi"), b"data: [DONE]\n\n"]))
        only_c = {"rules": [{"field": "id", "op": "==", "value": "c/four"}]}
        tasks = [
            asyncio.create_task(rig.gw.chat(ChatRequest.parse(BODY, {}))),
            asyncio.create_task(rig.gw.chat(ChatRequest.parse(BODY, {}))),
            asyncio.create_task(
                rig.gw.chat_stream(ChatRequest.parse({**BODY, "stream": True, "policy": only_c}, {}), sink)
            ),
        ]
        await asyncio.wait_for(all_in.wait(), 60)  # a bound on the wait, not a timed check
        assert sorted(arrived) == ["send", "send", "stream"]
        assert rig.gw.health()["calls_in_flight"] == 3
        gate.set()
        await asyncio.gather(*tasks)
        assert rig.gw.health()["calls_in_flight"] == 0
        assert sink.started and sink.data.endswith(b"data: [DONE]\n\n")


class _Sink:
    def __init__(self) -> None:
        self.started = False
        self.data = b""

    async def start(self, headers: dict[str, str]) -> None:
        self.started = True

    async def write(self, data: bytes) -> None:
        self.data += data

    async def fail(self, error_class: str, message: str) -> None:
        pass


# -- /metrics ------------------------------------------------------------------------------------------


async def test_metrics_show_the_stores_pending_and_failed_writes(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await rig.call()
        text = rig.gw.metrics_text()
        assert "\nunhardcoded_receipts_pending 0\n" in text
        assert "\nunhardcoded_receipts_failed_total 0\n" in text
        # One strict call alone: its started and final records, each committed inline in a commit of its own.
        assert "\nunhardcoded_receipts_committed_total 2\n" in text
        assert "\nunhardcoded_receipt_commits_total 2\n" in text
        # What a store under a failing disk counts (5 accepted, 2 failed, 3 not yet committed): the
        # counters are the store's own (`StoreStats`), read by /metrics and /health alike.
        stats = rig.gw._store.stats
        stats.written += 5
        stats.failed += 2
        text = rig.gw.metrics_text()
        assert "\nunhardcoded_receipts_pending 3\n" in text
        assert "\nunhardcoded_receipts_failed_total 2\n" in text
        assert "XX" not in text and "UNHARDCODED" not in text
        h = rig.gw.health()
        assert (h["receipts_pending"], h["receipts_failed"]) == (3, 2)
        stats.written -= 5
        stats.failed -= 2


# -- search --------------------------------------------------------------------------------------------


async def test_search_by_workflow_finds_that_run_only(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:

        async def run(workflow: str, tenant: str | None) -> str:
            req = ChatRequest.parse(BODY, {"x-unhardcoded-workflow": workflow}, tenant=tenant)
            return str((await rig.gw.chat(req)).headers["x-unhardcoded-request-id"])

        nightly = await run("nightly", "acme")
        await run("daily", "acme")
        mine = await run("nightly", None)
        assert [r["request_id"] for r in await rig.gw.search(ACME, workflow="nightly")] == [nightly]
        assert [r["request_id"] for r in await rig.gw.search(ADMIN, workflow="nightly")] == [mine]
        assert len(await rig.gw.search(ADMIN)) == 3
        for bad, why in (("", "0 characters"), ("x" * 129, "129 characters"), ("a\nb", "with control")):
            with pytest.raises(RequestError) as e:
                await rig.gw.search(ACME, workflow=bad)
            assert e.value.path == "workflow", bad
            assert e.value.message.startswith("workflow: expected 1 to 128 printable characters, got ")
            assert why in e.value.message


async def test_search_by_status(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        ok = (await rig.call())[1]["request_id"]
        rig.transport.push("a", *[Answer(status=400, body=b"{}")] * 3)
        failed = (await rig.call(CHEAP))[1]
        assert failed["status"] == "error"
        assert [r["request_id"] for r in await rig.gw.search(ADMIN, status="ok")] == [ok]
        assert [r["request_id"] for r in await rig.gw.search(ADMIN, status="error")] == [failed["request_id"]]
        assert len(await rig.gw.search(ADMIN)) == 2


# -- the decision blob ---------------------------------------------------------------------------------


async def test_a_decision_whose_write_failed_is_sent_again_by_the_next_call(tmp_path: Path) -> None:
    """The gateway sends a decision's JSON once per decision the store knows; a refused write makes the
    store forget it, so the next call with the same decision (a cache hit in the gateway) sends it again."""
    s = settings(tmp_path)
    store = SqliteStore(tmp_path / "r.db", busy_timeout_s=0)  # a locked database refuses at once
    gw = Gateway(s, Policies(s), store, ScriptedTransport(), load_adapters(), env=KEYS)
    await gw.open()
    try:
        blocker = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        try:
            with pytest.raises(StoreWriteError):  # strict: the started record is refused, so is the call
                await gw.chat(ChatRequest.parse(BODY, {}))
        finally:
            blocker.rollback()
            blocker.close()
        reply = await gw.chat(ChatRequest.parse(BODY, {}))
        assert reply.status == 200
        replayed = await gw.replay({"request_id": reply.headers["x-unhardcoded-request-id"]})
        assert replayed["identical"] is True  # the stored decision is the one the call made
        (one,) = replayed["receipts"]
        assert one["as_then"]["stored_hash"] == one["as_then"]["rebuilt_hash"]
    finally:
        await gw.close()
