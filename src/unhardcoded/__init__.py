"""unhardcoded: a runtime LLM policy layer.

The public API, importable from the package root (each name is loaded on first use, so `import
unhardcoded` stays cheap):

- configuration: `Settings`, `load_settings`, `parse_settings`
- the catalog: `Catalog`, `Deployment`, `build_catalog`
- the Python helper (typed, for applications): `Policy`, `Rule`, `Rank`, `Select`, `Fallback`, `Limits`
  build a policy (`Policy(...).as_extra_body()` for the OpenAI SDK); `Receipts` reads a gateway's
  receipts, traces, roll-ups and replays as `Receipt`, `Trace`, ...; its errors are `GatewayError`
- policies and decisions (pure): `parse_policy` (-> the canonical policy), `Decision`, `decide`,
  `RequestFeatures`, `features_from_body`
- the gateway: `Gateway`, `build_gateway`, `Policies`, `ChatRequest`, `Reply`, `serve`
- receipts: `ReceiptStore`, `open_store`
- errors: `UnhardcodedError`, `UserError`, `PolicyError`, `ConfigError`, `RequestError`, `CallFailed`,
  `NoRouteError`, `UpstreamFailed`, `ProviderError`
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "Settings": "unhardcoded.config",
    "load_settings": "unhardcoded.config",
    "parse_settings": "unhardcoded.config",
    "Catalog": "unhardcoded.catalog.model",
    "Deployment": "unhardcoded.catalog.model",
    "build_catalog": "unhardcoded.catalog.load",
    "Policy": "unhardcoded.client.policy",
    "Rule": "unhardcoded.client.policy",
    "Rank": "unhardcoded.client.policy",
    "Select": "unhardcoded.client.policy",
    "Fallback": "unhardcoded.client.policy",
    "Limits": "unhardcoded.client.policy",
    "Receipts": "unhardcoded.client.receipts",
    "GatewayError": "unhardcoded.client.receipts",
    "Receipt": "unhardcoded.client.records",
    "Trace": "unhardcoded.client.records",
    "parse_policy": "unhardcoded.policy.parse",
    "Decision": "unhardcoded.policy.decision",
    "decide": "unhardcoded.policy.engine",
    "RequestFeatures": "unhardcoded.policy.request",
    "features_from_body": "unhardcoded.policy.request",
    "Gateway": "unhardcoded.gateway.service",
    "Reply": "unhardcoded.gateway.call",
    "Policies": "unhardcoded.gateway.policies",
    "ChatRequest": "unhardcoded.gateway.request",
    "build_gateway": "unhardcoded.http.server",
    "serve": "unhardcoded.http.server",
    "ReceiptStore": "unhardcoded.store.base",
    "open_store": "unhardcoded.store",
    "UnhardcodedError": "unhardcoded.errors",
    "UserError": "unhardcoded.errors",
    "PolicyError": "unhardcoded.errors",
    "ConfigError": "unhardcoded.errors",
    "RequestError": "unhardcoded.errors",
    "CallFailed": "unhardcoded.errors",
    "NoRouteError": "unhardcoded.errors",
    "UpstreamFailed": "unhardcoded.errors",
    "ProviderError": "unhardcoded.errors",
}

__all__ = [
    "CallFailed",
    "Catalog",
    "ChatRequest",
    "ConfigError",
    "Decision",
    "Deployment",
    "Fallback",
    "Gateway",
    "GatewayError",
    "Limits",
    "NoRouteError",
    "Policies",
    "Policy",
    "PolicyError",
    "ProviderError",
    "Rank",
    "Receipt",
    "ReceiptStore",
    "Receipts",
    "Reply",
    "RequestError",
    "RequestFeatures",
    "Rule",
    "Select",
    "Settings",
    "Trace",
    "UnhardcodedError",
    "UpstreamFailed",
    "UserError",
    "__version__",
    "build_catalog",
    "build_gateway",
    "decide",
    "features_from_body",
    "load_settings",
    "open_store",
    "parse_policy",
    "parse_settings",
    "serve",
]

if TYPE_CHECKING:
    from unhardcoded.catalog.load import build_catalog
    from unhardcoded.catalog.model import Catalog, Deployment
    from unhardcoded.client.policy import Fallback, Limits, Policy, Rank, Rule, Select
    from unhardcoded.client.receipts import GatewayError, Receipts
    from unhardcoded.client.records import Receipt, Trace
    from unhardcoded.config import Settings, load_settings, parse_settings
    from unhardcoded.errors import (
        CallFailed,
        ConfigError,
        NoRouteError,
        PolicyError,
        ProviderError,
        RequestError,
        UnhardcodedError,
        UpstreamFailed,
        UserError,
    )
    from unhardcoded.gateway.call import Reply
    from unhardcoded.gateway.policies import Policies
    from unhardcoded.gateway.request import ChatRequest
    from unhardcoded.gateway.service import Gateway
    from unhardcoded.http.server import build_gateway, serve
    from unhardcoded.policy.decision import Decision
    from unhardcoded.policy.engine import decide
    from unhardcoded.policy.parse import parse_policy
    from unhardcoded.policy.request import RequestFeatures, features_from_body
    from unhardcoded.store import open_store
    from unhardcoded.store.base import ReceiptStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unhardcoded' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
