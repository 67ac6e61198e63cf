"""A finished receipt as OpenTelemetry spans: pure data, no SDK import (so it is cheap and testable alone).

One SERVER span per call whose trace id and span id are the receipt's own, parented on the caller's
`traceparent` span; one CLIENT child span per attempt; one span event per rule that rejected candidates.
Attributes follow the GenAI semantic conventions (`gen_ai.*`) plus our own `unhardcoded.*`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

AttrValue = str | bool | int | float | tuple[str, ...]

# Our provider names → the well-known `gen_ai.provider.name` values; others pass through as they are.
PROVIDER_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "openai": "openai",
        "azure": "azure.ai.openai",
        "anthropic": "anthropic",
        "gemini": "gcp.gemini",
        "vertex": "gcp.vertex_ai",
        "bedrock": "aws.bedrock",
        "mistral": "mistral_ai",
        "deepseek": "deepseek",
        "xai": "x_ai",
        "groq": "groq",
        "cohere": "cohere",
        "perplexity": "perplexity",
    }
)
REJECTION_EVENT = "unhardcoded.rejection"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SCALARS = (str, bool, int, float)


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    time_ns: int
    attributes: dict[str, AttrValue]


@dataclass(frozen=True, slots=True)
class SpanPlan:
    """Everything the SDK needs to emit one span. `span_id` None: let the SDK pick one (attempt spans)."""

    name: str
    kind: Literal["server", "client"]
    trace_id: int
    span_id: int | None
    parent_span_id: int | None  # for the server span: the caller's span (remote); else the server span's
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue]
    events: list[Event] = field(default_factory=list)
    error: str | None = None  # the status description when the span ends in error


def time_ns(iso: str) -> int:
    """ISO 8601 (the receipt's `...Z`, millisecond precision) → Unix nanoseconds, exact to the millisecond."""
    t = dt.datetime.fromisoformat(iso)
    d = (t if t.tzinfo else t.replace(tzinfo=dt.UTC)) - _EPOCH  # integer arithmetic: no float rounding
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


def _ms_ns(ms: Any) -> int:
    return round(float(ms) * 1_000_000) if isinstance(ms, int | float) else 0


def _put_all(attrs: dict[str, AttrValue], pairs: Iterable[tuple[str, Any]]) -> None:
    """Set each attribute that is a scalar OpenTelemetry takes; nulls (OTel has none) and anything odd are
    left out, so one strange receipt can never make the encoder fail a whole batch."""
    for key, value in pairs:
        if isinstance(value, _SCALARS):
            attrs[key] = value


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def request_model(receipt: Mapping[str, Any]) -> str:
    """What the client asked for: a pinned deployment or model, else the named policy, else `auto`."""
    pinned = receipt.get("pinned")
    if pinned:
        return str(pinned)
    name = (receipt.get("policy") or {}).get("name")
    return f"policy:{name}" if name else "auto"


def _error_type(receipt: Mapping[str, Any], attempts: list[Mapping[str, Any]]) -> str | None:
    status = receipt.get("status")
    if status == "ok":
        return None
    if status in ("no_route", "partial"):
        return str(status)
    err = (receipt.get("outcome") or {}).get("error") or {}
    for key in ("error_class", "type", "code"):
        if err.get(key):
            return str(err[key])
    last = attempts[-1].get("error_class") if attempts else None
    return str(last) if last else "error"


def plan_spans(
    receipt: Mapping[str, Any],
    rejections: Mapping[str, int],
    *,
    candidates: int | None = None,
    passed: int | None = None,
) -> list[SpanPlan]:
    """The server span first, then one client span per attempt. Raises KeyError/ValueError on a receipt
    without ids or times (the caller counts those, it never lets them reach a call)."""
    trace_id = int(receipt["trace_id"], 16)
    span_id = int(receipt["span_id"], 16)
    parent = receipt.get("parent_span_id")
    start = time_ns(receipt["created_at"])
    outcome: Mapping[str, Any] = receipt.get("outcome") or {}
    attempts: list[Mapping[str, Any]] = list(receipt.get("attempts") or ())
    policy: Mapping[str, Any] = receipt.get("policy") or {}
    usage: Mapping[str, Any] = outcome.get("usage") or {}
    baseline: Mapping[str, Any] = outcome.get("baseline") or {}
    counts: Mapping[str, Any] = receipt.get("counts") or {}  # present on the expanded (stored) form
    if candidates is None:
        candidates = counts.get("candidates")
    if passed is None:
        passed = counts.get("passed")

    att_ends = [time_ns(a["started_at"]) + _ms_ns(a.get("latency_ms")) for a in attempts]
    end = start + _ms_ns(outcome.get("latency_ms")) if outcome.get("latency_ms") is not None else 0
    end = max([end, start, *att_ends])
    answered = outcome.get("deployment")
    answering = next((a for a in reversed(attempts) if a.get("deployment") == answered), None)
    if answering is None and attempts:
        answering = attempts[-1]
    req_model = request_model(receipt)
    error = _error_type(receipt, attempts)

    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": req_model,
        "unhardcoded.request_id": str(receipt.get("request_id")),
        "unhardcoded.attempts": len(attempts),
        "unhardcoded.fallbacks": sum(1 for a in attempts if a.get("fell_back")),
    }
    if answering is not None:
        attrs["gen_ai.provider.name"] = provider_name(str(answering.get("provider")))
    if outcome.get("finish_reason"):
        attrs["gen_ai.response.finish_reasons"] = (str(outcome["finish_reason"]),)
    if candidates is not None and passed is not None:
        attrs["unhardcoded.candidates.rejected"] = candidates - passed
    workflow = receipt.get("workflow") or {}
    _put_all(
        attrs,
        (
            ("gen_ai.response.model", outcome.get("model")),
            ("gen_ai.usage.input_tokens", usage.get("input_tokens")),
            ("gen_ai.usage.output_tokens", usage.get("output_tokens")),
            ("gen_ai.usage.cache_read.input_tokens", usage.get("cached_input_tokens")),
            ("gen_ai.usage.cache_creation.input_tokens", usage.get("cache_write_tokens")),
            ("error.type", error),
            ("unhardcoded.policy.fingerprint", policy.get("fingerprint")),
            ("unhardcoded.policy.sha256", policy.get("sha256")),
            ("unhardcoded.policy.name", policy.get("name")),
            ("unhardcoded.workload", policy.get("workload")),
            ("unhardcoded.pinned", receipt.get("pinned")),
            ("unhardcoded.catalog_version", receipt.get("catalog_version")),
            ("unhardcoded.decision_hash", receipt.get("decision_hash")),
            ("unhardcoded.candidates", candidates),
            ("unhardcoded.candidates.passed", passed),
            ("unhardcoded.rules.fired", sum(1 for n in rejections.values() if n)),
            ("unhardcoded.deployment", answered),
            ("unhardcoded.cost_usd", outcome.get("cost_usd")),
            ("unhardcoded.baseline.deployment", baseline.get("deployment")),
            ("unhardcoded.baseline.cost_usd", baseline.get("cost_usd")),
            ("unhardcoded.savings_usd", outcome.get("savings_usd")),
            ("unhardcoded.ttft_ms", outcome.get("ttft_ms")),
            ("unhardcoded.workflow.id", workflow.get("id")),
            ("unhardcoded.workflow.node", workflow.get("node")),
            ("unhardcoded.tenant", receipt.get("tenant")),
            ("unhardcoded.explanation", receipt.get("explanation")),
        ),
    )

    # One event per rule (never per deployment: a catalog of 700 would bury the span).
    events = [
        Event(REJECTION_EVENT, start, {"unhardcoded.rule.id": str(rule), "unhardcoded.rule.rejected": int(n)})
        for rule, n in rejections.items()
        if n
    ]
    spans = [
        SpanPlan(
            name=f"chat {req_model}",
            kind="server",
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=int(parent, 16) if parent else None,
            start_ns=start,
            end_ns=end,
            attributes=attrs,
            events=events,
            error=error,
        )
    ]
    for i, (a, a_end) in enumerate(zip(attempts, att_ends, strict=True)):
        spans.append(_attempt_span(a, i, trace_id, span_id, a_end, outcome, answering))
    return spans


def _attempt_span(
    a: Mapping[str, Any],
    index: int,
    trace_id: int,
    server_span_id: int,
    end_ns: int,
    outcome: Mapping[str, Any],
    answering: Mapping[str, Any] | None,
) -> SpanPlan:
    dep = str(a.get("deployment"))
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(str(a.get("provider"))),
        "gen_ai.request.model": dep,
        "unhardcoded.deployment": dep,
        "unhardcoded.attempt": index + 1,
        "unhardcoded.attempt.fell_back": bool(a.get("fell_back")),
    }
    _put_all(
        attrs,
        (
            ("http.response.status_code", a.get("http_status")),
            ("error.type", a.get("error_class")),
            ("unhardcoded.ttft_ms", a.get("ttft_ms")),
            ("unhardcoded.attempt.waited_s", a.get("waited_s")),
            ("gen_ai.response.model", outcome.get("model") if a is answering else None),
        ),
    )
    return SpanPlan(
        name=f"chat {dep}",
        kind="client",
        trace_id=trace_id,
        span_id=None,
        parent_span_id=server_span_id,
        start_ns=time_ns(a["started_at"]),
        end_ns=end_ns,
        attributes=attrs,
        error=str(a["error_class"]) if a.get("error_class") else None,
    )
