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
from dataclasses import dataclass
from typing import Any

from unhardcoded.errors import ErrorClass, ProviderError
from unhardcoded.gateway.receipts import Attempt
from unhardcoded.gateway.service import Call, Gateway, Reply, Sink, error_body
from unhardcoded.providers.base import ChatResult, StreamTranslator
from unhardcoded.providers.sse import DONE, encode_event

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


def _next_step(gw: Gateway, call: Call, cur: _Cursor, err: ProviderError, *, sent: bool, skip: set[str]) -> bool:
    """Decide what follows a failed attempt; True = try again (cursor updated)."""
    plan, pol = call.decision.plan, call.policy
    dep = gw.catalog.deployments[gw.catalog.index(plan[cur.index]) or 0]
    if len(call.attempts) >= pol.max_attempts:
        return False
    remaining = call.perf0 + gw.settings.call_timeout_s - time.perf_counter()
    if err.error_class == "auth_error":
        skip.add(dep.provider)
    elif not (err.error_class in pol.fallback_on or (err.error_class == "client_error" and not sent)):
        return False
    later = [j for j in range(cur.index + 1, len(plan)) if gw.catalog.get(plan[j]).provider not in skip]  # type: ignore[union-attr]
    if later:
        cur.index = later[0]
        return True
    if (
        err.error_class == "rate_limited"
        and err.retry_after is not None
        and err.retry_after < remaining
        and dep.provider not in skip
    ):
        cur.wait_s = err.retry_after
        return True
    return False


def _mark_fallbacks(call: Call) -> int:
    n = 0
    for a, b in zip(call.attempts, call.attempts[1:], strict=False):
        if a.deployment != b.deployment:
            a.fell_back = True
            n += 1
    return n


def _succeeded(gw: Gateway, call: Call, att: Attempt, result: ChatResult | StreamTranslator) -> None:
    o = call.outcome
    o.status = "ok"
    o.deployment = att.deployment
    o.model = result.model
    o.usage = result.usage
    o.finish_reason = result.finish_reason
    o.warnings.extend(result.warnings)
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    o.price(gw.catalog, call.policy.baseline)
    gw.breakers.success(att.deployment)
    call.simulated = gw.providers[att.provider].simulated
    call.headers["x-unhardcoded-deployment"] = att.deployment


def _failed(gw: Gateway, call: Call, err: ProviderError | None) -> Reply:
    o = call.outcome
    o.status = "error"
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    if err is None:
        err = ProviderError("timeout", "the call's total budget ran out before any attempt")
    message = gw.redact(f"all {len(call.attempts)} attempt(s) failed; last: {err.error_class}: {err.message}")
    o.error = {"error_class": err.error_class, "message": message}
    status = STATUS_FOR[err.error_class]
    if err.error_class == "client_error" and err.status and 400 <= err.status < 500:
        status = err.status
    body = error_body(message, f"upstream_{err.error_class}", code=err.error_class, request_id=call.request_id)
    return Reply(status, body, call.headers)


async def no_route(gw: Gateway, call: Call) -> Reply:
    o = call.outcome
    o.status = "no_route"
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    text = call.decision.to_dict()["explanation"] if len(gw.catalog) <= 64 else _short(call)
    o.error = {"error_class": "no_route", "message": text}
    await gw.record(call, final=True)
    gw.finish_metrics(call)
    body = error_body(
        f"no deployment passed the policy: {text}. GET /x/receipts/{call.request_id} shows every candidate.",
        "no_route",
        code="no_route",
        request_id=call.request_id,
    )
    return Reply(422, body, call.headers)


def _short(call: Call) -> str:
    from unhardcoded.policy.explain import explain

    return explain(call.decision)


async def chat(gw: Gateway, body: dict[str, Any], headers: Any) -> Reply:
    """A non-streaming call."""
    call = gw.begin(body, headers)
    if not call.decision.plan:
        return await no_route(gw, call)
    if gw.store.durability == "strict":
        await gw.record(call, final=False)
    cur, skip = _Cursor(), set[str]()
    plan = call.decision.plan
    while True:
        if cur.wait_s:
            await asyncio.sleep(cur.wait_s)
        dep = gw.catalog.get(plan[cur.index])
        assert dep is not None
        remaining = call.perf0 + gw.settings.call_timeout_s - time.perf_counter()
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
            req = adapter.build_request(body, target, creds, stream=False)
            sent = True
            resp = await gw.transport.send(req, tmo)
            att.http_status = resp.status
            if resp.status >= 300:
                raise adapter.parse_error(resp.status, resp.headers, resp.body)
            result = adapter.parse_response(resp.status, resp.headers, resp.body, target)
        except ProviderError as e:
            gw.attempt_failed(att, e, (time.perf_counter() - t0) * 1000)
            cur.last_error = e
            if _next_step(gw, call, cur, e, sent=sent, skip=skip):
                continue
            break
        att.latency_ms = round((time.perf_counter() - t0) * 1000, 3)
        _succeeded(gw, call, att, result)
        gw.metrics.observe("unhardcoded_upstream_seconds", att.latency_ms / 1000)
        _count_fallbacks(gw, call)
        await gw.record(call, final=True)
        gw.finish_metrics(call)
        return Reply(200, result.body, call.headers)
    _count_fallbacks(gw, call)
    reply = _failed(gw, call, cur.last_error)
    await gw.record(call, final=True)
    gw.finish_metrics(call)
    return reply


