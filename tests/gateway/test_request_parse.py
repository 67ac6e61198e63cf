"""`ChatRequest.parse`, the one place the edge checks a chat body: what it refuses (in words, with the field
and the valid choices), what it keeps for the gateway and what it sends upstream.

In process and without a server, so the mutation run (docs/mutation.md) can afford these for every mutant.
"""

from __future__ import annotations

from typing import Any

import pytest

from unhardcoded.errors import RequestError
from unhardcoded.gateway.request import ROLES, ChatRequest, is_gateway_field

MSG = [{"role": "user", "content": "hi"}]


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": MSG, **kw}


def refused(doc: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    with pytest.raises(RequestError) as e:
        ChatRequest.parse(doc, headers or {})
    assert e.value.status == 400
    return e.value.to_dict()


@pytest.mark.parametrize("doc", [[], "x", None, 3])
def test_a_body_that_is_not_an_object_is_refused(doc: Any) -> None:
    assert refused(doc) == {"message": "body: expected a JSON object"}


@pytest.mark.parametrize("messages", [None, [], {}, "hi"])
def test_messages_must_be_a_non_empty_array(messages: Any) -> None:
    doc = {"model": "auto"} if messages is None else {"model": "auto", "messages": messages}
    assert refused(doc) == {
        "message": "messages: required, a non-empty array of messages",
        "path": "messages",
    }


@pytest.mark.parametrize("bad", [{"role": "robot"}, {"content": "no role"}, "user", None])
def test_every_message_needs_a_known_role_and_the_error_names_which(bad: Any) -> None:
    doc = body(messages=[*MSG, *MSG, bad])
    assert refused(doc) == {
        "message": "messages[2].role: expected one of system, developer, user, assistant, tool, function",
        "path": "messages[2].role",
        "choices": ["system", "developer", "user", "assistant", "tool", "function"],
    }


@pytest.mark.parametrize("role", ROLES)
def test_each_known_role_is_accepted(role: str) -> None:
    assert ChatRequest.parse(body(messages=[{"role": role, "content": "x"}]), {}).model == "auto"


@pytest.mark.parametrize("stream", ["true", 1, 0, [], {}])
def test_stream_must_be_a_boolean(stream: Any) -> None:
    assert refused(body(stream=stream)) == {"message": "stream: expected true or false", "path": "stream"}


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, "10", []])
def test_token_limits_must_be_positive_integers(name: str, value: Any) -> None:
    assert refused(body(**{name: value})) == {"message": f"{name}: expected a positive integer", "path": name}


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_the_smallest_token_limit_is_one(name: str) -> None:
    req = ChatRequest.parse(body(**{name: 1}), {})
    assert req.body[name] == 1


@pytest.mark.parametrize("doc", [{"messages": MSG}, body(model=""), body(model=None), body(model=3)])
def test_model_is_required_and_the_error_says_what_it_can_be(doc: dict[str, Any]) -> None:
    assert refused(doc) == {
        "message": "model: required, a string ('auto', 'policy:NAME' or a deployment id)",
        "path": "model",
    }


def test_the_checks_run_in_order_messages_then_stream_then_limits_then_model() -> None:
    assert refused({"stream": "x"})["path"] == "messages"
    assert refused({"messages": MSG, "stream": "x", "max_tokens": 0})["path"] == "stream"
    assert refused({"messages": MSG, "max_tokens": 0, "max_completion_tokens": 0})["path"] == "max_tokens"
    assert refused({"messages": MSG, "max_completion_tokens": 0})["path"] == "max_completion_tokens"


def test_a_plain_call_has_no_gateway_inputs() -> None:
    req = ChatRequest.parse(body(), {})
    assert req.model == "auto"
    assert dict(req.body) == body()
    assert req.policy is None and req.policy_header is None
    assert req.stream is False and req.include_usage is False
    assert req.traceparent is None and req.workflow is None and req.workflow_node is None
    assert req.tenant is None and req.openrouter is None


def test_gateway_fields_are_kept_for_the_gateway_and_never_sent_upstream() -> None:
    doc = body(
        policy={"select": {}},
        provider={"order": ["a"]},
        models=["a/one"],
        x_unhardcoded_note="n",
        temperature=0.5,
    )
    req = ChatRequest.parse(doc, {}, tenant="t1")
    assert dict(req.body) == body(temperature=0.5)
    assert req.policy == {"select": {}}
    assert req.openrouter == ({"order": ["a"]}, ["a/one"])
    assert req.tenant == "t1"
    assert "policy" in doc  # the caller's dict is not mutated


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (body(provider={"sort": "price"}), ({"sort": "price"}, None)),
        (body(models=["b/three"]), (None, ["b/three"])),
        (body(provider=None, models=None), None),
    ],
)
def test_either_openrouter_field_alone_is_kept(doc: dict[str, Any], expected: Any) -> None:
    assert ChatRequest.parse(doc, {}).openrouter == expected


def test_the_body_is_read_only() -> None:
    req = ChatRequest.parse(body(), {})
    with pytest.raises(TypeError):
        req.body["model"] = "other"  # type: ignore[index]


def test_headers_give_the_policy_trace_and_workflow() -> None:
    headers = {
        "x-unhardcoded-policy": "cheap",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "x-unhardcoded-workflow": "wf-1",
        "x-unhardcoded-workflow-node": "plan",
    }
    req = ChatRequest.parse(body(), headers)
    assert req.policy_header == "cheap"
    assert req.traceparent == headers["traceparent"]
    assert req.workflow == "wf-1" and req.workflow_node == "plan"


def test_an_empty_policy_header_means_no_policy() -> None:
    assert ChatRequest.parse(body(), {"x-unhardcoded-policy": ""}).policy_header is None


@pytest.mark.parametrize(
    ("doc", "stream", "usage"),
    [
        (body(stream=True), True, False),
        (body(stream=False, stream_options={"include_usage": True}), False, True),
        (body(stream=True, stream_options={"include_usage": True}), True, True),
        (body(stream=True, stream_options={"include_usage": "yes"}), True, False),
        (body(stream=True, stream_options={"include_usage": False}), True, False),
        (body(stream=True, stream_options=["include_usage"]), True, False),
        (body(stream=None), False, False),
    ],
)
def test_stream_and_include_usage(doc: dict[str, Any], stream: bool, usage: bool) -> None:
    req = ChatRequest.parse(doc, {})
    assert req.stream is stream and req.include_usage is usage


@pytest.mark.parametrize(
    ("key", "gateway"),
    [
        ("policy", True),
        ("provider", True),
        ("models", True),
        ("x_unhardcoded", True),
        ("x_unhardcoded_tenant", True),
        ("model", False),
        ("x_unhardcode", False),
        ("my_x_unhardcoded", False),
        ("policies", False),
    ],
)
def test_which_body_fields_belong_to_the_gateway(key: str, gateway: bool) -> None:
    assert is_gateway_field(key) is gateway
