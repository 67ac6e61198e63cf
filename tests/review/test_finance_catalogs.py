"""Audit and what-if where the catalog has variety (the bundled one: hundreds of deployments, many regions
and capability sets), and both on PostgreSQL by URL. Groupings recomputed here from the catalog itself."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import DEPLOYMENTS, Harness
from tests.review.conftest import chat, cli, load_json, run_async, with_store, write_config
from tests.review.test_replay_stores import pg_store_url  # noqa: F401  (a fixture)
from unhardcoded.catalog.load import build_catalog
from unhardcoded.review.audit import audit

EU_VISION = {
    "rules": [
        {"id": "eu-only", "field": "geography", "op": "==", "value": "eu"},
        {"id": "needs-vision", "field": "capabilities", "op": "has", "value": "vision"},
    ]
}


def exact(d: Decimal) -> str:
    """Money as the results write it: the exact decimal, as a string."""
    return format(d.normalize(), "f")


def calls(tmp_path: Path, n: int, **start: Any) -> list[str]:
    h = Harness.start(tmp_path, **start)
    try:
        return [chat(h, EU_VISION, content="x" * (50 * k + 1)) for k in range(n)]
    finally:
        h.stop()


def test_exclusions_grouped_by_region_and_capability_over_the_bundled_catalog(tmp_path: Path) -> None:
    ids = calls(tmp_path, 3, bundled=True)
    url = f"sqlite:///{tmp_path / 'receipts.db'}"
    out = run_async(with_store(url, lambda s: audit(s, since="1d")))
    (f,) = out["policies"]
    assert f["calls"] == 3 and f["distinct_decisions"] == 3
    catalog = build_catalog(overlay=DEPLOYMENTS)
    rules = {r["rule_id"]: r for r in f["rules"]}
    for rid, fails in (
        ("eu-only", lambda d: d.get("geography") != "eu"),
        ("needs-vision", lambda d: "vision" not in (d.get("capabilities") or ())),
    ):
        excluded = [d for d in catalog if fails(d)]
        r = rules[rid]
        assert r["excluded"] == len(excluded) and r["calls"] == 3 and r["exclusions"] == 3 * len(excluded)
        assert r["by_region"] == dict(
            Counter(str(d.get("region") or d.endpoint_region or d.get("geography") or "—") for d in excluded)
        )
        caps: Counter[str] = Counter()
        for d in excluded:
            caps.update(sorted(d.get("capabilities") or ["(none)"]))
        assert r["by_capability"] == dict(caps)
        assert len(r["by_region"]) > 3
    assert "vision" not in rules["needs-vision"]["by_capability"]
    proof = run_async(with_store(url, lambda s: audit(s, request_id=ids[0], rule="needs-vision")))
    assert proof["enforced"] and proof["rules"][0]["excluded_count"] == rules["needs-vision"]["excluded"]
    assert all("vision" not in e["capabilities"] for e in proof["rules"][0]["excluded"])


@pytest.mark.postgres
def test_audit_and_simulate_on_postgres_by_url(pg_store_url: str, tmp_path: Path) -> None:  # noqa: F811
    ids = calls(tmp_path, 4, config={"store": pg_store_url})
    proof = cli("audit", "--request", ids[0], "--rule", "eu-only", "--store", pg_store_url, "--json")
    assert proof.returncode == 0, proof.stderr
    assert load_json(proof.stdout)["enforced"]
    whole = load_json(cli("audit", "--since", "1d", "--store", pg_store_url, "--json").stdout)
    assert [f["calls"] for f in whole["policies"]] == [4]
    pol = tmp_path / "p.json"
    pol.write_text(
        json.dumps({"rules": [{"id": "top", "field": "bench_intelligence", "op": ">=", "value": 80}]})
    )
    cfg = tmp_path / "u.yaml"
    write_config(cfg, tmp_path / "unused.db", DEPLOYMENTS)
    cfg.write_text(cfg.read_text().replace(f"sqlite:///{tmp_path / 'unused.db'}", pg_store_url))
    sim = cli("simulate", "--policy", str(pol), "--config", str(cfg), "--json")
    assert sim.returncode == 0, sim.stderr
    out = load_json(sim.stdout)
    # beta/top (80) and gamma/nokey (90) pass; gamma is cheaper: every call moves there.
    assert out["calls"] == 4 and out["moved"] == 4 and [m["to"] for m in out["moves"]] == ["gamma/nokey"]
    usage = run_async(with_store(pg_store_url, lambda s: _usages(s, ids)))
    gamma = Decimal("0.01")  # gamma/nokey's input and output price per million tokens
    assert out["cost"]["projected_usd"] == exact(sum((i * gamma + o * gamma) / 1_000_000 for i, o in usage))


async def _usages(store: Any, ids: list[str]) -> list[tuple[int, int]]:
    out = []
    for rid in ids:
        u = (await store.get(rid))["outcome"]["usage"]
        out.append((u["input_tokens"], u["output_tokens"]))
    return out
