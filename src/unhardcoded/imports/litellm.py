"""Convert a LiteLLM proxy config into ours: providers, catalog overlay, one policy per model group.

Pure: a parsed YAML document and the bundled catalog in, a `Conversion` out (no files, no network).
A LiteLLM model group becomes a policy named after it that pins the group's deployments and then its
fallback groups', in LiteLLM's order, so `model: "policy:GROUP"` keeps the routing and gains a receipt.
Everything without an equivalent is listed in `not_converted`; nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from unhardcoded.catalog.model import Catalog, Deployment
from unhardcoded.errors import ConfigError
from unhardcoded.imports.litellm_providers import ProviderSpec, Resolved, resolve, slug
from unhardcoded.imports.reference import FACT_FIELDS, Reference

ORDER_FIELD_PREFIX = "litellm_order_"
CITE = "imported from the LiteLLM config"
# litellm_params that become part of the deployment or its provider (everything else is listed).
_MAPPED_PARAMS = frozenset(
    {
        "model",
        "api_key",
        "api_base",
        "api_version",
        "aws_region_name",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_profile_name",
        "vertex_project",
        "vertex_location",
        "vertex_credentials",
        "input_cost_per_token",
        "output_cost_per_token",
        "timeout",
        "base_model",
    }
)
_NOT_CHAT_MODES = frozenset(
    {"embedding", "image_generation", "audio_transcription", "audio_speech", "rerank"}
)
_GEOGRAPHY = (
    (r"^(eu|europe)", "eu"),
    (r"^(us|northamerica)", "us"),
    (r"^(ap-northeast-1|asia-northeast1)$", "jp"),
    (r"^(ap-south|asia-south)", "in"),
    (r"^(ap-southeast-2|australia)", "au"),
    (r"^(ap|asia)", "apac"),
    (r"^global$", "global"),
)


@dataclass(slots=True)
class Conversion:
    """Our config document, the attempt order of each policy, and what could not be carried over."""

    config: dict[str, Any]
    chains: dict[str, list[str]]  # policy name -> deployment ids, in the order they are tried
    not_converted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # converted, but approximately: read these


@dataclass(slots=True)
class _State:
    catalog: Catalog
    reference: Reference
    out: Conversion
    providers: dict[ProviderSpec, str] = field(default_factory=dict)
    provider_timeouts: dict[str, float] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    model_ids: dict[str, str] = field(default_factory=dict)  # LiteLLM model_info.id -> our deployment id


def convert_litellm(doc: Any, *, catalog: Catalog, reference: Reference) -> Conversion:
    """Our config for a LiteLLM proxy config (`model_list`, `router_settings`, `litellm_settings`, ...)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("model_list"), list):
        raise ConfigError("a LiteLLM proxy config is a mapping with a `model_list` list", path="model_list")
    st = _State(catalog, reference, Conversion({}, {}))
    for i, entry in enumerate(doc["model_list"]):
        _deployment(st, i, entry)
    router = _mapping(doc.get("router_settings"))
    module = _mapping(doc.get("litellm_settings"))
    chains = _chains(st, router, module)
    _policies(st, chains, router)
    _settings(st, router, module)
    for key in doc:
        if key not in ("model_list", "router_settings", "litellm_settings"):
            st.out.not_converted.append(f"{key}: no equivalent ({_what(key)})")
    st.out.config = _document(st)
    st.out.not_converted = list(dict.fromkeys(st.out.not_converted))
    st.out.notes = list(dict.fromkeys(st.out.notes))
    return st.out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _what(key: str) -> str:
    return {
        "general_settings": "proxy server settings; a literal master_key is never copied",
        "environment_variables": "values are never copied into our config: set them in the environment",
    }.get(key, "not read by the importer")


