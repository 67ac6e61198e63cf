"""Audit, what-if and period replay by tenant: a client key reads its own tenant's calls only, and another
tenant's calls answer exactly as no calls do; an admin reads every tenant's, or the one it names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from tests.canary import MARKER
from tests.e2e.harness import Harness
from tests.http.test_tenants import ACME, ADMIN, AUTH, GLOBEX, bearer, call
from unhardcoded.gateway.auth import key_digest

INITECH = f"uh_initech-{MARKER}-0004"  # a tenant that made no call (a canary key, as the others)
KEYS = {"keys": [*AUTH["keys"], {"hash": key_digest(INITECH), "tenant": "initech", "scope": "client"}]}
STRICTER = {"rules": [{"id": "q70", "field": "bench_intelligence", "op": ">=", "value": 70}]}
# What differs between two answers to one question asked twice: timings, the window's clock, the echo.
VOLATILE = {"seconds", "receipts_per_s", "receipts_per_min", "window", "since", "until", "tenant"}


@dataclass(frozen=True)
class World:
    gw: Harness
    fingerprint: str
    acme: list[str]  # acme's request ids (2); globex made 1 call, initech none


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gw = Harness.start(tmp_path_factory.mktemp("tenants"), config={"auth": KEYS})
    try:
        acme = [call(gw, ACME), call(gw, ACME)]
        call(gw, GLOBEX)
        fp = gw.get(f"/x/receipts/{acme[0]}", bearer(ACME))[1]["policy"]["fingerprint"]
        yield World(gw, fp, acme)
    finally:
        gw.stop()


def steady(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k not in VOLATILE}


def audit(w: World, key: str, extra: str = "") -> tuple[int, dict[str, Any]]:
    return w.gw.get(f"/x/audit?fingerprint={quote(w.fingerprint)}&since=1h{extra}", bearer(key))


def simulate(w: World, key: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    status, _, out = w.gw.post("/x/simulate", {"policy": STRICTER, "since": "1h", **extra}, bearer(key))
    return status, out


def period(w: World, key: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    doc = {"fingerprint": w.fingerprint, "since": "1h", **extra}
    status, _, out = w.gw.post("/x/replay", doc, bearer(key))
    return status, out


def audited_calls(out: dict[str, Any]) -> int:
    return sum(p["calls"] for p in out["policies"])


def test_the_per_fingerprint_audit_counts_only_the_callers_tenant(world: World) -> None:
    counts = {}
    for name, key, extra in [
        ("acme", ACME, ""),
        ("globex", GLOBEX, ""),
        ("admin", ADMIN, ""),
        ("admin acme", ADMIN, "&tenant=acme"),
        ("acme naming itself", ACME, "&tenant=acme"),
    ]:
        status, out = audit(world, key, extra)
        assert status == 200, out
        counts[name] = (audited_calls(out), out["receipts"], out["tenant"])
    assert counts == {
        "acme": (2, 2, "acme"),
        "globex": (1, 1, "globex"),
        "admin": (3, 3, None),
        "admin acme": (2, 2, "acme"),
        "acme naming itself": (2, 2, "acme"),
    }


def test_a_tenant_without_calls_audits_exactly_nothing(world: World) -> None:
    _, initech = audit(world, INITECH)
    _, nobody = audit(world, ADMIN, "&tenant=nobody")
    assert initech["policies"] == [] and initech["receipts"] == 0
    assert steady(initech) == steady(nobody)
    # asking for a rule lists the rules of the caller's calls only: none
    s1, r1 = audit(world, INITECH, "&rule=eu")
    s2, r2 = audit(world, ADMIN, "&rule=eu&tenant=nobody")
    assert s1 == s2 == 400 and r1["error"] == r2["error"] and r1["error"]["param"] == "rule"
    s3, r3 = audit(world, ACME, "&rule=eu")
    assert s3 == 200 and [r["rule_id"] for r in r3["policies"][0]["rules"]] == ["eu"]


def test_another_tenants_call_has_no_proof_exactly_like_a_missing_one(world: World) -> None:
    rid = world.acme[0]
    path = "/x/audit?rule=eu&request_id="
    theirs = world.gw.get(path + rid, bearer(GLOBEX))
    missing = world.gw.get(path + "req_000000000000000000000000", bearer(GLOBEX))
    admin_other = world.gw.get(path + rid + "&tenant=globex", bearer(ADMIN))
    assert theirs[0] == missing[0] == admin_other[0] == 404
    assert {k: v for k, v in theirs[1]["error"].items() if k != "message"} == {
        k: v for k, v in missing[1]["error"].items() if k != "message"
    }
    assert world.gw.get(path + rid, bearer(ACME))[1]["enforced"] is True
    assert world.gw.get(path + rid + "&tenant=acme", bearer(ADMIN))[1]["enforced"] is True


def test_simulate_reads_only_the_callers_tenant(world: World) -> None:
    calls = {}
    for name, key, extra in [
        ("acme", ACME, {}),
        ("globex", GLOBEX, {}),
        ("admin", ADMIN, {}),
        ("admin globex", ADMIN, {"tenant": "globex"}),
    ]:
        status, out = simulate(world, key, **extra)
        assert status == 200, out
        calls[name] = (out["calls"], out["moved"], out["tenant"])
    assert calls == {
        "acme": (2, 2, "acme"),
        "globex": (1, 1, "globex"),
        "admin": (3, 3, None),
        "admin globex": (1, 1, "globex"),
    }
    _, initech = simulate(world, INITECH)
    _, nobody = simulate(world, ADMIN, tenant="nobody")
    assert initech["calls"] == initech["receipts"] == 0 and steady(initech) == steady(nobody)


def test_period_replay_reads_only_the_callers_tenant(world: World) -> None:
    seen = {}
    for name, key, extra in [
        ("acme", ACME, {}),
        ("globex", GLOBEX, {}),
        ("admin", ADMIN, {}),
        ("admin acme", ADMIN, {"tenant": "acme"}),
    ]:
        status, out = period(world, key, **extra)
        assert status == 200, out
        seen[name] = (out["calls"], out["identical"], out["tenant"])
    assert seen == {
        "acme": (2, True, "acme"),
        "globex": (1, True, "globex"),
        "admin": (3, True, None),
        "admin acme": (2, True, "acme"),
    }
    _, initech = period(world, INITECH)
    _, nobody = period(world, ADMIN, tenant="nobody")
    assert initech["calls"] == 0 and initech["groups"] == [] and steady(initech) == steady(nobody)


@pytest.mark.parametrize("ask", ["audit", "simulate", "period"])
def test_a_client_naming_another_tenant_or_a_bad_one_gets_a_400_naming_tenant(world: World, ask: str) -> None:
    for key, tenant in ((ACME, "globex"), (ACME, "initech"), (ADMIN, ""), (ACME, 7)):
        if ask == "audit":
            if not isinstance(tenant, str):
                continue  # a query string has only strings
            status, out = audit(world, key, f"&tenant={tenant}")
        elif ask == "simulate":
            status, out = simulate(world, key, tenant=tenant)
        else:
            status, out = period(world, key, tenant=tenant)
        assert status == 400 and out["error"]["param"] == "tenant", (key, tenant, out)
