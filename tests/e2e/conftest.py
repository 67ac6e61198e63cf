from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path)
    yield h
    h.stop()


@pytest.fixture
def client(harness: Harness) -> openai.OpenAI:
    # The gateway needs no key of its own; the SDK insists on one.
    return openai.OpenAI(base_url=harness.url + "/v1", api_key="unused", max_retries=0, timeout=20)
