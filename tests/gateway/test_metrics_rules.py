"""Prometheus metrics (gateway/metrics.py), what tests/gateway/test_metrics_text.py leaves open. Written from
`make mutation` (docs/mutation.md)."""

from __future__ import annotations

from unhardcoded.gateway.metrics import LATENCY_BUCKETS, Histogram, Metrics


def test_a_bucket_counts_every_value_that_falls_in_it() -> None:
    h = Histogram()
    for v in (0.2, 0.2, 0.1, 0.25):
        h.observe(v)
    i = LATENCY_BUCKETS.index(0.25)
    assert h.counts[i] == 3 and h.counts[i - 1] == 1 and sum(h.counts) == 4 == h.n
    m = Metrics()
    for _ in range(3):
        m.observe("unhardcoded_upstream_seconds", 0.2)
    lines = m.render().splitlines()
    assert 'unhardcoded_upstream_seconds_bucket{le="0.25"} 3' in lines
    assert 'unhardcoded_upstream_seconds_bucket{le="0.1"} 0' in lines
    assert "unhardcoded_upstream_seconds_count 3" in lines
