"""Workflows by name (SPEC §7): one header stitches calls into one trace, with totals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.gateway.scripted import Answer, Rig
from unhardcoded.errors import RequestError
from unhardcoded.gateway.receipts import workflow_trace_id
from unhardcoded.gateway.request import ChatRequest


async def test_five_calls_sharing_a_workflow_header_read_as_one_trace_with_totals(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))  # the first call falls back once
        receipts = []
        for node in ["plan", "search", "draft", "review", "send"]:
            code, r = await rig.call(
                {"select": {"max_candidates": 3}},
                headers={"x-unhardcoded-workflow": "run 2026-12-02/42", "x-unhardcoded-workflow-node": node},
            )
            assert code == 200
            receipts.append(r)
        other_code, other = await rig.call(headers={"x-unhardcoded-workflow": "run 2026-12-02/43"})
        trace = await rig.gw.trace(receipts[0]["trace_id"])
    assert trace is not None
    assert {r["trace_id"] for r in receipts} == {workflow_trace_id("run 2026-12-02/42")}
    assert other["trace_id"] != receipts[0]["trace_id"]
    assert [r["workflow"] for r in trace["receipts"]] == [
        {"id": "run 2026-12-02/42", "node": n} for n in ["plan", "search", "draft", "review", "send"]
    ]
    t = trace["totals"]
    assert t["calls"] == 5 and t["fallbacks"] == 1
    assert t["calls_per_deployment"] == {"a/two": 1, "a/one": 4}
    exact = sum((Decimal(repr(r["outcome"]["cost_usd"])) for r in receipts), Decimal(0))
    assert t["cost_usd"] == float(exact)
    base = sum((Decimal(repr(r["outcome"]["baseline"]["cost_usd"])) for r in receipts), Decimal(0))
    assert t["baseline_cost_usd"] == float(base) and t["savings_usd"] == pytest.approx(float(base - exact))
    assert t["statuses"] == {"ok": 5}


async def test_a_traceparent_wins_over_the_workflow_name_but_the_name_is_kept(tmp_path: Path) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with Rig(tmp_path) as rig:
        _, r = await rig.call(
            headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01", "x-unhardcoded-workflow": "wf"}
        )
    assert r["trace_id"] == trace and r["workflow"] == {"id": "wf", "node": None}


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-unhardcoded-workflow", "a" * 129),
        ("x-unhardcoded-workflow", "line\r\nX-Forged: 1"),
        ("x-unhardcoded-workflow", ""),
        ("x-unhardcoded-workflow-node", "tab\there"),
    ],
)
async def test_a_bad_workflow_header_is_a_400_naming_the_header(
    tmp_path: Path, header: str, value: str
) -> None:
    async with Rig(tmp_path) as rig:
        req = ChatRequest.parse(
            {"model": "auto", "messages": [{"role": "user", "content": "x"}]}, {header: value}
        )
        with pytest.raises(RequestError) as e:
            await rig.gw.chat(req)
        assert rig.transport.seen == []
        assert rig.gw.health()["calls_in_flight"] == 0
    assert e.value.path == header and header in e.value.message
