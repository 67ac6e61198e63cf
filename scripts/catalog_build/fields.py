"""Per-deployment field values, each recorded together with its source string."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from catalog_build.bench import ArtificialAnalysis
from catalog_build.keys import Candidate
from catalog_build.lookups import FIRST_PARTY, ModelsDev, OpenRouter
from catalog_build.regions import residency
from catalog_build.sources import AA_SNAPSHOT

FIELDS = (
    "id",
    "provider",
    "model",
    "creator",
    "upstream_model",
    "region",
    "geography",
    "endpoint_region",
    "price_input_per_mtok",
    "price_output_per_mtok",
    "price_cached_input_per_mtok",
    "context_window",
    "max_output_tokens",
    "capabilities",
    "data_retention",
    "release_date",
    "deprecation_date",
    "open_weights",
    "bench_intelligence",
    "sources",
)
STREAMING_ASSUMPTION = "assumption:streaming assumed for chat models"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LITELLM_FLAGS = {
    "tools": "supports_function_calling",
    "vision": "supports_vision",
    "json_schema": "supports_response_schema",
    "reasoning": "supports_reasoning",
}
_MD_FLAGS = {"tools": "tool_call", "json_schema": "structured_output", "reasoning": "reasoning"}


def per_mtok(cost: Any, multiplier: float | None = None) -> float | None:
    """USD per token -> USD per 1M tokens, exact in decimal (2.5e-06 -> 2.5; x 1.1 -> 2.75)."""
    if cost is None or isinstance(cost, bool) or not isinstance(cost, int | float):
        return None
    value = Decimal(repr(cost)) * 1_000_000
    if multiplier is not None:
        value *= Decimal(repr(multiplier))
    return float(value)


def positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)


def date_str(value: Any) -> str | None:
    """YYYY-MM-DD from a string or a TOML date; None otherwise."""
    text = value.isoformat() if hasattr(value, "isoformat") else value
    return text if isinstance(text, str) and _DATE.fullmatch(text) else None


def prices(c: Candidate) -> tuple[float | None, float | None, float | None, str]:
    """(input, output, cached input) per 1M tokens, standard tier, first price tier; and the source.

    A Vertex regional / multi-region deployment (Candidate.uplift) costs the key's prices times the key's
    regional_endpoint_uplift_multiplier; the source then names both."""
    e = c.entry
    src = f"litellm:{c.key}"
    if e.get("input_cost_per_token") is None and e.get("output_cost_per_token") is None:
        tiers = e.get("tiered_pricing")
        if isinstance(tiers, list) and tiers and isinstance(tiers[0], dict):
            e, src = tiers[0], f"litellm:{c.key} (tiered_pricing[0])"
    if c.uplift is not None:
        src += f" x litellm:{c.key}.regional_endpoint_uplift_multiplier ({c.uplift!r})"
    return (
        per_mtok(e.get("input_cost_per_token"), c.uplift),
        per_mtok(e.get("output_cost_per_token"), c.uplift),
        per_mtok(e.get("cache_read_input_token_cost"), c.uplift),
        src,
    )


class Record:
    """A deployment under construction: values plus the source of every non-null one."""

    def __init__(self, c: Candidate, creator: str, name: str) -> None:
        self.c, self.creator, self.name = c, creator, name
        self.lsrc = f"litellm:{c.key}"
        self.values: dict[str, Any] = dict.fromkeys(FIELDS)
        self.sources: dict[str, str] = {}

    def set(self, field: str, value: Any, source: str | None) -> None:
        if value is not None and source is not None:
            self.values[field], self.sources[field] = value, source

    def __getitem__(self, field: str) -> Any:
        return self.values[field]

    def finish(self) -> dict[str, Any]:
        self.values["sources"] = dict(sorted(self.sources.items()))
        return self.values


def fill_identity(r: Record) -> None:
    c = r.c
    ident = (c.provider if c.provider == r.creator else f"{c.provider}/{r.creator}") + f"/{r.name}"
    r.values.update(
        id=ident + (f"@{c.region}" if c.region else ""),
        provider=c.provider,
        model=f"{r.creator}/{r.name}",
        creator=r.creator,
    )
    r.set("upstream_model", c.upstream, r.lsrc)
    if c.region:
        region_src = c.region_source or f"{r.lsrc} ({c.region_note})"
        r.set("region", c.region, region_src)
        geo, geo_src, endpoint, endpoint_src = residency(c.provider, c.region)
        r.set("geography", geo, geo_src)
        r.set("endpoint_region", endpoint, endpoint_src or region_src)


def fill_litellm(r: Record, md: ModelsDev, orr: OpenRouter) -> None:
    e = r.c.entry
    pin, pout, pcached, psrc = prices(r.c)
    if pin == 0 or pout == 0:
        # litellm lists $0 but this provider's models.dev entry has a positive price: the sources
        # disagree, so the price is left unknown rather than advertised as free.
        listing = md.for_deployment(r.c.provider, r.c.upstream, r.creator, r.name)
        md_cost = listing.get("cost.input")[0] if listing else None
        if isinstance(md_cost, int | float) and md_cost > 0:
            pin = pout = pcached = None
    r.set("price_input_per_mtok", pin, psrc)
    r.set("price_output_per_mtok", pout, psrc)
    r.set("price_cached_input_per_mtok", pcached, psrc)
    r.set("context_window", positive_int(e.get("max_input_tokens")), r.lsrc)
    r.set("max_output_tokens", positive_int(e.get("max_output_tokens")), r.lsrc)
    r.set("deprecation_date", date_str(e.get("deprecation_date")), r.lsrc)
    caps, caps_src = capabilities(r, md, orr)
    r.set("capabilities", caps, caps_src)


def capabilities(r: Record, md: ModelsDev, orr: OpenRouter) -> tuple[list[str], str]:
    """litellm flags, then this provider's models.dev entry, then OpenRouter (first-party APIs only)."""
    c, e = r.c, r.c.entry
    md_entry = md.for_deployment(c.provider, c.upstream, r.creator, r.name)
    or_row = orr.get(r.creator, r.name) if FIRST_PARTY.get(r.creator) == c.provider else None
    or_caps = OpenRouter.capabilities(or_row) if or_row else {}
    caps: list[str] = []
    fallbacks: dict[str, list[str]] = {}
    for cap in ("json_schema", "reasoning", "tools", "vision"):
        value = e.get(_LITELLM_FLAGS[cap])
        if value is None and cap == "vision" and isinstance(e.get("supported_modalities"), list):
            value = "image" in e["supported_modalities"]
        if value is None and md_entry is not None:
            if cap == "vision":
                mods, src = md_entry.get("modalities.input")
                value = ("image" in mods) if isinstance(mods, list) else None
            else:
                value, src = md_entry.get(_MD_FLAGS[cap])
            if value is True:
                fallbacks.setdefault(f"models.dev:{src}", []).append(cap)
        if value is None and or_row is not None:
            value = or_caps[cap]
            if value:
                fallbacks.setdefault(f"openrouter:{or_row['id']}", []).append(cap)
        if value is True:
            caps.append(cap)
    parts = [r.lsrc] + [f"{src} ({', '.join(cs)})" for src, cs in sorted(fallbacks.items())]
    stream = e.get("supports_native_streaming")
    if stream is None:
        caps.append("streaming")
        parts.append(STREAMING_ASSUMPTION)
    elif stream:
        caps.append("streaming")
    return sorted(caps), "; ".join(parts)


