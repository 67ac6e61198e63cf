"""Fixtures for the importer tests: LiteLLM's own example configs (tests/imports/fixtures/), converted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from unhardcoded.catalog.load import build_catalog
from unhardcoded.catalog.model import Catalog
from unhardcoded.imports.litellm import Conversion, convert_litellm
from unhardcoded.imports.reference import Reference

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.yaml"))


@pytest.fixture(scope="session")
def bundled() -> Catalog:
    return build_catalog()


@pytest.fixture(scope="session")
def reference() -> Reference:
    return Reference.bundled()


def load_fixture(name: str) -> Any:
    return yaml.safe_load((FIXTURES / name).read_text())


def convert(name_or_doc: str | dict[str, Any], catalog: Catalog, reference: Reference) -> Conversion:
    doc = load_fixture(name_or_doc) if isinstance(name_or_doc, str) else name_or_doc
    return convert_litellm(doc, catalog=catalog, reference=reference)
