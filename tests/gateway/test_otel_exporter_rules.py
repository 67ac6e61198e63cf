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


class Inner:
    """A span exporter double: answers `results` in turn (an exception is raised)."""

    def __init__(self, *results: object) -> None:
        self.results = list(results)
        self.flushed: list[int] = []
        self.shutdowns = 0

    def export(self, spans: object) -> object:
        r = self.results.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    def force_flush(self, timeout_millis: int = 1) -> bool:
        self.flushed.append(timeout_millis)
        return True

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_the_counting_exporter_counts_every_span_and_never_raises() -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    from unhardcoded.gateway.otel.pipeline import CountingExporter

    ok, bad = SpanExportResult.SUCCESS, SpanExportResult.FAILURE
    inner = Inner(ok, bad, bad, RuntimeError("exporter bug"), ok)
    c = CountingExporter(inner)  # type: ignore[arg-type]
    assert c.export([1, 2]) is ok  # type: ignore[list-item]
    assert c.export([1]) is bad and c.export([1, 2, 3]) is bad  # type: ignore[list-item]
    assert c.export([1]) is bad  # type: ignore[list-item]  # the inner exporter raised
    assert (c.handed, c.exported, c.failed) == (7, 2, 5)
    assert c.force_flush() is True and c.force_flush(250) is True
    assert inner.flushed == [30000, 250]
    c.shutdown()
    c.shutdown()  # once is enough
    assert inner.shutdowns == 1
    assert c.export([1, 2]) is bad and c.export([1]) is bad  # type: ignore[list-item]  # stopped: fail at once
    assert (c.handed, c.exported, c.failed) == (10, 2, 8)
    assert inner.results == [ok]  # never asked again after the shutdown


def test_emitted_spans_carry_their_ids_parents_and_status() -> None:
    import copy
    import random

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanKind, StatusCode

    from tests.otel.conftest import PARENT, RECEIPT, REJECTIONS, SPAN, TRACE
    from unhardcoded.gateway.otel.pipeline import CountingExporter, Pipeline
    from unhardcoded.gateway.otel.spans import plan_spans

    class Capture:
        def __init__(self) -> None:
            self.spans: list[object] = []

        def on_end(self, span: object) -> None:
            self.spans.append(span)

    cap = Capture()
    p = Pipeline(
        cap, CountingExporter(Inner()), Resource.create({}), InstrumentationScope("t"), random.Random(7)
    )  # type: ignore[arg-type]
    plans = plan_spans(copy.deepcopy(RECEIPT), REJECTIONS)
    assert p.emit(plans) == 3
    server, first, second = cap.spans
    assert server.context.trace_id == int(TRACE, 16) and server.context.span_id == int(SPAN, 16)  # type: ignore[attr-defined]
    assert server.parent.span_id == int(PARENT, 16) and server.parent.is_remote is True  # type: ignore[attr-defined]
    assert server.parent.trace_flags.sampled and server.context.trace_flags.sampled  # type: ignore[attr-defined]
    assert server.kind is SpanKind.SERVER and server.status.status_code is StatusCode.UNSET  # type: ignore[attr-defined]
    assert [e.name for e in server.events] == ["unhardcoded.rejection"] * 3  # type: ignore[attr-defined]
    assert {e.timestamp for e in server.events} == {server.start_time}  # type: ignore[attr-defined]
    assert server.context.is_remote is False  # type: ignore[attr-defined]  # our own span
    for client in (first, second):
        assert client.kind is SpanKind.CLIENT  # type: ignore[attr-defined]
        assert client.parent.span_id == int(SPAN, 16) and client.parent.is_remote is False  # type: ignore[attr-defined]
        assert client.parent.trace_flags.sampled  # type: ignore[attr-defined]
        assert client.context.span_id not in (0, int(SPAN, 16))  # type: ignore[attr-defined]
    assert first.status.status_code is StatusCode.ERROR and first.status.description == "server_error"  # type: ignore[attr-defined]
    assert first.context.span_id != second.context.span_id  # type: ignore[attr-defined]
    root = copy.deepcopy(RECEIPT)
    root["parent_span_id"] = None
    p.emit(plan_spans(root, {}))
    assert cap.spans[3].parent is None  # type: ignore[attr-defined]  # no caller span: a root span


