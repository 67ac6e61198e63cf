"""Adapter registry: kind → adapter instance, from the built-in modules and `unhardcoded.adapters` plugins.

Built-ins load by module path, lazily, so a built-in module that is not installed is skipped rather than
breaking the import. Each adapter module exposes `ADAPTER`, an instance. Nothing here is cached.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from unhardcoded.errors import ConfigError
from unhardcoded.providers.base import Adapter

ENTRY_POINT_GROUP = "unhardcoded.adapters"
BUILTIN_MODULES: tuple[tuple[str, str], ...] = (
    ("openai", "unhardcoded.providers.openai_compat"),
    ("anthropic", "unhardcoded.providers.anthropic"),
    ("gemini", "unhardcoded.providers.gemini"),
    ("vertex", "unhardcoded.providers.vertex"),
    ("bedrock", "unhardcoded.providers.bedrock"),
)
_METHODS = ("build_request", "request_warnings", "parse_response", "parse_error", "stream_translator")


def builtin_adapters() -> dict[str, Adapter]:
    """The built-in adapters whose modules are present, keyed by kind."""
    adapters: dict[str, Adapter] = {}
    for kind, module_name in BUILTIN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but one of its own imports is missing
                raise
            continue
        adapter = _check(getattr(module, "ADAPTER", None), module_name)
        if adapter.kind != kind:
            raise ConfigError(f"{module_name}.ADAPTER has kind {adapter.kind!r}, expected {kind!r}")
        adapters[kind] = adapter
    return adapters


def load_adapters(include_plugins: bool = True) -> dict[str, Adapter]:
    """Built-ins plus adapters from the `unhardcoded.adapters` entry points (an instance, or a class
    called with no arguments). A plugin may add a kind but not replace one already loaded."""
    adapters = builtin_adapters()
    if not include_plugins:
        return adapters
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        source = f"entry point {ep.name!r} ({ep.value})"
        adapter = _check(obj() if isinstance(obj, type) else obj, source)
        if adapter.kind in adapters:
            raise ConfigError(f"{source} declares kind {adapter.kind!r}, which is already registered")
        adapters[adapter.kind] = adapter
    return adapters


def _check(obj: Any, source: str) -> Adapter:
    kind = getattr(obj, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{source} does not provide an adapter with a string `kind`")
    missing = [name for name in _METHODS if not callable(getattr(obj, name, None))]
    if missing:
        raise ConfigError(f"{source} is not an adapter: missing {', '.join(missing)}")
    adapter: Adapter = obj
    return adapter
