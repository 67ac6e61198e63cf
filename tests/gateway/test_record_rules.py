"""What `Recorder.final` hands on once a call ends, besides the receipt: the spend counted against the caps
scoped to the call's workload or tenant, the exporter's counts, and the `x-unhardcoded-receipt` proof.

Written from the survivors of `make mutation` on `gateway/record.py` (docs/mutation.md).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import Answer, Rig, completion
from unhardcoded.errors import BudgetExceeded
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.providers.sse import DONE

MSG = [{"role": "user", "content": "hi"}]
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}], "on_budget": "reject"}


def request(tenant: str | None = None, **body: Any) -> ChatRequest:
    return ChatRequest.parse({"model": "auto", "messages": MSG, "policy": CHEAP, **body}, {}, tenant=tenant)


@pytest.mark.parametrize("scope", [{"workload": "default"}, {"tenant": "t1"}])
async def test_a_finished_call_counts_at_once_against_a_cap_scoped_to_it(
    tmp_path: Path, scope: dict[str, str]
) -> None:
    # each call costs 2e-6 (estimated 1.5e-6): after two, 1e-6 of the 5e-6 cap is left; the third is refused
    cap = {"id": "scoped", "usd": 5e-6, "period": "day", **scope}
    async with Rig(tmp_path, budgets=[cap]) as rig:
        for _ in range(2):
            rig.transport.push("a", Answer(body=completion()))
            reply = await rig.gw.chat(request("t1", max_tokens=5))
            assert reply.status == 200
        with pytest.raises(BudgetExceeded) as e:
            await rig.gw.chat(request("t1", max_tokens=5))
    assert e.value.budget == "scoped"


class RecordingExporter:
    """Stands where the OpenTelemetry exporter goes; keeps what it is handed."""

    def __init__(self) -> None:
        self.calls: list[tuple[Mapping[str, Any], Mapping[str, int], int, int]] = []

    def export(
        self, receipt: Mapping[str, Any], rejections: Mapping[str, int], *, candidates: int, passed: int
    ) -> None:
        self.calls.append((receipt, dict(rejections), candidates, passed))

    @property
    def failed(self) -> int:
        return 0

    async def close(self) -> None:
        pass


async def test_the_exporter_gets_each_final_receipt_with_its_candidate_counts(tmp_path: Path) -> None:
    exporter = RecordingExporter()
    no_c = {"rules": [{"id": "not-c", "field": "provider", "op": "!=", "value": "c"}]}
    async with Rig(tmp_path, exporter=exporter) as rig:
        code, r = await rig.call(no_c)
    assert code == 200
    ((receipt, rejections, candidates, passed),) = exporter.calls
    assert receipt["request_id"] == r["request_id"] and receipt["status"] == "ok"
    assert rejections["not-c"] == 1
    assert (candidates, passed) == (4, 3)


def proof_line(writes: bytes) -> bytes:
    (line,) = [x for x in writes.split(b"\n\n") if x.startswith(b": x-unhardcoded-receipt ")]
    return line.removeprefix(b": x-unhardcoded-receipt ")


class Sink:
    def __init__(self) -> None:
        self.data = b""

    async def start(self, headers: dict[str, str]) -> None:
        pass

    async def write(self, data: bytes) -> None:
        self.data += data

    async def fail(self, error_class: str, message: str) -> None:
        pass


STREAM = [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n',
    DONE,
]


async def test_strict_durability_proves_the_committed_receipt_before_done(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=STREAM))
        sink = Sink()
        await rig.gw.chat_stream(request(stream=True), sink)
    assert re.fullmatch(rb"\d+:[0-9a-f]{64}", proof_line(sink.data))


async def test_fast_durability_says_the_receipt_is_pending(tmp_path: Path) -> None:
    async with Rig(tmp_path, durability="fast") as rig:
        rig.transport.push("a", Answer(chunks=STREAM))
        sink = Sink()
        await rig.gw.chat_stream(request(stream=True), sink)
    assert proof_line(sink.data) == b"pending"


async def test_latencies_are_measured_within_the_call(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        t0 = time.perf_counter()
        reply = await rig.gw.chat(request())
        outer_ms = (time.perf_counter() - t0) * 1000
        r = await rig.gw.receipt(reply.headers["x-unhardcoded-request-id"])
    assert r is not None
    for ms in (r["outcome"]["latency_ms"], *(a["latency_ms"] for a in r["attempts"])):
        assert 0 < ms <= outer_ms + 0.001  # rounded to the microsecond
