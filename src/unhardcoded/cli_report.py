"""`unhardcoded report`: the finance roll-up (what routing cost and saved against the baseline, per
workload, fingerprint, deployment, tenant or day), read from a store without a server. Thin: parse, call
review/rollup.py, print a table, CSV or JSON, and optionally a chart. Exit 0, or 2 on bad input.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from unhardcoded.cli_review import ConfigOpt, JsonOpt, StoreOpt, _dump, _fail, _store_url, _with_store
from unhardcoded.config import load_settings
from unhardcoded.errors import UserError
from unhardcoded.store.base import ReceiptStore

CSV_COLUMNS = (
    "calls",
    "ok",
    "partial",
    "errors",
    "no_route",
    "error_rate",
    "fallback_calls",
    "fallback_rate",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "calls_without_usage",
    "cost_usd",
    "calls_without_price",
    "compared_calls",
    "calls_without_baseline",
    "compared_cost_usd",
    "baseline_cost_usd",
    "savings_usd",
    "savings_pct",
)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _usd(v: str | None) -> str:
    return "—" if v is None else v


def render_report(out: dict[str, Any]) -> None:
    from unhardcoded.cli_render import emit_table, make_console

    console = make_console()
    by = out["by"]
    scope = "".join(f"  {k} {out[k]}" for k in ("tenant", "workload") if out[k] is not None)
    console.print(f"[bold]report[/bold] by {by}, {out['since']} to {out['until']}{scope}", highlight=False)
    rows = []
    for g in [*out["groups"], {by: "total", **out["totals"]}]:
        rows.append(
            [
                "—" if g[by] is None else str(g[by]),
                str(g["calls"]),
                str(g["input_tokens"]),
                str(g["output_tokens"]),
                _usd(g["cost_usd"]),
                _usd(g["baseline_cost_usd"]),
                _usd(g["savings_usd"]),
                "—" if g["savings_pct"] is None else f"{g['savings_pct']}%",
                _pct(g["fallback_rate"]),
                _pct(g["error_rate"]),
                str(g["calls_without_price"]),
                str(g["calls_without_baseline"]),
            ]
        )
    numbers = ["calls", "in tokens", "out tokens", "cost $", "baseline $", "savings $", "saved"]
    numbers += ["fallback", "error", "no price", "no baseline"]
    emit_table(
        console,
        [by, *numbers],
        rows,
        right=numbers,
        caption="baseline and savings over calls whose price and baseline are both known; "
        "calls without either are counted apart",
    )
    for g in out["groups"]:
        if not g["passed_over"]:
            continue
        console.print(
            f"[bold]{g[by]}[/bold]: pricier candidates that passed but were not chosen", highlight=False
        )
        for p in g["passed_over"]:
            console.print(
                f"  {p['deployment']}: {p['calls']} calls would have cost ${p['would_cost_usd']} "
                f"(chosen ${p['chosen_cost_usd']}, +${p['extra_usd']})",
                highlight=False,
            )
        if g["passed_over_more"]:
            console.print(f"  ... and {g['passed_over_more']} more", highlight=False)


def write_csv(out: dict[str, Any]) -> None:
    by = out["by"]
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow([by, *CSV_COLUMNS, "passed_over"])
    for g in out["groups"]:
        over = ";".join(f"{p['deployment']}={p['would_cost_usd']}" for p in g["passed_over"])
        w.writerow(
            ["" if g[by] is None else g[by], *("" if g[c] is None else g[c] for c in CSV_COLUMNS), over]
        )


def report(
    by: Annotated[
        str, typer.Option("--by", help="workload, fingerprint, deployment, tenant or day")
    ] = "workload",
    since: Annotated[str, typer.Option("--since", help="30d, 12h, 2w or ISO 8601")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="30d, 12h or ISO 8601 (default: now)")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant's calls")] = None,
    workload: Annotated[str | None, typer.Option("--workload", help="only this workload's calls")] = None,
    top: Annotated[int, typer.Option("--top", help="pricier passed-over candidates listed per group")] = 5,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV, one row per group")] = False,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="also draw cost vs baseline per workload by day (.svg, .png)"),
    ] = None,
) -> None:
    """What the calls cost and saved against the baseline, and the pricier models passed over."""
    from unhardcoded.review.rollup import check_by, period, rollup, series
    from unhardcoded.review.rollup_chart import check_path, render_chart

    try:
        if as_json and as_csv:
            raise UserError("--json and --csv: choose one")
        check_by(by)
        period(since, until, now=time.time())  # bad dates fail before the store is opened
        if chart is not None:
            check_path(chart)
        url = _store_url(store, load_settings(config))
    except UserError as e:
        _fail(escape(e.message))  # messages hold brackets ('unhardcoded[charts]'), not markup
        return
    now = time.time()

    async def work(st: ReceiptStore) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        out = await rollup(st, by, since, until, tenant=tenant, workload=workload, passed_over=top, now=now)
        days = await series(st, since, until, tenant=tenant, now=now) if chart is not None else None
        return out, days

    try:
        out, days = _with_store(url, work)
        if chart is not None and days is not None:
            render_chart(days, chart, title=f"cost vs baseline by day, {out['since']} to {out['until']}")
    except UserError as e:
        _fail(escape(e.message))
        return
    if as_json:
        _dump(out)
    elif as_csv:
        write_csv(out)
    else:
        render_report(out)


def register(app: typer.Typer) -> None:
    app.command()(report)
