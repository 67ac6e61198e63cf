"""One chat call, owned by one object from its decision to its receipt.

`CallRunner` walks the decision's plan: it prepares and sends each attempt through `Upstream`, asks
`fallback.next_step` what follows a failure, and at the end builds the `Outcome` once and hands it, with
the attempts, to the `Recorder`. Nothing else writes a call's state. Failures leave as `CallFailed`
exceptions (their receipt already written) that only the HTTP edge turns into responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from unhardcoded.catalog.model import Catalog
from unhardcoded.errors import BudgetExceeded, NoRouteError, ProviderError, UpstreamFailed
from unhardcoded.gateway.breaker import Breakers
from unhardcoded.gateway.fallback import Failed, Next, Planned, Stop, next_step
from unhardcoded.gateway.receipts import Attempt, Outcome, Priced
from unhardcoded.gateway.record import CallInfo, Recorder
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.upstream import Prepared, Upstream, dedupe
from unhardcoded.policy.explain import explain
from unhardcoded.providers.base import ChatResult, StreamTranslator
from unhardcoded.providers.sse import DONE

R = TypeVar("R")


class Sink(Protocol):
    """Where a stream goes: the HTTP layer's streaming response."""

    async def start(self, headers: dict[str, str]) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def fail(self, error_class: str, message: str) -> None:
        """An error after the stream started: report it in-stream and end the stream."""
        ...


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Success:
    index: int
    started_at: float
    latency_ms: float
    http_status: int
    waited_s: float | None
    warnings: tuple[str, ...]


