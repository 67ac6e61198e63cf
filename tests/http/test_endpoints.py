"""The read-side endpoints, the dry run, metrics and the OpenAPI document, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.harness import DEPLOYMENTS, Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness.start(tmp_path_factory.mktemp("endpoints"))
    yield harness
    harness.stop()


def test_models_lists_auto_policies_and_deployments(h: Harness) -> None:
    status, body = h.get("/v1/models")
    ids = [m["id"] for m in body["data"]]
    assert status == 200 and body["object"] == "list"
    assert ids[0] == "auto" and "policy:eu-quality" in ids
    assert {d["id"] for d in DEPLOYMENTS} <= set(ids)


def test_healthz(h: Harness) -> None:
    status, body = h.get("/healthz")
    assert status == 200 and body["status"] == "ok" and body["deployments"] == len(DEPLOYMENTS)


def test_rank_is_a_dry_run_with_runtime_rules(h: Harness) -> None:
    policy = {"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 60}]}
    status, _, body = h.post("/x/rank", {"policy": policy})
    assert status == 200
    assert body["plan"] == ["alpha/mid", "beta/mid2", "beta/top"]
    assert body["attempts"] == [] and body["dry_run"] is True
    nokey = next(c for c in body["candidates"] if c["deployment"] == "gamma/nokey")
    assert [f["rule_id"] for f in nokey["rejected_by"]] == ["rt:no-key"]
    assert nokey["rejected_by"][0]["actual"] == "no key in $GAMMA_KEY"


def test_rank_rejects_a_bad_policy_with_path_and_choices(h: Harness) -> None:
    status, _, body = h.post("/x/rank", {"policy": {"rank": [{"by": "region"}]}})
    assert status == 400
    assert body["error"]["param"] == "$.rank[0].by"
    assert "est_cost_usd" in body["error"]["choices"]
    status, _, body = h.post("/x/rank", b"{not json")
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_bad_chat_bodies_are_4xx_naming_the_field(h: Harness) -> None:
    for body, param in [
        ({"model": "auto"}, "messages"),
        ({"model": "auto", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, "max_tokens"),
        ({"model": "no/such-model", "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "policy:nope", "messages": [{"role": "user", "content": "x"}]}, "model"),
    ]:
        status, _, resp = h.post("/v1/chat/completions", body)
        assert status == 400, body
        assert resp["error"]["param"] == param
    assert h.get("/healthz")[0] == 200


def test_fields_and_catalog(h: Harness) -> None:
    status, body = h.get("/x/fields")
    names = {f["name"]: f for f in body["fields"]}
    assert names["bench_intelligence"]["type"] == "number" and ">=" in names["bench_intelligence"]["ops"]
    assert names["capabilities"]["ops"] == ["has", "has_any", "has_all", "exists"]
    status, cat = h.get("/x/catalog")
    assert status == 200 and len(cat["deployments"]) == len(DEPLOYMENTS)
    status, same = h.get(f"/x/catalog/{cat['catalog_version']}")
    assert same["catalog_version"] == cat["catalog_version"]
    assert h.get("/x/catalog/" + "0" * 64)[0] == 404


def test_traces_stitch_calls_by_traceparent_and_search(h: Harness) -> None:
    client = openai.OpenAI(base_url=h.url + "/v1", api_key="unused", max_retries=0)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01", "x-unhardcoded-workflow-node": "step-1"}
    for node in ("step-1", "step-2"):
        client.chat.completions.create(
            model="policy:eu-quality",
            messages=[{"role": "user", "content": node}],
            extra_headers={**headers, "x-unhardcoded-workflow-node": node},
        )
    status, body = h.get(f"/x/traces/{trace}")
    assert status == 200 and body["totals"]["calls"] == 2
    assert [r["parent_span_id"] for r in body["receipts"]] == ["00f067aa0ba902b7"] * 2
    assert body["totals"]["cost_usd"] == pytest.approx(
        sum(r["outcome"]["cost_usd"] for r in body["receipts"])
    )
    status, found = h.get("/x/traces?workload=support&limit=10")
    assert status == 200 and len(found["receipts"]) >= 2
    assert h.get("/x/traces?since=yesterday")[0] == 400
    assert h.get("/x/traces/" + "f" * 32)[0] == 404


def test_metrics_count_calls_rejections_and_cost(h: Harness) -> None:
    client = openai.OpenAI(base_url=h.url + "/v1", api_key="unused", max_retries=0)
    client.chat.completions.create(model="policy:eu-quality", messages=[{"role": "user", "content": "m"}])
    status, text = h.get("/metrics")
    assert status == 200
    assert 'unhardcoded_calls_total{status="ok",workload="support"}' in text
    assert 'unhardcoded_rejections_total{rule="quality"}' in text
    assert 'unhardcoded_cost_usd_total{deployment="alpha/mid"}' in text
    assert "unhardcoded_call_seconds_bucket" in text


def test_schemas_and_openapi(h: Harness) -> None:
    status, doc = h.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "/v1/chat/completions" in doc["paths"] and "/x/rank" in doc["paths"]
    status, schema = h.get("/x/schema/receipt")
    assert status == 200 and "candidates" in schema["properties"]
    assert h.get("/x/schema/nope")[0] == 404


def test_receipt_validates_against_its_schema(h: Harness, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    client = openai.OpenAI(base_url=h.url + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "schema"}]
    )
    receipt = h.receipt(raw.headers["x-unhardcoded-request-id"])
    jsonschema.validate(receipt, h.get("/x/schema/receipt")[1])
