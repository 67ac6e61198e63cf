"""POST /x/replay: the review package's replay behind the gateway's own store and catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness

BODY = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def test_a_receipt_replays_identically_as_then_and_names_the_same_winner_now(harness: Harness) -> None:
    status, headers, _ = harness.post("/v1/chat/completions", BODY)
    assert status == 200
    rid = headers["x-unhardcoded-request-id"]
    status, _, out = harness.post("/x/replay", {"request_id": rid})
    assert status == 200, out
    assert out["identical"] is True and out["mismatches"] == 0
    (one,) = out["receipts"]
    assert one["request_id"] == rid and one["as_then"]["identical"] is True
    assert one["as_then"]["rebuilt_hash"] == one["as_then"]["stored_hash"]
    assert one["now"]["same_winner"] is True and one["now"]["changed"] == []


def test_a_trace_and_a_fingerprint_over_a_period(harness: Harness) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    for _ in range(2):
        harness.post("/v1/chat/completions", BODY, {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    status, _, out = harness.post("/x/replay", {"trace_id": trace, "live": True})
    assert status == 200 and len(out["receipts"]) == 2 and out["identical"] is True
    fp = out["receipts"][0]["fingerprint"]
    status, _, period = harness.post("/x/replay", {"fingerprint": fp, "since": "1h"})
    assert status == 200, period
    assert period["calls"] == 2


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"request_id": "req_nope"}, 404, "request_id"),
        ({"trace_id": "0" * 32}, 404, "trace_id"),
        ({}, 400, "request_id"),
        ({"request_id": 7}, 400, "request_id"),
        ({"request_id": "x", "live": "yes"}, 400, "live"),
        ({"fingerprint": "f", "since": "yesterday"}, 400, "since"),
    ],
)
def test_bad_input_names_the_field(
    harness: Harness, body: dict[str, object], status: int, param: str
) -> None:
    got, _, out = harness.post("/x/replay", body)
    assert got == status and out["error"]["param"] == param, out
