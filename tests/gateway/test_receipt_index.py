"""The receipt's indexed row (what search, roll-ups and budgets read) agrees with the receipt it indexes,
the `started` row is committed before any provider is called (strict durability), and the receipt body
carries the call's workflow, tenant, pin, policy version and explanation.

Written from the survivors of `make mutation` on `gateway/record.py` (docs/mutation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gateway.scripted import Answer, Rig, ScriptedTransport, completion
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.transport import Timeouts, UpstreamResponse
from unhardcoded.providers.base import HttpCall

WF = {"x-unhardcoded-workflow": "wf-7", "x-unhardcoded-workflow-node": "plan"}


async def test_the_search_row_agrees_with_the_receipt(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(body=completion(prompt=30, cached=20)))
        _, r = await rig.call({"select": {"max_candidates": 4}}, headers=WF)
        (row,) = await rig.gw.search()
    out = r["outcome"]
    assert row["request_id"] == r["request_id"] and row["status"] == "ok" == r["status"]
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (r["trace_id"], r["span_id"], None)
    assert (row["workflow_id"], row["workflow_node"]) == ("wf-7", "plan")
    assert row["tenant"] is None and row["workload"] == "default"
    assert row["deployment"] == "a/two" == out["deployment"]
    assert row["fingerprint"] == r["policy"]["fingerprint"] and row["policy_sha256"] == r["policy"]["sha256"]
    assert row["catalog_version"] == r["catalog_version"] and row["decision_hash"] == r["decision_hash"]
    assert (row["cost_usd"], row["baseline_cost_usd"], row["savings_usd"]) == (
        out["cost_usd"],
        out["baseline"]["cost_usd"],
        out["savings_usd"],
    )
    assert row["latency_ms"] == out["latency_ms"]
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (30, 5, 20)
    assert row["fallbacks"] == 1
    assert row["finished_at"] is not None and row["finished_at"] >= row["created_at"]
    assert (row["policy_name"], row["policy_version"]) == (None, None)


async def test_a_call_without_usage_indexes_no_tokens(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        await rig.call({"rules": [{"field": "id", "op": "==", "value": "a/one"}]})
        (row,) = await rig.gw.search()
    assert row["status"] == "error" and row["deployment"] is None
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (None, None, None)
    assert (row["cost_usd"], row["fallbacks"]) == (None, 0)


class Peeking(ScriptedTransport):
    """Reads the store the moment a provider is called."""

    def __init__(self, rig: Rig) -> None:
        super().__init__()
        self.rig = rig
        self.rows_at_send: list[dict[str, Any]] = []

        self.receipt_at_send: dict[str, Any] | None = None

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        self.rows_at_send = await self.rig.gw.search()
        self.receipt_at_send = await self.rig.gw.receipt(self.rows_at_send[0]["request_id"])
        return await super().send(call, timeouts)


async def test_strict_commits_a_started_row_before_the_provider_is_called(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        peek = Peeking(rig)
        rig.gw._upstream._transport = peek
        code, r = await rig.call(headers=WF)
        (final,) = await rig.gw.search()
        started = await rig.gw.receipt(r["request_id"])
    assert code == 200
    (row,) = peek.rows_at_send
    assert row["request_id"] == r["request_id"] and row["status"] == "started"
    assert row["finished_at"] is None and row["deployment"] is None and row["cost_usd"] is None
    assert (row["workflow_id"], row["decision_hash"]) == ("wf-7", r["decision_hash"])
    assert final["status"] == "ok" and started is not None and started["status"] == "ok"
    was = peek.receipt_at_send
    assert was is not None and was["status"] == "started" and was["explanation"] is None
    assert was["outcome"]["status"] == "started" and was["outcome"]["baseline"]["deployment"] == "c/four"
    assert was["attempts"] == [] and was["workflow"] == {"id": "wf-7", "node": "plan"}


async def test_the_receipt_body_names_workflow_tenant_pin_and_winner(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        reply = await rig.gw.chat(
            ChatRequest.parse(
                {"model": "b/three", "messages": [{"role": "user", "content": "hi"}]}, WF, tenant="t9"
            )
        )
        r = await rig.gw.receipt(reply.headers["x-unhardcoded-request-id"])
        (row,) = await rig.gw.search()
    assert r is not None
    assert reply.headers["x-unhardcoded-trace-id"] == r["trace_id"]
    assert reply.headers["x-unhardcoded-fingerprint"] == r["policy"]["fingerprint"]
    assert r["workflow"] == {"id": "wf-7", "node": "plan"} and r["tenant"] == "t9" == row["tenant"]
    assert r["pinned"] == "b/three" and r["outcome"]["deployment"] == "b/three"
    assert r["explanation"].startswith("b/three won")
    assert r["policy"]["version"] is None and "budget" not in r


async def test_without_a_workflow_the_receipt_says_none(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        _, r = await rig.call()
    assert r["workflow"] is None and r["pinned"] is None and r["simulated"] is False
    assert r["schema"] == "unhardcoded-receipt/v1"
    assert r["created_at"].endswith("Z") and r["warnings"] == []


async def test_a_failed_call_names_no_winner(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        _, r = await rig.call({"rules": [{"field": "id", "op": "==", "value": "a/one"}]})
    assert r["status"] == "error" and " won" not in r["explanation"]


async def test_a_stored_policy_is_indexed_by_name_and_version(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await rig.gw.add_policy({"name": "mine", "policy": {"rank": [{"by": "est_cost_usd"}]}})
        _, r = await rig.call("mine")
        (row,) = await rig.gw.search()
    assert (r["policy"]["name"], r["policy"]["version"]) == ("mine", 1)
    assert (row["policy_name"], row["policy_version"]) == ("mine", 1)


RECEIPT_KEYS = {
    "schema", "request_id", "trace_id", "span_id", "parent_span_id", "workflow", "tenant", "created_at",
    "status", "simulated", "pinned", "policy", "catalog_version", "features", "decision_hash", "attempts",
    "outcome", "warnings", "explanation",
    # added by the reader: the stored decision merged in, and the receipt's place in its tenant's chain
    "rules", "waived", "plan", "counts", "candidates", "decision_explanation", "chain",
}  # fmt: skip


async def test_the_receipt_has_exactly_its_documented_keys(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        _, r = await rig.call({"select": {"max_candidates": 2}}, headers=WF)
    assert set(r) == RECEIPT_KEYS
    assert set(r["policy"]) == {"canonical", "fingerprint", "sha256", "workload", "name", "version"}
    assert r["policy"]["workload"] == "default" and r["policy"]["name"] is None
    assert set(r["outcome"]) == {
        "status", "deployment", "model", "usage", "cost_usd", "baseline", "savings_usd", "latency_ms",
        "ttft_ms", "finish_reason", "error",
    }  # fmt: skip
    assert set(r["attempts"][0]) == {
        "deployment", "provider", "started_at", "latency_ms", "ttft_ms", "http_status", "error_class",
        "error", "fell_back", "waited_s", "warnings",
    }  # fmt: skip


async def test_the_explanation_names_winner_fallbacks_and_savings(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
        _, r = await rig.call({"select": {"max_candidates": 4}})
    assert r["explanation"] == (
        "b/three won: cheapest of 4 that passed 2 rules; 0 rejected; after 2 fallbacks; "
        "25% cheaper than c/four"
    )


async def test_a_partial_stream_names_the_deployment_that_streamed_as_winner(tmp_path: Path) -> None:
    from tests.gateway.test_call_receipts import Sink, content, receipt_of, stream_request
    from unhardcoded.errors import ProviderError

    async with Rig(tmp_path) as rig:
        rig.transport.push(
            "a", Answer(chunks=[content("x")], raises_after_chunks=ProviderError("connection_error", "reset"))
        )
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
        r = await receipt_of(rig, sink)
    assert r["status"] == "partial" and r["explanation"].startswith("a/one won: ")


async def test_a_callers_traceparent_is_indexed_as_the_parent_span(tmp_path: Path) -> None:
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with Rig(tmp_path) as rig:
        _, r = await rig.call(headers={"traceparent": f"00-{trace}-{span}-01"})
        (row,) = await rig.gw.search()
    assert (r["trace_id"], r["parent_span_id"]) == (trace, span)
    assert (row["trace_id"], row["parent_span_id"]) == (trace, span)
