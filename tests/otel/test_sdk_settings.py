"""What `OtelExporter` hands the OpenTelemetry SDK: the tuning values, and the close timer that stops a
worker retrying against a collector that is down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.otel.conftest import REJECTIONS
from unhardcoded.config import OtelConfig
from unhardcoded.gateway.otel import OtelExporter
from unhardcoded.testing.otlp_receiver import closed_endpoint

MakeReceipt = Callable[..., dict[str, Any]]

# The SDK reads these when it is handed None (or nothing): clear them so its own defaults apply.
SDK_ENV = (
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
)


@pytest.fixture(autouse=True)
def _no_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)


def sdk_settings(exporter: OtelExporter) -> dict[str, Any]:
    """The values the SDK objects hold, read from their private attributes (opentelemetry-sdk and
    opentelemetry-exporter-otlp-proto-http 1.45): the OTLP exporter's per-export timeout in seconds is its
    HTTP client's `_timeout`; the BatchSpanProcessor keeps its settings on its `_batch_processor`."""
    batch = exporter._pipeline.processor._batch_processor
    return {
        "timeout_s": exporter._pipeline.counter.inner._client._timeout,
        "schedule_delay_ms": batch._schedule_delay_millis,
        "max_queue_size": batch._max_queue_size,
        "max_batch": batch._max_export_batch_size,
    }


async def test_the_default_tuning_reaches_the_sdk() -> None:
    """Pins what we hand the SDK by default (an export times out after 10 s, a batch leaves every second,
    16,384 spans queue, 512 go per request), reading the SDK objects' attributes for that."""
    exporter = OtelExporter(OtelConfig(endpoint="http://127.0.0.1:4318"), env={})
    try:
        assert sdk_settings(exporter) == {
            "timeout_s": 10.0,
            "schedule_delay_ms": 1000.0,
            "max_queue_size": 16384,
            "max_batch": 512,
        }
        assert exporter.max_queue_size == 16384  # our own check of a full queue uses the same size
    finally:
        await exporter.close()


async def test_given_tuning_reaches_the_sdk_not_its_defaults() -> None:
    """Pins that each value given reaches the SDK (not dropped for the SDK's own default: a 10 s export
    timeout, a 5 s schedule delay), reading the SDK objects' attributes for that. A batch is never larger
    than the queue."""
    cfg = OtelConfig(endpoint="http://127.0.0.1:4318")
    exporter = OtelExporter(
        cfg, env={}, timeout_s=2.5, schedule_delay_ms=75.0, max_queue_size=300, max_batch=40
    )
    small = OtelExporter(cfg, env={}, max_queue_size=20, max_batch=40)
    try:
        assert sdk_settings(exporter) == {
            "timeout_s": 2.5,
            "schedule_delay_ms": 75.0,
            "max_queue_size": 300,
            "max_batch": 40,
        }
        assert (sdk_settings(small)["max_queue_size"], sdk_settings(small)["max_batch"]) == (20, 20)
    finally:
        await exporter.close()
        await small.close()


async def test_close_stops_retries_against_a_collector_that_is_down(make_receipt: MakeReceipt) -> None:
    """The collector is down and an export may retry for 60 s (the SDK backs off 1, 2, 4, 8, 16 s between
    tries): `close` must not wait for that. After `close_timeout_s` its timer stops our exporter, which
    aborts the retry in progress and fails what is left at once, so close returns and every span counts
    as failed (taken off the queue and not delivered), none as dropped.

    Without the timer (never firing, or firing nothing) the SDK's own shutdown waits 30 s for its worker,
    then stops taking batches off the queue: close takes 30 s and the spans still queued count as
    dropped. The 20 s bound is a generous limit on "close returns", not a measure of its speed."""
    exporter = OtelExporter(
        OtelConfig(endpoint=closed_endpoint()),
        env={},
        timeout_s=60.0,
        schedule_delay_ms=60_000.0,
        max_batch=1,  # one span per export: the worker starts at once and has three to retry
        close_timeout_s=0.2,
    )
    exporter.export(make_receipt(), REJECTIONS)  # 3 spans
    await asyncio.wait_for(exporter.close(), timeout=20)
    s = exporter.stats()
    assert (s.queued, s.exported, s.failed, s.dropped) == (3, 0, 3, 0)
