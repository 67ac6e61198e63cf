"""The OTLP export tests (tests/otel/test_export.py: the exporter over a real OTLP/HTTP receiver on
127.0.0.1, a few seconds) and the otel config tests (tests/otel/test_config.py), collected here as well so
that `make mutation`'s gateway selection (`tests/gateway` only) reaches `gateway/otel/exporter.py` and
`gateway/otel/pipeline.py`. Nothing new is tested here; see docs/mutation.md.
"""

from __future__ import annotations

from tests.otel.conftest import make_receipt, receiver
from tests.otel.test_config import *  # noqa: F403
from tests.otel.test_export import *  # noqa: F403

__all__ = ["make_receipt", "receiver"]  # the fixtures the tests take
