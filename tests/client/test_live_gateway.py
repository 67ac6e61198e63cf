"""The helper against a live gateway (tests/e2e/harness.py: in-process, fake providers on 127.0.0.1):
build a policy, send it with the official openai SDK, and read everything back as typed records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import psycopg
import pytest
from psycopg import sql

from tests.e2e.harness import DEPLOYMENTS, Harness
from tests.store.conftest import PG_URL, postgres_unavailable
from unhardcoded import GatewayError, Policy, Rank, Receipt, Receipts, Rule
from unhardcoded.client import NotFound
from unhardcoded.gateway.auth import key_digest
from unhardcoded.gateway.receipt_schema import receipt_schema

ACME, GLOBEX = "uh_acme-client-key-0001", "uh_globex-client-key-0002"
CONFIG = {
    "auth": {
        "keys": [
            {"hash": key_digest(ACME), "tenant": "acme", "scope": "client"},
            {"hash": key_digest(GLOBEX), "tenant": "globex", "scope": "client"},
        ]
    },
    "budgets": [{"id": "acme-daily", "usd": 5, "tenant": "acme"}],
}
POLICY = Policy(
    rules=[Rule.ge("bench_intelligence", 55, id="quality"), Rule.in_("geography", ["eu"], id="eu")],
    rank=[Rank.asc("est_cost_usd")],
    baseline="beta/top",
    workload="support",
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def gw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A gateway on each store: the records must read what either store gives back."""
    config: dict[str, Any] = dict(CONFIG)
    schema = None
    if request.param == "postgres":
        reason = postgres_unavailable()
        if reason is not None:
            pytest.skip(f"no PostgreSQL at {PG_URL}: {reason}")
        schema = f"uh_client_{uuid.uuid4().hex[:12]}"
        config["store"] = f"{PG_URL}?schema={schema}"
    h = Harness.start(tmp_path_factory.mktemp("gw"), config=config)
    yield h
    h.stop()
    if schema is not None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def sdk(gw: Harness) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=ACME, max_retries=0, timeout=20)


@pytest.fixture(scope="module")
def receipts(gw: Harness) -> Receipts:
    return Receipts(gw.url, key=ACME)


@pytest.fixture(scope="module")
def call(sdk: openai.OpenAI) -> dict[str, str]:
    """One call with the built policy; its response headers."""
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "where is my parcel?"}],
        max_tokens=20,
        extra_body=POLICY.as_extra_body(),
    )
    assert "where is my parcel?" in (raw.parse().choices[0].message.content or "")
    return {k: v for k, v in raw.headers.items() if k.startswith("x-unhardcoded-")}


def test_the_built_policy_round_trips_to_the_same_fingerprint(call: dict[str, str]) -> None:
    assert call["x-unhardcoded-fingerprint"] == POLICY.fingerprint()
    assert call["x-unhardcoded-deployment"] == "alpha/mid"


def test_a_policy_without_baseline_takes_the_configs(sdk: openai.OpenAI) -> None:
    bare = Policy(rules=[Rule.eq("geography", "eu")])
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], extra_body=bare.as_extra_body()
    )
    assert raw.headers["x-unhardcoded-fingerprint"] == bare.fingerprint(default_baseline="beta/top")
    assert raw.headers["x-unhardcoded-fingerprint"] != bare.fingerprint()


def test_reads_the_receipt_as_typed_records(receipts: Receipts, call: dict[str, str]) -> None:
    r = receipts.receipt(call["x-unhardcoded-request-id"])
    assert isinstance(r, Receipt) and r.status == "ok" and r.tenant == "acme"
    assert r.policy.fingerprint == POLICY.fingerprint() and r.policy.workload == "support"
    assert r.policy.canonical == POLICY.validate().canonical
    assert r.trace_id == call["x-unhardcoded-trace-id"]
    assert isinstance(r.created_at, dt.datetime) and r.created_at.tzinfo is not None
    assert {c.deployment for c in r.candidates} == {d["id"] for d in DEPLOYMENTS}
    assert r.winner is not None and r.winner.deployment == "alpha/mid" and r.winner.rank == 1
    cheap = next(c for c in r.candidates if c.deployment == "alpha/cheap")
    assert cheap.status == "rejected" and cheap.rejected_by[0].rule_id == "quality"
    assert cheap.rejected_by[0].expected == 55 and cheap.rejected_by[0].actual == 50
    assert [a.deployment for a in r.attempts] == ["alpha/mid"] and r.attempts[0].http_status == 200
    assert r.outcome.deployment == "alpha/mid" and r.outcome.usage is not None
    assert r.outcome.baseline.deployment == "beta/top" and r.outcome.cost_usd is not None
    assert r.raw["request_id"] == r.request_id


def test_reads_the_trace_with_totals_and_finds_it(receipts: Receipts, call: dict[str, str]) -> None:
    t = receipts.trace(call["x-unhardcoded-trace-id"])
    assert [x.request_id for x in t.receipts] == [call["x-unhardcoded-request-id"]]
    assert t.totals.calls == 1 and t.totals.calls_per_deployment == {"alpha/mid": 1}
    assert t.totals.rules_fired.get("quality") == 1
    rows = receipts.search(fingerprint=POLICY.fingerprint(), since=dt.datetime.now(dt.UTC) - dt.timedelta(1))
    assert [row.request_id for row in rows] == [call["x-unhardcoded-request-id"]]
    assert rows[0].deployment == "alpha/mid" and rows[0].workload == "support"