class Held:
    """A span processor double that keeps every span (never hands one to the exporter)."""

    def __init__(self) -> None:
        self.spans: list[object] = []

    def on_end(self, span: object) -> None:
        self.spans.append(span)

    def force_flush(self) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def held_exporter(**kw: object) -> tuple[OtelExporter, Held]:
    exporter = OtelExporter(OtelConfig(endpoint="http://127.0.0.1:9", service_name="gw-x"), {}, **kw)  # type: ignore[arg-type]
    exporter._pipeline.processor.shutdown()  # type: ignore[no-untyped-call]  # the real worker: stopped unused
    held = Held()
    exporter._pipeline.processor = held  # type: ignore[assignment]
    return exporter, held


async def test_the_exporter_hands_the_decision_counts_and_names_its_scope() -> None:
    import copy

    from tests.otel.conftest import RECEIPT, REJECTIONS

    exporter, held = held_exporter()
    assert exporter.close_timeout_s == 5.0
    p = exporter._pipeline
    assert (p.scope.name, p.scope.version) == ("unhardcoded", __import__("unhardcoded").__version__)
    assert p.resource.attributes["service.name"] == "gw-x"
    exporter.export(copy.deepcopy(RECEIPT), REJECTIONS, candidates=50, passed=20)
    server = held.spans[0]
    assert server.attributes["unhardcoded.candidates"] == 50  # type: ignore[attr-defined]
    assert server.attributes["unhardcoded.candidates.passed"] == 20  # type: ignore[attr-defined]
    assert server.instrumentation_scope.name == "unhardcoded"  # type: ignore[attr-defined]
    await exporter.close()


async def test_the_queue_bound_counts_what_is_still_queued_and_close_fails_the_rest() -> None:
    import copy

    from tests.otel.conftest import RECEIPT

    exporter, held = held_exporter(max_queue_size=6)
    for _ in range(2):
        exporter.export(copy.deepcopy(RECEIPT), {})  # 3 spans each
    assert (exporter.stats().queued, exporter.stats().dropped) == (6, 0)
    exporter.export(copy.deepcopy(RECEIPT), {})
    assert (exporter.stats().queued, exporter.stats().dropped) == (6, 3)  # full
    exporter._pipeline.counter.handed = 6  # the worker took them all off the queue
    exporter.export(copy.deepcopy(RECEIPT), {})
    assert (exporter.stats().queued, exporter.stats().dropped) == (9, 3)
    exporter._pipeline.counter.handed = 8  # 1 still queued at close: it fails
    await exporter.close()
    s = exporter.stats()
    assert (s.queued, s.dropped) == (8, 4) and exporter.failed == 4 + s.failed
    exporter.export(copy.deepcopy(RECEIPT), {})  # closed: dropped at once
    assert exporter.stats().dropped == 7


async def test_the_headers_variable_is_read_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UH_TEST_OTEL_HEADERS", "x-token=abc")
    exporter = OtelExporter(
        OtelConfig(endpoint="http://127.0.0.1:9", headers_env="UH_TEST_OTEL_HEADERS"), close_timeout_s=0.5
    )
    await exporter.close()
    monkeypatch.delenv("UH_TEST_OTEL_HEADERS")
    with pytest.raises(ConfigError) as e:
        OtelExporter(OtelConfig(endpoint="http://127.0.0.1:9", headers_env="UH_TEST_OTEL_HEADERS"))
    assert e.value.message == "otel.headers_env names $UH_TEST_OTEL_HEADERS, which is not set"
    assert e.value.path == "otel.headers_env"
    monkeypatch.setenv("UH_TEST_OTEL_HEADERS", "x-token")
    with pytest.raises(ConfigError) as e:
        OtelExporter(OtelConfig(endpoint="http://127.0.0.1:9", headers_env="UH_TEST_OTEL_HEADERS"))
    assert e.value.message.startswith("otel.headers_env: $UH_TEST_OTEL_HEADERS item 1 is not `name=value`")


def test_a_trailing_slash_is_not_part_of_the_path() -> None:
    from unhardcoded.gateway.otel.exporter import traces_url

    assert traces_url("http://collector:4318/X/") == "http://collector:4318/X/v1/traces"
