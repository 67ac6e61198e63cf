"""The bundled catalog (src/unhardcoded/catalog/data/catalog.json): shape, rules, provenance, reproducibility.

Tests that compare against the raw source files or rebuild the catalog skip when the sources
directory (resolved exactly as scripts/build_catalog.py does) does not exist.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from unhardcoded.catalog.fields import RESERVED, FieldRegistry
from unhardcoded.config import builtin_providers

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build_catalog.py"
DATA = REPO / "src" / "unhardcoded" / "catalog" / "data"
CATALOG = DATA / "catalog.json"
SOURCES_MD = DATA / "SOURCES.md"

# The loader's contract, not a copy of the builder's list: drift between the two fails here.
FIELDS = {f.name for f in FieldRegistry().stored()} | set(RESERVED)
UNSOURCED = {"id", "provider", "model", "creator", "sources"}
PROVIDERS = {
    "openai",
    "anthropic",
    "gemini",
    "vertex",
    "bedrock",
    "azure",
    "mistral",
    "deepseek",
    "xai",
    "groq",
    "together",
    "fireworks",
    "deepinfra",
    "cerebras",
    "moonshot",
    "zai",
    "alibaba",
    "cohere",
    "openrouter",
    "perplexity",
    "ai21",
    "minimax",
    "sambanova",
    "nebius",
    "novita",
    "hyperbolic",
    "baseten",
}
REQUIRED_PROVIDERS = {
    "openai",
    "anthropic",
    "gemini",
    "mistral",
    "deepseek",
    "xai",
    "azure",
    "bedrock",
    "vertex",
}
CAPABILITIES = {"json_schema", "reasoning", "streaming", "tools", "vision"}
GEOGRAPHIES = {"eu", "us", "apac", "jp", "au", "in", "cn", "global"}
ATTRIBUTION = "Data provided by Artificial Analysis, artificialanalysis.ai"
SOURCE_PREFIXES = ("litellm:", "models.dev:", "openrouter:", "aa:", "derived:", "assumption:", "docs:")
UPLIFT = ".regional_endpoint_uplift_multiplier"
NAME = re.compile(r"[a-z0-9][a-z0-9.\-]*")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@cache
def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_catalog_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def catalog() -> dict[str, Any]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def deployments() -> list[dict[str, Any]]:
    return catalog()["deployments"]


def by_id() -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in deployments()}


@pytest.fixture(scope="module")
def sources_dir() -> Path:
    path = builder().default_sources()
    if not path.is_dir():
        pytest.skip(f"raw catalog sources not found at {path} (resolved like scripts/build_catalog.py)")
    return path


# ---- document shape ---------------------------------------------------------------------------


def test_header() -> None:
    doc = catalog()
    assert set(doc) == {"schema", "built_from", "bench", "deployments"}
    assert doc["schema"] == "unhardcoded-catalog/v1"
    assert doc["bench"]["field"] == "bench_intelligence"
    assert doc["bench"]["snapshot"] == "2026-08-22"
    assert doc["bench"]["attribution"] == ATTRIBUTION
    files = [b["file"] for b in doc["built_from"]]
    assert any(f.startswith("litellm-1.110.2") for f in files)
    assert any(f.startswith("artificialanalysis_llms_2026-08-22") for f in files)
    for entry in doc["built_from"]:
        assert set(entry) == {"file", "sha256", "license", "role"}
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])


def test_file_is_pretty_sorted_and_newline_terminated() -> None:
    text = CATALOG.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    ids = [d["id"] for d in doc["deployments"]]
    assert ids == sorted(ids)


def test_size_and_provider_coverage() -> None:
    deps = deployments()
    providers = Counter(d["provider"] for d in deps)
    assert len(deps) >= 300
    assert len(providers) >= 20  # issue 14: at least 20 providers
    assert set(providers) <= PROVIDERS
    assert set(providers) >= REQUIRED_PROVIDERS
    assert len({"groq", "together", "fireworks", "deepinfra"} & set(providers)) >= 2
    # Every provider of the bundled catalog is a built-in provider, so rt:no-key can name its variable.
    assert set(providers) <= set(builtin_providers())


def test_every_deployment_has_exactly_the_contract_keys() -> None:
    for d in deployments():
        assert set(d) == FIELDS, d["id"]


# ---- ids and names ----------------------------------------------------------------------------


def test_ids_are_unique_and_follow_the_rule() -> None:
    ids = [d["id"] for d in deployments()]
    assert len(ids) == len(set(ids))
    for d in deployments():
        creator, _, name = d["model"].partition("/")
        assert creator == d["creator"] and NAME.fullmatch(name), d["id"]
        expected = d["provider"] + ("" if d["provider"] == creator else f"/{creator}") + f"/{name}"
        if d["region"] is not None:
            expected += f"@{d['region']}"
        assert d["id"] == expected


def test_same_model_has_one_name_across_providers() -> None:
    items = by_id()
    assert items["bedrock/anthropic/claude-sonnet-4.5@eu"]["model"] == "anthropic/claude-sonnet-4.5"
    assert items["anthropic/claude-sonnet-4.5"]["upstream_model"] == "claude-sonnet-4-5"
    assert items["azure/openai/gpt-4.1@eu"]["model"] == items["openai/gpt-4.1"]["model"] == "openai/gpt-4.1"
    llama = {d["model"] for d in deployments() if "llama-3.3-70b" in d["id"]}
    assert llama == {"meta/llama-3.3-70b"}


# ---- field values -----------------------------------------------------------------------------


def test_every_non_null_field_has_a_source() -> None:
    for d in deployments():
        for field, value in d.items():
            if field in UNSOURCED or value is None:
                continue
            src = d["sources"].get(field)
            assert isinstance(src, str) and src.startswith(SOURCE_PREFIXES), (d["id"], field)
        assert set(d["sources"]) <= FIELDS - UNSOURCED, d["id"]


def test_capabilities_come_from_the_allowed_set() -> None:
    for d in deployments():
        caps = d["capabilities"]
        assert caps == sorted(set(caps)) and set(caps) <= CAPABILITIES, d["id"]
        if "assumption:streaming" in d["sources"]["capabilities"]:
            assert "streaming" in caps, d["id"]


def test_numbers_and_dates_are_in_range() -> None:
    for d in deployments():
        for field in ("price_input_per_mtok", "price_output_per_mtok", "price_cached_input_per_mtok"):
            value = d[field]
            assert value is None or (isinstance(value, int | float) and value >= 0), (d["id"], field)
        for field in ("context_window", "max_output_tokens"):
            value = d[field]
            assert value is None or (type(value) is int and value > 0), (d["id"], field)
        bench = d["bench_intelligence"]
        assert bench is None or (isinstance(bench, int | float) and 0 <= bench <= 100), d["id"]
        for field in ("release_date", "deprecation_date"):
            assert d[field] is None or DATE.fullmatch(d[field]), (d["id"], field)
        assert d["deprecation_date"] is None or d["deprecation_date"] >= "2026-11-25", d["id"]
        assert d["open_weights"] is None or isinstance(d["open_weights"], bool)
        assert d["data_retention"] is None or isinstance(d["data_retention"], str)


def test_residency_fields_are_consistent() -> None:
    for d in deployments():
        if d["region"] is None:
            assert d["geography"] is None and d["endpoint_region"] is None, d["id"]
        assert d["geography"] is None or d["geography"] in GEOGRAPHIES, d["id"]
    items = by_id()
    eu_profile = items["bedrock/anthropic/claude-sonnet-4.5@eu"]
    assert (eu_profile["region"], eu_profile["geography"], eu_profile["endpoint_region"]) == (
        "eu",
        "eu",
        "eu-central-1",
    )
    assert eu_profile["upstream_model"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    azure_eu = items["azure/openai/gpt-5.5@eu"]
    assert (azure_eu["region"], azure_eu["geography"], azure_eu["endpoint_region"]) == ("eu", "eu", None)
    in_region = [d for d in deployments() if d["provider"] == "bedrock" and d["region"] == "eu-central-1"]
    assert in_region and all(
        d["geography"] == "eu" and d["endpoint_region"] == "eu-central-1" for d in in_region
    )
    assert any(d["provider"] == "vertex" and d["region"] == "global" for d in deployments())
    for d in deployments():
        if d["provider"] == "vertex" and d["region"] is not None:
            # A Vertex call goes to locations/{region}: the endpoint region is the location itself.
            assert d["endpoint_region"] == d["region"], d["id"]
        if d["provider"] == "bedrock" and d["region"] is not None:
            assert d["endpoint_region"] is not None, d["id"]


def test_eu_vertex_deployments_for_gemini_and_claude() -> None:
    """`geography == eu` leaves Gemini and Claude on Vertex, pinned to a documented EU location."""
    eu = [d for d in deployments() if d["provider"] == "vertex" and d["geography"] == "eu"]
    gemini = [d for d in eu if d["model"].startswith("google/gemini-")]
    claude = [d for d in eu if d["model"].startswith("anthropic/claude-")]
    assert gemini and claude
    for d in gemini + claude:
        assert d["region"] is not None and d["endpoint_region"] == d["region"], d["id"]
        assert d["region"] == "eu" or d["region"].startswith("europe-"), d["id"]
        assert d["id"].endswith(f"@{d['region']}")
        assert d["sources"]["region"].startswith("docs:"), d["id"]
        assert d["sources"]["endpoint_region"].startswith("docs:"), d["id"]
        assert d["sources"]["geography"].startswith("derived:"), d["id"]
        for field, value in d.items():
            if field not in UNSOURCED and value is not None:
                assert d["sources"].get(field), (d["id"], field)
        assert d["price_input_per_mtok"] is not None and d["price_output_per_mtok"] is not None, d["id"]
    items = by_id()
    regional = items["vertex/google/gemini-3.5-flash@eu"]
    base = items["vertex/google/gemini-3.5-flash"]
    assert (regional["upstream_model"], regional["context_window"]) == (
        base["upstream_model"],
        base["context_window"],
    )
    # A regional / multi-region endpoint costs litellm's regional_endpoint_uplift_multiplier (1.1) more.
    assert math.isclose(regional["price_input_per_mtok"], base["price_input_per_mtok"] * 1.1, rel_tol=1e-9)
    assert UPLIFT in regional["sources"]["price_input_per_mtok"]
    assert items["vertex/anthropic/claude-opus-4.6@europe-west1"]["geography"] == "eu"
    assert items["vertex/anthropic/claude-opus-4.6@us-east5"]["geography"] == "us"
    # Gemini 3.x stable models are not served on single regions such as europe-west4.
    assert not any(d["region"] == "europe-west4" for d in gemini)


def test_known_values() -> None:
    items = by_id()
    gpt = items["openai/gpt-5.5"]
    assert (gpt["price_input_per_mtok"], gpt["price_output_per_mtok"]) == (5.0, 30.0)
    assert gpt["bench_intelligence"] == 56.3
    assert items["anthropic/claude-opus-5"]["bench_intelligence"] == 63.1
    assert items["gemini/google/gemini-3.5-flash"]["bench_intelligence"] == 52.0
    assert items["deepseek/deepseek-v4-pro"]["bench_intelligence"] == 53.2
    # The deepseek-v4-flash alias now serves newer weights than the AA snapshot: null on purpose.
    assert items["deepseek/deepseek-v4-flash"]["bench_intelligence"] is None
    # Models released after the AA snapshot have no score.
    assert items["openai/gpt-6-sol"]["bench_intelligence"] is None
    assert items["bedrock/amazon/nova-2-lite@eu"]["price_input_per_mtok"] == 0.429


# ---- provenance against the raw files ---------------------------------------------------------


def _litellm_key(source: str) -> str:
    assert source.startswith("litellm:")
    return source[len("litellm:") :].split(" (", 1)[0].split(" x ", 1)[0]


def test_values_equal_the_raw_litellm_entry(sources_dir: Path) -> None:
    raw = json.loads(
        (sources_dir / "litellm-1.110.2_model_prices_and_context_window_backup.json").read_text()
    )
    fields = {
        "price_input_per_mtok": "input_cost_per_token",
        "price_output_per_mtok": "output_cost_per_token",
        "price_cached_input_per_mtok": "cache_read_input_token_cost",
    }
    for d in deployments():
        for field, lkey in fields.items():
            if d[field] is None:
                continue
            src = d["sources"][field]
            key = _litellm_key(src)
            entry = raw[key]
            multiplier = 1.0
            if UPLIFT in src:
                assert f"litellm:{key}{UPLIFT}" in src, (d["id"], field)
                multiplier = entry["regional_endpoint_uplift_multiplier"]
            if "tiered_pricing[0]" in src:
                entry = entry["tiered_pricing"][0]
            expected = entry[lkey] * 1e6 * multiplier
            assert math.isclose(d[field], expected, rel_tol=1e-9), (d["id"], field)
        entry = raw[_litellm_key(d["sources"]["upstream_model"])]
        if d["context_window"] is not None:
            # A window filled from another key (scripts/catalog_build/gaps.py) is checked against that key.
            window_entry = raw[_litellm_key(d["sources"]["context_window"])]
            assert d["context_window"] == window_entry["max_input_tokens"], d["id"]
            if window_entry is not entry:
                assert entry.get("max_input_tokens") is None, d["id"]  # only gaps are filled
                assert "(same model on the same provider)" in d["sources"]["context_window"] or (
                    "(the model's own API, its native window)" in d["sources"]["context_window"]
                ), d["id"]
        if d["max_output_tokens"] is not None:
            assert d["max_output_tokens"] == entry["max_output_tokens"], d["id"]
        assert d["deprecation_date"] == entry.get("deprecation_date"), d["id"]


def test_bench_equals_the_cited_artificial_analysis_row(sources_dir: Path) -> None:
    rows = json.loads((sources_dir / "artificialanalysis_llms_2026-08-22.json").read_text())["models"]
    index = {r["slug"]: r for r in rows}
    scored = 0
    for d in deployments():
        if d["bench_intelligence"] is None:
            assert "bench_intelligence" not in d["sources"]
            continue
        m = re.fullmatch(r"aa:(.+)@2026-08-22", d["sources"]["bench_intelligence"])
        assert m, d["id"]
        value = index[m[1]]["evaluations"]["artificial_analysis_intelligence_index"]
        assert d["bench_intelligence"] == round(value, 1), d["id"]
        scored += 1
    assert scored >= 100


def test_sources_md_names_every_input_hash_and_the_attribution() -> None:
    text = SOURCES_MD.read_text(encoding="utf-8")
    assert ATTRIBUTION in text
    assert "LMArena" in text
    for entry in catalog()["built_from"]:
        assert entry["file"] in text and entry["sha256"] in text, entry["file"]


# ---- reproducibility --------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_builder_is_reproducible(sources_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        result = _run("--sources", str(sources_dir), "--out", str(out))
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == CATALOG.read_bytes()


def test_bundled_catalog_is_up_to_date(sources_dir: Path) -> None:
    result = _run("--sources", str(sources_dir), "--check")
    assert result.returncode == 0, result.stderr
