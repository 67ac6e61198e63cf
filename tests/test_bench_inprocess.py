"""bench/inprocess.py: the in-process gateway it measures answers and records every call like the real one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import inprocess

from unhardcoded.gateway.request import ChatRequest


async def test_the_measured_gateway_answers_and_writes_receipts(
    tmp_path: Path,
) -> None:
    gw = inprocess.gateway(tmp_path, "strict")
    await gw.open()
    try:
        reply = await gw.chat(ChatRequest.parse(dict(inprocess.BODY), {}))
        assert reply.status == 200 and b"hello there" in reply.body
        receipt = await gw.receipt(reply.headers["x-unhardcoded-request-id"])
        assert receipt is not None
        assert (receipt["status"], receipt["outcome"]["deployment"]) == ("ok", "mock/bench-small")
    finally:
        await gw.close()


async def test_measure_reports_cpu_per_call() -> None:
    us = await inprocess.measure(64, 8, "fast", profile=False)
    assert 1 < us < 100_000
