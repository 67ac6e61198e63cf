"""The gateway hands every finished call to the OpenTelemetry exporter: spans carry the receipt's ids."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.gateway.scripted import Answer, Rig

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is part of the dev install")

from unhardcoded.config import OtelConfig
from unhardcoded.gateway.otel import OtelExporter
from unhardcoded.testing.otlp_receiver import OtlpReceiver

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_a_call_with_a_fallback_arrives_as_one_server_span_and_a_client_span_per_attempt(
    tmp_path: Path,
) -> None:
    receiver = OtlpReceiver()
    url = await receiver.start()
    exporter = OtelExporter(OtelConfig(endpoint=url, service_name="gw-test"), {}, schedule_delay_ms=20)
    try:
        async with Rig(tmp_path, exporter=exporter) as rig:
            rig.transport.push("a", Answer(status=503, body=b"{}"))
            code, r = await rig.call(
                {"select": {"max_candidates": 3}},
                headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
            )
            spans = await receiver.wait_for(3)
    finally:
        await receiver.stop()
    assert code == 200
    server = [s for s in spans if s.kind == "server"]
    clients = sorted((s for s in spans if s.kind == "client"), key=lambda s: s.start_ns)
    assert len(server) == 1 and len(clients) == 2
    (srv,) = server
    assert (srv.trace_id, srv.span_id, srv.parent_span_id) == (CALLER_TRACE, r["span_id"], CALLER_SPAN)
    assert srv.attributes["unhardcoded.request_id"] == r["request_id"]
    assert srv.resource["service.name"] == "gw-test"
    assert all(c.trace_id == CALLER_TRACE and c.parent_span_id == r["span_id"] for c in clients)
    assert clients[0].attributes["unhardcoded.deployment"] == "a/one"
    assert clients[0].attributes["http.response.status_code"] == 503


async def test_an_unreachable_collector_costs_a_counter_never_a_call(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    exporter = OtelExporter(
        OtelConfig(endpoint=f"http://127.0.0.1:{port}"),
        {},
        schedule_delay_ms=20,
        timeout_s=0.5,
        close_timeout_s=2,
    )
    async with Rig(tmp_path, exporter=exporter) as rig:
        code, _ = await rig.call()
        assert code == 200
    assert exporter.failed >= 1
    line = [x for x in rig.gw.metrics_text().splitlines() if x.startswith("unhardcoded_otel_spans_failed ")]
    assert line and float(line[0].split()[1]) == exporter.failed