def fill_model_facts(r: Record, aa: ArtificialAnalysis, md: ModelsDev, orr: OpenRouter) -> None:
    """bench_intelligence: AA. release_date: AA, models.dev, OpenRouter. open_weights: AA, models.dev."""
    match = aa.match(r.creator, r.name)
    if match is not None:
        if match.score is not None:
            r.set("bench_intelligence", match.score, f"aa:{match.score_slug}@{AA_SNAPSHOT}")
        fact_src = f"aa:{match.fact_slug}@{AA_SNAPSHOT}"
        r.set("release_date", date_str(match.fact_row.get("release_date")), fact_src)
        weights = (match.fact_row.get("open_weights") or {}).get("is_open_weights")
        r.set("open_weights", weights if isinstance(weights, bool) else None, fact_src)
    if r["release_date"] is None:
        value, src = md.model_fact(r.creator, r.name, r.c.provider, "release_date")
        r.set("release_date", date_str(value), f"models.dev:{src}")
    if r["release_date"] is None:
        row = orr.get(r.creator, r.name)
        if row is not None:
            r.set("release_date", OpenRouter.created_date(row), f"openrouter:{row['id']}")
    if r["open_weights"] is None:
        value, src = md.model_fact(r.creator, r.name, r.c.provider, "open_weights")
        r.set("open_weights", value if isinstance(value, bool) else None, f"models.dev:{src}")
