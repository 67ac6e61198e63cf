"""The parts a receipt is built from (gateway/receipts.py): ids, trace ids from `traceparent` and workflow
headers, the workflow header check, timestamps, cost against the baseline, and the reader's expanded view.

Pure functions, tested directly; written from the survivors of `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import dep, settings
from unhardcoded.errors import RequestError
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.receipts import (
    Attempt,
    Ids,
    Outcome,
    Priced,
    check_header_value,
    cost_usd,
    expand,
    iso,
    trace_ids,
    workflow_trace_id,
)
from unhardcoded.providers.base import Usage

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


# -- ids ---------------------------------------------------------------------------------------------------


def test_ids_are_lowercase_hex_of_the_asked_length_and_seeded() -> None:
    a, b = Ids(seed=1), Ids(seed=1)
    assert [a.hex(n) for n in (1, 8, 16)] == [b.hex(n) for n in (1, 8, 16)]
    ids = Ids(seed=2)
    for n in (1, 2, 8, 16):
        for _ in range(50):  # leading zeros are kept: the width is exact
            assert re.fullmatch(f"[0-9a-f]{{{2 * n}}}", ids.hex(n))
    assert re.fullmatch(r"req_[0-9a-f]{24}", ids.request_id())


def test_unseeded_ids_differ() -> None:
    assert Ids().hex(16) != Ids().hex(16)


def test_request_and_trace_ids_lead_with_the_milliseconds_and_sort_in_time_order() -> None:
    now = [1_764_720_000.1234]
    ids = Ids(seed=3, clock=lambda: now[0])
    ms = f"{1_764_720_000_123:012x}"
    first, trace = ids.request_id(), ids.trace_id()
    assert re.fullmatch(rf"req_{ms}[0-9a-f]{{12}}", first)
    assert re.fullmatch(rf"{ms}[0-9a-f]{{20}}", trace)
    same_ms = ids.request_id()
    assert same_ms != first and same_ms[:16] == first[:16]  # the random tail tells them apart
    made = []
    for step in (0.001, 0.5, 3600.0, 86400.0 * 400):
        now[0] += step
        made.append((ids.request_id(), ids.trace_id()))
    assert [r for r, _ in made] == sorted(r for r, _ in made) and made[0][0] > first
    assert [t for _, t in made] == sorted(t for _, t in made) and made[0][1] > trace
    # A new trace through trace_ids takes one of these; a caller's traceparent is kept as it is.
    assert trace_ids(None, None, None, ids).trace_id.startswith(made[-1][1][:12])


# -- trace ids ---------------------------------------------------------------------------------------------


def test_a_valid_traceparent_continues_the_callers_trace() -> None:
    t = trace_ids(f"00-{TRACE}-{SPAN}-01", None, None, Ids(seed=1))
    assert (t.trace_id, t.parent_span_id) == (TRACE, SPAN)
    assert re.fullmatch("[0-9a-f]{16}", t.span_id) and t.span_id != SPAN
    assert (t.workflow_id, t.workflow_node) == (None, None)


def test_a_traceparent_is_read_case_and_space_insensitively() -> None:
    t = trace_ids(f"  00-{TRACE.upper()}-{SPAN.upper()}-01 ", None, None, Ids(seed=1))
    assert (t.trace_id, t.parent_span_id) == (TRACE, SPAN)


@pytest.mark.parametrize(
    "bad",
    [
        f"00-{'0' * 32}-{SPAN}-01",  # the all-zero trace id is invalid in W3C
        f"00-{TRACE}-{SPAN}",
        f"00-{TRACE}-{SPAN}-01-extra",
        f"x00-{TRACE}-{SPAN}-01",
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}0-01",
        "",
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(bad: str) -> None:
    t = trace_ids(bad, None, None, Ids(seed=1))
    assert t.parent_span_id is None and t.trace_id != TRACE
    assert re.fullmatch("[0-9a-f]{32}", t.trace_id)


def test_a_workflow_is_one_trace_per_run_and_tenant() -> None:
    ids = Ids(seed=1)
    one = trace_ids(None, "run-1", "plan", ids)
    again = trace_ids(None, "run-1", "act", ids)
    assert one.trace_id == again.trace_id == workflow_trace_id("run-1")
    assert (one.workflow_id, one.workflow_node, one.parent_span_id) == ("run-1", "plan", None)
    assert one.span_id != again.span_id
    assert trace_ids(None, "run-1", None, ids, "t1").trace_id == workflow_trace_id("run-1", "t1")
    assert workflow_trace_id("run-1") == hashlib.sha256(b"\x00run-1").hexdigest()[:32]
    assert workflow_trace_id("run-1", "t1") == hashlib.sha256(b"t1\x00run-1").hexdigest()[:32]


def test_a_traceparent_wins_over_a_workflow() -> None:
    t = trace_ids(f"00-{TRACE}-{SPAN}-01", "run-1", "n", Ids(seed=1))
    assert (t.trace_id, t.workflow_id, t.workflow_node) == (TRACE, "run-1", "n")


@pytest.mark.parametrize("name", ["x-unhardcoded-workflow", "x-unhardcoded-workflow-node"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "expected 1 to 128 printable characters, got 0 characters"),
        ("x" * 129, "expected 1 to 128 printable characters, got 129 characters"),
        ("a\nb", "expected 1 to 128 printable characters, got 3 characters with control characters"),
    ],
)
def test_workflow_headers_are_checked_and_the_error_says_why(name: str, value: str, message: str) -> None:
    workflow, node = (value, None) if name.endswith("workflow") else ("run", value)
    with pytest.raises(RequestError) as e:
        trace_ids(None, workflow, node, Ids(seed=1))
    assert e.value.to_dict() == {"message": f"{name}: {message}", "path": name}


def test_workflow_header_values_at_the_limits_are_accepted() -> None:
    check_header_value("h", "x")
    check_header_value("h", "x" * 128)
    check_header_value("h", "a b é")


# -- time and money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "text"),
    [(0.0, "1970-01-01T00:00:00.000Z"), (1796228265.1239, "2026-12-02T16:17:45.123Z")],
)
def test_iso_is_utc_to_the_millisecond_with_a_z(ts: float, text: str) -> None:
    assert iso(ts) == text


CATALOG = Policies(
    settings(
        Path("/nonexistent"),
        catalog={
            "bundled": False,
            "deployments": [
                dep("a/one", 1.0, 2.0, price_cached_input_per_mtok=0.5),
                dep("b/two", 3.0, 5.0, model="vendor/two"),
                dep("c/free", 0.0, 0.0),
                {k: v for k, v in dep("d/unpriced").items() if k != "price_output_per_mtok"},
            ],
        },
        default_baseline="b/two",
    )
).catalog


def test_cost_is_uncached_input_cached_input_and_output_at_their_prices() -> None:
    a = CATALOG.get("a/one")
    # 600 uncached x 1.0 + 400 cached x 0.5 + 100 out x 2.0, per million
    assert cost_usd(a, Usage(1000, 100, cached_input_tokens=400)) == pytest.approx(1e-3 * 1.0)
    assert cost_usd(a, Usage(1000, 100, cached_input_tokens=400)) == round(1000.0 / 1e6, 10)
    # more cached than input (a provider's miscount): capped at the input
    assert cost_usd(a, Usage(100, 0, cached_input_tokens=400)) == round(100 * 0.5 / 1e6, 10)


def test_without_a_cached_price_cached_input_costs_the_input_price() -> None:
    b = CATALOG.get("b/two")
    assert cost_usd(b, Usage(1000, 100, cached_input_tokens=400)) == round((1000 * 3.0 + 100 * 5.0) / 1e6, 10)


def test_cost_is_rounded_to_ten_decimals() -> None:
    b = CATALOG.get("b/two")
    assert cost_usd(b, Usage(1, 1)) == 8e-06
    assert cost_usd(CATALOG.get("a/one"), Usage(3, 0, cached_input_tokens=1)) == 2.5e-06


def test_no_cost_without_a_deployment_usage_or_both_prices() -> None:
    assert cost_usd(None, Usage(1, 1)) is None
    assert cost_usd(CATALOG.get("a/one"), None) is None
    assert cost_usd(CATALOG.get("d/unpriced"), Usage(1, 1)) is None
    assert cost_usd(CATALOG.get("c/free"), Usage(1, 1)) == 0.0


def test_priced_against_the_baseline() -> None:
    p = Priced.of(CATALOG, "a/one", Usage(1000, 100), "b/two")
    assert p == Priced(0.0012, "b/two", 0.0035, 0.0023)
    o = Outcome("ok", p)
    assert (o.cost_usd, o.baseline_cost_usd, o.savings_usd) == (0.0012, 0.0035, 0.0023)
    assert o.savings_pct() == pytest.approx(100 * 0.0023 / 0.0035)


def test_priced_resolves_a_baseline_given_as_a_model_id() -> None:
    assert Priced.of(CATALOG, "a/one", Usage(1000, 100), "b/two").baseline_deployment == "b/two"
    assert Priced.of(CATALOG, "a/one", Usage(1000, 100), "vendor/two").baseline_deployment == "b/two"


def test_an_unknown_baseline_keeps_its_name_and_has_no_cost() -> None:
    p = Priced.of(CATALOG, "a/one", Usage(1000, 100), "nobody/none")
    assert p == Priced(0.0012, "nobody/none", None, None)
    assert Outcome("ok", p).savings_pct() is None


def test_nothing_is_priced_without_a_deployment_or_a_baseline() -> None:
    assert Priced.of(CATALOG, None, Usage(1000, 100), "b/two") == Priced(None, "b/two", 0.0035, None)
    assert Priced.of(CATALOG, "a/one", Usage(1000, 100), None) == Priced(0.0012, None, None, None)
    assert Priced.of(CATALOG, "a/one", None, "b/two") == Priced(None, "b/two", None, None)


def test_savings_pct_is_none_against_a_free_baseline() -> None:
    assert Outcome("ok", Priced(0.0, "c/free", 0.0, 0.0)).savings_pct() is None
    assert Outcome("ok", Priced(1.0, "x", 2.0, 1.0)).savings_pct() == 50.0


# -- the receipt's parts as JSON -----------------------------------------------------------------------


def test_an_attempt_as_json() -> None:
    a = Attempt("a/one", "a", 0.0, 1.5, 0.5, 503, "server_error", "boom", True, 0.25, ("w",))
    assert a.to_dict() == {
        "deployment": "a/one",
        "provider": "a",
        "started_at": "1970-01-01T00:00:00.000Z",
        "latency_ms": 1.5,
        "ttft_ms": 0.5,
        "http_status": 503,
        "error_class": "server_error",
        "error": "boom",
        "fell_back": True,
        "waited_s": 0.25,
        "warnings": ["w"],
    }


def test_an_attempt_defaults_to_a_plain_success() -> None:
    assert Attempt("a/one", "a", 0.0).to_dict() == {
        "deployment": "a/one",
        "provider": "a",
        "started_at": "1970-01-01T00:00:00.000Z",
        "latency_ms": None,
        "ttft_ms": None,
        "http_status": None,
        "error_class": None,
        "error": None,
        "fell_back": False,
        "waited_s": None,
        "warnings": [],
    }


def test_an_outcome_as_json() -> None:
    o = Outcome(
        "ok",
        Priced(1.0, "b/two", 3.0, 2.0),
        deployment="a/one",
        model="m",
        usage=Usage(10, 5, 2, 1),
        latency_ms=12.5,
        ttft_ms=3.5,
        finish_reason="stop",
        error=None,
        warnings=("w",),
    )
    assert o.to_dict() == {
        "status": "ok",
        "deployment": "a/one",
        "model": "m",
        "usage": {"input_tokens": 10, "output_tokens": 5, "cached_input_tokens": 2, "cache_write_tokens": 1},
        "cost_usd": 1.0,
        "baseline": {"deployment": "b/two", "cost_usd": 3.0},
        "savings_usd": 2.0,
        "latency_ms": 12.5,
        "ttft_ms": 3.5,
        "finish_reason": "stop",
        "error": None,
    }
    assert Outcome("no_route", Priced(None, None, None, None), error={"error_class": "x"}).to_dict() == {
        "status": "no_route",
        "deployment": None,
        "model": None,
        "usage": None,
        "cost_usd": None,
        "baseline": {"deployment": None, "cost_usd": None},
        "savings_usd": None,
        "latency_ms": None,
        "ttft_ms": None,
        "finish_reason": None,
        "error": {"error_class": "x"},
    }


# -- the reader's view ---------------------------------------------------------------------------------


def stored(status: str, winner: str | None, attempted: list[str]) -> dict[str, Any]:
    return {
        "request_id": "req_1",
        "status": status,
        "policy": {"fingerprint": "f", "name": "p"},
        "attempts": [{"deployment": d} for d in attempted],
        "outcome": {"deployment": winner},
        "decision": {
            "policy": {"canonical": {"schema": "s"}, "name": "ignored"},
            "rules": [{"id": "r"}],
            "waived": [{"id": "w"}],
            "plan": ["a/one", "b/two"],
            "counts": {"candidates": 3},
            "explanation": "a/one ranked first",
            "candidates": [
                {"deployment": "a/one", "status": "ranked"},
                {"deployment": "b/two", "status": "ranked"},
                {"deployment": "c/three", "status": "rejected"},
            ],
        },
    }


@pytest.mark.parametrize("status", ["ok", "partial"])
def test_expand_marks_the_winner_and_the_attempted(status: str) -> None:
    out = expand(stored(status, "b/two", ["a/one", "b/two"]))
    assert [c["status"] for c in out["candidates"]] == ["attempted", "won", "rejected"]
    assert out["policy"] == {"canonical": {"schema": "s"}, "name": "p", "fingerprint": "f"}
    assert (out["rules"], out["waived"], out["plan"]) == ([{"id": "r"}], [{"id": "w"}], ["a/one", "b/two"])
    assert out["counts"] == {"candidates": 3} and out["decision_explanation"] == "a/one ranked first"
    assert "decision" not in out


@pytest.mark.parametrize("status", ["error", "no_route", "started"])
def test_expand_names_no_winner_unless_the_call_answered(status: str) -> None:
    out = expand(stored(status, "b/two", ["a/one", "b/two"]))
    assert [c["status"] for c in out["candidates"]] == ["attempted", "attempted", "rejected"]


def test_expand_leaves_the_stored_decision_unchanged() -> None:
    r = stored("ok", "a/one", ["a/one"])
    decision = r["decision"]
    expand(r)
    assert [c["status"] for c in decision["candidates"]] == ["ranked", "ranked", "rejected"]


def test_expand_without_a_decision_returns_the_receipt_as_is() -> None:
    r = {"request_id": "req_1", "status": "ok"}
    assert expand(r) == {"request_id": "req_1", "status": "ok"}
    assert expand({"request_id": "req_1", "decision": None}) == {"request_id": "req_1"}


def test_expand_tolerates_a_decision_with_missing_parts() -> None:
    out = expand({"request_id": "req_1", "status": "ok", "decision": {"plan": ["a/one"]}})
    assert (out["rules"], out["waived"], out["counts"], out["candidates"]) == ([], [], {}, [])
    assert out["policy"] == {} and out["decision_explanation"] is None


def test_expand_without_a_plan_gives_an_empty_plan() -> None:
    out = expand({"request_id": "req_1", "status": "ok", "decision": {"explanation": "x"}})
    assert out["plan"] == [] and out["decision_explanation"] == "x"


def test_costs_are_kept_to_a_ten_billionth_of_a_dollar() -> None:
    tiny = Policies(
        settings(
            Path("/nonexistent"),
            catalog={"bundled": False, "deployments": [dep("a/one", 0.00015, 0.0), dep("c/four")]},
        )
    ).catalog
    c = cost_usd(tiny.get("a/one"), Usage(1, 0))  # 1.5e-10 USD, kept to 1e-10
    assert c is not None and c in (1e-10, 2e-10)
