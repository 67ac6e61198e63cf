"""Settings from the YAML config file (pydantic at the edge), read once; and the built-in provider table."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unhardcoded.errors import ConfigError


class ProviderConfig(BaseModel):
    """How to reach one provider. Keys are never in the file: only the name of the variable holding them."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "anthropic", "gemini", "vertex", "bedrock"] = "openai"
    base_url: str | None = None
    base_url_env: str | None = None  # read the base URL from this variable (Azure resource endpoints)
    api_key_env: str | None = None
    timeout_s: float = 60.0  # total budget of one attempt
    connect_timeout_s: float = 5.0
    first_byte_timeout_s: float = 30.0  # from sending the request to the first byte of the answer
    idle_timeout_s: float = 30.0  # between two chunks of a stream
    api_version: str | None = None  # Azure OpenAI
    azure: bool = False
    project: str | None = None  # Vertex
    project_env: str | None = None
    credentials_env: str | None = None  # Vertex: the variable naming a service-account JSON file
    token_uri: str | None = None  # Vertex: override the OAuth token endpoint (tests, private endpoints)
    simulated: bool = False  # a local fake: receipts say so

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.api_version:
            out["api_version"] = self.api_version
        if self.azure:
            out["azure"] = True
        project = self.project or (os.environ.get(self.project_env) if self.project_env else None)
        if project:
            out["project"] = project
        return out

    def resolved_base_url(self) -> str | None:
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.base_url_env and os.environ.get(self.base_url_env):
            return os.environ[self.base_url_env].rstrip("/")
        return None


def _p(kind: str, base_url: str | None, key_env: str | None, **kw: Any) -> ProviderConfig:
    return ProviderConfig(kind=kind, base_url=base_url, api_key_env=key_env, **kw)  # type: ignore[arg-type]


