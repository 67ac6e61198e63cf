"""litellm keys -> serving provider, region and upstream model id; plus the skip rules.

Only `mode: chat` entries of the serving providers listed in PROVIDERS are read. Everything that is
not a general chat model (fine-tunes, audio, image, search, guard models, moving `-latest` aliases,
priority/fast tiers, experiments) is skipped by EXCLUDE so the catalog stays tidy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from catalog_build.naming import BEDROCK_PROFILES, split_org
from catalog_build.vertex_locations import VERTEX_LOCATIONS, region_source

# litellm_provider -> our serving-provider name.
PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "groq": "groq",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "deepinfra": "deepinfra",
    "cerebras": "cerebras",
    "moonshot": "moonshot",
    "zai": "zai",
    "dashscope": "alibaba",
    "cohere_chat": "cohere",
    "perplexity": "perplexity",
    "ai21": "ai21",
    "minimax": "minimax",
    "sambanova": "sambanova",
    "nebius": "nebius",
    "novita": "novita",
    "hyperbolic": "hyperbolic",
    "baseten": "baseten",
    "azure": "azure",
    "azure_ai": "azure",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
}

# Keys of these providers look like "<prefix>/<upstream id>".
_PREFIXED = {
    "gemini": "gemini/",
    "mistral": "mistral/",
    "deepseek": "deepseek/",
    "xai": "xai/",
    "groq": "groq/",
    "together": "together_ai/",
    "deepinfra": "deepinfra/",
    "cerebras": "cerebras/",
    "moonshot": "moonshot/",
    "zai": "zai/",
    "alibaba": "dashscope/",
    "fireworks": "fireworks_ai/",
    "perplexity": "perplexity/",
    "minimax": "minimax/",
    "sambanova": "sambanova/",
    "nebius": "nebius/",
    "novita": "novita/",
    "hyperbolic": "hyperbolic/",
    "baseten": "baseten/",
}

AZURE_ZONES = {"eu": "eu", "us": "us", "apac": "apac", "us-gov": "us-gov", "global": "global"}
AZURE_ZONES["global-standard"] = "global"
AWS_REGION = re.compile(r"(us|eu|ap|ca|sa|me|af|il|mx)(-gov)?-[a-z]+-\d")

# Substrings / patterns of upstream ids that are not general chat models, or are moving aliases,
# experiments or paid speed tiers of a model listed separately.
EXCLUDE = re.compile(
    r"ft:|embed|tts|audio|realtime|transcri|whisper|image|lyria|robotics|deep-research|search"
    r"|computer-use|guard|content-safety|ocr|customtools|cyber|container|model.router|latest"
    r"|experimental|-exp\b|exp-|beta|voxtral|pegasus|omni|rosalind|-law$|daybreak|vibe-cli|mistral-code"
    r"|fim|labs-|contributor|lightning|highspeed|deep-think|codestral-mamba|learnlm|medlm|distill"
    r"|gv2|vision-exp|-chat$|-spot$|ultrafast|draft|-hf$|-long$|-base\b|-rope$"
)
# "-fast" ids are paid speed tiers of a model listed separately, except xAI's Grok "fast" models.
_FAST_TIER = re.compile(r"-fast(-us)?$")
# Bare family aliases that move to whatever the vendor ships next.
MOVING_ALIASES = frozenset(
    {
        "mistral-medium",
        "mistral-small",
        "mistral-tiny",
        "mistral-large",
        "deepseek-flash",
        "deepseek-chat",
        "deepseek-reasoner",
        "deepseek-coder",
        "grok-code-fast",
        "gemini-gemma-2-27b-it",
        "gemini-gemma-2-9b-it",
        "jamba-1.5",  # AI21's bare 1.5 id: which size it serves is not stated (-large/-mini are listed)
    }
)


@dataclass(frozen=True)
class Candidate:
    key: str  # the litellm key
    entry: dict[str, Any]
    provider: str
    upstream: str  # what the provider API expects
    region: str | None
    region_note: str | None  # how the region was read from the key / entry
    rank: int  # de-duplication preference: lower wins
    region_source: str | None = None  # cited source of the region when it is not read from litellm
    uplift: float | None = None  # litellm regional_endpoint_uplift_multiplier applied to the prices

    def better_than(self, other: Candidate) -> bool:
        """De-duplication: lower rank, then the shorter id (an alias beats a dated snapshot), then the
        key that sorts last (for two snapshots of equal length, the later date)."""
        mine, theirs = (self.rank, len(self.upstream)), (other.rank, len(other.upstream))
        return mine < theirs if mine != theirs else self.key > other.key


def _bedrock(key: str, entry: dict[str, Any]) -> list[Candidate]:
    rest, region, note = key, None, None
    if rest.startswith("bedrock/"):
        rest = rest[len("bedrock/") :]
        head, sep, tail = rest.partition("/")
        if sep:
            if not AWS_REGION.fullmatch(head) or "/" in tail:
                return []  # commitment tiers, bedrock/invoke/, bedrock/claude_platform/, wildcards
            region, note, rest = head, f"AWS region in key path {head}/", tail
    body = rest
    head = rest.split(".", 1)[0]
    if head in BEDROCK_PROFILES and "." in rest:
        if region is not None:
            return []
        region, note, body = head, f"cross-region inference profile prefix {head}.", rest[len(head) + 1 :]
    if split_org(body, "bedrock")[0] is None:
        return []  # no vendor segment: not a callable Bedrock model id
    # litellm also lists "anthropic.claude-haiku-4-5@20251001"-style aliases; the API id has no "@".
    return [Candidate(key, entry, "bedrock", rest, region, note, 1 if "@" in rest else 0)]


def _vertex(key: str, entry: dict[str, Any]) -> list[Candidate]:
    if key.startswith("vertex_ai/"):
        upstream, rank = key[len("vertex_ai/") :], 0
    elif "/" not in key:
        upstream, rank = key, 1
    else:
        return []
    regions = entry.get("supported_regions")
    if not regions:
        found = [Candidate(key, entry, "vertex", upstream, None, None, rank)]
    else:
        found = [
            Candidate(key, entry, "vertex", upstream, r, "supported_regions", rank)
            for r in sorted(set(regions))
        ]
    # Regional / multi-region deployments from the cited location table (vertex_locations.py), priced
    # at the key's prices x its regional_endpoint_uplift_multiplier (a regional endpoint costs more).
    listing = VERTEX_LOCATIONS.get(key)
    if listing is not None and not regions:
        uplift = entry.get("regional_endpoint_uplift_multiplier")
        uplift = uplift if isinstance(uplift, int | float) and not isinstance(uplift, bool) else None
        for loc in sorted(listing.locations):
            src = region_source(key, loc)
            found.append(Candidate(key, entry, "vertex", upstream, loc, None, rank, src, uplift))
    return found


def _azure(key: str, entry: dict[str, Any], lp: str) -> list[Candidate]:
    prefix = lp + "/"
    if not key.startswith(prefix):
        return []
    rest = key[len(prefix) :]
    head, sep, tail = rest.partition("/")
    if not sep:
        return [Candidate(key, entry, "azure", rest, None, None, 0 if lp == "azure" else 1)]
    if lp == "azure" and head in AZURE_ZONES and "/" not in tail:
        zone = AZURE_ZONES[head]
        note = f"Azure deployment type in key path {head}/"
        return [Candidate(key, entry, "azure", tail, zone, note, 0)]
    return []


def parse_key(key: str, entry: dict[str, Any]) -> list[Candidate]:
    """Candidates (usually one) for a litellm entry; [] when the entry is not used.

    GovCloud / Azure Government entries (us-gov) are left out: those partitions need separate
    government accounts and endpoints that a commercial deployment of the gateway cannot call.
    """
    return [c for c in _parse(key, entry) if not (c.region or "").startswith("us-gov")]


def _parse(key: str, entry: dict[str, Any]) -> list[Candidate]:
    if not isinstance(entry, dict) or entry.get("mode") != "chat":
        return []
    lp = str(entry.get("litellm_provider"))
    if lp.startswith("vertex_ai"):
        found = _vertex(key, entry)
    elif lp not in PROVIDERS:
        return []
    elif PROVIDERS[lp] == "bedrock":
        found = _bedrock(key, entry)
    elif PROVIDERS[lp] == "azure":
        found = _azure(key, entry, lp)
    else:
        provider = PROVIDERS[lp]
        prefix = _PREFIXED.get(provider)
        if prefix and key.startswith(prefix):
            upstream, rank = key[len(prefix) :], 0
        elif provider in ("openai", "anthropic", "cohere", "deepseek", "ai21") and "/" not in key:
            upstream, rank = key, 1 if provider == "deepseek" else 0
        else:
            return []
        if provider == "perplexity" and not upstream.startswith("sonar"):
            return []
        region, note = None, None
        if provider == "fireworks":
            if not upstream.startswith("accounts/"):
                rank = 1
            if upstream.endswith("-us"):
                region, note = "us", "model id suffix -us"
        found = [Candidate(key, entry, provider, upstream, region, note, rank)]
    return [c for c in found if not excluded(c.upstream)]


def excluded(upstream: str) -> bool:
    low = upstream.lower()
    name = low.rsplit("/", 1)[-1]
    if _FAST_TIER.search(name) and not name.startswith("grok"):
        return True
    return bool(EXCLUDE.search(low)) or name in MOVING_ALIASES
