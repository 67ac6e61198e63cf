"""Spend caps (gateway/budgets.py) rule by rule, in process: the period a cap counts from, when the spend is
read again from the store (`ttl_s`, the period rolling over, less than `fresh_below` of the cap left), which
caps a call counts against, the tightest cap, what a finished call adds, and `rt:budget` for `reject` and
`downgrade` at the boundary of what is left. A counting store double and a fake clock; decisions from the
real policy engine over the scripted rig's catalog. Written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import settings
from unhardcoded.config import BudgetConfig
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.budgets import Budgets, Standing, budget_rule, period_start
from unhardcoded.gateway.policies import Policies
from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState

NOON = dt.datetime(2026, 3, 17, 12, 30, 45, 123456, tzinfo=dt.UTC).timestamp()
DAY = dt.datetime(2026, 3, 17, tzinfo=dt.UTC).timestamp()
MONTH = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()


class Spend:
    """A store double: `spend_since` answers `spent` and records each read."""

    def __init__(self, spent: str = "0") -> None:
        self.spent = Decimal(spent)
        self.reads: list[tuple[float, str | None, str | None]] = []

    async def spend_since(self, since: float, *, workload: str | None, tenant: str | None) -> Decimal:
        self.reads.append((since, workload, tenant))
        return self.spent


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cap(id_: str = "c", usd: float = 1.0, **kw: Any) -> BudgetConfig:
    return BudgetConfig(id=id_, usd=usd, **kw)


def budgets(
    *caps: BudgetConfig, store: Spend | None = None, clock: Clock | None = None, **kw: Any
) -> Budgets:
    return Budgets(caps, store or Spend(), clock=clock or Clock(), **kw)  # type: ignore[arg-type]


def test_a_period_starts_at_utc_midnight_or_the_first_of_the_month() -> None:
    assert period_start("day", NOON) == DAY
    assert period_start("month", NOON) == MONTH
    assert period_start("day", DAY) == DAY  # midnight itself belongs to its own day
    assert period_start("month", MONTH - 0.001) == dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp()


def test_standing_left_and_as_the_api_shows_it() -> None:
    c = cap("daily", 2.5, period="month", workload="support", tenant="acme")
    s = Standing(c, MONTH, Decimal("0.75"))
    assert s.left == Decimal("1.75")
    assert s.to_dict() == {
        "id": "daily",
        "workload": "support",
        "tenant": "acme",
        "period": "month",
        "cap_usd": 2.5,
        "since": "2026-03-01T00:00:00Z",
        "spent_usd": 0.75,
        "left_usd": 1.75,
    }
    over = Standing(cap(usd=0.1), DAY, Decimal("0.3"))
    assert over.left == Decimal("-0.2") and over.to_dict()["left_usd"] == 0.0  # never negative on the API
    exact = Standing(cap(usd=0.1), DAY, Decimal("0.1"))
    assert exact.left == 0 and exact.to_dict()["left_usd"] == 0.0


def test_ids_must_be_unique_and_name_every_repeat() -> None:
    with pytest.raises(ConfigError) as e:
        budgets(cap("b"), cap("a"), cap("b"), cap("a"), cap("c"))
    assert e.value.message == "budgets: ids must be unique, repeated: a, b"
    assert e.value.path == "budgets"
    assert bool(budgets(cap("a"), cap("b"))) and not bool(budgets())


def test_which_caps_a_call_counts_against() -> None:
    every = cap("every")
    support = cap("support", workload="support")
    acme = cap("acme", tenant="acme")
    both = cap("both", workload="support", tenant="acme")
    b = budgets(every, support, acme, both)
    assert [c.id for c in b.applicable("support", "acme")] == ["every", "support", "acme", "both"]
    assert [c.id for c in b.applicable("support", None)] == ["every", "support"]
    assert [c.id for c in b.applicable("batch", "acme")] == ["every", "acme"]
    assert [c.id for c in b.applicable("batch", "beta")] == ["every"]


async def test_spend_is_read_for_the_caps_own_period_workload_and_tenant() -> None:
    store = Spend("0.25")
    b = budgets(cap("m", period="month", workload="support", tenant="acme"), store=store)
    s = await b.standing(b._caps[0])
    assert store.reads == [(MONTH, "support", "acme")]
    assert (s.since, s.spent, s.left) == (MONTH, Decimal("0.25"), Decimal("0.75"))


async def test_the_spend_is_cached_for_ttl_s() -> None:
    store, clock = Spend("0.1"), Clock()
    b = budgets(cap(), store=store, clock=clock, ttl_s=2.0)
    c = b._caps[0]
    await b.standing(c)
    clock.now += 2.0  # exactly ttl_s later: still fresh
    await b.standing(c)
    assert len(store.reads) == 1
    clock.now += 0.001
    store.spent = Decimal("0.2")
    assert (await b.standing(c)).spent == Decimal("0.2")
    assert len(store.reads) == 2


async def test_the_default_ttl_is_one_second() -> None:
    store, clock = Spend("0.1"), Clock()
    b = budgets(cap(), store=store, clock=clock)
    await b.standing(b._caps[0])
    clock.now += 1.0
    await b.standing(b._caps[0])
    assert len(store.reads) == 1
    clock.now += 0.01
    await b.standing(b._caps[0])
    assert len(store.reads) == 2


async def test_a_new_period_reads_afresh_even_within_the_ttl() -> None:
    store = Spend("0.5")
    clock = Clock(DAY + 86400 - 0.5)
    b = budgets(cap(), store=store, clock=clock, ttl_s=60)
    await b.standing(b._caps[0])
    clock.now = DAY + 86400  # midnight: yesterday's spend no longer counts
    store.spent = Decimal(0)
    s = await b.standing(b._caps[0])
    assert s.since == DAY + 86400 and s.spent == 0 and len(store.reads) == 2


async def test_close_to_the_cap_every_call_reads_afresh() -> None:
    store = Spend("0.89")  # 0.11 of 1.0 left: more than a tenth, cached
    b = budgets(cap(usd=1.0), store=store, ttl_s=3600)
    c = b._caps[0]
    await b.standing(c)
    await b.standing(c)
    assert len(store.reads) == 1
    store.spent = Decimal("0.9")  # exactly a tenth left: not yet tight
    b = budgets(cap(usd=1.0), store=store, ttl_s=3600)
    await b.standing(c)
    await b.standing(c)
    assert len(store.reads) == 2
    store.spent = Decimal("0.91")  # less than a tenth left: every call reads
    b = budgets(cap(usd=1.0), store=store, ttl_s=3600)
    for _ in range(3):
        await b.standing(c)
    assert len(store.reads) == 5


async def test_fresh_below_is_a_fraction_of_the_cap() -> None:
    store = Spend("0.5")
    b = budgets(cap(usd=2.0), store=store, ttl_s=3600, fresh_below=0.76)  # 1.5 left < 0.76 x 2.0
    await b.standing(b._caps[0])
    await b.standing(b._caps[0])
    assert len(store.reads) == 2
    b = budgets(cap(usd=2.0), store=store, ttl_s=3600, fresh_below=0.75)  # 1.5 left: not below 1.5
    await b.standing(b._caps[0])
    await b.standing(b._caps[0])
    assert len(store.reads) == 3


async def test_the_tightest_cap_is_the_one_with_least_left() -> None:
    store = Spend("0.5")
    b = budgets(
        cap("wide", 10.0), cap("narrow", 0.75), cap("mid", 2.0), cap("other", 0.1, workload="x"), store=store
    )
    s = await b.tightest("support", None)
    assert s is not None and s.cap.id == "narrow" and s.left == Decimal("0.25")
    assert await budgets(cap("x", workload="batch")).tightest("support", None) is None


async def test_a_finished_call_is_added_to_every_cached_cap_it_counts_against() -> None:
    store = Spend("0.1")
    b = budgets(
        cap("all"),
        cap("acme", tenant="acme"),
        cap("beta", tenant="beta"),
        cap("cold"),
        store=store,
        ttl_s=3600,
    )
    for c in b._caps[:3]:
        await b.standing(c)
    b.charge("support", "acme", 0.2)
    b.charge("support", "acme", None)  # a call with no known cost adds nothing
    b.charge("support", "acme", 0.0)
    spent = {s.cap.id: s.spent for s in b.cached()}
    assert spent == {
        "all": Decimal("0.3"),
        "acme": Decimal("0.3"),
        "beta": Decimal("0.1"),
    }  # `cold`: never read
    assert [s.since for s in b.cached()] == [DAY, DAY, DAY]
    s = await b.standing(b._caps[0])  # the cached figure, with the charge
    assert s.spent == Decimal("0.3") and len(store.reads) == 3


async def test_the_report_lists_every_cap() -> None:
    b = budgets(cap("a", 1.0), cap("b", 2.0, period="month"), store=Spend("0.5"))
    rows = await b.report()
    assert [(r["id"], r["since"], r["left_usd"]) for r in rows] == [
        ("a", "2026-03-17T00:00:00Z", 0.5),
        ("b", "2026-03-01T00:00:00Z", 1.5),
    ]


# --- rt:budget ----------------------------------------------------------------------------------------

# The rig's catalog: a/one 0.1/0.2, a/two 0.2/0.4, b/three 0.3/0.6, c/four 0.4/0.8 USD per Mtok.
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def decide(tmp_path: Path, policy: dict[str, Any]) -> Decision:
    p = Policies(settings(tmp_path))
    return p.decide(p.parse(policy), p.features(BODY))


def standing(left: float | Decimal, usd: float = 1.0) -> Standing:
    return Standing(cap("daily", usd), DAY, Decimal(repr(usd)) - Decimal(str(left)))


def estimates(d: Decision) -> dict[str, float]:
    return {dep.id: e for dep, e in zip(d.catalog, d.est_costs(), strict=True) if e is not None}


def test_the_best_candidate_fitting_what_is_left_means_no_rule(tmp_path: Path) -> None:
    d = decide(tmp_path, {"rank": [{"by": "est_cost_usd", "order": "desc"}]})
    best = estimates(d)[d.plan[0]]
    exact = Decimal(repr(best))
    assert budget_rule(d, standing(exact), "reject") is None  # exactly what is left: it fits
    rule = budget_rule(d, standing(exact - Decimal("1e-12")), "reject")
    assert rule is not None


def test_reject_drops_every_deployment_and_names_the_cap(tmp_path: Path) -> None:
    d = decide(tmp_path, {"rank": [{"by": "est_cost_usd", "order": "asc"}]})
    rule = budget_rule(d, standing(0, usd=0.5), "reject")
    assert rule is not None
    assert (rule.id, rule.field, rule.op) == ("rt:budget", "est_cost_usd", "budget_not_exceeded")
    assert rule.expected == "budget daily: $0.5 per day (spend and what was left: the receipt's budget)"
    assert rule.excluded == estimates(d)  # every deployment, with its estimate


def test_downgrade_drops_only_what_does_not_fit(tmp_path: Path) -> None:
    d = decide(tmp_path, {"rank": [{"by": "est_cost_usd", "order": "desc"}], "on_budget": "downgrade"})
    est = estimates(d)
    mid = sorted(est.values())[1]
    rule = budget_rule(d, standing(Decimal(repr(mid))), "downgrade")
    assert rule is not None and rule.op == "fits_budget"
    assert rule.excluded == {k: v for k, v in est.items() if v > mid}  # what costs exactly `left` stays


def test_deployments_other_rules_dropped_stay_out_of_the_budget_rule(tmp_path: Path) -> None:
    policy = {"rules": [{"id": "only", "field": "id", "op": "in", "value": ["a/one", "c/four"]}]}
    d = decide(tmp_path, policy)
    rule = budget_rule(d, standing(0), "reject")
    assert rule is not None and set(rule.excluded) == {"a/one", "c/four"}
    down = budget_rule(d, standing(0), "downgrade")
    assert down is not None and set(down.excluded) == {"a/one", "c/four"}


def test_a_cap_with_an_empty_plan_is_still_named(tmp_path: Path) -> None:
    d = decide(tmp_path, {"rules": [{"id": "none", "field": "id", "op": "==", "value": "z/none"}]})
    assert d.plan == ()
    rule = budget_rule(d, standing(1.0), "downgrade")
    assert rule is not None and rule.excluded == {}


def test_reject_drops_even_the_deployments_that_would_fit(tmp_path: Path) -> None:
    d = decide(tmp_path, {"rank": [{"by": "est_cost_usd", "order": "desc"}]})  # the dearest is best
    est = estimates(d)
    mid = sorted(est.values())[1]
    rule = budget_rule(d, standing(Decimal(repr(mid))), "reject")
    assert rule is not None and rule.excluded == est  # the cheap ones fit, and are dropped all the same


def test_deployments_a_runtime_rule_dropped_stay_in_the_budget_rule(tmp_path: Path) -> None:
    # A runtime rule (a key missing, a breaker open) can lift by the next call: the budget still names them.
    p = Policies(settings(tmp_path))
    no_key = RuntimeRule("rt:no-key", "provider", "has_key", "a key for the provider", {"a/one": "no key"})
    d = p.decide(p.parse({}), p.features(BODY), RuntimeState((no_key,), key=1))
    assert "a/one" not in d.plan
    rule = budget_rule(d, standing(0), "reject")
    assert rule is not None and "a/one" in rule.excluded and set(rule.excluded) == set(estimates(d))


def test_periods_are_utc_whatever_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert period_start("day", NOON) == DAY
        assert period_start("month", MONTH + 3600) == MONTH  # 1 March 01:00 UTC is still February in New York
    finally:
        monkeypatch.undo()
        time.tzset()
