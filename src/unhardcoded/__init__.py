"""unhardcoded: a runtime LLM policy layer.

The public API, importable from the package root (each name is loaded on first use, so `import
unhardcoded` stays cheap):

- configuration: `Settings`, `load_settings`, `parse_settings`
- the catalog: `Catalog`, `Deployment`, `build_catalog`
- policies and decisions (pure): `Policy`, `parse_policy`, `Decision`, `decide`, `RequestFeatures`,
  `features_from_body`
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
    "Policy": "unhardcoded.policy.model",
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
    "Gateway",
    "NoRouteError",
    "Policies",
    "Policy",
    "PolicyError",
    "ProviderError",
    "ReceiptStore",
    "Reply",
    "RequestError",
    "RequestFeatures",
    "Settings",
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
    from unhardcoded.policy.model import Policy
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
