"""The attempt loop: try the plan in order, fall back on the policy's error classes, record every attempt.

Fallback rules (SPEC §2, and what the README documents):
- an error class in `fallback.on` moves on to the next planned candidate;
- `auth_error` moves on to the next candidate of *another* provider (one provider's bad key says nothing
  about another's) and never retries that provider within the call;
- `client_error` from the upstream stops: the request itself is wrong, another provider would refuse it too;
  a refusal by our own adapter before sending (a parameter that provider cannot honour) moves on;
- `Retry-After` is honoured within the call's total budget: with no other candidate left, the same
  deployment is retried after the wait; otherwise the deployment is cooled down for that long;
- a stream falls back only before its first byte has reached the client; after that the error is sent
  in-stream and the receipt says `partial`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from unhardcoded.catalog.model import Deployment
from unhardcoded.errors import ErrorClass, ProviderError
from unhardcoded.gateway.receipts import Attempt
from unhardcoded.gateway.service import Call, Gateway, Reply, Sink, error_body
from unhardcoded.gateway.transport import Timeouts
from unhardcoded.providers.base import Adapter, ChatResult, HttpCall, StreamTranslator, Target
from unhardcoded.providers.sse import DONE, encode_event

R = TypeVar("R")
STATUS_FOR: dict[ErrorClass, int] = {
    "rate_limited": 429,
    "timeout": 504,
    "server_error": 502,
    "connection_error": 502,
    "bad_response": 502,
    "auth_error": 502,
    "client_error": 400,
}


@dataclass(slots=True)
class _Cursor:
    """Where the loop is in the plan."""

    index: int = 0
    wait_s: float | None = None
    last_error: ProviderError | None = None
    skip: set[str] = field(default_factory=set)  # providers not to try again in this call


@dataclass(slots=True)
class AttemptContext:
    att: Attempt
    dep: Deployment
    target: Target
    adapter: Adapter
    request: HttpCall
    timeouts: Timeouts
    remaining: float
    t0: float


OneAttempt = Callable[[AttemptContext], Awaitable[R]]


def _remaining(gw: Gateway, call: Call) -> float:
    return call.perf0 + gw.settings.call_timeout_s - time.perf_counter()


def _next_step(gw: Gateway, call: Call, cur: _Cursor, err: ProviderError, *, sent: bool) -> bool:
    """Decide what follows a failed attempt; True = try again (cursor updated)."""
    plan, pol = call.decision.plan, call.policy
    dep = gw.catalog.get(plan[cur.index])
    assert dep is not None
    if len(call.attempts) >= pol.max_attempts:
        return False
    if err.error_class == "auth_error":
        cur.skip.add(dep.provider)
    elif not (err.error_class in pol.fallback_on or (err.error_class == "client_error" and not sent)):
        return False
    for j in range(cur.index + 1, len(plan)):
        nxt = gw.catalog.get(plan[j])
        if nxt is not None and nxt.provider not in cur.skip:
            cur.index = j
            return True
    retry = err.error_class == "rate_limited" and err.retry_after is not None and dep.provider not in cur.skip
    if retry and err.retry_after is not None and err.retry_after < _remaining(gw, call):
        cur.wait_s = err.retry_after
        return True
    return False


async def run_attempts(
    gw: Gateway,
    call: Call,
    body: dict[str, Any],
    *,
    stream: bool,
    one: OneAttempt[R],
    can_fall_back: Callable[[], bool],
) -> tuple[Attempt, R] | None:
    """Walk the plan until an attempt succeeds (its Attempt and result) or nothing is left (None)."""
    cur = _Cursor()
    plan = call.decision.plan
    while True:
        if cur.wait_s:
            await asyncio.sleep(cur.wait_s)
        dep = gw.catalog.get(plan[cur.index])
        assert dep is not None
        remaining = _remaining(gw, call)
        if remaining <= 0:
            break
        att = Attempt(dep.id, dep.provider, time.time(), waited_s=cur.wait_s)
        cur.wait_s = None
        call.attempts.append(att)
        target = gw.target(dep)
        adapter = gw.adapters[target.kind]
        t0 = time.perf_counter()
        sent = False
        try:
            tmo = gw.timeouts(dep.provider, remaining)
            creds = await gw.credentials.get(dep.provider, tmo)
            req = adapter.build_request(body, target, creds, stream=stream)
            request_warnings = getattr(adapter, "request_warnings", None)  # optional, see providers/base.py
            if request_warnings is not None:
                att.warnings = list(request_warnings(body, target))
            sent = True
            result = await one(AttemptContext(att, dep, target, adapter, req, tmo, remaining, t0))
        except ProviderError as e:
            gw.attempt_failed(att, e, (time.perf_counter() - t0) * 1000)
            cur.last_error = e
            if can_fall_back() and _next_step(gw, call, cur, e, sent=sent):
                continue
            break
        att.latency_ms = round((time.perf_counter() - t0) * 1000, 3)
        gw.metrics.observe("unhardcoded_upstream_seconds", att.latency_ms / 1000)
        return att, result
    call.last_error = cur.last_error
    return None


def _mark_fallbacks(gw: Gateway, call: Call) -> None:
    n = 0
    for a, b in zip(call.attempts, call.attempts[1:], strict=False):
        if a.deployment != b.deployment:
            a.fell_back = True
            n += 1
    if n:
        gw.metrics.inc("unhardcoded_fallbacks_total", (), n)


def _succeeded(gw: Gateway, call: Call, att: Attempt, result: ChatResult | StreamTranslator) -> None:
    o = call.outcome
    o.status = "ok"
    o.deployment = att.deployment
    o.model = result.model
    o.usage = result.usage
    o.finish_reason = result.finish_reason
    o.warnings.extend(w for w in (*att.warnings, *result.warnings) if w not in o.warnings)
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    o.price(gw.catalog, call.policy.baseline)
    gw.breakers.success(att.deployment)
    call.headers["x-unhardcoded-deployment"] = att.deployment
    _mark_fallbacks(gw, call)


async def _failed(gw: Gateway, call: Call) -> Reply:
    err = call.last_error or ProviderError("timeout", "the call's total budget ran out before any attempt")
    o = call.outcome
    o.status = "error"
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    message = gw.redact(f"all {len(call.attempts)} attempt(s) failed; last: {err.error_class}: {err.message}")
    o.error = {"error_class": err.error_class, "message": message}
    status = STATUS_FOR[err.error_class]
    if err.error_class == "client_error" and err.status and 400 <= err.status < 500:
        status = err.status
    _mark_fallbacks(gw, call)
    await gw.finish(call)
    body = error_body(
        message, f"upstream_{err.error_class}", code=err.error_class, request_id=call.request_id
    )
    return Reply(status, body, call.headers)


async def _no_route(gw: Gateway, call: Call) -> Reply:
    from unhardcoded.policy.explain import explain

    o = call.outcome
    o.status = "no_route"
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    text = explain(call.decision)
    o.error = {"error_class": "no_route", "message": text}
    await gw.finish(call)
    body = error_body(
        f"no deployment passed the policy: {text}. GET /x/receipts/{call.request_id} shows every candidate.",
        "no_route",
        code="no_route",
        request_id=call.request_id,
    )
    return Reply(422, body, call.headers)


async def chat(gw: Gateway, body: dict[str, Any], headers: Any) -> Reply:
    """A non-streaming call."""
    call = gw.begin(body, headers)
    if not call.decision.plan:
        return await _no_route(gw, call)
    if gw.store.durability == "strict":
        await gw.record(call, final=False)

    async def one(ctx: AttemptContext) -> ChatResult:
        resp = await gw.transport.send(ctx.request, ctx.timeouts)
        ctx.att.http_status = resp.status
        if resp.status >= 300:
            raise ctx.adapter.parse_error(resp.status, resp.headers, resp.body)
        return ctx.adapter.parse_response(resp.status, resp.headers, resp.body, ctx.target)

    done = await run_attempts(gw, call, body, stream=False, one=one, can_fall_back=lambda: True)
    if done is None:
        return await _failed(gw, call)
    att, result = done
    _succeeded(gw, call, att, result)
    await gw.finish(call)
    return Reply(200, result.body, call.headers)


class _StreamRun:
    """One streaming call: forwards translated bytes, and remembers whether the client has any yet."""

    def __init__(self, gw: Gateway, call: Call, sink: Sink, include_usage: bool) -> None:
        self.gw, self.call, self.sink, self.include_usage = gw, call, sink, include_usage
        self.started = False

    async def start(self, dep_id: str) -> None:
        self.call.headers["x-unhardcoded-deployment"] = dep_id
        await self.sink.start(self.call.headers)
        self.started = True

    async def one(self, ctx: AttemptContext) -> tuple[StreamTranslator, bytes]:
        call = self.call
        async with asyncio.timeout(ctx.remaining):
            handle = await self.gw.transport.open_stream(ctx.request, ctx.timeouts)
            try:
                ctx.att.http_status = handle.status
                if handle.status >= 300:
                    raise ctx.adapter.parse_error(handle.status, handle.headers, await handle.read_all())
                tr = ctx.adapter.stream_translator(
                    ctx.target, include_usage=self.include_usage, request_id=call.request_id
                )
                async for chunk in handle.chunks():
                    out = tr.feed(chunk)
                    if out:
                        if not self.started:
                            await self.start(ctx.dep.id)
                            ctx.att.ttft_ms = round((time.perf_counter() - ctx.t0) * 1000, 3)
                            call.outcome.ttft_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
                            self.gw.metrics.observe("unhardcoded_ttft_seconds", call.outcome.ttft_ms / 1000)
                        await self.sink.write(out)
                return tr, tr.finish()
            except TimeoutError:
                raise ProviderError("timeout", "the call's total budget ran out") from None
            finally:
                handle.close()

    async def partial(self, err: ProviderError) -> None:
        """An error after the first byte: report it in-stream, then end; the receipt says partial."""
        gw, call = self.gw, self.call
        o = call.outcome
        o.status = "partial"
        o.deployment = call.attempts[-1].deployment
        o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
        message = gw.redact(f"the stream failed after it started: {err.error_class}: {err.message}")
        o.error = {"error_class": err.error_class, "message": message}
        _mark_fallbacks(gw, call)
        await gw.finish(call)
        try:
            await self.sink.write(
                encode_event(error_body(message, f"upstream_{err.error_class}", code=err.error_class))
            )
            await self.sink.write(DONE)
        except ConnectionError:
            pass


async def chat_stream(gw: Gateway, body: dict[str, Any], headers: Any, sink: Sink) -> Reply | None:
    """A streaming call. Returns a Reply when nothing was streamed (an error before the first byte)."""
    call = gw.begin(body, headers)
    if not call.decision.plan:
        return await _no_route(gw, call)
    if gw.store.durability == "strict":
        await gw.record(call, final=False)
    so = body.get("stream_options")
    run = _StreamRun(gw, call, sink, isinstance(so, dict) and so.get("include_usage") is True)
    try:
        done = await run_attempts(
            gw, call, body, stream=True, one=run.one, can_fall_back=lambda: not run.started
        )
    except (ConnectionError, asyncio.CancelledError):
        # The client went away mid-stream: the receipt still records what was served.
        call.outcome.status = "partial"
        call.outcome.deployment = call.attempts[-1].deployment if call.attempts else None
        call.outcome.error = {"error_class": "client_closed", "message": "the client closed the stream"}
        await asyncio.shield(gw.finish(call))
        raise
    if done is None:
        if run.started and call.last_error is not None:
            await run.partial(call.last_error)
            return None
        return await _failed(gw, call)
    att, (translator, tail) = done
    _succeeded(gw, call, att, translator)
    head, has_done = (tail[: -len(DONE)], True) if tail.endswith(DONE) else (tail, False)
    if not run.started:
        await run.start(att.deployment)
    await sink.write(head)
    # strict: the receipt is committed before the stream's [DONE] reaches the client.
    await gw.finish(call)
    if has_done:
        await sink.write(DONE)
    return None
