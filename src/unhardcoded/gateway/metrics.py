"""Prometheus metrics, kept in plain dicts and rendered in the text format on demand. No labels with keys."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
Labels = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Histogram:
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in items) + "}"


class Metrics:
    """Counters and histograms of one process."""

    HELP = {
        "unhardcoded_calls_total": ("counter", "chat calls by outcome status and workload"),
        "unhardcoded_attempts_total": ("counter", "upstream attempts by deployment and error class"),
        "unhardcoded_fallbacks_total": ("counter", "attempts that fell back to the next candidate"),
        "unhardcoded_rejections_total": ("counter", "candidates rejected, by rule id (per call)"),
        "unhardcoded_cost_usd_total": ("counter", "cost of answered calls in USD, by deployment"),
        "unhardcoded_baseline_cost_usd_total": (
            "counter",
            "what the same calls would have cost on the baseline",
        ),
        "unhardcoded_call_seconds": ("histogram", "end-to-end call latency, fallbacks included"),
        "unhardcoded_upstream_seconds": ("histogram", "latency of one upstream attempt"),
        "unhardcoded_ttft_seconds": ("histogram", "time to first streamed byte sent to the client"),
        "unhardcoded_receipts_pending": ("gauge", "receipts accepted but not yet committed"),
        "unhardcoded_receipts_failed_total": ("counter", "receipts the store could not write (fast: lost)"),
        "unhardcoded_receipts_committed_total": ("counter", "receipt records committed (started and final)"),
        "unhardcoded_receipt_commits_total": (
            "counter",
            "store transactions that committed them: records per commit is the group-commit batch size",
        ),
        "unhardcoded_otel_spans_failed": ("gauge", "spans that never reached the OTLP collector"),
        "unhardcoded_budget_spent_usd": ("gauge", "spend counted against each cap in its current period"),
        "unhardcoded_budget_left_usd": ("gauge", "what is left of each cap in its current period"),
    }

    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = {}
        self.histograms: dict[str, dict[Labels, Histogram]] = {}
        self.gauges: dict[str, float] = {}
        self.labelled: dict[str, dict[Labels, float]] = {}  # gauges with labels, e.g. per budget
        # Rejections per rule are counted per decision and multiplied out when scraped: one increment
        # per call instead of one per rule.
        self._rejections: dict[int, tuple[dict[str, int], int]] = {}

    def count_rejections(self, counts: dict[str, int]) -> None:
        """Count one call whose decision rejected `counts[rule]` candidates per rule (same dict each time)."""
        # An entry holds its dict, so an id cannot be reused while it is here.
        entry = self._rejections.get(id(counts))
        self._rejections[id(counts)] = (counts, 1 if entry is None else entry[1] + 1)
        if len(self._rejections) > 1024:  # never scraped: fold now rather than grow
            self._fold_rejections()

    def inc(self, name: str, labels: Labels = (), value: float = 1.0) -> None:
        series = self.counters.setdefault(name, {})
        series[labels] = series.get(labels, 0.0) + value

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        series = self.histograms.setdefault(name, {})
        h = series.get(labels)
        if h is None:
            h = series[labels] = Histogram()
        h.observe(value)

    def _fold_rejections(self) -> None:
        for counts, calls in self._rejections.values():
            for rule_id, n in counts.items():
                self.inc("unhardcoded_rejections_total", (("rule", rule_id),), n * calls)
        self._rejections.clear()

    def render(self) -> str:
        self._fold_rejections()
        lines: list[str] = []
        for name, (kind, text) in self.HELP.items():
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "counter":
                for labels, v in sorted(self.counters.get(name, {}).items()):
                    lines.append(f"{name}{_fmt_labels(labels)} {v:g}")
            elif kind == "gauge" and name in self.labelled:
                for labels, v in sorted(self.labelled[name].items()):
                    lines.append(f"{name}{_fmt_labels(labels)} {v:g}")
            elif kind == "gauge":
                lines.append(f"{name} {self.gauges.get(name, 0):g}")
            else:
                for labels, h in sorted(self.histograms.get(name, {}).items()):
                    acc = 0
                    for b, c in zip(
                        (*h.buckets, float("inf")), h.counts or [0] * (len(h.buckets) + 1), strict=True
                    ):
                        acc += c
                        le = "+Inf" if b == float("inf") else f"{b:g}"
                        lines.append(f"{name}_bucket{_fmt_labels(labels, (('le', le),))} {acc}")
                    lines.append(f"{name}_sum{_fmt_labels(labels)} {h.total:.6f}")
                    lines.append(f"{name}_count{_fmt_labels(labels)} {h.n}")
        return "\n".join(lines) + "\n"