def builtin_providers() -> dict[str, ProviderConfig]:
    """The providers of the bundled catalog, with their public endpoints and the usual key variables."""
    return {
        "openai": _p("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        "anthropic": _p("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
        "gemini": _p("gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"),
        "mistral": _p("openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
        "deepseek": _p("openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        "xai": _p("openai", "https://api.x.ai/v1", "XAI_API_KEY"),
        "groq": _p("openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        "together": _p("openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        "fireworks": _p("openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        "deepinfra": _p("openai", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"),
        "cerebras": _p("openai", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
        "moonshot": _p("openai", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
        "zai": _p("openai", "https://api.z.ai/api/paas/v4", "ZAI_API_KEY"),
        "alibaba": _p(
            "openai", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"
        ),
        "cohere": _p("openai", "https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY"),
        "openrouter": _p("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        "perplexity": _p("openai", "https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
        "ai21": _p("openai", "https://api.ai21.com/studio/v1", "AI21_API_KEY"),
        "minimax": _p("openai", "https://api.minimax.io/v1", "MINIMAX_API_KEY"),
        "sambanova": _p("openai", "https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY"),
        "nebius": _p("openai", "https://api.studio.nebius.com/v1", "NEBIUS_API_KEY"),
        "novita": _p("openai", "https://api.novita.ai/v3/openai", "NOVITA_API_KEY"),
        "hyperbolic": _p("openai", "https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_KEY"),
        "baseten": _p("openai", "https://inference.baseten.co/v1", "BASETEN_API_KEY"),
        "nvidia": _p("openai", "https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY"),
        "azure": _p(
            "openai",
            None,
            "AZURE_OPENAI_API_KEY",
            base_url_env="AZURE_OPENAI_ENDPOINT",
            azure=True,
            api_version="2024-10-21",
        ),
        "bedrock": _p("bedrock", None, None),
        "vertex": _p(
            "vertex",
            None,
            None,
            credentials_env="GOOGLE_APPLICATION_CREDENTIALS",
            project_env="GOOGLE_CLOUD_PROJECT",
        ),
    }


class CatalogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundled: bool = True
    fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    deployments: list[dict[str, Any]] = Field(default_factory=list)


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = 5  # consecutive failures that open the circuit
    open_s: float = 30.0  # how long it stays open before a half-open probe


class GatewayKey(BaseModel):
    """One gateway key, stored as its digest only (`unhardcoded keys add` prints the key once)."""

    model_config = ConfigDict(extra="forbid")

    hash: str
    tenant: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    scope: Literal["client", "admin"] = "client"
    name: str | None = None


class AuthConfig(BaseModel):
    """Gateway keys. With none configured the gateway listens on loopback only and everyone is admin."""

    model_config = ConfigDict(extra="forbid")

    keys: list[GatewayKey] = Field(default_factory=list)
    keys_file: str | None = (
        None  # more keys, in the file `unhardcoded keys add` writes (relative: to the cwd)
    )
    pepper_env: str | None = None  # a variable holding the HMAC key for the digests


class BudgetConfig(BaseModel):
    """A spend cap: per workload and/or tenant, per UTC day or month, in USD (SPEC §2 `on_budget`)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    usd: float = Field(gt=0)
    period: Literal["day", "month"] = "day"
    workload: str | None = None  # None: every workload
    tenant: str | None = None  # None: every tenant


class OtelConfig(BaseModel):
    """Export receipts as OpenTelemetry spans over OTLP/HTTP (needs the `otel` extra)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str  # the collector: http://host:4318 (/v1/traces is appended) or the full traces URL
    headers_env: str | None = None  # a variable holding `name=value,name2=value2`: tokens stay out of files
    service_name: str = "unhardcoded"

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_url(cls, v: str) -> str:
        u = urlsplit(v.strip())
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"must be an http:// or https:// URL of an OTLP/HTTP collector, got {v!r}")
        if u.query or u.fragment:
            raise ValueError(f"must not carry a query or fragment, got {v!r}")
        return v.strip()

    @field_validator("headers_env")
    @classmethod
    def _is_a_variable_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError(f"must name an environment variable (letters, digits, _), got {v!r}")
        return v

    @field_validator("service_name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()


class CheckpointConfig(BaseModel):
    """Signed checkpoints of the receipt chain (gateway/checkpoints.py): one per tenant once `every` new
    receipts are chained, or once `every_s` seconds passed since its last one with new receipts."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(default=1000, ge=1)
    every_s: float = Field(default=60.0, gt=0)
    # The Ed25519 key (`unhardcoded keys signing --new`): a PEM file, else a variable holding the PEM or
    # the base64 of its seed. Neither set: no checkpoints are signed.
    signing_key_file: str | None = None
    signing_key_env: str | None = "UNHARDCODED_SIGNING_KEY"


class Settings(BaseModel):
    """The whole config file (`unhardcoded.yaml`): providers, catalog overlay, policies, store, durability."""

    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    default_policy: str | None = None  # the named policy used for `model: "auto"` without a policy
    aliases: dict[str, str] = Field(default_factory=dict)  # `model: NAME` -> a policy (e.g. LiteLLM groups)
    default_baseline: str | None = "openai/gpt-4.1"
    default_output_tokens: int = 512
    store: str = "sqlite:///./unhardcoded.db"
    durability: Literal["strict", "fast"] = "strict"
    max_body_bytes: int = Field(default=32 * 1024**2, ge=1024)  # a larger request body is a 413, unread
    call_timeout_s: float = 120.0  # the total budget of one call, fallbacks included
    # A `started` receipt older than call_timeout_s + this is a lost call, recorded `incomplete` (sweeper.py)
    sweep_grace_s: float = Field(default=60.0, ge=0)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    store_prompts: bool = False
    budgets: list[BudgetConfig] = Field(default_factory=list)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    otel: OtelConfig | None = None  # OpenTelemetry export of receipts; off unless configured
    checkpoints: CheckpointConfig = Field(default_factory=CheckpointConfig)

    def all_providers(self) -> dict[str, ProviderConfig]:
        """Built-in providers overridden (field by field) by the config's."""
        merged = builtin_providers()
        for name, p in self.providers.items():
            if name in merged:
                base = merged[name].model_dump()
                base.update(p.model_dump(exclude_unset=True))
                merged[name] = ProviderConfig(**base)
            else:
                merged[name] = p
        return merged


def load_settings(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read the config: `path`, else $UNHARDCODED_CONFIG, else ./unhardcoded.yaml, else defaults."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get("UNHARDCODED_CONFIG") or (
            "unhardcoded.yaml" if Path("unhardcoded.yaml").exists() else None
        )
    if path is None:
        return Settings()
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config {p} is not valid YAML: {e}") from None
    return parse_settings(doc, source=str(p))


def parse_settings(doc: Any, *, source: str = "config") -> Settings:
    """Validate a config document (a mapping, as read from YAML); ConfigError names the bad key."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: the config must be a mapping")
    try:
        return Settings(**doc)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{source}: {loc}: {first['msg']}", path=loc) from None
