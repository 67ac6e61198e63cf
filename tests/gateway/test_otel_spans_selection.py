"""The receipt -> span plan tests (tests/otel/test_spans.py: pure data, no SDK, no network, under a second),
collected here as well so that `make mutation`'s gateway selection (`tests/gateway` only) reaches
`gateway/otel/spans.py`. Nothing new is tested here; see docs/mutation.md.
"""

from __future__ import annotations

from tests.otel.conftest import make_receipt
from tests.otel.test_spans import *  # noqa: F403

__all__ = ["make_receipt"]  # the fixture the span tests take
