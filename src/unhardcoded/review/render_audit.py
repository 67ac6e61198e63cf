"""Audit results for people (tables) and for export (CSV rows). Presentation only: audit() results in."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from unhardcoded.cli_render import emit_table, fmt

FIRST_FEW = 8


def _groups(counts: Mapping[str, int], limit: int = 4) -> str:
    items = list(counts.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "") if items else "—"


def table_cells(console: Console, row: list[str]) -> list[str]:
    """A rich table reads `[x]` as markup; a plain one (off a terminal) prints cells as they are."""
    return [escape(c) for c in row] if console.is_terminal else row


def _value(v: Any) -> str:
    return fmt(v) if not isinstance(v, dict) else json.dumps(v, sort_keys=True)


def render_audit(console: Console, out: Mapping[str, Any], *, show_all: bool = False) -> None:
    """Per fingerprint: its rules, the calls it governed, and per rule what it excluded, by region and
    capability; with a single rule (or `show_all`), every excluded deployment too."""
    p = console.print
    if not out["policies"]:
        p(f"no receipts in this window ({out['receipts']} read)")
        return
    for n, f in enumerate(out["policies"]):
        if n:
            p()
        p(f"[bold]policy[/bold]   {escape(str(f['fingerprint']))}  name {f.get('name') or '—'}  ", end="")
        p(f"workloads {escape(', '.join(f['workloads']))}")
        statuses = ", ".join(f"{k} {v}" for k, v in f["statuses"].items())
        p(
            f"[bold]calls[/bold]    {f['calls']} governed ({statuses}); "
            f"{f['distinct_decisions']} distinct decisions"
        )
        if f["without_decision"]:
            p(f"[yellow]{f['without_decision']} calls without a stored decision[/yellow]")
        canon = "; ".join(
            f"{r.get('id')}: {r.get('field')} {r.get('op')} {fmt(r.get('value'))}"
            for r in f["canonical_rules"]
        )
        p(f"[bold]rules[/bold]    {escape(canon) or '(none: every deployment that can serve the call)'}")
        emit_table(
            console,
            ["rule", "source", "test", "calls bitten", "excluded", "by region", "by capability"],
            [
                table_cells(
                    console,
                    [
                        r["rule_id"],
                        str(r["source"]),
                        r["test"],
                        str(r["calls"]),
                        str(r["excluded"]),
                        _groups(r["by_region"]),
                        _groups(r["by_capability"]),
                    ],
                )
                for r in f["rules"]
            ],
            right=["calls bitten", "excluded"],
        )
        for r in f["rules"]:
            deps = r.get("deployments") or []
            if not deps or not (show_all or out.get("rule")):
                continue
            p(f"[bold]{escape(r['rule_id'])}[/bold] excluded {len(deps)} deployments ({escape(r['test'])}):")
            for d in deps if show_all or len(deps) <= FIRST_FEW * 4 else deps[: FIRST_FEW * 4]:
                p(
                    escape(
                        f"  {d['deployment']}  {d['region'] or '—'}  actual {_value(d['actual'])}  "
                        f"in {d['calls']} calls"
                    ),
                    highlight=False,
                    soft_wrap=True,
                )


def render_proof(console: Console, out: Mapping[str, Any]) -> None:
    """One call's proof, verdict first."""
    p = console.print
    verdict = (
        "[bold green]ENFORCED[/bold green]" if out.get("enforced") else "[bold red]NOT PROVEN[/bold red]"
    )
    p(f"{verdict}  receipt {out['request_id']}  {out.get('created_at') or ''}  status {out.get('status')}")
    p(f"[bold]policy[/bold]    {escape(str(out.get('fingerprint')))}  sha256 {out.get('policy_sha256')}")
    p(f"[bold]catalog[/bold]   {out.get('catalog_version')}")
    if "error" in out:
        p(f"[red]{escape(out['error'])}[/red]")
        return
    ok = "matches" if out["hash_verified"] else "[red]DOES NOT MATCH[/red]"
    p(f"[bold]decision[/bold]  sha256 {out['content_hash']} {ok} the receipt's {out['decision_hash']}")
    rebuilt = (
        "identical"
        if out["rebuilt_identical"]
        else f"[red]DIFFERS[/red] {escape(json.dumps(out['rebuild']))}"
    )
    p(f"[bold]rebuilt[/bold]   from the catalog version, canonical policy, features and runtime: {rebuilt}")
    for r in out["rules"]:
        p()
        test = f"{r['field']} {r['op']} {fmt(r['expected'])}"
        p(
            f"[bold]rule {escape(r['rule_id'])}[/bold] ({r['source']}): {escape(test)}, "
            f"missing → {r['missing']}"
        )
        p(f"  evaluated on {r['evaluated_on']} deployments; excluded {r['excluded_count']}", end="")
        p("" if r["count_agrees"] else " [red](the rule's own count differs)[/red]")
        if r["winner"] is None:
            p("  no deployment answered this call")
        else:
            passed = "passed" if r["winner_passed"] else "[red]FAILED[/red]"
            value = escape(f"{r['field']} = {_value(r['winner_value'])}")
            p(f"  winner {escape(r['winner'])} {passed} it ({value})")
        if not r["attempted_passed"]:
            p("  [red]an attempted deployment had failed this rule[/red]")
        if r["excluded"]:
            emit_table(
                console,
                ["excluded deployment", "value that failed", "region"],
                [
                    table_cells(console, [e["deployment"], _value(e["actual"]), fmt(e["region"])])
                    for e in r["excluded"]
                ],
            )


AUDIT_CSV = [
    "fingerprint",
    "rule_id",
    "source",
    "test",
    "calls_bitten",
    "deployment",
    "region",
    "actual",
    "calls",
]
PROOF_CSV = ["request_id", "rule_id", "field", "op", "expected", "deployment", "verdict", "actual", "region"]


def _csv(header: Sequence[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([["" if v is None else _value(v) for v in row] for row in rows])
    return buf.getvalue()


def audit_csv(out: Mapping[str, Any]) -> str:
    """One row per (fingerprint, rule, excluded deployment); a rule that excluded nothing gets one row."""
    rows: list[list[Any]] = []
    for f in out["policies"]:
        for r in f["rules"]:
            head = [f["fingerprint"], r["rule_id"], r["source"], r["test"], r["calls"]]
            deps = r.get("deployments") or []
            rows += [head + [d["deployment"], d["region"], d["actual"], d["calls"]] for d in deps]
            if not deps:
                rows.append(head + [None, None, None, 0])
    return _csv(AUDIT_CSV, rows)


def proof_csv(out: Mapping[str, Any]) -> str:
    """One row per excluded deployment and one for the winner, per rule."""
    rows: list[list[Any]] = []
    for r in out.get("rules") or []:
        head = [out["request_id"], r["rule_id"], r["field"], r["op"], r["expected"]]
        rows += [head + [e["deployment"], "excluded", e["actual"], e["region"]] for e in r["excluded"]]
        if r["winner"] is not None:
            verdict = "winner passed" if r["winner_passed"] else "winner FAILED"
            rows.append(head + [r["winner"], verdict, r["winner_value"], None])
    return _csv(PROOF_CSV, rows)
