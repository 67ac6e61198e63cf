"""What follows a failed attempt: the one function that decides fallback. Pure: no I/O, no clock.

The README's fallback table is this function, row by row (`Stop.reason` names the row):

| after a failed attempt | next step (`Stop.reason`) |
| --- | --- |
| the stream already reached the client | stop (`streamed`): error in-stream, receipt `partial` |
| `max_attempts` attempts made | stop (`max_attempts`) |
| the call's total budget (`call_timeout_s`) is spent | stop (`budget_spent`) |
| `auth_error` | next planned candidate of *another* provider; never that provider again |
| `client_error` from our adapter, before sending | next planned candidate (that provider can't take it) |
| `client_error` from the upstream | stop (`client_error`): another provider would refuse it too |
| a class not in `fallback.on` | stop (`not_in_fallback_on`) |
| a class in `fallback.on` | next planned candidate whose provider is not excluded |
| none left; `rate_limited` with `Retry-After` < remaining budget | the same deployment, after the wait |
| none left otherwise | stop (`plan_exhausted`) |
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from unhardcoded.errors import ErrorClass

StopReason = Literal[
    "streamed", "max_attempts", "budget_spent", "client_error", "not_in_fallback_on", "plan_exhausted"
]


@dataclass(frozen=True, slots=True)
class Planned:
    """One entry of the decision's plan."""

    deployment: str
    provider: str


@dataclass(frozen=True, slots=True)
class Failed:
    """What the loop knows of a failed attempt."""

    index: int  # the position in the plan of the deployment that failed
    error_class: ErrorClass
    before_send: bool  # True: it failed before anything went upstream (e.g. our adapter refused)
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Next:
    index: int  # the plan position to try next
    wait_s: float | None = None  # honour Retry-After first


@dataclass(frozen=True, slots=True)
class Stop:
    reason: StopReason


def next_step(
    plan: Sequence[Planned],
    failures: Sequence[Failed],
    *,
    fallback_on: Collection[str],
    max_attempts: int,
    remaining_s: float,
    streamed: bool = False,
) -> Next | Stop:
    """Given every failed attempt of this call so far (the last one just now), the next step."""
    last = failures[-1]
    if streamed:
        return Stop("streamed")
    if len(failures) >= max_attempts:
        return Stop("max_attempts")
    if remaining_s <= 0:
        return Stop("budget_spent")
    if last.error_class == "client_error":
        if not last.before_send:
            return Stop("client_error")
    elif last.error_class != "auth_error" and last.error_class not in fallback_on:
        return Stop("not_in_fallback_on")
    # One provider's bad key says nothing about another's, but every other key of its own is suspect.
    excluded = {plan[f.index].provider for f in failures if f.error_class == "auth_error"}
    for j in range(last.index + 1, len(plan)):
        if plan[j].provider not in excluded:
            return Next(j)
    wait = last.retry_after
    if (
        last.error_class == "rate_limited"
        and wait is not None
        and plan[last.index].provider not in excluded
        and wait < remaining_s
    ):
        return Next(last.index, wait_s=wait)
    return Stop("plan_exhausted")