def _count_fallbacks(gw: Gateway, call: Call) -> None:
    n = _mark_fallbacks(call)
    if n:
        gw.metrics.inc("unhardcoded_fallbacks_total", (), n)


async def chat_stream(gw: Gateway, body: dict[str, Any], headers: Any, sink: Sink) -> Reply | None:
    """A streaming call. Returns a Reply when nothing was streamed (an error before the first byte)."""
    call = gw.begin(body, headers)
    if not call.decision.plan:
        return await no_route(gw, call)
    if gw.store.durability == "strict":
        await gw.record(call, final=False)
    so = body.get("stream_options")
    include_usage = isinstance(so, dict) and so.get("include_usage") is True
    cur, skip = _Cursor(), set[str]()
    plan = call.decision.plan
    started = False
    while True:
        if cur.wait_s:
            await asyncio.sleep(cur.wait_s)
        dep = gw.catalog.get(plan[cur.index])
        assert dep is not None
        remaining = call.perf0 + gw.settings.call_timeout_s - time.perf_counter()
        if remaining <= 0:
            break
        att = Attempt(dep.id, dep.provider, time.time(), waited_s=cur.wait_s)
        cur.wait_s = None
        call.attempts.append(att)
        target = gw.target(dep)
        adapter = gw.adapters[target.kind]
        t0 = time.perf_counter()
        sent = False
        translator: StreamTranslator | None = None
        try:
            tmo = gw.timeouts(dep.provider, remaining)
            creds = await gw.credentials.get(dep.provider, tmo)
            req = adapter.build_request(body, target, creds, stream=True)
            sent = True
            async with asyncio.timeout(remaining):
                handle = await gw.transport.open_stream(req, tmo)
                try:
                    att.http_status = handle.status
                    if handle.status >= 300:
                        raise adapter.parse_error(handle.status, handle.headers, await handle.read_all())
                    translator = adapter.stream_translator(
                        target, include_usage=include_usage, request_id=call.request_id
                    )
                    async for chunk in handle.chunks():
                        out = translator.feed(chunk)
                        if out:
                            if not started:
                                call.headers["x-unhardcoded-deployment"] = dep.id
                                await sink.start(call.headers)
                                started = True
                                att.ttft_ms = round((time.perf_counter() - t0) * 1000, 3)
                                call.outcome.ttft_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
                                gw.metrics.observe("unhardcoded_ttft_seconds", call.outcome.ttft_ms / 1000)
                            await sink.write(out)
                    tail = translator.finish()
                finally:
                    handle.close()
        except TimeoutError:
            e = ProviderError("timeout", "the call's total budget ran out mid-stream")
            gw.attempt_failed(att, e, (time.perf_counter() - t0) * 1000)
            cur.last_error = e
            if started:
                return await _partial(gw, call, sink, e)
            break
        except ProviderError as e:
            gw.attempt_failed(att, e, (time.perf_counter() - t0) * 1000)
            cur.last_error = e
            if started:
                return await _partial(gw, call, sink, e)
            if _next_step(gw, call, cur, e, sent=sent, skip=skip):
                continue
            break
        except (ConnectionError, asyncio.CancelledError) as e:
            # The client went away: the receipt still records what was served.
            err = ProviderError("connection_error", "the client closed the connection")
            gw.attempt_failed(att, err, (time.perf_counter() - t0) * 1000)
            call.outcome.status = "partial"
            call.outcome.error = {"error_class": "client_closed", "message": "the client closed the stream"}
            call.outcome.deployment = dep.id
            await gw.record(call, final=True)
            gw.finish_metrics(call)
            if isinstance(e, asyncio.CancelledError):
                raise
            return None
        att.latency_ms = round((time.perf_counter() - t0) * 1000, 3)
        assert translator is not None
        _succeeded(gw, call, att, translator)
        _count_fallbacks(gw, call)
        head, done = (tail[: -len(DONE)], True) if tail.endswith(DONE) else (tail, False)
        if not started:
            await sink.start(call.headers)
            started = True
        if head:
            await sink.write(head)
        # strict: the receipt is committed before the stream's [DONE] reaches the client.
        await gw.record(call, final=True)
        gw.finish_metrics(call)
        await sink.write(DONE if done else b"")
        return None
    _count_fallbacks(gw, call)
    reply = _failed(gw, call, cur.last_error)
    await gw.record(call, final=True)
    gw.finish_metrics(call)
    return reply


async def _partial(gw: Gateway, call: Call, sink: Sink, err: ProviderError) -> None:
    """An error after the first byte: report it in-stream, then end; the receipt says partial."""
    o = call.outcome
    o.status = "partial"
    o.deployment = call.attempts[-1].deployment
    o.latency_ms = round((time.perf_counter() - call.perf0) * 1000, 3)
    message = gw.redact(f"the stream failed after it started: {err.error_class}: {err.message}")
    o.error = {"error_class": err.error_class, "message": message}
    _count_fallbacks(gw, call)
    await gw.record(call, final=True)
    gw.finish_metrics(call)
    try:
        await sink.write(encode_event(error_body(message, f"upstream_{err.error_class}", code=err.error_class)))
        await sink.write(DONE)
    except ConnectionError:
        pass
    return None
