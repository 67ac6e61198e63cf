"""What-if results for people (a summary and two tables) and for export (CSV). Presentation only."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape

from unhardcoded.cli_render import emit_table, fmt
from unhardcoded.review.render_audit import table_cells


def _usd(v: Any) -> str:
    """Dollars to the tenth decimal (a call can cost $0.0000003), no trailing zeros."""
    if v is None:
        return "—"
    d = Decimal(v)
    text = f"{abs(d):,.10f}".rstrip("0").rstrip(".") if d else "0"
    return ("-$" if d < 0 else "$") + text


def _signed(v: Any) -> str:
    return "—" if v is None else ("+" if Decimal(v) > 0 else "") + _usd(v)


def _when(ts: Any) -> str:
    return "…" if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def render_simulate(console: Console, out: Mapping[str, Any]) -> None:
    p = console.print
    pol, cost, base = out["policy"], out["cost"], out["baseline"]
    w = out["window"]
    p(f"[bold]policy[/bold]    {escape(pol['fingerprint'])}  workload {escape(pol['workload'])}")
    p(f"[bold]catalog[/bold]   today's, {out['catalog_now']}")
    scope = f", workload {out['workload']}" if out.get("workload") else ""
    p(
        f"[bold]history[/bold]   {out['receipts']} receipts from {_when(w['since'])} "
        f"to {_when(w['until'])}{scope}"
    )
    skipped = ", ".join(f"{k} {v}" for k, v in out["skipped"].items())
    p(f"           {out['calls']} answered calls simulated" + (f"; set aside: {skipped}" if skipped else ""))
    p(
        f"[bold]cost[/bold]      actual {_usd(cost['actual_usd'])} → projected {_usd(cost['projected_usd'])}"
        f"  ({_signed(cost['difference_usd'])}, {fmt(cost['difference_pct'])}%) "
        f"over {cost['calls']} priced calls"
    )
    if base["cost_usd"] is not None:
        p(
            f"[bold]baseline[/bold]  {base['deployment']} would cost {_usd(base['cost_usd'])}: saved "
            f"{_usd(base['savings_actual_usd'])} then, {_usd(base['savings_projected_usd'])} with this policy"
        )
    else:
        p(
            f"[bold]baseline[/bold]  {base['deployment'] or 'none'}: "
            "no baseline cost, so no savings (never invented)"
        )
    if out["unpriced"]:
        p(f"[yellow]{out['unpriced']} calls without a known price, counted apart[/yellow]")
    p(
        f"[bold]moves[/bold]     {out['moved']} of {out['moved'] + out['stayed']} calls "
        "would change deployment; "
        f"{out['no_route']['calls']} would find no passing candidate"
    )
    if out["moves"]:
        emit_table(
            console,
            ["from (then)", "to (projected)", "calls", "actual", "projected"],
            [
                [fmt(m["from"]), m["to"], str(m["calls"]), _usd(m["actual_usd"]), _usd(m["projected_usd"])]
                for m in out["moves"]
            ],
            right=["calls", "actual", "projected"],
        )
    nr = out["no_route"]
    if nr["calls"]:
        then = ", ".join(f"{k} {v}" for k, v in nr["by_deployment_then"].items())
        p(
            f"[red]no route[/red]  {nr['calls']} calls "
            f"(actual cost then {_usd(nr['actual_usd'])}; answered then by {then})"
        )
    emit_table(
        console,
        ["rule", "source", "test", "calls it blocks", "exclusions"],
        [
            table_cells(
                console,
                [r["rule_id"], str(r["source"]), r["test"], str(r["calls_blocked"]), str(r["exclusions"])],
            )
            for r in out["rules"]
        ],
        title="rules, hardest bite first (calls whose deployment then it would exclude)",
        right=["calls it blocks", "exclusions"],
    )
    p(
        f"{out['distinct_decisions']} distinct decisions; {out['seconds']} s, "
        f"{out['receipts_per_min']} receipts/min"
    )


SIMULATE_CSV = ["from", "to", "calls", "moved", "priced_calls", "actual_usd", "projected_usd"]


def simulate_csv(out: Mapping[str, Any]) -> str:
    """One row per (deployment then, deployment projected); calls with no route as `to` = (no route)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SIMULATE_CSV)
    for m in out["moves"]:
        w.writerow(
            [m["from"], m["to"], m["calls"], m["moved"], m["priced"], m["actual_usd"], m["projected_usd"]]
        )
    for dep, n in out["no_route"]["by_deployment_then"].items():
        w.writerow([dep, "(no route)", n, True, 0, "", ""])
    return buf.getvalue()
