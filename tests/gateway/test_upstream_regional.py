"""What `Upstream` hands the adapters that only regional providers read (gateway/upstream.py): the
deployment's region (its `endpoint_region`, else its `region` field), the provider's options (Vertex's
project), the attempt's timeouts for the Vertex token exchange, and the target and headers that
`request_warnings` and `parse_response` read.

A Vertex AI and a Bedrock deployment through the in-process gateway: the scripted transport answers in
each provider's wire format (a token endpoint, Gemini's `generateContent`, Bedrock's Converse) and keeps
every request, URL and headers included, so the region is seen in the URL and in the SigV4 scope.

Written from the survivors of `make mutation` on `gateway/upstream.py` (docs/mutation.md).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from tests.canary import MARKER
from tests.gateway.scripted import dep, settings
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import Timeouts, UpstreamResponse
from unhardcoded.providers.base import HttpCall
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store
from unhardcoded.testing.google_sa import FakeServiceAccount, make_service_account

TIMEOUTS = {"timeout_s": 7, "connect_timeout_s": 1.5, "first_byte_timeout_s": 3, "idle_timeout_s": 2}
ATTEMPT = Timeouts(connect_s=1.5, first_byte_s=3, idle_s=2, total_s=7)
AWS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": f"aws-secret-{MARKER}-0004"}

GEMINI_ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
}
CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
}


@functools.cache
def account() -> FakeServiceAccount:
    return make_service_account(client_email="gw-test@fake-project.iam.gserviceaccount.com")


class Wire:
    """A transport that keeps every request with its timeouts and answers by host: a token for `tok`,
    else the host's scripted body."""

    def __init__(self, answers: dict[str, tuple[dict[str, str], Any]]) -> None:
        self.answers = answers
        self.sent: list[tuple[HttpCall, Timeouts]] = []

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        self.sent.append((call, timeouts))
        host = urlsplit(call.url).hostname or ""
        if host == "tok.test":
            return UpstreamResponse(200, {}, orjson.dumps({"access_token": "tok-1", "expires_in": 3600}))
        headers, body = self.answers[host]
        return UpstreamResponse(200, headers, orjson.dumps(body))

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> Any:
        raise AssertionError("no streams here")

    async def close(self) -> None:
        pass

    def to(self, host: str) -> list[tuple[HttpCall, Timeouts]]:
        return [(c, t) for c, t in self.sent if urlsplit(c.url).hostname == host]


def gateway(
    tmp: Path, transport: Wire, providers: dict[str, Any], deployments: list[Any], **env: str
) -> Gateway:
    s = settings(
        tmp,
        providers={name: p | TIMEOUTS for name, p in providers.items()},
        catalog={"bundled": False, "deployments": deployments},
        default_baseline=deployments[0]["id"],
    )
    store = open_store(s.store, durability=s.durability)
    return Gateway(s, Policies(s), store, transport, load_adapters(), env=env)


def only(deployment: str, **body: Any) -> ChatRequest:
    policy = {"rules": [{"field": "id", "op": "==", "value": deployment}]}
    doc = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "policy": policy, **body}
    return ChatRequest.parse(doc, {})


VERTEX = {
    "kind": "vertex",
    "base_url": "http://vx.test",
    "project": "proj-1",
    "credentials_env": "VX_SA",
    "token_uri": "http://tok.test/token",
}
VERTEX_DEPLOYMENTS = [
    dep("vx/east", upstream_model="gemini-x", endpoint_region="us-east5", region="us"),
    dep("vx/west", upstream_model="gemini-x", region="europe-west4"),
]


@pytest.mark.parametrize(
    ("deployment", "location"),
    [("vx/east", "us-east5"), ("vx/west", "europe-west4")],  # its endpoint_region, else its region
)
async def test_a_vertex_call_goes_to_the_deployments_region_and_the_providers_project(
    tmp_path: Path, deployment: str, location: str
) -> None:
    sa = tmp_path / "sa.json"
    sa.write_text(account().json_text)
    wire = Wire({"vx.test": ({}, GEMINI_ANSWER)})
    gw = gateway(tmp_path, wire, {"vx": VERTEX}, VERTEX_DEPLOYMENTS, VX_SA=str(sa))
    await gw.open()
    try:
        reply = await gw.chat(only(deployment, logit_bias={"1": 2}))
        receipt = await gw.receipt(reply.headers["x-unhardcoded-request-id"])
    finally:
        await gw.close()
    assert reply.status == 200
    ((token_call, token_timeouts),) = wire.to("tok.test")
    assert token_timeouts == ATTEMPT  # the token exchange is bounded as the attempt is
    ((call, _),) = wire.to("vx.test")
    assert call.url == (
        f"http://vx.test/v1/projects/proj-1/locations/{location}"
        "/publishers/google/models/gemini-x:generateContent"
    )
    assert call.headers["authorization"] == "Bearer tok-1"
    answer = orjson.loads(reply.body)
    assert answer["model"] == "gemini-x"  # parse_response read the target
    assert receipt is not None
    assert receipt["warnings"] == ["logit_bias has no Gemini equivalent; dropped"]


BEDROCK_DEPLOYMENTS = [
    dep("bk/west", upstream_model="anthropic.claude-x", endpoint_region="us-west-2", region="us"),
    dep("bk/frankfurt", upstream_model="anthropic.claude-x", region="eu-central-1"),
]


@pytest.mark.parametrize(
    ("deployment", "region"),
    [("bk/west", "us-west-2"), ("bk/frankfurt", "eu-central-1")],  # its endpoint_region, else its region
)
async def test_a_bedrock_call_is_signed_for_the_deployments_region_and_answers_with_its_request_id(
    tmp_path: Path, deployment: str, region: str
) -> None:
    wire = Wire({"bk.test": ({"x-amzn-RequestId": "req-42"}, CONVERSE_ANSWER)})
    providers = {"bk": {"kind": "bedrock", "base_url": "http://bk.test"}}
    gw = gateway(tmp_path, wire, providers, BEDROCK_DEPLOYMENTS, **AWS)
    await gw.open()
    try:
        reply = await gw.chat(only(deployment))
    finally:
        await gw.close()
    assert reply.status == 200
    ((call, timeouts),) = wire.sent
    assert call.url == "http://bk.test/model/anthropic.claude-x/converse"
    assert f"/{region}/bedrock/aws4_request" in call.headers["Authorization"]
    assert timeouts == ATTEMPT
    answer = orjson.loads(reply.body)
    assert answer["id"] == "chatcmpl-req-42"  # parse_response read the answer's headers
    assert answer["model"] == "anthropic.claude-x"


async def test_a_bedrock_provider_without_a_base_url_calls_the_regions_aws_endpoint(tmp_path: Path) -> None:
    # Bedrock needs no base URL (its credentials are AWS's), so `rt:no-key` keeps it and the target's
    # empty base URL means the public endpoint of the deployment's region
    host = "bedrock-runtime.us-west-2.amazonaws.com"
    wire = Wire({host: ({"x-amzn-RequestId": "req-43"}, CONVERSE_ANSWER)})
    gw = gateway(tmp_path, wire, {"bk": {"kind": "bedrock"}}, BEDROCK_DEPLOYMENTS, **AWS)
    await gw.open()
    try:
        reply = await gw.chat(only("bk/west"))
    finally:
        await gw.close()
    assert reply.status == 200
    ((call, _),) = wire.sent
    assert call.url == f"https://{host}/model/anthropic.claude-x/converse"
