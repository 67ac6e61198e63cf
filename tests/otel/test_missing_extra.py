"""Without the `otel` extra, configuring OpenTelemetry is a ConfigError at `otel` naming the extra and the
missing module, in process this time (tests/otel/test_config.py checks the same in a fresh interpreter,
where `make mutation`'s mutants, active in the test process only, never run).

Every `opentelemetry` module is hidden from the import system (as on a base install) and the pipeline
module, which imports them, is imported anew; pytest's monkeypatch puts all of it back afterwards.
"""

from __future__ import annotations

import sys

import pytest

import unhardcoded.gateway.otel as otel
from unhardcoded.config import OtelConfig
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.otel.exporter import EXTRA_MISSING


def test_without_the_extra_the_exporter_is_a_config_error_at_otel_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "unhardcoded.gateway.otel.pipeline", raising=False)
    monkeypatch.delattr(otel, "pipeline", raising=False)
    with pytest.raises(ConfigError) as e:
        otel.OtelExporter(OtelConfig(endpoint="http://127.0.0.1:4318"), env={})
    assert e.value.path == "otel"
    assert str(e.value).startswith(f"{EXTRA_MISSING}; missing module: opentelemetry")
    assert "pip install 'unhardcoded[otel]'" in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__  # `from None`: no ImportError chain
