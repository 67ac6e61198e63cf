"""Metrics rendering and circuit-breaker state, in process."""

from __future__ import annotations

from unhardcoded.gateway.breaker import Breakers
from unhardcoded.gateway.metrics import Metrics


def _value(text: str, series: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(series + " "))
    return float(line.rsplit(" ", 1)[1])


def test_rejections_are_multiplied_out_per_call() -> None:
    m = Metrics()
    a, b = {"quality": 3, "eu": 2}, {"quality": 1}
    m.count_rejections(a)
    m.count_rejections(a)
    m.count_rejections(b)
    text = m.render()
    assert _value(text, 'unhardcoded_rejections_total{rule="quality"}') == 7
    assert _value(text, 'unhardcoded_rejections_total{rule="eu"}') == 4
    m.count_rejections(b)
    assert _value(m.render(), 'unhardcoded_rejections_total{rule="quality"}') == 8


def test_histogram_buckets_are_cumulative() -> None:
    m = Metrics()
    for v in (0.002, 0.02, 0.2, 100.0):
        m.observe("unhardcoded_call_seconds", v)
    text = m.render()
    assert _value(text, 'unhardcoded_call_seconds_bucket{le="0.0025"}') == 1
    assert _value(text, 'unhardcoded_call_seconds_bucket{le="0.25"}') == 3
    assert _value(text, 'unhardcoded_call_seconds_bucket{le="+Inf"}') == 4
    assert _value(text, "unhardcoded_call_seconds_count") == 4


def test_breaker_opens_after_threshold_then_half_opens() -> None:
    b = Breakers(threshold=3, open_s=10)
    for _ in range(2):
        b.failure("d", 0.0, reason="server_error")
    assert b.open_now(1.0) == {}
    v = b.version
    b.failure("d", 1.0, reason="server_error")
    assert "d" in b.open_now(2.0) and b.version > v
    assert b.open_now(11.5) == {}  # half-open: one probe allowed
    b.failure("d", 12.0, reason="timeout")  # the probe failed: open again at once
    assert "d" in b.open_now(12.5)
    b.success("d")
    assert b.open_now(13.0) == {}


def test_cool_down_for_retry_after() -> None:
    b = Breakers(threshold=5, open_s=30)
    b.cool_down("d", 100.0, 2.0, reason="Retry-After 2s")
    assert b.open_now(101.0) == {"d": "Retry-After 2s"}
    assert b.open_now(102.5) == {}
