"""OpenRouter's request shape: the body's `provider` preferences and `models` list, as sigma-pol rules.

Each preference becomes a rule with an id `or:*` that the receipt shows with `source: "openrouter"`, so
what the caller asked for is visible and enforced. A preference this gateway cannot honour (no throughput
or latency data in the catalog, no quantization field, no per-request ordering yet) is a 400 naming it —
never accepted and silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unhardcoded.errors import RequestError

SOURCE = "openrouter"
# OpenRouter's provider slugs (and display names, lower-cased) -> this catalog's provider names.
PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google-vertex": "vertex",
    "google vertex": "vertex",
    "google-ai-studio": "gemini",
    "google ai studio": "gemini",
    "amazon-bedrock": "bedrock",
    "amazon bedrock": "bedrock",
    "azure": "azure",
    "together": "together",
    "fireworks": "fireworks",
    "deepinfra": "deepinfra",
    "groq": "groq",
    "cerebras": "cerebras",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "cohere": "cohere",
    "moonshotai": "moonshot",
    "alibaba": "alibaba",
    "z-ai": "zai",
    "perplexity": "perplexity",
    "ai21": "ai21",
    "minimax": "minimax",
    "nebius": "nebius",
    "novita": "novita",
    "baseten": "baseten",
}
KEYS = (
    "order",
    "only",
    "ignore",
    "allow_fallbacks",
    "sort",
    "max_price",
    "data_collection",
    "zdr",
    "require_parameters",
    "quantizations",
)
_REFUSED = {
    "order": "per-request provider ordering is not supported yet; use provider.only to restrict, or a "
    "stored policy whose rank keys say the order",
    "require_parameters": "this gateway does not verify every parameter against each provider (unsupported "
    "ones are dropped with a warning on the receipt, or refused by the adapter)",
    "quantizations": "the catalog has no quantization field",
}


def _providers(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RequestError(f"{path}: expected a non-empty array of provider names", path=path)
    out = []
    for i, name in enumerate(value):
        ours = PROVIDERS.get(name.lower()) if isinstance(name, str) else None
        if ours is None:
            raise RequestError(
                f"{path}[{i}]: unknown provider {name!r}", path=f"{path}[{i}]", choices=sorted(PROVIDERS)
            )
        out.append(ours)
    return sorted(set(out))


def _models(models: Any) -> list[dict[str, Any]]:
    if models is None:
        return []
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise RequestError("models: expected a non-empty array of model ids", path="models")
    if len(models) > 1:
        raise RequestError(
            "models: a list of more than one model needs per-request ordering, which is not supported"
            " yet; send one model, or a policy with rules and rank keys",
            path="models",
        )
    return [{"id": "or:models", "field": "model", "op": "in", "value": list(models)}]


def _check_keys(p: Mapping[str, Any]) -> None:
    for key in p:
        if key not in KEYS:
            raise RequestError(
                f"provider.{key}: not a provider preference", path=f"provider.{key}", choices=list(KEYS)
            )
        if key in _REFUSED and p[key] not in (None, False, []):
            raise RequestError(f"provider.{key}: {_REFUSED[key]}", path=f"provider.{key}")


def _max_price(max_price: Any) -> list[dict[str, Any]]:
    if max_price is None:
        return []
    if not isinstance(max_price, dict):
        raise RequestError(
            "provider.max_price: expected {prompt, completion} in USD per million tokens",
            path="provider.max_price",
        )
    rules = []
    for k, v in max_price.items():
        field = {"prompt": "price_input_per_mtok", "completion": "price_output_per_mtok"}.get(k)
        path = f"provider.max_price.{k}"
        if field is None:
            raise RequestError(
                f"{path}: the catalog prices only prompt and completion tokens",
                path=path,
                choices=["prompt", "completion"],
            )
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise RequestError(f"{path}: expected a number >= 0", path=path)
        rules.append({"id": f"or:max-price-{k}", "field": field, "op": "<=", "value": v})
    return rules


def _retention(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    dc = p.get("data_collection")
    if dc is not None and dc not in ("allow", "deny"):
        raise RequestError(
            "provider.data_collection: expected allow or deny",
            path="provider.data_collection",
            choices=["allow", "deny"],
        )
    if dc != "deny" and p.get("zdr") is not True:
        return []
    rid = "or:zdr" if p.get("zdr") is True else "or:data-collection"
    return [{"id": rid, "field": "data_retention", "op": "==", "value": "none", "missing": "reject"}]


def translate(provider: Any, models: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rules, other policy keys) for the body's `provider` object and `models` array. Raises RequestError."""
    rules = _models(models)
    extra: dict[str, Any] = {}
    if provider is None:
        return rules, extra
    if not isinstance(provider, dict):
        raise RequestError("provider: expected an object of provider preferences", path="provider")
    p = provider
    _check_keys(p)
    if p.get("only") is not None:
        only = _providers(p["only"], "provider.only")
        rules.append({"id": "or:only", "field": "provider", "op": "in", "value": only})
    if p.get("ignore") is not None:
        ignored = _providers(p["ignore"], "provider.ignore")
        rules.append({"id": "or:ignore", "field": "provider", "op": "not_in", "value": ignored})
    sort = p.get("sort")
    if sort is not None:
        if sort != "price":
            raise RequestError(
                f"provider.sort: {sort!r} needs throughput or latency data the catalog does not have",
                path="provider.sort",
                choices=["price"],
            )
        extra["rank"] = [{"by": "est_cost_usd", "order": "asc"}]
    rules += _max_price(p.get("max_price"))
    rules += _retention(p)
    allow = p.get("allow_fallbacks")
    if allow is not None and not isinstance(allow, bool):
        raise RequestError(
            "provider.allow_fallbacks: expected true or false", path="provider.allow_fallbacks"
        )
    if allow is False:
        extra["select"] = {"max_candidates": 1}
    return rules, extra
