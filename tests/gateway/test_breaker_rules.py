"""The circuit breaker's rules, each at its boundary: N consecutive failures open a circuit for exactly T
seconds, a success closes it, an expired circuit lets one probe through, Retry-After only ever lengthens a
cool-down, and `version` moves exactly when the set of open circuits changes (the decision memo keys on it).
"""

from __future__ import annotations

import pytest

from unhardcoded.gateway.breaker import Breakers


def failures(
    b: Breakers, n: int, deployment: str = "d", now: float = 0.0, reason: str = "server_error"
) -> None:
    for _ in range(n):
        b.failure(deployment, now, reason=reason)


def test_the_defaults_are_five_failures_and_thirty_seconds() -> None:
    b = Breakers()
    failures(b, 4)
    assert b.open_now(0.0) == {}
    failures(b, 1, now=100.0)
    assert b.open_now(129.9) == {"d": "5 consecutive failures, last: server_error"}
    assert b.open_now(130.0) == {}


@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_the_circuit_opens_at_exactly_the_threshold(threshold: int) -> None:
    b = Breakers(threshold=threshold, open_s=10)
    failures(b, threshold - 1)
    assert b.open_now(0.0) == {}
    b.failure("d", 0.0, reason="timeout")
    assert b.open_now(0.0) == {"d": f"{threshold} consecutive failures, last: timeout"}


def test_open_for_exactly_open_s_after_the_last_failure() -> None:
    b = Breakers(threshold=2, open_s=10)
    failures(b, 1, now=0.0)
    failures(b, 1, now=5.0)
    assert "d" in b.open_now(14.999)
    assert b.open_now(15.0) == {}


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    b = Breakers(threshold=3, open_s=10)
    failures(b, 2)
    b.success("d")
    failures(b, 2)
    assert b.open_now(0.0) == {}
    failures(b, 1)
    assert "d" in b.open_now(0.0)


def test_a_success_closes_an_open_circuit_and_moves_the_version() -> None:
    b = Breakers(threshold=1, open_s=10)
    failures(b, 1)
    v = b.version
    b.success("d")
    assert b.open_now(1.0) == {} and b.version == v + 1
    failures(b, 1)  # counting starts again from zero: one failure re-opens at threshold 1
    assert "d" in b.open_now(1.0)


def test_a_success_that_changes_no_circuit_keeps_the_version() -> None:
    b = Breakers(threshold=3, open_s=10)
    b.success("unknown")
    failures(b, 2)
    v = b.version
    b.success("d")
    b.success("d")
    assert b.version == v


def test_opening_moves_the_version_and_failures_below_the_threshold_do_not() -> None:
    b = Breakers(threshold=2, open_s=10)
    v = b.version
    failures(b, 1)
    assert b.version == v
    failures(b, 1)
    assert b.version == v + 1


def test_a_half_open_circuit_reopens_on_one_failure_and_says_how_many() -> None:
    b = Breakers(threshold=3, open_s=10)
    failures(b, 3)
    assert b.open_now(10.0) == {}  # expired: half-open
    b.failure("d", 10.0, reason="timeout")
    assert b.open_now(10.0) == {"d": "3 consecutive failures, last: timeout"}


def test_half_open_at_threshold_one_counts_from_zero() -> None:
    b = Breakers(threshold=1, open_s=10)
    failures(b, 1)
    assert b.open_now(10.0) == {}
    b.failure("d", 10.0, reason="timeout")
    assert b.open_now(10.0) == {"d": "1 consecutive failures, last: timeout"}


def test_expiry_moves_the_version_once_and_only_when_a_circuit_expires() -> None:
    b = Breakers(threshold=1, open_s=10)
    failures(b, 1)
    v = b.version
    b.open_now(5.0)
    assert b.version == v
    b.open_now(10.0)
    assert b.version == v + 1
    b.open_now(11.0)
    b.open_now(12.0)
    assert b.version == v + 1


def test_circuits_expire_each_at_its_own_time() -> None:
    b = Breakers(threshold=1, open_s=10)
    b.failure("late", 5.0, reason="x")
    b.failure("early", 0.0, reason="y")
    b.failure("later", 8.0, reason="z")
    assert set(b.open_now(9.0)) == {"early", "late", "later"}
    assert set(b.open_now(10.0)) == {"late", "later"}
    assert set(b.open_now(15.0)) == {"later"}
    assert b.open_now(18.0) == {}


def test_a_circuit_opened_after_an_expiry_check_still_expires() -> None:
    b = Breakers(threshold=1, open_s=10)
    b.failure("a", 0.0, reason="x")
    assert b.open_now(10.0) == {}
    b.failure("b", 20.0, reason="y")
    assert b.open_now(29.0) == {"b": "1 consecutive failures, last: y"}
    assert b.open_now(30.0) == {}


def test_retry_after_opens_for_its_seconds_with_its_reason() -> None:
    b = Breakers(threshold=5, open_s=30)
    v = b.version
    b.cool_down("d", 100.0, 2.0, reason="Retry-After 2s")
    assert b.version == v + 1
    assert b.open_now(101.999) == {"d": "Retry-After 2s"}
    assert b.open_now(102.0) == {}


def test_retry_after_never_shortens_a_longer_cool_down() -> None:
    b = Breakers(threshold=5, open_s=30)
    b.cool_down("d", 0.0, 10.0, reason="Retry-After 10s")
    v = b.version
    b.cool_down("d", 0.0, 2.0, reason="Retry-After 2s")
    b.cool_down("d", 0.0, 10.0, reason="Retry-After 10s again")  # the same end: nothing changes
    assert b.version == v
    assert b.open_now(5.0) == {"d": "Retry-After 10s"}
    b.cool_down("d", 0.0, 12.0, reason="Retry-After 12s")
    assert b.version == v + 1
    assert b.open_now(11.0) == {"d": "Retry-After 12s"}


def test_retry_after_does_not_count_as_a_failure() -> None:
    b = Breakers(threshold=2, open_s=30)
    b.cool_down("d", 0.0, 1.0, reason="Retry-After 1s")
    failures(b, 1, now=0.5)
    assert b.open_now(0.5) == {"d": "Retry-After 1s"}


def test_a_success_after_a_circuit_expired_changes_no_circuit() -> None:
    b = Breakers(threshold=2, open_s=10)
    failures(b, 2)
    assert b.open_now(10.0) == {}  # expired: half-open
    v = b.version
    b.success("d")
    assert b.version == v
    failures(b, 1, now=11.0)  # the success reset the count: one failure no longer re-opens it
    assert b.open_now(11.0) == {}


def test_a_success_closes_a_circuit_that_ends_within_a_second_of_the_epoch() -> None:
    b = Breakers(threshold=1, open_s=0.5)
    failures(b, 1, now=0.0)
    v = b.version
    b.success("d")
    assert b.version == v + 1
