"""The LiteLLM reference table shipped for `unhardcoded import litellm`.

A LiteLLM proxy looks every model up in its own price map, so a converted config needs the same facts
for models that are not in the bundled catalog (older ones, Azure deployment names with a base model).
This is every `mode: chat` entry of the saved litellm file, reduced to what a deployment needs, each
value keyed by the litellm key it came from (the importer cites `litellm:<key>`).
"""

from __future__ import annotations

import json
from typing import Any

from catalog_build.fields import per_mtok, positive_int
from catalog_build.sources import LITELLM, Sources, sha256_file

SCHEMA = "unhardcoded-litellm-reference/v1"
_FLAGS = {
    "tools": "supports_function_calling",
    "vision": "supports_vision",
    "json_schema": "supports_response_schema",
    "reasoning": "supports_reasoning",
}


def _entry(e: dict[str, Any]) -> dict[str, Any]:
    caps = sorted(cap for cap, flag in _FLAGS.items() if e.get(flag) is True)
    # Same rule as the catalog: chat models stream unless litellm says they do not.
    if e.get("supports_native_streaming") is not False:
        caps = sorted([*caps, "streaming"])
    out = {
        "litellm_provider": e.get("litellm_provider"),
        "price_input_per_mtok": per_mtok(e.get("input_cost_per_token")),
        "price_output_per_mtok": per_mtok(e.get("output_cost_per_token")),
        "price_cached_input_per_mtok": per_mtok(e.get("cache_read_input_token_cost")),
        "context_window": positive_int(e.get("max_input_tokens")),
        "max_output_tokens": positive_int(e.get("max_output_tokens")),
        "capabilities": caps,
    }
    return {k: v for k, v in out.items() if v is not None}


def build_table(src: Sources) -> dict[str, Any]:
    models = {
        key: _entry(e)
        for key, e in sorted(src.litellm.items())
        if isinstance(e, dict) and e.get("mode") == "chat"
    }
    return {
        "schema": SCHEMA,
        "source": LITELLM,
        "sha256": sha256_file(src.root / LITELLM),
        "license": "MIT",
        "models": models,
    }


def render_table(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
