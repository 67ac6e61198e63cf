"""GET /x/audit and POST /x/simulate through a live gateway, checked against the receipts themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness

CHAT = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def test_one_calls_proof_names_what_the_rule_excluded_and_that_the_winner_passed(gw: Harness) -> None:
    status, headers, _ = gw.post("/v1/chat/completions", CHAT)
    rid = headers["x-unhardcoded-request-id"]
    receipt = gw.receipt(rid)
    status, proof = gw.get(f"/x/audit?request_id={rid}&rule=eu")
    assert status == 200, proof
    assert proof["hash_verified"] is True and proof["enforced"] is True
    (rule,) = [r for r in proof["rules"] if r["rule_id"] == "eu"]
    excluded = {x["deployment"] for x in rule["excluded"]}
    expected = {
        c["deployment"]
        for c in receipt["candidates"]
        for f in c.get("rejected_by", [])
        if f["rule_id"] == "eu"
    }
    assert excluded == expected == {"beta/top"}
    assert rule["winner"] == receipt["outcome"]["deployment"] and rule["winner_passed"] is True


def test_per_fingerprint_audit_counts_the_calls(gw: Harness) -> None:
    for _ in range(3):
        gw.post("/v1/chat/completions", CHAT)
    fp = gw.get("/x/traces?limit=1")[1]["receipts"][0]["fingerprint"]
    status, out = gw.get(f"/x/audit?fingerprint={fp.replace(' ', '%20')}&since=1h")
    assert status == 200, out
    (policy,) = out["policies"]
    assert policy["fingerprint"] == fp and policy["calls"] == 3


def test_simulate_a_stricter_policy_over_past_calls(gw: Harness) -> None:
    for _ in range(4):
        gw.post("/v1/chat/completions", CHAT)
    stricter = {"rules": [{"id": "q70", "field": "bench_intelligence", "op": ">=", "value": 70}]}
    status, _, out = gw.post("/x/simulate", {"policy": stricter, "since": "1h"})
    assert status == 200, out
    assert out["calls"] == 4 and out["moved"] == 4
    assert out["rules"][0]["rule_id"] == "q70"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/x/audit?since=yesterday", "since"),
        ("/x/audit?colour=1", "colour"),
        ("/x/audit?request_id=req_no", "request_id"),
    ],
)
def test_bad_audit_parameters_name_themselves(gw: Harness, path: str, param: str) -> None:
    status, out = gw.get(path)
    assert status in (400, 404) and out["error"]["param"] == param, out
