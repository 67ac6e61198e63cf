"""Crash and shutdown (issue 10 item 4), on real processes: `unhardcoded serve --workers 2` over SQLite in
strict durability, a few hundred concurrent calls (every other one streaming) against a fake upstream.

SIGKILL: after a restart every call that completed to its client has its full receipt, and every call the
upstream saw has a final receipt: the ones cut off in flight are `incomplete` (the restarted gateway's
sweeper finishes the `started` records nothing else will; the restart sets a short call budget and no
grace so that it does so at once). SIGTERM: every call in flight is drained to its end and every receipt is
final before the processes exit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.procs import Gateway, Outcome, crowd, trace_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT"),
]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    g = Gateway(tmp_path)
    yield g
    g.stop_all()


def test_sigkill_mid_load_loses_no_receipt(gateway: Gateway) -> None:
    gateway.delay_ms, gateway.chunk_delay_ms = 300, 30
    gateway.start_upstream()
    gateway.start()
    n = 300

    def kill_midway(outcomes: list[Outcome]) -> int:
        deadline = time.time() + 60
        while sum(o.completed for o in outcomes) < n // 5:
            assert time.time() < deadline, "the calls never completed"
            time.sleep(0.005)
        gateway.kill()
        return sum(o.completed for o in outcomes)

    outcomes, done_at_kill = crowd(gateway.url, n, stop_when=kill_midway, stagger_s=0.006)
    saw = gateway.upstream_saw()
    completed = [o for o in outcomes if o.completed]
    in_flight = [i for i in saw if not outcomes[i].completed]
    assert len(completed) >= done_at_kill >= n // 5
    assert in_flight, "the kill found no call in flight: nothing was tested"
    assert any(o.stream for o in completed) and any(outcomes[i].stream for i in in_flight)

    gateway.call_timeout_s, gateway.sweep_grace_s = 1, 0  # no call of the killed run is live any more
    gateway.start()  # the restart opens the file the kill left (WAL recovery)
    receipts = gateway.settled_receipts()  # every body parses: none half-written
    for o in completed:
        status, body = receipts[trace_of(o.i)]
        assert (status, body["status"], body["request_id"]) == ("ok", "ok", o.request_id)
        assert body["outcome"]["usage"]["output_tokens"] > 0 and body["attempts"][0]["error_class"] is None
    missing = [i for i in saw if trace_of(i) not in receipts]
    assert missing == []
    left = {receipts[trace_of(i)][0] for i in in_flight}
    assert left <= {"incomplete", "ok", "partial"}, left  # a call may have finished just before the kill
    assert "incomplete" in left
    lost = [b for s, b in receipts.values() if s == "incomplete"]
    assert all(b["outcome"]["error"]["error_class"] == "incomplete" for b in lost)
    print(f"killed at {done_at_kill} completed; {len(completed)} completed, {len(in_flight)} in flight "
          f"upstream, {len(receipts)} receipts, {len(lost)} incomplete")  # fmt: skip
    status, body = gateway_get(gateway, f"/x/receipts/{completed[0].request_id}")
    assert status == 200 and body["status"] == "ok"


def test_sigterm_drains_in_flight_calls_and_flushes(gateway: Gateway) -> None:
    gateway.delay_ms, gateway.chunk_delay_ms = 3000, 30
    gateway.start_upstream()
    gateway.start()
    n = 100

    def terminate_when_all_are_upstream(outcomes: list[Outcome]) -> int:
        deadline = time.time() + 60
        while len(gateway.upstream_saw()) < n:
            assert time.time() < deadline, "the calls never reached the upstream"
            time.sleep(0.02)
        assert not any(o.completed for o in outcomes)  # all of them in flight at the signal
        return gateway.terminate()

    outcomes, code = crowd(gateway.url, n, stop_when=terminate_when_all_are_upstream)
    assert code == 0, "".join(gateway.log)
    assert [o.i for o in outcomes if not o.completed] == []
    receipts = gateway.receipts()
    assert {receipts[trace_of(o.i)][0] for o in outcomes} == {"ok"}
    assert [t for t, (s, _) in receipts.items() if s == "started"] == []


def gateway_get(g: Gateway, path: str) -> tuple[int, dict[str, object]]:
    import json
    import urllib.request

    with urllib.request.urlopen(g.url + path, timeout=10) as r:
        return r.status, json.loads(r.read())