def test_reads_a_rollup_with_exact_money(receipts: Receipts, call: dict[str, str]) -> None:
    r = receipts.receipt(call["x-unhardcoded-request-id"])
    roll = receipts.rollup(by="workload", workload="support", series=True)
    assert roll.by == "workload" and roll.tenant == "acme"
    [group] = roll.groups
    assert group.key == "support" and group.calls == roll.totals.calls == 1
    assert isinstance(group.cost_usd, Decimal) and group.cost_usd == Decimal(repr(r.outcome.cost_usd))
    assert {p.deployment for p in group.passed_over} == {"beta/mid2"}  # the pricier EU passer
    assert roll.series is not None and roll.series[0].day == dt.datetime.now(dt.UTC).date()


def test_replays_a_receipt_and_a_trace(receipts: Receipts, call: dict[str, str]) -> None:
    rep = receipts.replay(call["x-unhardcoded-request-id"])
    assert rep.identical and rep.mismatches == 0
    [one] = rep.receipts
    assert one.as_then.identical and one.now is not None and one.now.same_winner
    assert one.answered_by == "alpha/mid" and one.fingerprint == POLICY.fingerprint()
    assert receipts.replay(trace_id=call["x-unhardcoded-trace-id"]).identical


def test_stores_a_policy_and_calls_it_by_name(receipts: Receipts, sdk: openai.OpenAI) -> None:
    # A workload of its own, so that the roll-up and search tests count the same calls in any order.
    policy = dataclasses.replace(POLICY, workload="stored")
    stored = receipts.add_policy("eu-cheap", policy)
    assert stored.version == 1 and stored.fingerprint == policy.fingerprint() != POLICY.fingerprint()
    raw = sdk.chat.completions.with_raw_response.create(
        model="policy:eu-cheap", messages=[{"role": "user", "content": "hi"}]
    )
    r = receipts.receipt(raw.headers["x-unhardcoded-request-id"])
    assert r.policy.name == "eu-cheap" and r.policy.fingerprint == policy.fingerprint()
    assert "eu-cheap" in {p.name for p in receipts.policies()}
    history = receipts.policy("eu-cheap")
    assert [v.version for v in history.versions] == [1] and history.versions[0].policy is not None
    assert Policy.from_dict(history.versions[0].policy).fingerprint() == policy.fingerprint()


def test_reads_budgets(receipts: Receipts, call: dict[str, str]) -> None:
    [budget] = receipts.budgets()
    assert budget.id == "acme-daily" and budget.cap_usd == 5 and 0 < budget.spent_usd < 5
    assert budget.left_usd == pytest.approx(5 - budget.spent_usd)


def test_errors_are_typed(gw: Harness, receipts: Receipts, call: dict[str, str]) -> None:
    with pytest.raises(NotFound) as nf:
        receipts.receipt("req_nope")
    assert (nf.value.status, nf.value.code, nf.value.param) == (404, "unknown_receipt", "request_id")
    # Another tenant's receipt is the same 404.
    with pytest.raises(NotFound):
        Receipts(gw.url, key=GLOBEX).receipt(call["x-unhardcoded-request-id"])
    with pytest.raises(GatewayError) as bad:
        receipts.add_policy("broken", {"rules": [{"field": "nope", "op": "=="}]})
    assert (bad.value.status, bad.value.code) == (400, "invalid_policy")
    assert (
        bad.value.param == "policy.rules[0].field" and bad.value.choices and "geography" in bad.value.choices
    )
    with pytest.raises(GatewayError) as denied:
        Receipts(gw.url, key="uh_wrong").receipt(call["x-unhardcoded-request-id"])
    assert denied.value.status == 401
    with pytest.raises(GatewayError) as down:
        Receipts("http://127.0.0.1:9", timeout=2).budgets()
    assert down.value.status is None and down.value.type == "connection_error"


def test_the_published_schema_is_the_one_the_records_are_checked_against(gw: Harness) -> None:
    # The OpenAI SDK's base_url (.../v1) works as well.
    assert Receipts(gw.url + "/v1", key=ACME).schema("receipt") == receipt_schema()
    assert "uh_" not in repr(Receipts(gw.url, key=ACME))


def test_a_dry_run_decides_without_inference(receipts: Receipts) -> None:
    dry = receipts.rank(POLICY, {"messages": [{"role": "user", "content": "hi"}], "tools": []})
    assert dry.winner == "alpha/mid" and dry.plan == ("alpha/mid", "beta/mid2")
    assert dry.policy.fingerprint == POLICY.fingerprint()
    assert {c.deployment for c in dry.candidates if c.status == "rejected"} == {
        "alpha/cheap",
        "beta/top",
        "gamma/nokey",
    }
    assert receipts.rank("eu-quality").policy.name == "eu-quality"  # a config policy, by name
