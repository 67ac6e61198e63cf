"""Receipts made by real gateway calls (fake providers on 127.0.0.1, a real SQLite file), shared by the
review tests: one module-scoped history of every kind of call, and helpers to read it back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.e2e.harness import DEPLOYMENTS, Harness
from unhardcoded.catalog.load import build_catalog
from unhardcoded.catalog.model import Catalog
from unhardcoded.store import open_store
from unhardcoded.testing.script import Step

ROOT = Path(__file__).resolve().parents[2]
EU60 = {"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 60}]}


def chat(h: Harness, policy: Any = None, *, model: str = "auto", content: str = "hi", **kw: Any) -> str:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}], **kw}
    if policy is not None:
        body["policy"] = policy
    status, headers, _ = h.post("/v1/chat/completions", body)
    assert status in (200, 422, 502, 503), (status, headers)
    return {k.lower(): v for k, v in headers.items()}["x-unhardcoded-request-id"]


@dataclass
class History:
    """A store file holding receipts of every kind of call, by what made them."""

    db: Path
    ids: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"


def make_history(tmp: Path) -> History:
    h = Harness.start(tmp)
    hist = History(tmp / "receipts.db")
    try:
        hist.ids["named"] = chat(h, "eu-quality")
        hist.ids["inline"] = chat(h, EU60, max_tokens=64)
        hist.ids["pinned"] = chat(h, model="alpha/cheap")
        hist.ids["pinned_model"] = chat(h, model="beta/top")
        hist.ids["stream"] = chat(h, EU60, stream=True)
        hist.ids["tools"] = chat(
            h, EU60, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]
        )
        hist.ids["no_route"] = chat(h, {"rules": [{"field": "bench_intelligence", "op": ">", "value": 99}]})
        hist.ids["limit"] = chat(h, {"limits": {"max_est_cost_usd": 0.0002}})
        h.alpha.push(Step(status=503))
        hist.ids["fallback"] = chat(h, EU60)
        for _ in range(2):  # alpha/mid's second and third failures in a row (breaker: 3) open its circuit
            h.alpha.push(Step(status=503))
            chat(h, EU60)
        hist.ids["circuit_open"] = chat(h, EU60)
        # Pinned to the deployment whose circuit is open: the soft rule would drop everyone, so it is waived.
        hist.ids["waived"] = chat(h, model="alpha/mid")
        for n in range(6):  # one fingerprint, several request sizes: several distinct decisions
            chat(h, EU60, content="x" * (400 * n + 1))
        status, body = h.get(f"/x/receipts/{hist.ids['inline']}")
        assert status == 200
        hist.fingerprints["EU60"] = body["policy"]["fingerprint"]
    finally:
        h.stop()
    return hist


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("history"))


def catalog_with(changes: dict[str, dict[str, Any] | None], added: list[dict[str, Any]] = ()) -> Catalog:
    """The harness catalog with some deployments changed (a dict of new values) or removed (None)."""
    deps = []
    for d in DEPLOYMENTS:
        if d["id"] in changes and changes[d["id"]] is None:
            continue
        deps.append({**d, **(changes.get(d["id"]) or {})})
    return build_catalog(bundled=False, overlay=deps + list(added))


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


async def with_store(url: str, work: Any) -> Any:
    store = open_store(url)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command with stdout a pipe (not a terminal), as `| grep` would see it."""
    exe = Path(sys.executable).parent / "unhardcoded"
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
        cwd=ROOT,
    )


def load_json(text: str) -> Any:
    return json.loads(text)


@pytest.fixture
def tmp_history(tmp_path: Path) -> Iterator[History]:
    yield make_history(tmp_path)


def tamper(db: Any, request_id: str, change: Any) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (digest,) = conn.execute(
            "SELECT decision_hash FROM receipts WHERE request_id = ?", (request_id,)
        ).fetchone()
        (blob,) = conn.execute("SELECT blob FROM decisions WHERE hash = ?", (digest,)).fetchone()
        doc = orjson.loads(blob)
        change(doc)
        conn.execute("UPDATE decisions SET blob = ? WHERE hash = ?", (orjson.dumps(doc), digest))
        conn.commit()
    return str(digest)


def write_config(path: Path, store: Path, deployments: list[dict[str, Any]]) -> Path:
    cfg = {
        "providers": {
            p: {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": f"{p.upper()}_KEY"}
            for p in ("alpha", "beta", "gamma")
        },
        "catalog": {"bundled": False, "deployments": deployments},
        "default_baseline": "beta/top",
        "store": f"sqlite:///{store}",
    }
    path.write_text(yaml.safe_dump(cfg))
    return path
