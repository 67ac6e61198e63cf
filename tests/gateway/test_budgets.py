"""Spend caps: counted from committed receipts, enforced as `rt:budget`, `on_budget` reject or downgrade."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.gateway.scripted import Answer, Rig, completion
from unhardcoded.client.decode import decode
from unhardcoded.client.records import Receipt
from unhardcoded.config import BudgetConfig
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.budgets import Budgets, period_start
from unhardcoded.gateway.receipt_schema import receipt_schema

# a/one costs (10 x 0.1 + 5 x 0.2) / 1e6 = 2e-6 per call of the scripted answer; c/four 8x that.
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}]}


def cap(usd: float, **kw: Any) -> dict[str, Any]:
    return {"id": "daily", "usd": usd, "period": "day", **kw}


def rule_ids(receipt: dict[str, Any]) -> list[str]:
    return [r["id"] for r in receipt["rules"]]


async def test_reject_refuses_with_a_429_once_the_cap_is_spent_and_names_the_budget(tmp_path: Path) -> None:
    async with Rig(tmp_path, budgets=[cap(5e-6)]) as rig:
        for _ in range(3):  # each costs 2e-6 (estimated 1.5e-6): 1e-6 is left for the third
            rig.transport.push("a", Answer(body=completion()))
        codes = []
        for _ in range(3):
            code, r = await rig.call({**CHEAP, "on_budget": "reject"}, max_tokens=5)
            codes.append(code)
        report = await rig.gw.budgets()
    assert codes[:2] == [200, 200] and codes[2] == 429
    assert r["status"] == "no_route" and r["outcome"]["error"]["error_class"] == "budget_exceeded"
    assert "rt:budget" in rule_ids(r)
    assert all(c["status"] == "rejected" for c in r["candidates"])
    budget = next(x for x in r["rules"] if x["id"] == "rt:budget")
    assert "daily" in str(budget["value"]) and budget["rejected"] == 4
    (b,) = report["budgets"]
    assert b["id"] == "daily" and Decimal(repr(b["spent_usd"])) == Decimal("4e-6")


async def test_downgrade_keeps_only_what_fits_what_is_left(tmp_path: Path) -> None:
    # rank by quality (price desc as a stand-in) so the best candidate is the dearest one
    dear_first = {"rank": [{"by": "price_input_per_mtok", "order": "desc"}], "on_budget": "downgrade"}
    async with Rig(tmp_path, budgets=[cap(1e-5)]) as rig:
        rig.transport.push("c", Answer(body=completion()))  # c/four: (10 x 0.4 + 5 x 0.8)/1e6 = 8e-6
        code1, r1 = await rig.call(dear_first, max_tokens=5)
        code2, r2 = await rig.call(dear_first, max_tokens=5)
    assert code1 == 200 and r1["outcome"]["deployment"] == "c/four" and "rt:budget" not in rule_ids(r1)
    assert code2 == 200 and "rt:budget" in rule_ids(r2)
    # 2e-6 left: only deployments whose estimate fits remain
    rejected = {
        c["deployment"]
        for c in r2["candidates"]
        if any(f["rule_id"] == "rt:budget" for f in c.get("rejected_by", []))
    }
    est = {c["deployment"]: c["est_cost_usd"] for c in r2["candidates"]}
    assert rejected == {d for d, e in est.items() if e > 2e-6}
    assert r2["outcome"]["deployment"] not in rejected


async def test_spend_survives_a_restart_because_it_is_read_from_the_receipts(tmp_path: Path) -> None:
    async with Rig(tmp_path, budgets=[cap(3e-6)]) as rig:
        code, _ = await rig.call({**CHEAP, "on_budget": "reject"}, max_tokens=5)
        assert code == 200
    async with Rig(tmp_path, budgets=[cap(3e-6)]) as again:  # same SQLite file, new process state
        code, r = await again.call({**CHEAP, "on_budget": "reject"}, max_tokens=5)
    assert code == 429 and "rt:budget" in rule_ids(r)


async def test_a_cap_for_another_workload_does_not_apply(tmp_path: Path) -> None:
    async with Rig(tmp_path, budgets=[cap(1e-9, workload="batch")]) as rig:
        code, r = await rig.call({**CHEAP, "workload": "support"})
    assert code == 200 and "rt:budget" not in rule_ids(r)


def test_periods_start_at_utc_midnight_and_the_first_of_the_month() -> None:
    t = dt.datetime(2026, 12, 2, 16, 30, tzinfo=dt.UTC).timestamp()
    assert period_start("day", t) == dt.datetime(2026, 12, 2, tzinfo=dt.UTC).timestamp()
    assert period_start("month", t) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()


def test_budget_ids_must_be_unique() -> None:
    caps = [BudgetConfig(id="x", usd=1), BudgetConfig(id="x", usd=2)]
    with pytest.raises(ConfigError, match="repeated: x"):
        Budgets(caps, store=None)  # type: ignore[arg-type]


async def test_metrics_show_each_caps_spend_and_what_is_left(tmp_path: Path) -> None:
    async with Rig(tmp_path, budgets=[cap(1.0)]) as rig:
        await rig.call(CHEAP, max_tokens=5)
        text = rig.gw.metrics_text()
    assert 'unhardcoded_budget_spent_usd{budget="daily"} 2e-06' in text
    assert 'unhardcoded_budget_left_usd{budget="daily"} 0.999998' in text


async def test_calls_under_one_tight_cap_share_a_decision_and_each_receipt_shows_its_own_spend(
    tmp_path: Path,
) -> None:
    # two candidates, the dearer first: c/four costs 8e-6 (estimated 6e-6), a/one 2e-6 (estimated 1.5e-6)
    policy = {
        "rules": [{"field": "id", "op": "in", "value": ["a/one", "c/four"]}],
        "rank": [{"by": "price_input_per_mtok", "order": "desc"}],
        "on_budget": "downgrade",
    }
    async with Rig(tmp_path, budgets=[cap(2.1e-5)]) as rig:
        rig.transport.push("c", Answer(body=completion()), Answer(body=completion()))
        rig.transport.push("a", Answer(body=completion()), Answer(body=completion()))
        receipts = [(await rig.call(policy, max_tokens=5))[1] for _ in range(4)]
    r1, r2, r3, r4 = receipts
    assert [r["outcome"]["deployment"] for r in receipts] == ["c/four", "c/four", "a/one", "a/one"]
    assert "budget" not in r2 and "rt:budget" not in rule_ids(r2)
    assert "rt:budget" in rule_ids(r3) and "rt:budget" in rule_ids(r4)
    # 5e-6 was left for the third call, 3e-6 for the fourth: both drop c/four alone, so one decision
    assert r3["decision_hash"] == r4["decision_hash"] != r2["decision_hash"]
    assert Decimal(repr(r3["budget"]["spent_usd"])) == Decimal("1.6e-5")
    assert Decimal(repr(r3["budget"]["left_usd"])) == Decimal("5e-6")
    assert Decimal(repr(r4["budget"]["spent_usd"])) == Decimal("1.8e-5")
    assert Decimal(repr(r4["budget"]["left_usd"])) == Decimal("3e-6")
    assert r3["budget"]["id"] == "daily" and r3["budget"]["cap_usd"] == 2.1e-5


async def test_calls_refused_by_a_spent_cap_share_one_decision(tmp_path: Path) -> None:
    async with Rig(tmp_path, budgets=[cap(3e-6)]) as rig:
        rig.transport.push("a", Answer(body=completion()))  # 2e-6: 1e-6 left, short of the 1.5e-6 estimate
        calls = [await rig.call({**CHEAP, "on_budget": "reject"}, max_tokens=5) for _ in range(3)]
    (c1, _), (c2, r2), (c3, r3) = calls
    assert (c1, c2, c3) == (200, 429, 429)
    assert r2["decision_hash"] == r3["decision_hash"]
    assert r2["budget"]["left_usd"] == r3["budget"]["left_usd"] == 1e-6


async def test_the_receipts_budget_matches_the_schema_and_the_client_reads_it(tmp_path: Path) -> None:
    async with Rig(tmp_path, budgets=[cap(1e-9)]) as rig:
        code, r = await rig.call({**CHEAP, "on_budget": "reject"}, max_tokens=5)
    assert code == 429
    jsonschema.validate(r, receipt_schema())
    budget = decode(Receipt, r).budget
    assert budget is not None and budget.id == "daily" and budget.cap_usd == 1e-9 and budget.spent_usd == 0
