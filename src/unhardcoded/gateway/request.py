"""The chat call as the gateway receives it: checked once at the edge, then read-only.

`ChatRequest.parse` separates what the gateway reads (the policy, trace and workflow headers) from the
body that goes upstream. Nothing downstream mutates either: adapters get `body` as a read-only mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from unhardcoded.errors import RequestError

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
POLICY_HEADER = "x-unhardcoded-policy"
WORKFLOW_HEADER = "x-unhardcoded-workflow"
WORKFLOW_NODE_HEADER = "x-unhardcoded-workflow-node"
_GATEWAY_PREFIX = "x_unhardcoded"


_GATEWAY_FIELDS = frozenset({"policy", "provider", "models"})  # provider, models: OpenRouter's shape


def is_gateway_field(key: str) -> bool:
    """Body fields meant for the gateway, never sent upstream."""
    return key in _GATEWAY_FIELDS or key.startswith(_GATEWAY_PREFIX)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat-completions call: the upstream body plus the gateway's own inputs."""

    body: Mapping[str, Any]  # the OpenAI body without gateway fields; read-only
    model: str
    policy: Any  # the body's `policy`: an inline document, a stored policy's name, or None
    policy_header: str | None
    stream: bool
    include_usage: bool  # stream_options.include_usage
    traceparent: str | None
    workflow: str | None
    workflow_node: str | None
    tenant: str | None = None  # from the caller's gateway key, never from the body
    openrouter: tuple[Any, Any] | None = None  # the body's OpenRouter `provider` preferences and `models`

    @classmethod
    def parse(cls, doc: Any, headers: Mapping[str, str], *, tenant: str | None = None) -> ChatRequest:
        """Check the few things routing depends on (the provider validates the rest). Raises RequestError."""
        if not isinstance(doc, dict):
            raise RequestError("body: expected a JSON object")
        _check_messages(doc.get("messages"))
        stream = doc.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise RequestError("stream: expected true or false", path="stream")
        for name in ("max_tokens", "max_completion_tokens"):
            v = doc.get(name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise RequestError(f"{name}: expected a positive integer", path=name)
        model = doc.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError(
                "model: required, a string ('auto', 'policy:NAME' or a deployment id)", path="model"
            )
        so = doc.get("stream_options")
        body = {k: v for k, v in doc.items() if not is_gateway_field(k)}
        return cls(
            body=MappingProxyType(body),
            model=model,
            policy=doc.get("policy"),
            policy_header=headers.get(POLICY_HEADER) or None,
            stream=stream is True,
            include_usage=isinstance(so, dict) and so.get("include_usage") is True,
            traceparent=headers.get("traceparent"),
            workflow=headers.get(WORKFLOW_HEADER),
            workflow_node=headers.get(WORKFLOW_NODE_HEADER),
            tenant=tenant,
            openrouter=(doc.get("provider"), doc.get("models"))
            if doc.get("provider") is not None or doc.get("models") is not None
            else None,
        )


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: required, a non-empty array of messages", path="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(
                f"messages[{i}].role: expected one of {', '.join(ROLES)}",
                path=f"messages[{i}].role",
                choices=list(ROLES),
            )
