"""`unhardcoded report --chart FILE.svg|png`: per workload, cost against baseline and the savings, by day.
matplotlib is the optional `charts` extra; the data is `review.rollup.series`, which a page can reuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from unhardcoded.errors import UserError

FORMATS = (".svg", ".png")
EXTRA_HINT = "--chart needs matplotlib: pip install 'unhardcoded[charts]'"


def check_path(path: Path) -> Path:
    if path.suffix.lower() not in FORMATS:
        raise UserError(
            f"--chart: expected a file ending in {' or '.join(FORMATS)}, got {path.name!r}",
            path="chart",
            choices=list(FORMATS),
        )
    return path


def _usd(v: str | None) -> float:
    return float(Decimal(v)) if v is not None else 0.0  # plotting only: the table keeps the exact sums


def render_chart(days: Sequence[dict[str, Any]], path: Path, *, title: str) -> None:
    """One panel per workload: cost and baseline cost (of calls with both known) and savings, per day."""
    check_path(path)
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # the optional `charts` extra

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise UserError(EXTRA_HINT, path="chart") from None
    workloads = sorted({d["workload"] for d in days}) or ["(no calls)"]
    fig, axes = plt.subplots(len(workloads), 1, figsize=(9, 2.6 * len(workloads) + 0.6), squeeze=False)
    for ax, wl in zip(axes[:, 0], workloads, strict=True):
        mine = [d for d in days if d["workload"] == wl]
        x = [d["day"] for d in mine]
        ax.plot(x, [_usd(d["compared_cost_usd"]) for d in mine], marker="o", label="cost")
        ax.plot(x, [_usd(d["baseline_cost_usd"]) for d in mine], marker="o", label="baseline")
        ax.bar(x, [_usd(d["savings_usd"]) for d in mine], alpha=0.3, label="savings")
        ax.set_title(wl, loc="left", fontsize=10)
        ax.set_ylabel("USD")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
