"""Rendering for the CLI: the decision, fields, catalog, receipts and replays. Presentation only.

On a terminal tables are rich tables; off one (a pipe, a file) every value is printed whole in a plain
aligned table, so `unhardcoded catalog | grep gpt-4.1` finds what it looks for.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import Decision
from unhardcoded.policy.explain import explain


def make_console(*, stderr: bool = False) -> Console:
    """A console for the CLI: off a terminal, lines are never wrapped (a pipe has no width)."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(stderr=stderr, soft_wrap=not terminal, highlight=False)


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple | frozenset):
        return "[" + ", ".join(str(x) for x in sorted(v)) + "]"
    return str(v)


_fmt = fmt  # the name other modules used before


def emit_table(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    right: Sequence[str] = (),
    caption: str | None = None,
) -> None:
    """A table: rich on a terminal; off one, a plain aligned table with every value whole."""
    if console.is_terminal:
        t = Table(title=title, title_justify="left", caption=caption)
        for c in columns:
            t.add_column(c, justify="right" if c in right else "left")
        for row in rows:
            t.add_row(*row)
        console.print(t)
        return
    widths = [max([len(c)] + [len(r[k]) for r in rows]) for k, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        out = [
            cell.rjust(w) if columns[k] in right else cell.ljust(w)
            for k, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    text = [title] if title else []
    text += [line(columns)] + [line(r) for r in rows]
    if caption:
        text.append(caption)
    console.file.write("\n".join(text) + "\n")


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
        shown = d.ranked if not console.is_terminal else d.ranked[:20]
        rows = [
            [str(pos + 1), d.catalog.ids[i], *(fmt(v) for v in vals), "yes" if pos < len(d.plan) else ""]
            for pos, (i, vals) in enumerate(zip(shown, d.rank_values, strict=False))
        ]
        keys = [f"{k.by} {k.order}" for k in p.rank]
        more = len(d.ranked) - len(shown)
        emit_table(
            console,
            ["#", "deployment", *keys, "plan"],
            rows,
            title=f"passed: {len(d.ranked)} (plan: first {len(d.plan)})",
            right=["#", *keys],
            caption=f"... and {more} more passers" if more > 0 else None,
        )

    any_count, first = d.rejection_counts()
    emit_table(
        console,
        ["rule", "source", "test", "rejected", "first failure"],
        [
            [
                r.id,
                r.source,
                f"{r.field} {r.op} {fmt(r.value)}",
                str(any_count.get(r.id, 0)),
                str(first.get(r.id, 0)),
            ]
            for r in d.rules
        ],
        title=f"rejected: {d.n_rejected} of {len(d.catalog)}",
        right=["rejected", "first failure"],
    )
    if d.waived:
        console.print(f"waived: {', '.join(d.waived)} (it would have left no candidate)")
    if brief:
        return
    ranked = set(d.ranked)
    console.print("[bold]why each other deployment lost[/bold]")
    for i, dep in enumerate(d.catalog.deployments):
        if i in ranked:
            continue
        reasons = "; ".join(f"{x.rule_id} ({x.field}={fmt(x.actual)})" for x in d.failures(i))
        console.print(f"  {dep.id}: {reasons}", highlight=False, soft_wrap=True)


def render_fields(console: Console, fields: list[dict[str, Any]]) -> None:
    rows = [
        [
            f["name"],
            f["type"] + (" (derived)" if f["derived"] else ""),
            f["unit"] or "",
            " ".join(f["ops"]),
            f["description"],
            f["source"],
        ]
        for f in fields
    ]
    emit_table(console, ["name", "type", "unit", "ops", "description", "source"], rows)


def render_catalog(console: Console, catalog: Catalog) -> None:
    rows = [
        [
            d.id,
            fmt(d.get("region")),
            fmt(d.get("price_input_per_mtok")),
            fmt(d.get("price_output_per_mtok")),
            fmt(d.get("context_window")),
            fmt(d.get("bench_intelligence")),
            " ".join(d.get("capabilities") or []),
        ]
        for d in catalog
    ]
    emit_table(
        console,
        ["id", "region", "in $/M", "out $/M", "context", "bench", "capabilities"],
        rows,
        title=f"catalog {catalog.version}  ({len(catalog)} deployments)",
    )
