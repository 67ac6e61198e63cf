"""Every adapter takes the body as the HTTP edge leaves it: a read-only Mapping it must never mutate, gateway
fields already removed. One rich body, every built-in adapter (and both Vertex publishers)."""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from tests.providers.conftest import TEST_CREDENTIALS
from unhardcoded.providers.base import Adapter, Target
from unhardcoded.providers.registry import builtin_adapters

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather now",
        "parameters": {
            "type": "object",
            "properties": {"city": {"$ref": "#/$defs/city"}},
            "required": ["city"],
            "additionalProperties": False,
            "$defs": {"city": {"type": "string", "format": "city-name"}},
        },
    },
}
BODY: dict[str, Any] = {
    "model": "auto",
    "messages": [
        {
            "role": "system",
            "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        },
        {
            "role": "assistant",
            "content": "Looking  ",
            "tool_calls": [
                {
                    "id": "call.1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call.1", "content": '{"temp": 3}'},
        {"role": "system", "content": "Late system note."},
        {"role": "assistant", "content": "Prefill "},
    ],
    "tools": [WEATHER],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
    "temperature": 1.5,
    "stop": ["END"],
    "max_tokens": 64,
    "stream_options": {"include_usage": False},
    "seed": 3,
    "user": "u-1",
    "logit_bias": {"50256": -100},
    "some_future_parameter": {"nested": [1, 2]},
}


def _target(kind: str, model: str = "model-x") -> Target:
    options: dict[str, Any] = {"project": "p"} if kind == "vertex" else {}
    region = "eu-central-1" if kind == "bedrock" else "europe-west4" if kind == "vertex" else None
    return Target(f"{kind}/{model}", kind, kind, model, "", region, options)


TARGETS = [
    *[pytest.param(kind, _target(kind), id=kind) for kind in ("openai", "anthropic", "gemini", "bedrock")],
    pytest.param("vertex", _target("vertex", "gemini-2.5-flash"), id="vertex-gemini"),
    pytest.param("vertex", _target("vertex", "claude-sonnet-4-5"), id="vertex-claude"),
]


def _adapter(kind: str) -> Adapter:
    return builtin_adapters()[kind]


@pytest.mark.parametrize(("kind", "target"), TARGETS)
def test_read_only_body_builds_and_stays_unchanged(kind: str, target: Target) -> None:
    adapter = _adapter(kind)
    before = copy.deepcopy(BODY)
    body = MappingProxyType(copy.deepcopy(BODY))
    for stream in (False, True):
        call = adapter.build_request(body, target, TEST_CREDENTIALS, stream=stream)
        assert orjson.loads(call.body), call
    warnings = adapter.request_warnings(body, target)
    assert body == before  # nested lists and dicts too: the proxy guards only the top level
    assert warnings == adapter.request_warnings(MappingProxyType(copy.deepcopy(BODY)), target)


@pytest.mark.parametrize(("kind", "target"), TARGETS)
def test_unknown_parameters_warn_alike_everywhere(kind: str, target: Target) -> None:
    """One rule for every translating adapter (Bedrock's copy had drifted); the pass-through warns nothing."""
    body = MappingProxyType({"messages": [{"role": "user", "content": "hi"}], "some_future_parameter": 1})
    warnings = list(_adapter(kind).request_warnings(body, target))
    if kind == "openai":
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith("some_future_parameter has no ")
        assert warnings[0].endswith(" equivalent; dropped")
    unset = {"messages": [{"role": "user", "content": "hi"}], "seed": None, "logprobs": False, "user": ""}
    assert list(_adapter(kind).request_warnings(MappingProxyType(unset), target)) == []
