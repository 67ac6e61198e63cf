"""Selection, de-duplication and the output document."""

from __future__ import annotations

import json
import re
from typing import Any

from catalog_build.bench import ArtificialAnalysis
from catalog_build.fields import Record, date_str, fill_identity, fill_litellm, fill_model_facts, prices
from catalog_build.gaps import fill_context_windows
from catalog_build.keys import Candidate, parse_key
from catalog_build.lookups import ModelsDev, OpenRouter
from catalog_build.naming import normalize
from catalog_build.sources import AA_SNAPSHOT, Sources

SCHEMA = "unhardcoded-catalog/v1"
CURRENT_AS_OF = "2026-11-25"  # deployments deprecated before this date are left out
RECENT_SINCE = "2024-06-01"  # models released before this date are left out
# Third-party inference hosts (they serve other labs' open-weight models).
HOSTS = frozenset(
    {
        "together",
        "fireworks",
        "deepinfra",
        "groq",
        "cerebras",
        "sambanova",
        "nebius",
        "novita",
        "hyperbolic",
        "baseten",
    }
)
MODELS_DEV_SNAPSHOT = "2026-07-02"
ATTRIBUTION = "Data provided by Artificial Analysis, artificialanalysis.ai"
BENCH = {
    "field": "bench_intelligence",
    "name": "Artificial Analysis Intelligence Index",
    "snapshot": AA_SNAPSHOT,
    "methodology": "v4.1",
    "rule": "highest-scoring reasoning-effort variant; null when the model is not in the snapshot",
    "attribution": ATTRIBUTION,
}
_MMDD = re.compile(r"-(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|$)")


def select(src: Sources) -> list[tuple[Candidate, str, str]]:
    """Chat candidates that pass the filters, one per (provider, region, model)."""
    best: dict[tuple[str, str | None, str, str], Candidate] = {}
    for key in sorted(src.litellm):
        for c in parse_key(key, src.litellm[key]):
            norm = normalize(c.upstream, c.provider)
            if norm is None:
                continue
            dep = date_str(c.entry.get("deprecation_date"))
            if dep is not None and dep < CURRENT_AS_OF:
                continue
            slot = (c.provider, c.region, *norm)
            if slot not in best or c.better_than(best[slot]):
                best[slot] = c
    # A dated snapshot id (MMDD code, e.g. grok-4.20-0309-reasoning) next to its alias at the same
    # price on the same provider and region is a duplicate of the alias: keep the alias only.
    out = []
    for (provider, region, creator, name), c in sorted(best.items(), key=lambda kv: str(kv[0])):
        alias = None
        for m in _MMDD.finditer(name):
            alias = alias or best.get((provider, region, creator, name[: m.start()] + name[m.end() :]))
        if alias is not None and prices(alias)[:2] == prices(c)[:2]:
            continue
        # A preview next to the GA model on the same provider and region is superseded.
        if name.endswith("-preview") and (provider, region, creator, name[: -len("-preview")]) in best:
            continue
        out.append((c, creator, name))
    return out


def build_deployment(
    c: Candidate, creator: str, name: str, aa: ArtificialAnalysis, md: ModelsDev, orr: OpenRouter
) -> dict[str, Any] | None:
    r = Record(c, creator, name)
    fill_identity(r)
    fill_litellm(r, md, orr)
    fill_model_facts(r, aa, md, orr)
    # Current = not released before RECENT_SINCE. A model no dated source knows is newer than the
    # models.dev / OpenRouter / AA snapshots (litellm 1.110.2 is the newest file), so it stays.
    if r["release_date"] is not None and r["release_date"] < RECENT_SINCE:
        return None
    return r.finish()


def _host_current(d: dict[str, Any], md: ModelsDev, curated: set[str]) -> bool:
    """litellm keeps every model a third-party host ever priced. One is current when models.dev's
    listing for that host (2026-07-02) has it, or it was released after that snapshot, or no dated
    source knows it (newer than all of them) and a first-party API or hyperscaler also serves it."""
    creator, name = d["model"].split("/", 1)
    if md.for_deployment(d["provider"], d["upstream_model"], creator, name) is not None:
        return True
    if d["release_date"] is None:
        return d["model"] in curated
    return bool(d["release_date"] >= MODELS_DEV_SNAPSHOT)


def build_document(src: Sources) -> dict[str, Any]:
    aa = ArtificialAnalysis(src.aa_rows)
    md = ModelsDev(src.models_dev)
    orr = OpenRouter(src.openrouter)
    deployments = []
    for c, creator, name in select(src):
        d = build_deployment(c, creator, name, aa, md, orr)
        if d is not None:
            deployments.append(d)
    fill_context_windows(deployments, src.litellm)
    curated = {d["model"] for d in deployments if d["provider"] not in HOSTS}
    deployments = [d for d in deployments if d["provider"] not in HOSTS or _host_current(d, md, curated)]
    deployments.sort(key=lambda d: d["id"])
    return {"schema": SCHEMA, "built_from": src.built_from(), "bench": BENCH, "deployments": deployments}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
