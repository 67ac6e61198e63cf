"""GET /x/rollup: the finance roll-up over the gateway's own receipts, recomputed from the receipts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.harness import Harness

BODY = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def test_by_workload_sums_cost_baseline_and_savings_exactly(harness: Harness) -> None:
    receipts = []
    for _ in range(3):
        status, headers, _ = harness.post("/v1/chat/completions", BODY)
        assert status == 200
        receipts.append(harness.receipt(headers["x-unhardcoded-request-id"]))
    status, out = harness.get("/x/rollup?by=workload&since=1h")
    assert status == 200, out
    (group,) = [g for g in out["groups"] if g["workload"] == "support"]
    cost = sum((Decimal(repr(r["outcome"]["cost_usd"])) for r in receipts), Decimal(0))
    base = sum((Decimal(repr(r["outcome"]["baseline"]["cost_usd"])) for r in receipts), Decimal(0))
    assert group["calls"] == 3
    assert Decimal(group["cost_usd"]) == cost and Decimal(group["baseline_cost_usd"]) == base
    assert Decimal(group["savings_usd"]) == base - cost
    assert out["totals"]["calls"] == 3 and group["passed_over"], "pricier passers are listed"


@pytest.mark.parametrize(
    ("query", "param"),
    [("by=color", "by"), ("since=yesterday", "since"), ("since=1h&until=2h", "until"), ("bogus=1", "bogus")],
)
def test_bad_parameters_name_themselves(harness: Harness, query: str, param: str) -> None:
    status, out = harness.get(f"/x/rollup?{query}")
    assert status == 400 and out["error"]["param"] == param, out