def _deployment(st: _State, i: int, entry: Any) -> None:
    where = f"model_list[{i}]"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("model_name"), str):
        st.out.not_converted.append(f"{where}: not a mapping with a model_name")
        return
    group = entry["model_name"]
    where = f"{where} ({group})"
    params = _mapping(entry.get("litellm_params"))
    info = _mapping(entry.get("model_info"))
    if info.get("mode") in _NOT_CHAT_MODES:
        st.out.not_converted.append(f"{where}: mode {info['mode']}: only chat deployments are routed here")
        return
    if group == "*" or "*" in group:
        st.out.not_converted.append(f"{where}: wildcard group: a pinned call accepts any catalog model id")
        return
    found = resolve(params, st.reference.provider_of)
    if isinstance(found, str):
        st.out.not_converted.append(f"{where}: {found}")
        return
    for name in sorted(set(params) - _MAPPED_PARAMS):
        st.out.not_converted.append(f"{where}: litellm_params.{name} ({_param_why(name)})")
    for name in sorted(set(entry) - {"model_name", "litellm_params", "model_info"}):
        st.out.not_converted.append(f"{where}: {name} ({_param_why(name)})")
    for name in sorted(set(info) - {"mode", "base_model", "id"}):
        st.out.not_converted.append(f"{where}: model_info.{name} (no equivalent)")
    st.out.not_converted.extend(f"{where}: {d}" for d in found.dropped)
    provider = _provider_name(st, found.spec)
    timeout = params.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        st.provider_timeouts[provider] = max(st.provider_timeouts.get(provider, 0.0), float(timeout))
    dep_id = _place(st, where, provider, found, params, info)
    if dep_id is None:
        return
    if isinstance(info.get("id"), str | int):
        st.model_ids[str(info["id"])] = dep_id
    members = st.groups.setdefault(group, [])
    if dep_id in members:
        st.out.notes.append(
            f"{where}: same provider, model and region as an earlier deployment of {group!r}"
            f" (LiteLLM balanced them, e.g. over two keys): kept once as {dep_id}"
        )
    else:
        members.append(dep_id)


def _param_why(name: str) -> str:
    return {
        "rpm": "no request-rate limiting here: LiteLLM used it to weight load balancing",
        "tpm": "no token-rate limiting here: LiteLLM used it to weight load balancing",
        "max_retries": "we do not retry one deployment: fallback moves to the next",
        "stream_timeout": "timeouts are per provider here: first_byte_timeout_s is the nearest",
        "mock_timeout": "testing switch",
        "temperature": "request parameters are the caller's",
        "max_tokens": "request parameters are the caller's",
        "seed": "request parameters are the caller's",
    }.get(name, "no equivalent here")


def _provider_name(st: _State, spec: ProviderSpec) -> str:
    name = st.providers.get(spec)
    if name is not None:
        return name
    taken = set(st.providers.values())
    options = spec.suggested_names()
    free = [n for n in options if n not in taken]
    name, n = (free[0] if free else options[-1]), 2
    while name in taken:
        name, n = f"{options[-1]}-{n}", n + 1
    st.providers[spec] = name
    return name


def _place(
    st: _State,
    where: str,
    provider: str,
    found: Resolved,
    params: Mapping[str, Any],
    info: Mapping[str, Any],
) -> str | None:
    """Our deployment id for it: a bundled deployment reused where one matches, else a new overlay entry."""
    same = [
        d
        for d in st.catalog
        if d.provider == provider and d.upstream_model == found.upstream and _region_of(d) == found.region
    ]
    prices = _prices(params, info)
    if same and provider == found.spec.builtin:
        dep_id = same[0].id
        rec = st.deployments.setdefault(dep_id, {"id": dep_id})
        rec.update(prices)
        if prices:
            rec.setdefault("sources", {}).update({k: CITE for k in prices})
        return dep_id
    facts, cite = _facts(st, found, info)
    model = facts.pop("model", None) or f"{provider}/{found.upstream}"
    creator, _, name = model.partition("/")
    base_id = f"{provider}/{name}" if creator == provider else f"{provider}/{model}"
    dep_id = base_id + (f"@{found.region}" if found.region else "")
    rec = {
        "id": dep_id,
        "provider": provider,
        "model": model,
        "upstream_model": found.upstream,
        **facts,
        **prices,
    }
    if found.region:
        rec.update(region=found.region, endpoint_region=found.region, geography=_geography(found.region))
    # Every value cites where it came from: the LiteLLM config, or LiteLLM's model data for the facts.
    rec["sources"] = {k: (str(cite) if k in facts and cite else CITE) for k in rec if k != "id"}
    if dep_id in st.deployments and st.deployments[dep_id] != rec:
        st.out.notes.append(f"{where}: {dep_id} appears twice with different values; the first is kept")
        return dep_id
    st.deployments[dep_id] = rec
    if cite:
        st.out.notes.append(f"{dep_id}: {cite}")
    if rec.get("context_window") is None:
        st.out.notes.append(
            f"{dep_id}: no context window in the config, the catalog or LiteLLM's map: req:context-fits"
            " rejects it until you set context_window"
        )
    return dep_id


