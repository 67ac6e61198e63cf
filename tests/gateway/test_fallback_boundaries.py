"""`fallback.next_step` at the edges of its two time rules: less than a second of budget left is still
budget, and a Retry-After as long as the budget left cannot be waited for (the retry would be cut off)."""

from __future__ import annotations

from unhardcoded.gateway.fallback import Failed, Next, Planned, Stop, next_step

PLAN = [Planned("a/1", "a"), Planned("b/1", "b")]
ON = frozenset({"rate_limited", "server_error", "timeout", "connection_error"})


def test_a_fraction_of_a_second_left_still_falls_back() -> None:
    out = next_step(PLAN, [Failed(0, "server_error", False)], fallback_on=ON, max_attempts=3, remaining_s=0.5)
    assert out == Next(1)


def test_no_budget_left_stops() -> None:
    out = next_step(PLAN, [Failed(0, "server_error", False)], fallback_on=ON, max_attempts=3, remaining_s=0.0)
    assert out == Stop("budget_spent")


def _rate_limited_last(retry_after: float, remaining_s: float) -> Next | Stop:
    failures = [Failed(0, "server_error", False), Failed(1, "rate_limited", False, retry_after)]
    return next_step(PLAN, failures, fallback_on=ON, max_attempts=5, remaining_s=remaining_s)


def test_a_retry_after_shorter_than_the_budget_is_waited_for() -> None:
    assert _rate_limited_last(2.0, 2.5) == Next(1, wait_s=2.0)


def test_a_retry_after_equal_to_the_budget_left_stops() -> None:
    assert _rate_limited_last(2.0, 2.0) == Stop("plan_exhausted")
