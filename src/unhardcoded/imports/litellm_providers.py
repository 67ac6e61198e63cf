"""LiteLLM `litellm_params` -> which of our providers serves the deployment, and how to reach it.

Pure: reads dicts, returns values. Secrets never pass through: `os.environ/VAR` becomes the variable's
name, and a literal key is dropped (and reported by the caller).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from unhardcoded.config import builtin_providers

ENV_PREFIX = "os.environ/"

# LiteLLM's provider prefix (the part before the first `/` of `model`) -> our built-in provider.
PREFIXES: dict[str, str] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex_ai": "vertex",
    "vertex_ai_beta": "vertex",
    "bedrock": "bedrock",
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
    "cohere": "cohere",
    "openrouter": "openrouter",
    "perplexity": "perplexity",
    "ai21": "ai21",
    "ai21_chat": "ai21",
    "sambanova": "sambanova",
    "nebius": "nebius",
    "novita": "novita",
    "hyperbolic": "hyperbolic",
    "baseten": "baseten",
    "minimax": "minimax",
    "nvidia_nim": "nvidia",
}
# OpenAI-compatible servers of the user's own: they need an api_base, and become a provider of their own.
SELF_HOSTED: dict[str, str] = {
    "hosted_vllm": "vllm",
    "lm_studio": "lmstudio",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "llamafile": "llamafile",
}
SELF_HOSTED_DEFAULT_BASE = {"ollama": "http://localhost:11434"}
# litellm_provider values in LiteLLM's price map (for unprefixed model strings) -> our provider.
MAP_PROVIDERS: dict[str, str] = {
    **{k: v for k, v in PREFIXES.items() if k in ("openai", "anthropic", "mistral", "deepseek", "xai")},
    "cohere_chat": "cohere",
    "ai21": "ai21",
    "vertex_ai-language-models": "vertex",
    "vertex_ai-anthropic_models": "vertex",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
}
_SLUG = re.compile(r"[^a-z0-9]+")
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?|v\d+|latest|preview")


def env_var(value: Any) -> str | None:
    """`os.environ/VAR` -> `VAR`; anything else -> None."""
    if isinstance(value, str) and value.strip().startswith(ENV_PREFIX):
        return value.strip()[len(ENV_PREFIX) :] or None
    return None


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "x"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How one deployment is reached; equal specs share one provider entry in the converted config."""

    builtin: str  # the built-in provider it derives from (or the self-hosted kind's name)
    kind: str
    base_url: str | None = None
    base_url_env: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None
    project: str | None = None
    project_env: str | None = None
    credentials_env: str | None = None
    azure: bool = False

    def suggested_names(self) -> list[str]:
        """Names to try, best first: the built-in name when the endpoint is the built-in one, then
        `<builtin>-<host, variable, project or key variable>`."""
        names = [] if self.base_url or self.base_url_env else [self.builtin]
        detail: str | None = None
        if self.base_url:
            detail = _host(self.base_url)
        else:
            detail = self.base_url_env or self.project or self.project_env or self.api_key_env
        if detail:
            names.append(f"{self.builtin}-{slug(detail)}")
        return names or [self.builtin]

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("base_url", "base_url_env", "api_key_env", "api_version", "project", "project_env"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.credentials_env is not None:
            out["credentials_env"] = self.credentials_env
        if self.azure:
            out["azure"] = True
        return out


@dataclass(slots=True)
class Resolved:
    """One LiteLLM deployment's target: provider spec, upstream model id, region; plus what was dropped."""

    spec: ProviderSpec
    upstream: str
    region: str | None
    lookup_keys: list[str]  # keys to try in LiteLLM's price map, best first
    dropped: list[str] = field(default_factory=list)  # params with no equivalent, as "name (why)"
    base_model: str | None = None  # litellm_params.base_model: the model behind an Azure deployment name


def _split(model: str) -> tuple[str | None, str]:
    head, sep, rest = model.partition("/")
    return (head, rest) if sep else (None, model)


def _provider(model: str, provider_of: Any) -> tuple[str, str, bool] | str:
    """(our provider, the upstream part, self-hosted?) for a LiteLLM `model` string, or why not."""
    prefix, rest = _split(model)
    if prefix in PREFIXES:
        return PREFIXES[prefix], rest, False
    if prefix in SELF_HOSTED:
        return SELF_HOSTED[prefix], rest, True
    # Unprefixed (or an unknown first segment): LiteLLM infers the provider from its price map.
    mapped = provider_of(model)
    if mapped is None and prefix is None:
        return f"model {model!r}: no provider prefix, and not a chat model in LiteLLM's map"
    if mapped is None or mapped not in MAP_PROVIDERS:
        why = f"LiteLLM provider {mapped!r}" if mapped else f"provider prefix {prefix!r}"
        return f"model {model!r}: {why} has no equivalent here"
    return MAP_PROVIDERS[mapped], model, False


def resolve(params: Mapping[str, Any], provider_of: Any) -> Resolved | str:
    """The target of one `litellm_params`, or the reason it cannot be converted."""
    model = params.get("model")
    if not isinstance(model, str) or not model.strip():
        return "litellm_params.model is missing"
    model = model.strip()
    if "*" in model:
        return f"wildcard model {model!r}: a pinned call already accepts any catalog model id"
    found = _provider(model, provider_of)
    if isinstance(found, str):
        return found
    builtin, rest, self_hosted = found
    if not rest.strip():
        return f"model {model!r}: no model or deployment name after the provider prefix"
    if builtin == "bedrock":
        rest = re.sub(r"^(converse|invoke)/", "", rest)
    api_key = params.get("api_key")
    key_env = env_var(api_key)
    dropped: list[str] = []
    if api_key is not None and key_env is None:
        dropped.append("api_key (a literal key is never copied: put it in the provider's variable)")
    base = params.get("api_base")
    base_env = env_var(base)
    base_url = base.strip() if isinstance(base, str) and base_env is None else None
    if self_hosted:
        base_url = base_url or SELF_HOSTED_DEFAULT_BASE.get(builtin)
        if base_url is None and base_env is None:
            return f"model {model!r}: a self-hosted server needs an api_base"
        if builtin == "ollama" and base_url and not base_url.rstrip("/").endswith("/v1"):
            base_url = base_url.rstrip("/") + "/v1"  # Ollama's OpenAI-compatible endpoint
        spec = ProviderSpec(builtin, "openai", base_url, base_env, key_env or f"{builtin.upper()}_API_KEY")
        return Resolved(spec, rest, None, [model, rest], dropped)
    b = builtin_providers()[builtin]
    if base_url is not None and b.base_url and base_url.rstrip("/") == b.base_url.rstrip("/"):
        base_url = None
    if key_env is None and api_key is not None and (base_url or base_env):
        # A literal key for an endpoint of the user's own is not the provider's usual key: never send
        # that one there. Name a variable of its own instead.
        where = _host(base_url) if base_url else base_env or ""
        key_env = f"{slug(builtin)}_{slug(where)}_API_KEY".upper().replace("-", "_")
    region, cloud = _cloud(builtin, params, dropped)
    spec = ProviderSpec(
        builtin,
        b.kind,
        base_url,
        base_env,
        key_env or b.api_key_env,
        (_api_version(params, dropped) or b.api_version) if builtin == "azure" else None,
        azure=builtin == "azure",
        **cloud,
    )
    prefix = _split(model)[0]
    keys = [model, rest, f"{prefix}/{rest}" if prefix else rest]
    if builtin == "vertex":
        keys.append(f"vertex_ai/{rest}")
    base_model = params.get("base_model") if isinstance(params.get("base_model"), str) else None
    return Resolved(spec, rest, region, keys, dropped, base_model)


def _cloud(builtin: str, params: Mapping[str, Any], dropped: list[str]) -> tuple[str | None, dict[str, Any]]:
    """Bedrock's region; Vertex's location, project and credentials variable."""
    if builtin == "bedrock":
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile_name"):
            if params.get(name) is not None:
                dropped.append(f"{name} (Bedrock reads the standard AWS variables)")
        return _plain(params.get("aws_region_name"), "aws_region_name", dropped), {}
    if builtin != "vertex":
        return None, {}
    out: dict[str, Any] = {}
    vp = params.get("vertex_project")
    if env_var(vp):
        out["project_env"] = env_var(vp)
    elif isinstance(vp, str):
        out["project"] = vp
    vc = params.get("vertex_credentials")
    # A provider of its own (another project) still reads the usual credentials variable.
    out["credentials_env"] = env_var(vc) or builtin_providers()["vertex"].credentials_env
    if vc is not None and out["credentials_env"] is None:
        dropped.append("vertex_credentials (a file or JSON: point GOOGLE_APPLICATION_CREDENTIALS at it)")
    return _plain(params.get("vertex_location"), "vertex_location", dropped), out


def _api_version(params: Mapping[str, Any], dropped: list[str]) -> str | None:
    value = params.get("api_version")
    version = str(value) if value is not None else None
    if version is not None and not _VERSION.fullmatch(version):
        dropped.append(f"api_version {version!r} is not a version (write the version itself)")
        return None
    return version


def _host(url: str) -> str:
    """The distinctive part of an endpoint's host: its first label, or the whole host for an IP address."""
    host = urlsplit(url).hostname or url
    first = host.split(".")[0]
    return host if first.isdigit() or first == "localhost" else first


def _plain(value: Any, name: str, dropped: list[str]) -> str | None:
    if value is None:
        return None
    if env_var(value) is not None:
        dropped.append(f"{name} from a variable (write the region itself: it is part of the deployment id)")
        return None
    return str(value)
