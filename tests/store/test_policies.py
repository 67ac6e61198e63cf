"""Stored policies: immutable versions per (tenant, name), distinct when two store objects (two processes'
worth of connections) add at once, on one SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import orjson
import pytest

if TYPE_CHECKING:
    from tests.store.conftest import Backend


def doc(n: int) -> str:
    return orjson.dumps({"workload": "support", "rules": [{"id": f"r{n}"}]}).decode()


async def test_versions_count_up_per_tenant_and_name_and_never_change(backend: Backend) -> None:
    async with backend.make() as store:
        assert await store.put_policy(None, "support", doc(1), "fp-1", "s1") == 1
        assert await store.put_policy(None, "support", doc(2), "fp-2", "s2") == 2
        assert await store.put_policy("acme", "support", doc(3), "fp-3", "s3") == 1
        assert await store.put_policy(None, "search", doc(4), "fp-4", "s4") == 1
        versions = await store.get_policies(None, "support")
        assert [(p["version"], p["fingerprint"], p["sha256"]) for p in versions] == [
            (1, "fp-1", "s1"),
            (2, "fp-2", "s2"),
        ]
        assert versions[0]["policy"] == orjson.loads(doc(1)) and versions[0]["doc_json"] == doc(1)
        assert versions[0]["tenant"] is None and versions[0]["created_at"] <= versions[1]["created_at"]
        assert [(p["name"], p["version"]) for p in await store.get_policies(None)] == [
            ("search", 1),
            ("support", 1),
            ("support", 2),
        ]
        latest = await store.latest_policies(None)
        assert {n: p["version"] for n, p in latest.items()} == {"search": 1, "support": 2}
        assert {n: p["version"] for n, p in (await store.latest_policies("acme")).items()} == {"support": 1}
        assert await store.latest_policies("nobody") == {}
        assert await store.get_policies(None, "nope") == []
        with pytest.raises(ValueError, match="name"):
            await store.put_policy(None, "", doc(5), "fp", "s")
    async with backend.make() as again:  # stored: a restart keeps every version as it was
        assert [p["doc_json"] for p in await again.get_policies(None, "support")] == [doc(1), doc(2)]


async def test_two_stores_adding_at_once_get_distinct_versions(backend: Backend) -> None:
    a, b = backend.make(), backend.make()
    async with a, b:
        got = await asyncio.gather(
            *(s.put_policy("acme", "support", doc(i), f"fp-{i}", f"s{i}") for i in range(20) for s in (a, b))
        )
        assert sorted(got) == list(range(1, 41))
        stored = await b.get_policies("acme", "support")
        assert [p["version"] for p in stored] == list(range(1, 41))
        assert len({p["fingerprint"] + str(p["version"]) for p in stored}) == 40
