"""The span plan of a receipt (gateway/otel/spans.py), span by span and attribute by attribute: these names
are what collectors, dashboards and alerts key on (OpenTelemetry GenAI semantic conventions plus the
`unhardcoded.*` attributes), so each is pinned exactly. Pure data: no SDK, no network. Written from
`make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.otel.conftest import PARENT, RECEIPT, REJECTIONS, SPAN, TRACE
from unhardcoded.gateway.otel.spans import Event, SpanPlan, plan_spans, time_ns

T0 = time_ns("2026-12-02T16:17:45.123Z")
SERVER_ID = int(SPAN, 16)


def receipt(**changes: Any) -> dict[str, Any]:
    r = copy.deepcopy(RECEIPT)
    r.update(changes)
    return r


def test_the_plan_of_a_call_that_fell_back_once() -> None:
    server, first, second = plan_spans(receipt(), REJECTIONS)
    assert server == SpanPlan(
        name="chat policy:support-bot",
        kind="server",
        trace_id=int(TRACE, 16),
        span_id=SERVER_ID,
        parent_span_id=int(PARENT, 16),
        start_ns=T0,
        end_ns=T0 + 41_250_000,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "gcp.vertex_ai",
            "gen_ai.request.model": "policy:support-bot",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.response.model": "gemini-3.7-flash-001",
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 9,
            "unhardcoded.attempts": 2,
            "unhardcoded.baseline.cost_usd": 9.6e-05,
            "unhardcoded.baseline.deployment": "openai/gpt-4.1",
            "unhardcoded.candidates": 700,
            "unhardcoded.candidates.passed": 14,
            "unhardcoded.candidates.rejected": 686,
            "unhardcoded.catalog_version": RECEIPT["catalog_version"],
            "unhardcoded.cost_usd": 1.92e-05,
            "unhardcoded.decision_hash": "d" * 64,
            "unhardcoded.deployment": "vertex/google/gemini-3.7-flash@eu",
            "unhardcoded.explanation": RECEIPT["explanation"],
            "unhardcoded.fallbacks": 1,
            "unhardcoded.policy.fingerprint": "3202476868-3183020371 (sigma-pol/v1)",
            "unhardcoded.policy.name": "support-bot",
            "unhardcoded.policy.sha256": "36badce3" + "0" * 56,
            "unhardcoded.request_id": "req_80112daa6ae384f49c967d9f",
            "unhardcoded.rules.fired": 3,
            "unhardcoded.savings_usd": 7.68e-05,
            "unhardcoded.workflow.id": "nightly-42",
            "unhardcoded.workflow.node": "summarise",
            "unhardcoded.workload": "support-bot",
        },
        events=[
            Event("unhardcoded.rejection", T0, {"unhardcoded.rule.id": rule, "unhardcoded.rule.rejected": n})
            for rule, n in (("quality-floor", 589), ("eu-only", 621), ("rt:no-key", 3))
        ],
        error=None,
    )
    assert first == SpanPlan(
        name="chat sim/flaky@eu-west-1",
        kind="client",
        trace_id=int(TRACE, 16),
        span_id=None,
        parent_span_id=SERVER_ID,
        start_ns=T0 + 2_000_000,
        end_ns=T0 + 2_900_000,
        attributes={
            "error.type": "server_error",
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "sim",
            "gen_ai.request.model": "sim/flaky@eu-west-1",
            "http.response.status_code": 503,
            "unhardcoded.attempt": 1,
            "unhardcoded.attempt.fell_back": True,
            "unhardcoded.deployment": "sim/flaky@eu-west-1",
        },
        events=[],
        error="server_error",
    )
    assert second == SpanPlan(
        name="chat vertex/google/gemini-3.7-flash@eu",
        kind="client",
        trace_id=int(TRACE, 16),
        span_id=None,
        parent_span_id=SERVER_ID,
        start_ns=T0 + 4_000_000,
        end_ns=T0 + 39_500_000,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "gcp.vertex_ai",
            "gen_ai.request.model": "vertex/google/gemini-3.7-flash@eu",
            "gen_ai.response.model": "gemini-3.7-flash-001",
            "http.response.status_code": 200,
            "unhardcoded.attempt": 2,
            "unhardcoded.attempt.fell_back": False,
            "unhardcoded.deployment": "vertex/google/gemini-3.7-flash@eu",
        },
        events=[],
        error=None,
    )


def test_a_stream_with_timings_a_tenant_a_pin_and_a_cache_write() -> None:
    r = receipt(tenant="acme", pinned="vertex/google/gemini-3.7-flash@eu", parent_span_id=None, workflow=None)
    r["attempts"][0].update(waited_s=1.5, ttft_ms=None)
    r["attempts"][1].update(ttft_ms=12.5, waited_s=0.25)
    r["outcome"].update(ttft_ms=14.0, usage={"input_tokens": 3, "output_tokens": 4, "cache_write_tokens": 7})
    server, first, second = plan_spans(r, {}, candidates=5, passed=5)
    assert server.name == "chat vertex/google/gemini-3.7-flash@eu" and server.parent_span_id is None
    a = server.attributes
    assert a["gen_ai.request.model"] == "vertex/google/gemini-3.7-flash@eu"
    assert (
        a["unhardcoded.pinned"] == "vertex/google/gemini-3.7-flash@eu" and a["unhardcoded.tenant"] == "acme"
    )
    assert a["unhardcoded.ttft_ms"] == 14.0 and a["gen_ai.usage.cache_creation.input_tokens"] == 7
    assert "gen_ai.usage.cache_read.input_tokens" not in a and "unhardcoded.workflow.id" not in a
    assert (a["unhardcoded.candidates"], a["unhardcoded.candidates.passed"]) == (5, 5)
    assert a["unhardcoded.candidates.rejected"] == 0 and a["unhardcoded.rules.fired"] == 0
    assert server.events == []
    assert (
        first.attributes["unhardcoded.attempt.waited_s"] == 1.5
        and "unhardcoded.ttft_ms" not in first.attributes
    )
    assert "gen_ai.response.model" not in first.attributes  # only the answering attempt names the model
    assert second.attributes["unhardcoded.ttft_ms"] == 12.5
    assert second.attributes["unhardcoded.attempt.waited_s"] == 0.25


def test_counts_come_from_the_receipt_unless_given() -> None:
    (server, *_) = plan_spans(receipt(), {}, candidates=10)
    assert server.attributes["unhardcoded.candidates"] == 10
    assert server.attributes["unhardcoded.candidates.passed"] == 14
    assert server.attributes["unhardcoded.candidates.rejected"] == -4
    (bare, *_) = plan_spans(receipt(counts=None), {})
    assert "unhardcoded.candidates" not in bare.attributes
    assert "unhardcoded.candidates.rejected" not in bare.attributes
    (half, *_) = plan_spans(receipt(counts=None), {}, passed=3)
    assert "unhardcoded.candidates.rejected" not in half.attributes


def test_the_server_span_ends_at_the_later_of_the_call_and_its_attempts() -> None:
    r = receipt()
    r["outcome"]["latency_ms"] = 1.0  # shorter than the second attempt's end (4 + 35.5 ms after the start)
    assert plan_spans(r, {})[0].end_ns == T0 + 39_500_000
    r["outcome"]["latency_ms"] = None
    assert plan_spans(r, {})[0].end_ns == T0 + 39_500_000
    r = receipt(attempts=[])
    r["outcome"]["latency_ms"] = None
    (only,) = plan_spans(r, {})
    assert only.end_ns == T0 and "gen_ai.provider.name" not in only.attributes
    assert only.attributes["unhardcoded.attempts"] == 0 and only.attributes["unhardcoded.fallbacks"] == 0
    r["attempts"] = [dict(RECEIPT["attempts"][0], latency_ms="slow")]  # an odd latency counts as none
    (_, att) = plan_spans(r, {})
    assert att.end_ns == att.start_ns == T0 + 2_000_000


def test_errors_name_what_went_wrong() -> None:
    def error(**changes: Any) -> tuple[str | None, Any]:
        server, *_ = plan_spans(receipt(**changes), {})
        return server.error, server.attributes.get("error.type")

    assert error() == (None, None)
    assert error(status="no_route") == ("no_route", "no_route")
    assert error(status="partial") == ("partial", "partial")
    outcome = dict(RECEIPT["outcome"])
    for err, expected in (
        ({"error_class": "timeout", "type": "x", "code": "y"}, "timeout"),
        ({"type": "invalid_request", "code": "y"}, "invalid_request"),
        ({"code": "budget"}, "budget"),
    ):
        assert error(status="error", outcome={**outcome, "error": err}) == (expected, expected)
    last_ok = copy.deepcopy(RECEIPT["attempts"])
    failed_only = {"attempts": last_ok[:1], "outcome": {**outcome, "error": None}}
    assert error(status="error", **failed_only) == ("server_error", "server_error")  # the last attempt's
    assert error(status="error", attempts=last_ok[1:], outcome={**outcome, "error": {}}) == ("error", "error")
    assert error(status="error", attempts=[], outcome=None) == ("error", "error")


def test_the_request_model_and_the_answering_attempt() -> None:
    r = receipt(policy={**RECEIPT["policy"], "name": None})
    assert plan_spans(r, {})[0].name == "chat auto"
    r = receipt(policy=None, pinned="m-1")
    assert plan_spans(r, {})[0].attributes["gen_ai.request.model"] == "m-1"
    # no deployment answered: the last attempt stands for the provider
    r = receipt(status="error")
    r["outcome"] = {**RECEIPT["outcome"], "deployment": None, "model": "mx"}
    server, first, second = plan_spans(r, {})
    assert server.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert "unhardcoded.deployment" not in server.attributes
    assert (
        second.attributes["gen_ai.response.model"] == "mx" and "gen_ai.response.model" not in first.attributes
    )
    # the same deployment tried twice: the later attempt answered
    twice = receipt()
    twice["attempts"][0]["deployment"] = twice["attempts"][1]["deployment"]
    _, a1, a2 = plan_spans(twice, {})
    assert "gen_ai.response.model" not in a1.attributes and a2.attributes["gen_ai.response.model"]


def test_the_answering_attempt_need_not_be_the_last() -> None:
    # e.g. a stream the client cut: the deployment that streamed is on the receipt's outcome, and a later
    # attempt (another deployment) is listed after it
    r = receipt(status="partial")
    r["outcome"] = {**RECEIPT["outcome"], "deployment": "sim/flaky@eu-west-1", "model": "flaky-1"}
    server, first, second = plan_spans(r, {})
    assert server.attributes["gen_ai.provider.name"] == "sim"
    assert server.attributes["unhardcoded.deployment"] == "sim/flaky@eu-west-1"
    assert first.attributes["gen_ai.response.model"] == "flaky-1"
    assert "gen_ai.response.model" not in second.attributes
