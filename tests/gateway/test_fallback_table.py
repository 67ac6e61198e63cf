"""`fallback.next_step`, the one function that decides fallback: one row per line of its table."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unhardcoded.errors import ERROR_CLASSES, FALLBACK_CLASSES
from unhardcoded.gateway.fallback import Failed, Next, Planned, Stop, next_step

PLAN = [Planned("a/1", "a"), Planned("a/2", "a"), Planned("b/1", "b"), Planned("c/1", "c")]
ON = frozenset(FALLBACK_CLASSES)


def step(*failures: Failed, plan: list[Planned] = PLAN, **kw: Any) -> Next | Stop:
    args: dict[str, Any] = {"fallback_on": ON, "max_attempts": 10, "remaining_s": 60.0, **kw}
    return next_step(plan, list(failures), **args)


def f(index: int, cls: Any, *, before_send: bool = False, retry_after: float | None = None) -> Failed:
    return Failed(index, cls, before_send, retry_after)


ROWS = [
    ("streamed", [f(0, "server_error")], {"streamed": True}, Stop("streamed")),
    ("max attempts", [f(0, "server_error"), f(1, "server_error")], {"max_attempts": 2}, Stop("max_attempts")),
    ("budget spent", [f(0, "server_error")], {"remaining_s": 0.0}, Stop("budget_spent")),
    ("auth error skips the provider", [f(0, "auth_error")], {}, Next(2)),
    ("auth error ignores fallback.on", [f(0, "auth_error")], {"fallback_on": frozenset()}, Next(2)),
    ("adapter refusal moves on", [f(0, "client_error", before_send=True)], {}, Next(1)),
    ("upstream client error stops", [f(0, "client_error")], {}, Stop("client_error")),
    (
        "not in fallback.on",
        [f(0, "rate_limited")],
        {"fallback_on": frozenset({"timeout"})},
        Stop("not_in_fallback_on"),
    ),
    ("in fallback.on", [f(0, "timeout")], {}, Next(1)),
    ("earlier auth error still excludes", [f(0, "auth_error"), f(2, "server_error")], {}, Next(3)),
    ("retry after, nothing left", [f(3, "rate_limited", retry_after=1.5)], {}, Next(3, wait_s=1.5)),
    ("retry after beyond the budget", [f(3, "rate_limited", retry_after=90)], {}, Stop("plan_exhausted")),
    ("retry after on another class", [f(3, "server_error", retry_after=1)], {}, Stop("plan_exhausted")),
    ("nothing left", [f(3, "server_error")], {}, Stop("plan_exhausted")),
]


@pytest.mark.parametrize(("name", "failures", "kw", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_row(name: str, failures: list[Failed], kw: dict[str, Any], expected: Next | Stop) -> None:
    assert step(*failures, **kw) == expected


def test_retry_after_is_not_honoured_for_a_provider_whose_key_failed() -> None:
    plan = [Planned("a/1", "a"), Planned("a/2", "a")]
    assert step(f(0, "auth_error"), f(1, "rate_limited", retry_after=1), plan=plan) == Stop("plan_exhausted")


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.sampled_from(ERROR_CLASSES), st.booleans(), st.none() | st.floats(0, 5)
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 6),
    st.floats(-1, 10),
    st.booleans(),
)
def test_never_goes_back_never_past_the_cap_never_to_an_excluded_provider(
    raw: list[tuple[int, Any, bool, float | None]], cap: int, remaining: float, streamed: bool
) -> None:
    failures = [f(i, c, before_send=b, retry_after=r) for i, c, b, r in raw]
    out = step(*failures, max_attempts=cap, remaining_s=remaining, streamed=streamed)
    if isinstance(out, Next):
        last = failures[-1]
        assert not streamed and len(failures) < cap and remaining > 0
        assert out.index > last.index or (out.index == last.index and out.wait_s is not None)
        assert out.wait_s is None or out.wait_s < remaining
        bad = {PLAN[x.index].provider for x in failures if x.error_class == "auth_error"}
        assert PLAN[out.index].provider not in bad
