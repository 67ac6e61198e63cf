"""GET /x/traces: workflow by name, status, and keyset paging with next_cursor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness
from unhardcoded.testing.script import Step

CHAT = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


def test_a_workflow_is_found_by_its_name(gw: Harness) -> None:
    mine = [
        gw.post("/v1/chat/completions", CHAT, {"x-unhardcoded-workflow": "nightly 7"})[1][
            "x-unhardcoded-request-id"
        ]
        for _ in range(3)
    ]
    gw.post("/v1/chat/completions", CHAT, {"x-unhardcoded-workflow": "nightly 8"})
    status, out = gw.get("/x/traces?workflow=nightly%207")
    assert status == 200 and {r["request_id"] for r in out["receipts"]} == set(mine)


def test_paging_with_next_cursor_returns_every_receipt_once_newest_first(gw: Harness) -> None:
    made = [gw.post("/v1/chat/completions", CHAT)[1]["x-unhardcoded-request-id"] for _ in range(7)]
    seen: list[str] = []
    url = "/x/traces?limit=3"
    while True:
        status, out = gw.get(url)
        assert status == 200
        seen += [r["request_id"] for r in out["receipts"]]
        if out["next_cursor"] is None:
            break
        url = f"/x/traces?limit=3&cursor={out['next_cursor']}"
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen)) == 7
    status, first = gw.get("/x/traces?limit=7")
    assert [r["request_id"] for r in first["receipts"]] == seen  # the same order as one big page


def test_status_filters_and_bad_values_name_themselves(gw: Harness) -> None:
    gw.post("/v1/chat/completions", CHAT)
    gw.alpha.push(*[Step(status=500)] * 3)
    gw.beta.push(*[Step(status=500)] * 3)
    assert gw.post("/v1/chat/completions", CHAT)[0] == 502
    status, out = gw.get("/x/traces?status=error")
    assert status == 200 and [r["status"] for r in out["receipts"]] == ["error"]
    for query, param in (
        ("status=fine", "status"),
        ("cursor=yesterday", "cursor"),
        ("workflow=%0a", "workflow"),
    ):
        status, out = gw.get(f"/x/traces?{query}")
        assert status == 400 and out["error"]["param"] == param, out
