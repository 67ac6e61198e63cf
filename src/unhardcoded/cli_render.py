"""Rich rendering for the CLI: the decision table, fields and catalog. Presentation only."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import Decision
from unhardcoded.policy.explain import explain


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple | frozenset):
        return "[" + ", ".join(str(x) for x in sorted(v)) + "]"
    return str(v)


def render_decision(console: Console, d: Decision, *, brief: bool = False) -> None:
    p = d.policy
    console.print(f"[bold]policy[/bold]   {p.fingerprint}  sha256 {p.sha256[:16]}…  workload {p.workload}")
    console.print(f"[bold]catalog[/bold]  {d.catalog.version[:16]}…  {len(d.catalog)} deployments")
    f = d.features
    console.print(
        f"[bold]request[/bold]  ~{f.est_input_tokens} input tokens, {f.est_output_tokens} output"
        f"{', tools' if f.needs_tools else ''}{', vision' if f.needs_vision else ''}"
        f"{', json_schema' if f.needs_json_schema else ''}{', stream' if f.stream else ''}"
    )
    if d.plan:
        console.print(f"[bold green]winner[/bold green]   {d.plan[0]}")
    else:
        console.print("[bold red]no deployment passed[/bold red]")
    console.print(explain(d), highlight=False)

    if d.ranked:
        t = Table(title=f"passed: {len(d.ranked)} (plan: first {len(d.plan)})", title_justify="left")
        t.add_column("#", justify="right")
        t.add_column("deployment")
        for k in p.rank:
            t.add_column(f"{k.by} {k.order}", justify="right")
        t.add_column("plan")
        for pos, (i, vals) in enumerate(zip(d.ranked[:20], d.rank_values[:20], strict=False)):
            t.add_row(
                str(pos + 1), d.catalog.ids[i], *(_fmt(v) for v in vals), "yes" if pos < len(d.plan) else ""
            )
        if len(d.ranked) > 20:
            t.caption = f"... and {len(d.ranked) - 20} more passers"
        console.print(t)

    any_count, first = d.rejection_counts()
    t = Table(title=f"rejected: {d.n_rejected} of {len(d.catalog)}", title_justify="left")
    for col in ("rule", "source", "test", "rejected", "first failure"):
        t.add_column(col, justify="right" if col in ("rejected", "first failure") else "left")
    for r in d.rules:
        t.add_row(
            r.id,
            r.source,
            f"{r.field} {r.op} {_fmt(r.value)}",
            str(any_count.get(r.id, 0)),
            str(first.get(r.id, 0)),
        )
    console.print(t)
    if d.waived:
        console.print(f"waived: {', '.join(d.waived)} (it would have left no candidate)")
    if brief:
        return
    ranked = set(d.ranked)
    console.print("[bold]why each other deployment lost[/bold]")
    for i, dep in enumerate(d.catalog.deployments):
        if i in ranked:
            continue
        reasons = "; ".join(f"{x.rule_id} ({x.field}={_fmt(x.actual)})" for x in d.failures(i))
        console.print(f"  {dep.id}: {reasons}", highlight=False, soft_wrap=True)


def render_fields(console: Console, fields: list[dict[str, Any]]) -> None:
    t = Table()
    for col in ("name", "type", "unit", "ops", "description", "source"):
        t.add_column(col)
    for f in fields:
        t.add_row(
            f["name"],
            f["type"] + (" (derived)" if f["derived"] else ""),
            f["unit"] or "",
            " ".join(f["ops"]),
            f["description"],
            f["source"],
        )
    console.print(t)


def render_catalog(console: Console, catalog: Catalog) -> None:
    t = Table(title=f"catalog {catalog.version}  ({len(catalog)} deployments)", title_justify="left")
    for col in ("id", "region", "in $/M", "out $/M", "context", "bench", "capabilities"):
        t.add_column(col)
    for d in catalog:
        t.add_row(
            d.id,
            _fmt(d.get("region")),
            _fmt(d.get("price_input_per_mtok")),
            _fmt(d.get("price_output_per_mtok")),
            _fmt(d.get("context_window")),
            _fmt(d.get("bench_intelligence")),
            " ".join(d.get("capabilities") or []),
        )
    console.print(t)
