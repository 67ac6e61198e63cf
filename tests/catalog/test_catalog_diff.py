"""`catalog diff`: deployments added / removed and each changed value, between two catalog versions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from unhardcoded.catalog.diff import diff_catalogs, render_lines
from unhardcoded.catalog.load import build_catalog
from unhardcoded.catalog.model import Catalog
from unhardcoded.cli import app
from unhardcoded.store import open_store


def dep(id_: str, **kw: Any) -> dict[str, Any]:
    base = {
        "id": id_,
        "provider": id_.split("/")[0],
        "model": id_,
        "upstream_model": id_.split("/")[1],
        "price_input_per_mtok": 1.0,
        "price_output_per_mtok": 2.0,
        "context_window": 100_000,
        "capabilities": ["streaming", "tools"],
        "bench_intelligence": 50,
    }
    return {**base, **kw}


def catalog(*deps: dict[str, Any], fields: dict[str, Any] | None = None) -> Catalog:
    return build_catalog(bundled=False, overlay=deps, custom_fields=fields or {})


BEFORE = catalog(dep("a/one"), dep("a/two"), dep("b/gone"))
AFTER = catalog(
    dep("a/one", price_input_per_mtok=0.8, bench_intelligence=55, capabilities=["streaming", "vision"]),
    dep("a/two"),
    dep("c/new", internal=3),
    fields={"internal": {"type": "number"}},
)


def test_added_removed_and_each_changed_value_by_kind():
    d = diff_catalogs(BEFORE, AFTER)
    assert (d.added, d.removed, list(d.changed)) == (["c/new"], ["b/gone"], ["a/one"])
    changes = {c.field: c for c in d.changed["a/one"]}
    assert set(changes) == {"price_input_per_mtok", "bench_intelligence", "capabilities"}
    assert (changes["price_input_per_mtok"].before, changes["price_input_per_mtok"].after) == (1.0, 0.8)
    assert changes["bench_intelligence"].kind == "score"
    caps = changes["capabilities"].to_dict()
    assert (caps["gained"], caps["lost"]) == (["vision"], ["tools"])
    assert d.fields_added == ["internal"]
    assert d.counts() == {
        "added": 1,
        "removed": 1,
        "changed": 1,
        "price": 1,
        "score": 1,
        "capabilities": 1,
        "other": 0,
    }
    text = "\n".join(render_lines(d))
    for line in (
        "+ c/new",
        "- b/gone",
        "~ a/one",
        "price_input_per_mtok: 1 -> 0.8",
        "capabilities: +vision -tools",
    ):
        assert line in text


def test_the_same_catalog_has_no_differences():
    d = diff_catalogs(BEFORE, catalog(dep("a/one"), dep("a/two"), dep("b/gone")))
    assert d.empty and d.before == d.after
    assert list(render_lines(d))[-1] == "no differences"


def _store_with(path: Path, *catalogs: Catalog) -> str:
    url = f"sqlite:///{path}"

    async def put() -> None:
        store = open_store(url)
        await store.open()
        try:
            for c in catalogs:
                await store.put_catalog(c.version, orjson.dumps(c.to_dict()))
        finally:
            await store.close()

    asyncio.run(put())
    return url


def test_cli_diffs_two_versions_kept_in_a_store(tmp_path):
    url = _store_with(tmp_path / "r.db", BEFORE, AFTER)
    r = CliRunner().invoke(app, ["catalog", "diff", BEFORE.version, AFTER.version, "--store", url, "--json"])
    assert r.exit_code == 1, r.output  # 1: they differ
    doc = json.loads(r.output)
    assert (doc["added"], doc["removed"], doc["before"]) == (["c/new"], ["b/gone"], BEFORE.version)
    r = CliRunner().invoke(app, ["catalog", "diff", BEFORE.version, BEFORE.version, "--store", url])
    assert r.exit_code == 0 and "no differences" in r.output
    r = CliRunner().invoke(app, ["catalog", "diff", "f" * 64, AFTER.version, "--store", url])
    assert r.exit_code == 2 and "not kept in the store" in r.output


def test_cli_bundled_against_a_file_and_catalog_still_lists(tmp_path):
    older = tmp_path / "catalog.json"
    older.write_bytes(orjson.dumps(BEFORE.to_dict()))
    r = CliRunner().invoke(app, ["catalog", "diff", str(older), "bundled", "--limit", "1"])
    assert r.exit_code == 1
    assert "- b/gone" in r.output and "added, 3 removed" in r.output
    r = CliRunner().invoke(app, ["catalog", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["catalog_version"] == build_catalog().version
