"""Receipts exported over real OTLP/HTTP to a receiver on 127.0.0.1 that decodes the protobuf."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.otel.conftest import PARENT, REJECTIONS, SPAN, TRACE
from unhardcoded.config import OtelConfig
from unhardcoded.gateway.otel import OtelExporter
from unhardcoded.gateway.otel.spans import time_ns
from unhardcoded.testing.otlp_receiver import OtlpReceiver, ReceivedSpan, closed_endpoint

MakeReceipt = Callable[..., dict[str, Any]]
FAST = {"schedule_delay_ms": 50.0, "timeout_s": 2.0, "close_timeout_s": 2.0}


def exporter_for(url: str, env: dict[str, str] | None = None, **kw: Any) -> OtelExporter:
    cfg = OtelConfig(endpoint=url, **{k: kw.pop(k) for k in ("headers_env", "service_name") if k in kw})
    return OtelExporter(cfg, env=env or {}, **{**FAST, **kw})


async def shipped(exporter: OtelExporter, receiver: OtlpReceiver, n: int) -> list[ReceivedSpan]:
    await asyncio.to_thread(exporter.flush)
    return await receiver.wait_for(n)


def by_kind(spans: list[ReceivedSpan], kind: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.kind == kind]


async def test_server_span_carries_the_receipts_ids_parent_and_attributes(
    receiver: OtlpReceiver, make_receipt: MakeReceipt
) -> None:
    exporter = exporter_for(receiver.url, service_name="gw-eu")
    exporter.export(make_receipt(), REJECTIONS)
    spans = await shipped(exporter, receiver, 3)
    await exporter.close()

    [server] = by_kind(spans, "server")
    assert (server.trace_id, server.span_id, server.parent_span_id) == (TRACE, SPAN, PARENT)
    assert server.name == "chat policy:support-bot"
    assert server.start_ns == time_ns("2026-12-02T16:17:45.123Z") == 1796228265123000000
    assert server.end_ns - server.start_ns == 41_250_000  # outcome.latency_ms
    assert server.status == "unset"
    assert server.resource["service.name"] == "gw-eu"
    a = server.attributes
    assert {k: v for k, v in a.items() if k.startswith("gen_ai.")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "gcp.vertex_ai",
        "gen_ai.request.model": "policy:support-bot",
        "gen_ai.response.model": "gemini-3.7-flash-001",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    assert a["unhardcoded.request_id"] == "req_80112daa6ae384f49c967d9f"
    assert a["unhardcoded.policy.fingerprint"] == "3202476868-3183020371 (sigma-pol/v1)"
    assert a["unhardcoded.catalog_version"].startswith("ce576f1f")
    assert a["unhardcoded.workload"] == "support-bot"
    assert (a["unhardcoded.candidates"], a["unhardcoded.candidates.passed"]) == (700, 14)
    assert a["unhardcoded.candidates.rejected"] == 686
    assert a["unhardcoded.rules.fired"] == 3
    assert (a["unhardcoded.attempts"], a["unhardcoded.fallbacks"]) == (2, 1)
    assert a["unhardcoded.deployment"] == "vertex/google/gemini-3.7-flash@eu"
    assert a["unhardcoded.cost_usd"] == pytest.approx(1.92e-05)
    assert a["unhardcoded.baseline.deployment"] == "openai/gpt-4.1"
    assert a["unhardcoded.baseline.cost_usd"] == pytest.approx(9.6e-05)
    assert a["unhardcoded.savings_usd"] == pytest.approx(7.68e-05)
    assert (a["unhardcoded.workflow.id"], a["unhardcoded.workflow.node"]) == ("nightly-42", "summarise")
    assert "unhardcoded.tenant" not in a and "unhardcoded.pinned" not in a  # nulls are left out

    # One event per rule that rejected something, with its count — not one per deployment.
    assert [(e.name, e.attributes) for e in server.events] == [
        ("unhardcoded.rejection", {"unhardcoded.rule.id": "quality-floor", "unhardcoded.rule.rejected": 589}),
        ("unhardcoded.rejection", {"unhardcoded.rule.id": "eu-only", "unhardcoded.rule.rejected": 621}),
        ("unhardcoded.rejection", {"unhardcoded.rule.id": "rt:no-key", "unhardcoded.rule.rejected": 3}),
    ]
    assert exporter.stats().exported == 3 and exporter.failed == 0


async def test_one_client_span_per_attempt_under_the_server_span(
    receiver: OtlpReceiver, make_receipt: MakeReceipt
) -> None:
    exporter = exporter_for(receiver.url)
    exporter.export(make_receipt(), REJECTIONS)
    spans = await shipped(exporter, receiver, 3)
    await exporter.close()

    clients = sorted(by_kind(spans, "client"), key=lambda s: s.start_ns)
    assert [s.name for s in clients] == ["chat sim/flaky@eu-west-1", "chat vertex/google/gemini-3.7-flash@eu"]
    assert {(s.trace_id, s.parent_span_id) for s in clients} == {(TRACE, SPAN)}
    assert len({s.span_id for s in clients} | {SPAN}) == 3  # fresh ids, none equal to the server's
    failed, won = clients
    assert failed.start_ns == time_ns("2026-12-02T16:17:45.125Z")
    assert failed.end_ns - failed.start_ns == 900_000
    assert (failed.status, failed.status_message) == ("error", "server_error")
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.attributes["error.type"] == "server_error"
    assert failed.attributes["unhardcoded.attempt.fell_back"] is True
    assert failed.attributes["gen_ai.provider.name"] == "sim"  # not a well-known provider: as it is
    assert "gen_ai.response.model" not in failed.attributes
    assert won.status == "unset"
    assert won.attributes["http.response.status_code"] == 200
    assert won.attributes["unhardcoded.attempt.fell_back"] is False
    assert won.attributes["unhardcoded.attempt"] == 2
    assert won.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert won.attributes["gen_ai.response.model"] == "gemini-3.7-flash-001"
    assert "gen_ai.usage.input_tokens" not in won.attributes  # usage once per call: no double count


async def test_a_call_without_traceparent_is_a_root_span_with_the_receipts_trace_id(
    receiver: OtlpReceiver, make_receipt: MakeReceipt
) -> None:
    exporter = exporter_for(receiver.url)
    exporter.export(make_receipt(parent_span_id=None, pinned="openai/gpt-4.1", attempts=[]), {})
    [server] = await shipped(exporter, receiver, 1)
    await exporter.close()
    assert (server.trace_id, server.span_id, server.parent_span_id) == (TRACE, SPAN, None)
    assert server.name == "chat openai/gpt-4.1"
    assert server.attributes["gen_ai.request.model"] == "openai/gpt-4.1"
    assert server.events == []


async def test_failed_and_refused_calls_end_in_error_with_their_class(
    receiver: OtlpReceiver, make_receipt: MakeReceipt
) -> None:
    exporter = exporter_for(receiver.url)
    failed = make_receipt(request_id="req_failed", span_id="1" * 16, status="error")
    failed["attempts"] = failed["attempts"][:1]
    failed["outcome"].update(status="error", deployment=None, model=None, usage=None, cost_usd=None)
    refused = make_receipt(request_id="req_refused", span_id="2" * 16, status="no_route", attempts=[])
    refused["outcome"].update(status="no_route", deployment=None, model=None, usage=None, latency_ms=0.2)
    exporter.export(failed, REJECTIONS)
    exporter.export(refused, {"eu-only": 700})
    spans = await shipped(exporter, receiver, 3)
    await exporter.close()

    server = {s.attributes["unhardcoded.request_id"]: s for s in by_kind(spans, "server")}
    assert (server["req_failed"].status, server["req_failed"].status_message) == ("error", "server_error")
    assert server["req_failed"].attributes["error.type"] == "server_error"
    assert "gen_ai.usage.input_tokens" not in server["req_failed"].attributes
    assert (server["req_refused"].status, server["req_refused"].status_message) == ("error", "no_route")
    assert server["req_refused"].attributes["unhardcoded.attempts"] == 0
    assert [e.attributes["unhardcoded.rule.rejected"] for e in server["req_refused"].events] == [700]
    [client] = by_kind(spans, "client")
    assert client.parent_span_id == "1" * 16


async def test_headers_come_from_the_named_variable(
    receiver: OtlpReceiver, make_receipt: MakeReceipt
) -> None:
    env = {"OTLP_HEADERS": "Authorization=Bearer%20tok-123, x-scope=eu"}
    exporter = exporter_for(receiver.url, env=env, headers_env="OTLP_HEADERS")
    exporter.export(make_receipt(), REJECTIONS)
    await shipped(exporter, receiver, 3)
    await exporter.close()
    assert receiver.headers[0]["authorization"] == "Bearer tok-123"
    assert receiver.headers[0]["x-scope"] == "eu"
    assert receiver.headers[0]["content-type"] == "application/x-protobuf"


async def test_an_unreachable_collector_costs_a_counter_never_an_error(make_receipt: MakeReceipt) -> None:
    exporter = exporter_for(closed_endpoint(), timeout_s=0.5)
    for i in range(20):
        exporter.export(make_receipt(span_id=f"{i + 1:016x}"), REJECTIONS)  # returns: nothing raised
    await exporter.close()
    s = exporter.stats()
    assert (s.queued, s.exported, s.failed) == (60, 0, 60)
    assert exporter.failed == 60
    exporter.export(make_receipt(), REJECTIONS)  # after close: counted, not raised
    assert exporter.stats().dropped == 3 and exporter.failed == 63


async def test_a_collector_refusing_exports_counts_failures(
    receiver: OtlpReceiver, make_receipt: MakeReceipt
) -> None:
    receiver.status = 400  # not retryable: each batch fails at once
    exporter = exporter_for(receiver.url)
    for _ in range(5):
        exporter.export(make_receipt(), REJECTIONS)
    await asyncio.to_thread(exporter.flush)
    await exporter.close()
    assert receiver.requests >= 1 and receiver.spans == []
    assert exporter.stats().failed == 15 and exporter.failed == 15


async def test_a_full_queue_drops_whole_calls_and_counts_them(make_receipt: MakeReceipt) -> None:
    # A queue of 7 spans holds two calls of 3; the worker sleeps 60 s, so nothing leaves it meanwhile.
    exporter = exporter_for(closed_endpoint(), max_queue_size=7, schedule_delay_ms=60_000, timeout_s=0.2)
    for _ in range(5):
        exporter.export(make_receipt(), REJECTIONS)
    s = exporter.stats()
    assert (s.queued, s.dropped) == (6, 9)
    await exporter.close()
    assert exporter.failed == 15


async def test_an_unreadable_receipt_is_counted_not_raised(
    make_receipt: MakeReceipt, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = exporter_for(closed_endpoint())
    exporter.export(None, {})  # type: ignore[arg-type]
    exporter.export({"status": "ok"}, {})
    exporter.export(make_receipt(trace_id="not hex"), {})
    exporter.export(make_receipt(created_at=None), {})
    exporter.export(make_receipt(status="started"), {})  # not finished: nothing to export, not a failure
    s = exporter.stats()
    assert (s.invalid, s.queued) == (4, 0)
    warned = [r for r in caplog.records if r.name == "unhardcoded.otel" and r.levelname == "WARNING"]
    assert len(warned) == 1  # said once, then counted
    await exporter.close()
    await exporter.close()  # twice is fine
    assert exporter.failed == 4


async def test_ten_thousand_receipts_all_arrive(receiver: OtlpReceiver, make_receipt: MakeReceipt) -> None:
    exporter = exporter_for(receiver.url, max_queue_size=40_000, timeout_s=10.0)
    base = make_receipt(attempts=make_receipt()["attempts"][1:])
    for i in range(10_000):
        exporter.export({**base, "span_id": f"{i + 1:016x}"}, REJECTIONS)
    spans = await shipped(exporter, receiver, 20_000)
    await exporter.close()
    servers = by_kind(spans, "server")
    assert len(servers) == 10_000 and len({s.span_id for s in servers}) == 10_000
    assert exporter.stats().exported == 20_000 and exporter.failed == 0
