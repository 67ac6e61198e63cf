"""models.dev and OpenRouter indexes: capability fallbacks, release dates, open weights, currentness."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from catalog_build.naming import BEDROCK_PROFILES, normalize, normalize_openrouter
from catalog_build.sources import MdModel

# Our serving provider -> models.dev provider dirs describing the same API.
MD_DIRS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "gemini": ("google",),
    "vertex": ("google-vertex", "google-vertex-anthropic"),
    "bedrock": ("amazon-bedrock",),
    "azure": ("azure",),
    "mistral": ("mistral",),
    "deepseek": ("deepseek",),
    "xai": ("xai",),
    "groq": ("groq",),
    "together": ("togetherai",),
    "fireworks": ("fireworks-ai",),
    "deepinfra": ("deepinfra",),
    "cerebras": ("cerebras",),
    "moonshot": ("moonshotai",),
    "zai": ("zai",),
    "alibaba": ("alibaba",),
    "cohere": ("cohere",),
}
_OUR_PROVIDER = {d: p for p, dirs in MD_DIRS.items() for d in dirs}
# The lab's own models.dev entry, preferred for model-level facts (release date, open weights).
CREATOR_MD = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "alibaba": "alibaba",
    "moonshot": "moonshotai",
    "zai": "zai",
    "minimax": "minimax",
    "cohere": "cohere",
    "meta": "llama",
    "amazon": "amazon-bedrock",
}
# Serving provider that is the creator's own API: OpenRouter's flags may stand in for it.
FIRST_PARTY = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "alibaba": "alibaba",
    "moonshot": "moonshot",
    "zai": "zai",
    "cohere": "cohere",
}


def _strip_profile(model_id: str) -> str:
    head, sep, rest = model_id.partition(".")
    return rest if sep and head in BEDROCK_PROFILES else model_id


class ModelsDev:
    def __init__(self, models: list[MdModel]) -> None:
        self.by_id: dict[tuple[str, str], MdModel] = {}
        self.by_provider_name: dict[tuple[str, str, str], list[MdModel]] = defaultdict(list)
        self.by_name: dict[tuple[str, str], list[MdModel]] = defaultdict(list)
        for m in models:
            self.by_id[(m.provider, m.model_id)] = m
            ours = _OUR_PROVIDER.get(m.provider, "openrouter")
            mid = _strip_profile(m.model_id) if ours == "bedrock" else m.model_id
            norm = normalize(mid, ours)
            if norm is None:
                continue
            self.by_provider_name[(m.provider, *norm)].append(m)
            self.by_name[norm].append(m)

    def for_deployment(self, provider: str, upstream: str, creator: str, name: str) -> MdModel | None:
        """The models.dev entry for this provider's listing of the model, if any."""
        for d in MD_DIRS.get(provider, ()):
            for mid in (upstream, _strip_profile(upstream), upstream + "@default"):
                if (d, mid) in self.by_id:
                    return self.by_id[(d, mid)]
        for d in MD_DIRS.get(provider, ()):
            found = self.by_provider_name.get((d, creator, name))
            if found:
                return found[0]
        return None

    def model_fact(self, creator: str, name: str, provider: str, key: str) -> tuple[Any, str | None]:
        """A model-level fact: the lab's own entry first, then this provider's, then any other."""
        own_dirs = MD_DIRS.get(provider, ())

        def order(m: MdModel) -> tuple[int, str, str]:
            rank = 0 if m.provider == CREATOR_MD.get(creator) else 1 if m.provider in own_dirs else 2
            return (rank, m.provider, m.model_id)

        for m in sorted(self.by_name.get((creator, name), []), key=order):
            value, src = m.get(key)
            if value is not None:
                return value, src
        return None, None

    def listed(self, creator: str, name: str) -> bool:
        return (creator, name) in self.by_name


class OpenRouter:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_name: dict[tuple[str, str], dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: (len(r["id"]), r["id"])):
            norm = normalize_openrouter(row["id"])
            if norm is not None and norm not in self.by_name:
                self.by_name[norm] = row

    def get(self, creator: str, name: str) -> dict[str, Any] | None:
        return self.by_name.get((creator, name))

    @staticmethod
    def created_date(row: dict[str, Any]) -> str | None:
        ts = row.get("created")
        if not isinstance(ts, int | float) or ts <= 0:
            return None
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")

    @staticmethod
    def capabilities(row: dict[str, Any]) -> dict[str, bool]:
        params = set(row.get("supported_parameters") or [])
        modalities = (row.get("architecture") or {}).get("input_modalities") or []
        return {
            "tools": "tools" in params,
            "vision": "image" in modalities,
            "json_schema": bool(params & {"structured_outputs", "response_format"}),
            "reasoning": bool(params & {"reasoning", "include_reasoning"}),
        }
