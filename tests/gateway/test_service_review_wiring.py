"""What the gateway hands to the review code (review/*) and what comes back, verb by verb: the window
(`since`/`until`), the tenant, the fingerprint and rule, the catalog of today and the live runtime state
of roll-ups, audits, what-ifs and replays, each seen in the answer a user reads. Also an older catalog
read back by its version and a stored policy's `created_at` as the store gives it.

In process: a gateway over a scripted transport and a real SQLite file (tests/gateway/scripted.py).
Written from the `service.py` survivors of `make mutation` (docs/mutation.md); the refusals in words are in
test_review_verbs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway.scripted import Answer, Rig
from unhardcoded.errors import PolicyError, UserError
from unhardcoded.gateway.auth import Caller
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import _policy_row

ADMIN = Caller(None, "admin")
ACME_ADMIN = Caller("acme", "admin")  # an admin key belongs to a tenant too, and still reads every tenant's
ACME = Caller("acme", "client")
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}]}
DEAR = {"rank": [{"by": "est_cost_usd", "order": "desc"}]}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
SINCE, SINCE_S = "2000-01-01T00:00:00Z", 946684800.0
UNTIL, UNTIL_S = "2999-01-01T00:00:00Z", 32472144000.0
# A window that ended long before any call of the test.
OLD = {"since": "2000-01-01T00:00:00Z", "until": "2000-01-02T00:00:00Z"}


async def call(rig: Rig, tenant: str | None = None, **body: Any) -> str:
    reply = await rig.gw.chat(ChatRequest.parse({**BODY, **body}, {}, tenant=tenant))
    return str(reply.headers["x-unhardcoded-request-id"])


async def three_calls(rig: Rig) -> None:
    await call(rig, "acme", policy={**CHEAP, "workload": "chat"})
    await call(rig, "beta", policy={**CHEAP, "workload": "batch"})
    await call(rig, "beta", policy={**CHEAP, "workload": "batch"})


# -- roll-up -------------------------------------------------------------------------------------------


async def test_rollup_reads_the_window_asked_for(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await three_calls(rig)
        out = await rig.gw.rollup({"since": SINCE, "until": UNTIL, "series": "1"}, ADMIN)
        assert (out["since"], out["until"]) == ("2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z")
        assert (out["by"], out["tenant"], out["workload"]) == ("workload", None, None)
        assert sum(g["calls"] for g in out["groups"]) == 3
        assert sum(p["calls"] for p in out["series"]) == 3
        old = await rig.gw.rollup({**OLD, "series": "true"}, ADMIN)
        assert (old["since"], old["until"]) == ("2000-01-01T00:00:00Z", "2000-01-02T00:00:00Z")
        assert old["groups"] == [] and old["series"] == []  # neither the groups nor the chart see today


async def test_an_admin_key_of_a_tenant_rolls_up_every_tenant(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await three_calls(rig)
        every = await rig.gw.rollup({"since": SINCE, "series": "1"}, ACME_ADMIN)
        assert every["tenant"] is None
        assert sorted((g["workload"], g["calls"]) for g in every["groups"]) == [("batch", 2), ("chat", 1)]
        assert sum(p["calls"] for p in every["series"]) == 3
        mine = await rig.gw.rollup({"since": SINCE, "series": "1"}, ACME)
        assert mine["tenant"] == "acme" and [g["calls"] for g in mine["groups"]] == [1]
        assert sum(p["calls"] for p in mine["series"]) == 1


# -- audit ---------------------------------------------------------------------------------------------


async def test_audit_hands_on_fingerprint_rule_and_window(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await call(rig, "acme", policy=CHEAP)
        await call(rig, "acme", policy=DEAR)
        every = await rig.gw.audit({"since": SINCE, "until": UNTIL}, ADMIN)
        assert every["window"] == {"since": SINCE_S, "until": UNTIL_S}
        assert (every["fingerprint"], every["rule"], every["receipts"]) == (None, None, 2)
        assert len(every["policies"]) == 2
        fp = every["policies"][0]["fingerprint"]
        one = await rig.gw.audit({"fingerprint": fp, "since": SINCE}, ADMIN)
        assert one["fingerprint"] == fp and one["receipts"] == 1
        assert [p["fingerprint"] for p in one["policies"]] == [fp]
        ruled = await rig.gw.audit({"rule": "rt:no-key", "since": SINCE}, ADMIN)
        assert ruled["rule"] == "rt:no-key"
        assert {r["rule_id"] for p in ruled["policies"] for r in p["rules"]} == {"rt:no-key"}
        with pytest.raises(UserError) as e:
            await rig.gw.audit({"rule": "no-such-rule", "since": SINCE}, ADMIN)
        assert e.value.path == "rule"
        old = await rig.gw.audit(OLD, ADMIN)
        assert old["receipts"] == 0 and old["window"] == {"since": SINCE_S, "until": SINCE_S + 86400}


# -- what-if -------------------------------------------------------------------------------------------


async def test_simulate_hands_on_window_workload_and_live_state(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await three_calls(rig)
        out = await rig.gw.simulate({"policy": DEAR, "since": SINCE, "until": UNTIL}, ADMIN)
        assert out["window"] == {"since": SINCE_S, "until": UNTIL_S}
        assert (out["calls"], out["workload"], out["runtime"]) == (3, None, "none")
        batch = await rig.gw.simulate({"policy": DEAR, "since": SINCE, "workload": "batch"}, ADMIN)
        assert (batch["calls"], batch["workload"]) == (2, "batch")
        old = await rig.gw.simulate({"policy": DEAR, **OLD}, ADMIN)
        assert old["calls"] == 0 and old["window"] == {"since": SINCE_S, "until": SINCE_S + 86400}
        live = await rig.gw.simulate({"policy": DEAR, "since": SINCE, "live": True}, ADMIN)
        assert live["runtime"] == "live" and live["calls"] == 3
        for not_true in (False, "true", 1, None):
            doc = {"policy": DEAR, "since": SINCE, "live": not_true}
            assert (await rig.gw.simulate(doc, ADMIN))["runtime"] == "none", not_true


async def test_simulate_with_live_state_sees_an_open_circuit(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await call(rig, policy=CHEAP)  # answered by a/one
        for _ in range(2):  # two failures open a/one's and a/two's breakers (breaker.failures = 2)
            rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
            await rig.call(CHEAP)
        doc = {"policy": CHEAP, "since": SINCE}
        as_is = await rig.gw.simulate(doc, ADMIN)
        live = await rig.gw.simulate({**doc, "live": True}, ADMIN)
        # a/one answered the first call, b/three the two others (after a/one and a/two failed)
        assert as_is["moved"] == 2  # every deployment assumed healthy: all three to a/one
        assert live["moved"] == 1  # a/one and a/two open: all three to b/three
        assert "rt:circuit-open" in [r["rule_id"] for r in live["rules"]]
        assert "rt:circuit-open" not in [r["rule_id"] for r in as_is["rules"]]


async def test_simulate_names_the_stored_policy_it_read(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await call(rig, "acme", policy=CHEAP)
        await rig.gw.add_policy({"name": "mine", "policy": DEAR}, ACME)
        out = await rig.gw.simulate({"policy": "mine", "since": SINCE}, ACME)
        assert out["calls"] == 1 and out["tenant"] == "acme"
        stored = rig.gw._policies.named("mine", "acme")
        assert (out["policy"]["fingerprint"], out["policy"]["sha256"]) == (stored.fingerprint, stored.sha256)
        with pytest.raises(PolicyError):  # another tenant has no policy of that name
            await rig.gw.simulate({"policy": "mine", "since": SINCE}, Caller("beta", "client"))


# -- replay --------------------------------------------------------------------------------------------


async def test_replaying_a_call_now_uses_todays_catalog_and_the_live_state(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await call(rig, "acme", policy=CHEAP)
        version = rig.gw._catalog.version
        live = (await rig.gw.replay({"request_id": rid, "live": True}, ACME))["receipts"][0]["now"]
        assert (live["runtime"], live["catalog_now"]) == ("live", version)
        then = (await rig.gw.replay({"request_id": rid}, ADMIN))["receipts"][0]["now"]
        assert (then["runtime"], then["catalog_now"]) == ("as then", version)
        r = await rig.gw.receipt(rid)
        assert r is not None
        by_trace = await rig.gw.replay({"trace_id": r["trace_id"], "live": True}, ACME)
        assert by_trace["receipts"][0]["now"]["runtime"] == "live"


async def test_replaying_a_policy_over_a_window(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await call(rig, "acme", policy=CHEAP)
        r = await rig.gw.receipt(rid)
        assert r is not None
        fp = r["policy"]["fingerprint"]
        out = await rig.gw.replay({"fingerprint": fp, "since": SINCE, "until": UNTIL})
        assert (out["since"], out["until"], out["calls"]) == (SINCE_S, UNTIL_S, 1)
        assert (out["fingerprint"], out["catalog_now"]) == (fp, rig.gw._catalog.version)
        assert (await rig.gw.replay({"fingerprint": fp, "since": "1d"}))["calls"] == 1
        old = await rig.gw.replay({"fingerprint": fp, "since": SINCE, "until": "1h"})  # ended an hour ago
        assert old["calls"] == 0 and old["until"] is not None
        with pytest.raises(UserError) as e:
            await rig.gw.replay({"fingerprint": fp, "until": "soon"})
        assert e.value.path == "until" and e.value.message.startswith("until: expected a span like 30d")
        with pytest.raises(UserError) as e:
            await rig.gw.replay({"fingerprint": None, "since": "1d"})
        assert (e.value.message, e.value.path) == ("fingerprint: required", "fingerprint")


# -- small reads ---------------------------------------------------------------------------------------


async def test_an_older_catalog_is_read_back_by_its_version(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        old = rig.gw._catalog
    other = [{**d, "price_input_per_mtok": d["price_input_per_mtok"] * 2} for d in _deployments()]
    async with Rig(tmp_path, catalog={"bundled": False, "deployments": other}) as rig2:
        assert rig2.gw._catalog.version != old.version
        assert orjson.loads(await rig2.gw.catalog_at(old.version) or b"null") == old.to_dict()
        assert orjson.loads(await rig2.gw.catalog_at(rig2.gw._catalog.version) or b"") == rig2.gw.catalog()


def _deployments() -> list[dict[str, Any]]:
    from tests.gateway.scripted import DEPLOYMENTS

    return DEPLOYMENTS


def test_a_policy_row_keeps_a_created_at_that_is_not_a_number() -> None:
    row = {"name": "p", "version": 1, "fingerprint": "f", "sha256": "s", "policy": "{}"}
    assert _policy_row({**row, "created_at": 0})["created_at"] == "1970-01-01T00:00:00.000Z"
    assert _policy_row({**row, "created_at": 1.5})["created_at"] == "1970-01-01T00:00:01.500Z"
    assert _policy_row({**row, "created_at": "2026-01-01T00:00:00Z"})["created_at"] == "2026-01-01T00:00:00Z"
    assert _policy_row({**row, "created_at": None})["created_at"] is None
    assert _policy_row(row)["created_at"] is None
