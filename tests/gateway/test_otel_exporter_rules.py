"""The OTLP exporter's own rules (gateway/otel/exporter.py) that tests/otel leaves open: the headers
variable's parsing and its refusal in words, what the log says about a receipt it cannot export, and a
flush's answer. Written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is part of the dev install")

from unhardcoded.config import OtelConfig
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.otel import OtelExporter
from unhardcoded.gateway.otel.exporter import parse_headers


def test_empty_items_are_skipped_and_the_rest_kept() -> None:
    assert parse_headers("a=1,, ,B=2,", source="H") == {"a": "1", "b": "2"}


def test_a_value_may_hold_equals_signs() -> None:
    assert parse_headers("authorization=Basic dXNlcjpwYXNz==", source="H") == {
        "authorization": "Basic dXNlcjpwYXNz=="
    }


def test_a_bad_item_is_named_by_its_position_never_its_value() -> None:
    with pytest.raises(ConfigError) as e:
        parse_headers("a=1,secret-token-value", source="OTEL_HEADERS")
    assert e.value.message == (
        "otel.headers_env: $OTEL_HEADERS item 2 is not `name=value` "
        "(expected name=value[,name2=value2], values percent-encoded)"
    )
    assert e.value.path == "otel.headers_env"


async def test_a_receipt_that_cannot_become_spans_is_logged_by_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = OtelExporter(OtelConfig(endpoint="http://127.0.0.1:9"), {}, close_timeout_s=0.5)
    try:
        with caplog.at_level(logging.DEBUG, logger="unhardcoded.otel"):
            exporter.export({"request_id": "req-odd", "status": "ok"}, {})  # no trace id, no times
            exporter.export({"request_id": "req-odd-2", "status": "ok"}, {})
        said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "unhardcoded.otel"]
        assert said == [
            (logging.WARNING, "receipt 'req-odd' not exported as spans: KeyError('trace_id')"),
            (logging.DEBUG, "receipt 'req-odd-2' not exported as spans: KeyError('trace_id')"),
        ]
        assert exporter.stats().invalid == 2
        assert exporter.flush() is True  # nothing queued: flushed at once
    finally:
        await exporter.close()
