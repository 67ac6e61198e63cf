"""Stored policies (SPEC §2, §7): POST adds an immutable version; calls name them; they live in the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness

QUALITY = {
    "workload": "support",
    "rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 55}],
}
TOP = {"rules": [{"id": "top", "field": "bench_intelligence", "op": ">=", "value": 80}]}
CHAT = {"model": "policy:team-a", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def test_a_stored_policy_routes_calls_and_its_receipts_name_the_version(harness: Harness) -> None:
    status, _, v1 = harness.post("/x/policies", {"name": "team-a", "policy": QUALITY})
    assert status == 201 and v1["version"] == 1 and v1["fingerprint"].endswith("(sigma-pol/v1)")
    status, headers, _ = harness.post("/v1/chat/completions", CHAT)
    assert status == 200
    r1 = harness.receipt(headers["x-unhardcoded-request-id"])
    assert (r1["policy"]["name"], r1["policy"]["version"]) == ("team-a", 1)
    assert r1["policy"]["fingerprint"] == v1["fingerprint"]

    status, _, v2 = harness.post("/x/policies", {"name": "team-a", "policy": TOP})
    assert status == 201 and v2["version"] == 2 and v2["fingerprint"] != v1["fingerprint"]
    status, headers, _ = harness.post("/v1/chat/completions", CHAT, {})
    r2 = harness.receipt(headers["x-unhardcoded-request-id"])
    assert (r2["policy"]["version"], r2["outcome"]["deployment"]) == (2, "beta/top")

    status, versions = harness.get("/x/policies/team-a")
    assert status == 200 and [v["version"] for v in versions["versions"]] == [1, 2]
    assert versions["versions"][0]["fingerprint"] == v1["fingerprint"]  # a version never changes
    status, listing = harness.get("/x/policies")
    names = {(p["name"], p["source"], p["version"]) for p in listing["policies"]}
    assert ("team-a", "stored", 2) in names and ("eu-quality", "config", None) in names


def test_stored_policies_survive_a_restart_and_are_shared_by_two_gateways(tmp_path: Path) -> None:
    a = Harness.start(tmp_path)
    try:
        assert a.post("/x/policies", {"name": "shared", "policy": QUALITY})[0] == 201
    finally:
        a.stop()
    b, c = Harness.start(tmp_path), Harness.start(tmp_path)  # same SQLite file, a new process state each
    try:
        body = {**CHAT, "model": "policy:shared"}
        assert b.post("/v1/chat/completions", body)[0] == 200
        assert c.post("/x/policies", {"name": "shared", "policy": TOP})[1] is not None
        status, headers, _ = b.post("/v1/chat/completions", {**body, "policy": "shared"})
        assert status == 200
        import time

        time.sleep(2.1)  # b re-reads stored policies at most every 2 s
        status, headers, _ = b.post("/v1/chat/completions", body)
        assert b.receipt(headers["x-unhardcoded-request-id"])["policy"]["version"] == 2
    finally:
        b.stop()
        c.stop()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"name": "x", "policy": {"rules": [{"field": "bench_intelligence", "op": "~", "value": 1}]}},
            "policy.rules[0].op",
        ),
        ({"name": "x", "policy": {"baseline": "nobody/nothing"}}, "policy.baseline"),
        ({"name": "bad name!", "policy": {}}, "name"),
        ({"name": "eu-quality", "policy": {}}, "name"),
        ({"name": "x"}, "policy"),
    ],
)
def test_a_bad_policy_is_a_400_naming_the_field_and_nothing_is_stored(
    harness: Harness, body: dict[str, object], param: str
) -> None:
    status, _, out = harness.post("/x/policies", body)
    assert status == 400 and out["error"]["param"] == param, out
    assert harness.get("/x/policies/x")[0] == 404


def test_an_unknown_stored_name_lists_the_valid_choices(harness: Harness) -> None:
    harness.post("/x/policies", {"name": "team-a", "policy": QUALITY})
    status, _, out = harness.post("/v1/chat/completions", {**CHAT, "model": "policy:nobody"})
    assert status == 400 and set(out["error"]["choices"]) == {"eu-quality", "team-a"}