def _region_of(d: Deployment) -> str | None:
    return d.endpoint_region or d.get("region")


def _facts(st: _State, found: Resolved, info: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Model family, prices, context window and capabilities: the bundled catalog, else LiteLLM's map."""
    base = next((b for b in (info.get("base_model"), found.base_model) if isinstance(b, str)), None)
    names = [n for n in (found.upstream, base) if n]
    ranked = sorted(
        (d for d in st.catalog if d.upstream_model in names),
        key=lambda d: (d.provider != found.spec.builtin, d.get("region") is not None, d.id),
    )
    if ranked:
        d = ranked[0]
        facts = {
            f: d.get(f) for f in (*FACT_FIELDS, "model", "creator", "bench_intelligence", "release_date")
        }
        return {k: v for k, v in facts.items() if v is not None}, f"values copied from bundled {d.id}"
    keys = [*found.lookup_keys, *([f"azure/{base}", base] if base else [])]
    hit = st.reference.lookup(*keys)
    if hit is None:
        return {}, None
    key, entry = hit
    facts = {f: entry[f] for f in FACT_FIELDS if entry.get(f) is not None}
    return facts, f"values from {st.reference.source}, key {key!r}"


def _prices(params: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for src, dst in (
        ("input_cost_per_token", "price_input_per_mtok"),
        ("output_cost_per_token", "price_output_per_mtok"),
    ):
        value = params.get(src, info.get(src))
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[dst] = float(Decimal(repr(value)) * 1_000_000)
    return out


def _geography(region: str) -> str | None:
    for pattern, geo in _GEOGRAPHY:
        if re.match(pattern, region):
            return geo
    return None


def _pairs(value: Any) -> Iterable[tuple[str, list[str]]]:
    """LiteLLM's `[{"group": ["fallback", ...]}, ...]`."""
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Mapping):
            for k, v in item.items():
                targets = v if isinstance(v, list) else [v]
                yield str(k), [str(t) for t in targets if isinstance(t, str | int)]


def _chains(st: _State, router: Mapping[str, Any], module: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per group: its deployments, then each fallback group's (or model id's), LiteLLM's order."""
    settings = {**module, **router}  # router_settings win, as in LiteLLM's Router
    chains = {g: list(ids) for g, ids in st.groups.items()}
    regular = dict(_pairs(settings.get("fallbacks")))
    window = dict(_pairs(settings.get("context_window_fallbacks")))
    default = settings.get("default_fallbacks")
    defaults = [str(x) for x in default] if isinstance(default, list) else []
    for group in chains:
        targets = regular.get(group, defaults)
        for target in [*targets, *window.get(group, [])]:
            ids = st.groups.get(target) or ([st.model_ids[target]] if target in st.model_ids else None)
            if ids is None:
                st.out.not_converted.append(f"fallbacks: {group!r} -> {target!r}: no such converted group")
                continue
            chains[group] += [i for i in ids if i not in chains[group]]
    for source, pairs in (("fallbacks", regular), ("context_window_fallbacks", window)):
        for group in pairs:
            if group not in chains:
                st.out.not_converted.append(f"{source}: {group!r} is not a converted group")
    if window:
        st.out.notes.append(
            "context_window_fallbacks: appended after the regular fallbacks; req:context-fits skips a"
            " deployment whose context window is too small before calling it, so a long prompt goes"
            " straight to the larger one (they also serve on other errors)"
        )
    if settings.get("content_policy_fallbacks"):
        st.out.not_converted.append(
            "content_policy_fallbacks: a content-policy refusal is not a fallback class here"
        )
    return chains


def _policies(st: _State, chains: dict[str, list[str]], router: Mapping[str, Any]) -> None:
    fields: set[str] = set()
    for group, chain in chains.items():
        if not chain:
            continue
        order = _order_field(group, fields)
        fields.add(order)
        for pos, dep_id in enumerate(chain, start=1):
            st.deployments.setdefault(dep_id, {"id": dep_id})[order] = pos
        n = min(len(chain), 50)
        st.out.chains[group] = chain[:n]
        policy = {
            "workload": group,
            "rules": [{"id": "litellm-group", "field": "id", "op": "in", "value": chain[:n]}],
            "rank": [{"by": order, "order": "asc"}],
            "select": {"max_candidates": n},
            "fallback": {"max_attempts": n},
        }
        st.out.config.setdefault("policies", {})[group] = policy
    aliases = _mapping(router.get("model_group_alias"))
    for alias, target in aliases.items():
        name = target.get("model") if isinstance(target, Mapping) else target
        policy = st.out.config.get("policies", {}).get(name)
        if policy is None:
            st.out.not_converted.append(f"model_group_alias: {alias!r} -> {name!r}: no such converted group")
            continue
        st.out.config["policies"][str(alias)] = policy
        st.out.chains[str(alias)] = st.out.chains[str(name)]


def _order_field(group: str, taken: set[str]) -> str:
    base = ORDER_FIELD_PREFIX + slug(group).replace("-", "_")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _settings(st: _State, router: Mapping[str, Any], module: Mapping[str, Any]) -> None:
    handled = {"fallbacks", "context_window_fallbacks", "default_fallbacks", "model_group_alias"}
    settings = {**module, **router}
    timeout = settings.get("timeout", settings.get("request_timeout"))
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        for name in st.providers.values():
            st.provider_timeouts.setdefault(name, float(timeout))
        handled |= {"timeout", "request_timeout"}
    breaker: dict[str, Any] = {}
    if isinstance(settings.get("allowed_fails"), int) and settings["allowed_fails"] > 0:
        breaker["failures"] = settings["allowed_fails"]
        handled.add("allowed_fails")
    if isinstance(settings.get("cooldown_time"), int | float) and settings["cooldown_time"] > 0:
        breaker["open_s"] = float(settings["cooldown_time"])
        handled.add("cooldown_time")
    if breaker:
        st.out.config["breaker"] = breaker
    why = {
        "routing_strategy": "a policy tries its deployments in the listed order, it does not balance load",
        "num_retries": "we do not retry one deployment: fallback moves to the next",
        "enable_pre_call_checks": "req:context-fits always checks the context window before a call",
        "drop_params": "unsupported parameters are not dropped silently here",
        "content_policy_fallbacks": "listed above",
    }
    for section, values in (("router_settings", router), ("litellm_settings", module)):
        for key in values:
            if key not in handled and not (section == "litellm_settings" and key in router):
                st.out.not_converted.append(f"{section}.{key}: {why.get(key, 'no equivalent')}")


def _document(st: _State) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    for spec, name in st.providers.items():
        cfg = spec.to_config()
        if name in st.provider_timeouts:
            cfg["timeout_s"] = st.provider_timeouts[name]
        providers[name] = cfg
    order_fields = sorted(
        {k for rec in st.deployments.values() for k in rec if k.startswith(ORDER_FIELD_PREFIX)}
    )
    doc: dict[str, Any] = {"providers": providers}
    doc["catalog"] = {
        "fields": {
            f: {"type": "number", "unit": "position", "description": f"LiteLLM attempt order ({CITE})"}
            for f in order_fields
        },
        "deployments": list(st.deployments.values()),
    }
    doc["policies"] = st.out.config.get("policies", {})
    # `model: GROUP` keeps working as it did under LiteLLM: each group (and alias) names its policy.
    doc["aliases"] = {name: name for name in doc["policies"]}
    if "breaker" in st.out.config:
        doc["breaker"] = st.out.config["breaker"]
    return doc
