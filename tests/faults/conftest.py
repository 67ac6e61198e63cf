from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.faults.harness import FaultHarness


@pytest.fixture
def fh(tmp_path: Path) -> Iterator[FaultHarness]:
    h = FaultHarness.start_faulty(tmp_path)
    yield h
    h.stop()


def sdk(h: FaultHarness) -> openai.OpenAI:
    """One SDK client per harness, closed with it (an unclosed one leaves sockets to the GC)."""
    if h.client is None:
        h.client = openai.OpenAI(base_url=h.url + "/v1", api_key="unused", max_retries=0, timeout=20)
    return h.client