class CallRunner:
    def __init__(
        self,
        info: CallInfo,
        request: ChatRequest,
        *,
        catalog: Catalog,
        upstream: Upstream,
        breakers: Breakers,
        recorder: Recorder,
        call_timeout_s: float,
        budget: str | None = None,
    ) -> None:
        self.info = info
        self._budget = budget  # the cap whose `rt:budget` emptied the plan, if that is why it is empty
        self.request = request
        self._catalog = catalog
        self._upstream = upstream
        self._breakers = breakers
        self._recorder = recorder
        self._deadline = info.perf0 + call_timeout_s
        deployments = [catalog.get(d) for d in info.decision.plan]
        self._plan = [Planned(d.id, d.provider) for d in deployments if d is not None]
        self._attempts: list[Attempt] = []
        self._failures: list[Failed] = []
        self._last_error: ProviderError | None = None
        self._started_record = False
        self._current: tuple[int, float, float, float | None] | None = None  # the attempt under way
        self._headers = info.headers()
        self._headers["x-unhardcoded-receipt"] = "pending"  # until the final receipt is committed
        # Streaming only: set once the first byte reached the client.
        self._sink: Sink | None = None
        self._ttft_ms: tuple[float, float] | None = None  # (attempt's, call's)

    # -- the two ways a call runs ------------------------------------------------------------------

    async def run(self) -> Reply:
        """A complete answer, or CallFailed."""
        await self._begin()
        done = await self._walk(self._send)
        if done is None:
            raise await self._failed()
        ok, result = done
        await self._finish(self._answered(ok, result))
        return Reply(200, result.body, self._headers)

    async def run_stream(self, sink: Sink) -> None:
        """Stream the answer into `sink`; CallFailed when nothing was streamed yet."""
        await self._begin()
        self._sink = sink
        finished = False
        try:
            done = await self._walk(self._stream)
            if done is None:
                if self._ttft_ms is None:
                    raise await self._failed()
                finished = True
                await self._partial(sink)
                return
            ok, (translator, tail) = done
            outcome = self._answered(ok, translator)
            head, has_done = (tail[: -len(DONE)], True) if tail.endswith(DONE) else (tail, False)
            if self._ttft_ms is None:  # nothing was worth sending before the end
                await sink.start(self._headers)
            await sink.write(head)
            # strict: the receipt is committed before the stream's [DONE] reaches the client.
            finished = True
            await self._finish(outcome)
            # The stream's headers said `pending`: the committed receipt's proof follows as an SSE comment
            # (clients skip comments) before [DONE].
            await sink.write(
                b": x-unhardcoded-receipt %s\n\n" % self._headers["x-unhardcoded-receipt"].encode()
            )
            if has_done:
                await sink.write(DONE)
        except (ConnectionError, asyncio.CancelledError):
            if not finished:  # the client went away: the receipt still records what was served
                self._cut_short()
                last = self._attempts[-1].deployment if self._attempts else None
                error = {"error_class": "client_closed", "message": "the client closed the stream"}
                await asyncio.shield(self._finish(self._ended("partial", error, deployment=last)))
            raise

    # -- the plan ----------------------------------------------------------------------------------

    async def _begin(self) -> None:
        if not self._plan:
            text = explain(self.info.decision)
            if self._budget is not None:
                message = f"spend cap {self._budget!r} reached: {text}"
                await self._finish(
                    self._ended("no_route", {"error_class": "budget_exceeded", "message": message})
                )
                raise BudgetExceeded(
                    f"{message}. GET /x/budgets shows every cap and what is left.",
                    budget=self._budget,
                    request_id=self.info.request_id,
                    headers=self._headers,
                )
            await self._finish(self._ended("no_route", {"error_class": "no_route", "message": text}))
            raise NoRouteError(
                f"no deployment passed the policy: {text}. "
                f"GET /x/receipts/{self.info.request_id} shows every candidate.",
                request_id=self.info.request_id,
                headers=self._headers,
            )
        if self._recorder.strict:
            await self._recorder.started(self.info)
            self._started_record = True

    async def _walk(
        self, one: Callable[[Prepared, float], Awaitable[tuple[int, R]]]
    ) -> tuple[_Success, R] | None:
        """Try the plan until an attempt succeeds, or `next_step` says stop (None)."""
        index, wait = 0, None
        body = self.request.body
        while True:
            if wait:
                await asyncio.sleep(wait)
            planned = self._plan[index]
            dep = self._catalog.get(planned.deployment)
            assert dep is not None
            started_at, t0 = time.time(), time.perf_counter()
            prepared: Prepared | None = None
            self._current = (index, started_at, t0, wait)
            try:
                prepared = await self._upstream.prepare(
                    dep, body, self._remaining(), stream=self.request.stream
                )
                status, result = await one(prepared, t0)
            except ProviderError as e:
                self._current = None
                latency = round((time.perf_counter() - t0) * 1000, 3)
                step = self._failed_attempt(index, e, before_send=prepared is None)
                self._attempts.append(
                    Attempt(
                        planned.deployment,
                        planned.provider,
                        started_at,
                        latency_ms=latency,
                        ttft_ms=self._ttft_ms[0] if self._ttft_ms else None,
                        http_status=e.status,
                        error_class=e.error_class,
                        error=self._upstream.redact(e.message)[:500],
                        fell_back=isinstance(step, Next) and step.index != index,
                        waited_s=wait,
                        warnings=prepared.warnings if prepared else (),
                    )
                )
                if isinstance(step, Stop):
                    return None
                index, wait = step.index, step.wait_s
                continue
            self._current = None
            latency = round((time.perf_counter() - t0) * 1000, 3)
            return _Success(index, started_at, latency, status, wait, prepared.warnings), result

    def _failed_attempt(self, index: int, e: ProviderError, *, before_send: bool) -> Next | Stop:
        self._last_error = e
        dep = self._plan[index].deployment
        now = time.time()
        if e.error_class != "client_error":  # a bad request says nothing about the deployment's health
            self._breakers.failure(dep, now, reason=e.error_class)
        if e.retry_after:
            self._breakers.cool_down(dep, now, e.retry_after, reason=f"Retry-After {e.retry_after:g}s")
        self._failures.append(Failed(index, e.error_class, before_send, e.retry_after))
        policy = self.info.policy
        return next_step(
            self._plan,
            self._failures,
            fallback_on=policy.fallback_on,
            max_attempts=policy.max_attempts,
            remaining_s=self._remaining(),
            streamed=self._ttft_ms is not None,
        )

    def _remaining(self) -> float:
        return self._deadline - time.perf_counter()

    # -- one attempt -------------------------------------------------------------------------------

    async def _send(self, p: Prepared, t0: float) -> tuple[int, ChatResult]:
        return await self._upstream.send(p)

    async def _stream(self, p: Prepared, t0: float) -> tuple[int, tuple[StreamTranslator, bytes]]:
        sink = self._sink
        assert sink is not None
        try:
            async with asyncio.timeout(self._remaining()):
                handle = await self._upstream.open_stream(p)
                try:
                    tr = p.adapter.stream_translator(
                        p.target, include_usage=self.request.include_usage, request_id=self.info.request_id
                    )
                    async for chunk in handle.chunks():
                        out = tr.feed(chunk)
                        if out:
                            if self._ttft_ms is None:
                                await self._start_stream(sink, p.target.deployment_id, t0)
                            await sink.write(out)
                    return handle.status, (tr, tr.finish())
                finally:
                    handle.close()
        except TimeoutError:  # the call's budget (asyncio.timeout raises it on leaving the block)
            raise ProviderError("timeout", "the call's total budget ran out") from None

    async def _start_stream(self, sink: Sink, deployment: str, t0: float) -> None:
        await sink.start({**self._headers, "x-unhardcoded-deployment": deployment})
        self._ttft_ms = (round((time.perf_counter() - t0) * 1000, 3), self.info.elapsed_ms())

    def _cut_short(self) -> None:
        """The client left while an attempt was under way: that attempt goes on the receipt too."""
        if self._current is None:
            return
        index, started_at, t0, wait = self._current
        self._current = None
        planned = self._plan[index]
        self._attempts.append(
            Attempt(
                planned.deployment,
                planned.provider,
                started_at,
                latency_ms=round((time.perf_counter() - t0) * 1000, 3),
                ttft_ms=self._ttft_ms[0] if self._ttft_ms else None,
                error_class="client_closed",
                error="the client closed the stream",
                waited_s=wait,
            )
        )

    # -- the end: the outcome, built once ----------------------------------------------------------

    def _answered(self, ok: _Success, result: ChatResult | StreamTranslator) -> Outcome:
        planned = self._plan[ok.index]
        self._attempts.append(
            Attempt(
                planned.deployment,
                planned.provider,
                ok.started_at,
                latency_ms=ok.latency_ms,
                ttft_ms=self._ttft_ms[0] if self._ttft_ms else None,
                http_status=ok.http_status,
                waited_s=ok.waited_s,
                warnings=ok.warnings,
            )
        )
        self._breakers.success(planned.deployment)
        self._headers["x-unhardcoded-deployment"] = planned.deployment
        return Outcome(
            "ok",
            Priced.of(self._catalog, planned.deployment, result.usage, self.info.policy.baseline),
            deployment=planned.deployment,
            model=result.model,
            usage=result.usage,
            latency_ms=self.info.elapsed_ms(),
            ttft_ms=self._ttft_ms[1] if self._ttft_ms else None,
            finish_reason=result.finish_reason,
            warnings=dedupe(ok.warnings, result.warnings),
        )

    def _ended(self, status: str, error: dict[str, str], *, deployment: str | None = None) -> Outcome:
        return Outcome(
            status,
            Priced(None, self.info.policy.baseline, None, None),
            deployment=deployment,
            latency_ms=self.info.elapsed_ms(),
            ttft_ms=self._ttft_ms[1] if self._ttft_ms else None,
            error=error,
        )

    async def _failed(self) -> UpstreamFailed:
        err = self._last_error or ProviderError(
            "timeout", "the call's total budget ran out before any attempt"
        )
        message = self._upstream.redact(
            f"all {len(self._attempts)} attempt(s) failed; last: {err.error_class}: {err.message}"
        )
        await self._finish(self._ended("error", {"error_class": err.error_class, "message": message}))
        return UpstreamFailed(
            err.error_class,
            message,
            status=err.status,
            request_id=self.info.request_id,
            headers=self._headers,
        )

    async def _partial(self, sink: Sink) -> None:
        """An error after the first byte: the receipt says partial, then the client learns in-stream."""
        err = self._last_error
        assert err is not None
        message = self._upstream.redact(
            f"the stream failed after it started: {err.error_class}: {err.message}"
        )
        error = {"error_class": err.error_class, "message": message}
        await self._finish(self._ended("partial", error, deployment=self._attempts[-1].deployment))
        with contextlib.suppress(ConnectionError):  # the client left; the receipt is written
            await sink.fail(err.error_class, message)

    async def _finish(self, outcome: Outcome) -> None:
        proof = await self._recorder.final(self.info, outcome, self._attempts, started=self._started_record)
        self._headers["x-unhardcoded-receipt"] = proof
