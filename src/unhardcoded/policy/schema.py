"""The published JSON Schema (draft 2020-12) of sigma-pol/v1, shipped as package data. Pure.

The schema checks a policy's shape: keys, types, enumerations and bounds. What it cannot know (which fields
exist, with custom ones, and which ops fit each) the parser checks, and names the valid choices.
"""

from __future__ import annotations

import copy
import importlib.resources
from functools import cache
from typing import Any

import orjson


@cache
def _load() -> dict[str, Any]:
    data = importlib.resources.files("unhardcoded.policy").joinpath("schema.json").read_bytes()
    doc: dict[str, Any] = orjson.loads(data)
    return doc


def policy_schema() -> dict[str, Any]:
    """The sigma-pol/v1 JSON Schema, as a fresh dict the caller may change."""
    return copy.deepcopy(_load())
