"""The receipt → span plan mapping, as plain data (no SDK, no network)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from tests.otel.conftest import REJECTIONS, SPAN, TRACE
from unhardcoded.gateway.otel.spans import REJECTION_EVENT, plan_spans, provider_name, request_model, time_ns
from unhardcoded.gateway.receipt_schema import receipt_schema

MakeReceipt = Callable[..., dict[str, Any]]


def test_the_fixture_is_a_valid_receipt(make_receipt: MakeReceipt) -> None:
    jsonschema.validate(make_receipt(), receipt_schema())  # the tests speak about the real shape


@pytest.mark.parametrize(
    "iso, ns",
    [
        ("1970-01-01T00:00:00.000Z", 0),
        ("2026-12-02T16:17:45.123Z", 1_796_228_265_123_000_000),
        ("2026-12-02T16:17:45.123456+00:00", 1_796_228_265_123_456_000),
        ("2026-12-02T17:17:45.123+01:00", 1_796_228_265_123_000_000),
        ("2026-12-02T16:17:45.999", 1_796_228_265_999_000_000),  # naive: taken as UTC
    ],
)
def test_time_ns_is_exact(iso: str, ns: int) -> None:
    assert time_ns(iso) == ns


def test_ids_and_parentage(make_receipt: MakeReceipt) -> None:
    server, first, second = plan_spans(make_receipt(), REJECTIONS)
    assert (server.kind, server.trace_id, server.span_id) == ("server", int(TRACE, 16), int(SPAN, 16))
    assert server.parent_span_id == int("a3ce929d0e0e4736", 16)
    for client in (first, second):
        assert (client.kind, client.trace_id, client.span_id) == ("client", int(TRACE, 16), None)
        assert client.parent_span_id == int(SPAN, 16)


def test_the_server_span_ends_with_its_last_attempt_without_latency(
    make_receipt: MakeReceipt,
) -> None:
    r = make_receipt()
    r["outcome"]["latency_ms"] = None
    server, _, last = plan_spans(r, {})
    assert server.end_ns == last.end_ns == time_ns("2026-12-02T16:17:45.127Z") + 35_500_000


def test_one_event_per_rule_that_rejected_something(make_receipt: MakeReceipt) -> None:
    server = plan_spans(make_receipt(), {"a": 3, "b": 0, "c": 1})[0]
    assert [(e.name, e.attributes["unhardcoded.rule.id"]) for e in server.events] == [
        (REJECTION_EVENT, "a"),
        (REJECTION_EVENT, "c"),
    ]
    assert {e.time_ns for e in server.events} == {server.start_ns}


def test_counts_come_from_the_arguments_else_the_receipt(make_receipt: MakeReceipt) -> None:
    assert plan_spans(make_receipt(), {})[0].attributes["unhardcoded.candidates.rejected"] == 686
    attrs = plan_spans(make_receipt(), {}, candidates=10, passed=4)[0].attributes
    assert (attrs["unhardcoded.candidates"], attrs["unhardcoded.candidates.rejected"]) == (10, 6)
    bare = make_receipt()
    del bare["counts"]
    assert "unhardcoded.candidates" not in plan_spans(bare, {})[0].attributes


def test_nulls_and_odd_values_are_left_out(make_receipt: MakeReceipt) -> None:
    r = make_receipt()
    r["outcome"].update(cost_usd=None, savings_usd={"not": "a scalar"}, model=["x"])
    attrs = plan_spans(r, {})[0].attributes
    assert "unhardcoded.cost_usd" not in attrs
    assert "unhardcoded.savings_usd" not in attrs
    assert "gen_ai.response.model" not in attrs
    assert all(isinstance(v, str | bool | int | float | tuple) for v in attrs.values())


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"pinned": "openai/gpt-4.1"}, "openai/gpt-4.1"),
        ({}, "policy:support-bot"),
        ({"policy": {"fingerprint": "1-2 (sigma-pol/v1)", "name": None}}, "auto"),
    ],
)
def test_request_model(make_receipt: MakeReceipt, changes: dict[str, Any], expected: str) -> None:
    assert request_model(make_receipt(**changes)) == expected


@pytest.mark.parametrize(
    "ours, semconv",
    [("openai", "openai"), ("vertex", "gcp.vertex_ai"), ("bedrock", "aws.bedrock"), ("acme", "acme")],
)
def test_provider_names_follow_the_semantic_conventions(ours: str, semconv: str) -> None:
    assert provider_name(ours) == semconv


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"trace_id": "zz"}, ValueError),
        ({"created_at": "yesterday"}, ValueError),
        ({"span_id": None}, TypeError),
    ],
)
def test_a_receipt_without_ids_or_times_raises(
    make_receipt: MakeReceipt, changes: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        plan_spans(make_receipt(**changes), {})
