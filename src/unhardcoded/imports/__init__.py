"""Importers: other gateways' configs turned into ours (providers, catalog overlay, policies)."""

from __future__ import annotations

from unhardcoded.imports.litellm import Conversion, convert_litellm
from unhardcoded.imports.render import render_yaml

__all__ = ["Conversion", "convert_litellm", "render_yaml"]
