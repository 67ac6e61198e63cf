"""The Prometheus text the gateway serves (gateway/metrics.py) and what one call adds to it (record.py):
names, help texts, label escaping, cumulative buckets, gauges with and without labels, rejections folded.

Written from the survivors of `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.gateway.scripted import Answer, Rig
from unhardcoded.gateway.metrics import LATENCY_BUCKETS, Histogram, Metrics

EMPTY = (
    "# HELP unhardcoded_calls_total chat calls by outcome status and workload\n"
    "# TYPE unhardcoded_calls_total counter\n"
    "# HELP unhardcoded_attempts_total upstream attempts by deployment and error class\n"
    "# TYPE unhardcoded_attempts_total counter\n"
    "# HELP unhardcoded_fallbacks_total attempts that fell back to the next candidate\n"
    "# TYPE unhardcoded_fallbacks_total counter\n"
    "# HELP unhardcoded_rejections_total candidates rejected, by rule id (per call)\n"
    "# TYPE unhardcoded_rejections_total counter\n"
    "# HELP unhardcoded_cost_usd_total cost of answered calls in USD, by deployment\n"
    "# TYPE unhardcoded_cost_usd_total counter\n"
    "# HELP unhardcoded_baseline_cost_usd_total what the same calls would have cost on the baseline\n"
    "# TYPE unhardcoded_baseline_cost_usd_total counter\n"
    "# HELP unhardcoded_call_seconds end-to-end call latency, fallbacks included\n"
    "# TYPE unhardcoded_call_seconds histogram\n"
    "# HELP unhardcoded_upstream_seconds latency of one upstream attempt\n"
    "# TYPE unhardcoded_upstream_seconds histogram\n"
    "# HELP unhardcoded_ttft_seconds time to first streamed byte sent to the client\n"
    "# TYPE unhardcoded_ttft_seconds histogram\n"
    "# HELP unhardcoded_receipts_pending receipts accepted but not yet committed\n"
    "# TYPE unhardcoded_receipts_pending gauge\n"
    "unhardcoded_receipts_pending 0\n"
    "# HELP unhardcoded_receipts_failed_total receipts the store could not write (fast: lost)\n"
    "# TYPE unhardcoded_receipts_failed_total counter\n"
    "# HELP unhardcoded_receipts_committed_total receipt records committed (started and final)\n"
    "# TYPE unhardcoded_receipts_committed_total counter\n"
    "# HELP unhardcoded_receipt_commits_total store transactions that committed them: records per commit is "
    "the group-commit batch size\n"
    "# TYPE unhardcoded_receipt_commits_total counter\n"
    "# HELP unhardcoded_otel_spans_failed spans that never reached the OTLP collector\n"
    "# TYPE unhardcoded_otel_spans_failed gauge\n"
    "unhardcoded_otel_spans_failed 0\n"
    "# HELP unhardcoded_budget_spent_usd spend counted against each cap in its current period\n"
    "# TYPE unhardcoded_budget_spent_usd gauge\n"
    "unhardcoded_budget_spent_usd 0\n"
    "# HELP unhardcoded_budget_left_usd what is left of each cap in its current period\n"
    "# TYPE unhardcoded_budget_left_usd gauge\n"
    "unhardcoded_budget_left_usd 0\n"
)


def series(text: str) -> dict[str, str]:
    """`name{labels}` -> value, for the sample lines."""
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_the_empty_text_lists_every_metric_with_its_help_and_type() -> None:
    assert Metrics().render() == EMPTY


def test_counters_are_sorted_by_labels_and_escape_them() -> None:
    m = Metrics()
    m.inc("unhardcoded_calls_total", (("status", "ok"), ("workload", 'a"b\\c\nd')))
    m.inc("unhardcoded_calls_total", (("status", "error"), ("workload", "w")), 2.5)
    m.inc("unhardcoded_calls_total", (("status", "error"), ("workload", "w")))
    m.inc("unhardcoded_fallbacks_total")
    text = m.render()
    lines = [x for x in text.splitlines() if x.startswith("unhardcoded_calls_total")]
    assert lines == [
        'unhardcoded_calls_total{status="error",workload="w"} 3.5',
        'unhardcoded_calls_total{status="ok",workload="a\\"b\\\\c\\nd"} 1',
    ]
    assert "unhardcoded_fallbacks_total 1" in text.splitlines()


def test_a_histogram_renders_cumulative_buckets_sum_and_count() -> None:
    m = Metrics()
    for v in (0.001, 0.0011, 0.3, 100.0):  # 0.001 is in the le="0.001" bucket: buckets are inclusive
        m.observe("unhardcoded_call_seconds", v, (("workload", "w"),))
    s = series(m.render())
    assert s['unhardcoded_call_seconds_bucket{workload="w",le="0.001"}'] == "1"
    assert s['unhardcoded_call_seconds_bucket{workload="w",le="0.0025"}'] == "2"
    assert s['unhardcoded_call_seconds_bucket{workload="w",le="0.25"}'] == "2"
    assert s['unhardcoded_call_seconds_bucket{workload="w",le="0.5"}'] == "3"
    assert s['unhardcoded_call_seconds_bucket{workload="w",le="60"}'] == "3"
    assert s['unhardcoded_call_seconds_bucket{workload="w",le="+Inf"}'] == "4"
    assert s['unhardcoded_call_seconds_sum{workload="w"}'] == "100.302100"
    assert s['unhardcoded_call_seconds_count{workload="w"}'] == "4"
    buckets = [k for k in s if k.startswith("unhardcoded_call_seconds_bucket")]
    assert len(buckets) == len(LATENCY_BUCKETS) + 1


def test_a_fresh_histogram_has_one_count_per_bucket_and_one_above() -> None:
    h = Histogram()
    h.observe(61.0)
    assert h.counts == [0] * len(LATENCY_BUCKETS) + [1] and (h.total, h.n) == (61.0, 1)


def test_gauges_plain_and_labelled() -> None:
    m = Metrics()
    m.gauges["unhardcoded_receipts_pending"] = 3
    m.labelled["unhardcoded_budget_left_usd"] = {(("budget", "b"),): 0.25, (("budget", "a"),): 1.5}
    lines = m.render().splitlines()
    assert "unhardcoded_receipts_pending 3" in lines
    left = [x for x in lines if x.startswith("unhardcoded_budget_left_usd")]
    assert left == [
        'unhardcoded_budget_left_usd{budget="a"} 1.5',
        'unhardcoded_budget_left_usd{budget="b"} 0.25',
    ]


def test_rejections_fold_beyond_1024_decisions_without_losing_a_count() -> None:
    m = Metrics()
    kept = [{"r": 1} for _ in range(1030)]  # distinct dicts: one entry each until folded
    for counts in kept:
        m.count_rejections(counts)
    m.count_rejections(kept[0])
    assert series(m.render())['unhardcoded_rejections_total{rule="r"}'] == "1031"


async def test_one_call_with_a_fallback_adds_these_series(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        await rig.call({"select": {"max_candidates": 4}})
        s = series(rig.gw.metrics_text())
    assert s['unhardcoded_calls_total{status="ok",workload="default"}'] == "1"
    assert s['unhardcoded_attempts_total{deployment="a/one",error_class="server_error"}'] == "1"
    assert not any(k.startswith('unhardcoded_attempts_total{deployment="a/two"') for k in s)
    assert s["unhardcoded_fallbacks_total"] == "1"
    assert s["unhardcoded_upstream_seconds_count"] == "1"  # the answering attempt only
    assert s["unhardcoded_call_seconds_count"] == "1"
    assert "unhardcoded_ttft_seconds_count" not in s
    assert float(s['unhardcoded_cost_usd_total{deployment="a/two"}']) == 4e-06
    assert float(s['unhardcoded_baseline_cost_usd_total{workload="default"}']) == 8e-06
    assert float(s["unhardcoded_upstream_seconds_sum"]) < float(s["unhardcoded_call_seconds_sum"])


async def test_fallbacks_count_each_attempt_that_fell_back_and_seconds_are_seconds(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
        t0 = time.perf_counter()
        await rig.call({"select": {"max_candidates": 4}})
        outer_s = time.perf_counter() - t0
        s = series(rig.gw.metrics_text())
    assert s["unhardcoded_fallbacks_total"] == "2"
    assert 0 < float(s["unhardcoded_call_seconds_sum"]) <= outer_s + 1e-6


async def test_a_stream_adds_its_time_to_first_byte(tmp_path: Path) -> None:
    from tests.gateway.test_call_receipts import DONE, Sink, content, stop, stream_request

    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[content("x"), stop(), DONE]))
        await rig.gw.chat_stream(stream_request(), Sink(rig))
        s = series(rig.gw.metrics_text())
    assert s["unhardcoded_ttft_seconds_count"] == "1"
    assert 0 < float(s["unhardcoded_ttft_seconds_sum"]) <= float(s["unhardcoded_call_seconds_sum"])


async def test_a_call_that_never_answered_has_no_cost_series(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(status=503, body=b"{}"))
        await rig.call({"rules": [{"field": "id", "op": "==", "value": "a/one"}]})
        s = series(rig.gw.metrics_text())
    assert s['unhardcoded_calls_total{status="error",workload="default"}'] == "1"
    assert not any(k.startswith("unhardcoded_cost_usd_total") for k in s)
    assert not any(k.startswith("unhardcoded_upstream_seconds_count") for k in s)
