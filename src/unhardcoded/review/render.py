"""Rendering of replays and receipts for people (rich on a terminal, plain whole values off one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

from unhardcoded.cli_render import emit_table, fmt
from unhardcoded.review.diff import describe_change


def _usd(v: Any) -> str:
    return "—" if v is None else f"${v:.6g}"


def render_replay(console: Console, result: Mapping[str, Any]) -> None:
    """One receipt's replay: the as-then verdict first (loud when it differs), then now against then."""
    p = console.print
    p(
        f"[bold]receipt[/bold]  {result['request_id']}  {result.get('created_at') or ''}  "
        f"status {result.get('status')}  answered by {result.get('answered_by') or '—'}"
    )
    p(f"[bold]policy[/bold]   {result.get('fingerprint')}  workload {result.get('workload')}")
    v = result["as_then"]
    if v.get("identical"):
        p(
            f"[bold green]as then[/bold green]  identical: decision {str(v.get('decision_hash'))[:16]}… "
            f"rebuilt from catalog {str(result.get('catalog_version'))[:16]}…"
        )
    elif "error" in v:
        p(f"[bold red]as then  CANNOT REPLAY[/bold red]: {escape(str(v['error']))}")
    else:
        d = v.get("first_difference") or {}
        p(
            "[bold red]as then  MISMATCH[/bold red]: the rebuilt decision differs from the stored one "
            "(a defect: the decision is meant to be a pure function of what the receipt stored)"
        )
        p(f"  stored hash  {v.get('decision_hash')}  (blob hashes to {v.get('stored_hash')})")
        p(f"  rebuilt hash {v.get('rebuilt_hash')}")
        if d.get("where") == "candidate":
            p(
                f"  first differing candidate: [bold]{d['deployment']}[/bold] (#{d['index'] + 1}), "
                f"{', '.join(d['fields'])}"
            )
            for k in d["fields"]:
                p(f"    {k}: stored {escape(str(d['stored'][k]))}", highlight=False)
                p(f"    {' ' * len(k)}  rebuilt {escape(str(d['rebuilt'][k]))}", highlight=False)
        elif d:
            p(
                f"  first difference in {d['where']}: stored {escape(str(d.get('stored')))[:300]}, "
                f"rebuilt {escape(str(d.get('rebuilt')))[:300]}",
                highlight=False,
            )
    now = result.get("now")
    if now is None:
        return
    if "error" in now:
        p(f"[bold]now[/bold]      {escape(now['error'])}")
        return
    render_now(console, now)


def render_now(console: Console, now: Mapping[str, Any]) -> None:
    p = console.print
    then_cat = now["catalog_then"][:16]
    which = " (the same catalog)" if now["catalog_then"] == now["catalog_now"] else f" (then {then_cat}…)"
    p(f"[bold]now[/bold]      catalog {now['catalog_now'][:16]}…{which}, runtime {now['runtime']}")
    if now["same_winner"]:
        p(f"  same winner: {now['winner_now'] or 'none (nothing passed, then and now)'}")
    else:
        p(
            f"  [bold yellow]new winner[/bold yellow]: {now['winner_then'] or 'none'} → "
            f"{now['winner_now'] or 'none (nothing passes now)'}"
        )
    p(
        f"  estimated cost of the winner: then {_usd(now['est_cost_then_usd'])}, now "
        f"{_usd(now['est_cost_now_usd'])};  passed {now['passed_then']} then, {now['passed_now']} now"
    )
    if now["plan_then"] != now["plan_now"]:
        p(f"  plan: {', '.join(now['plan_then']) or '—'} → {', '.join(now['plan_now']) or '—'}")
    for c in now["changed"]:
        p(f"  changed  {describe_change(c)}", highlight=False)
    for a in now["added"]:
        why = f" (rejected by {', '.join(a['rejected_by'])})" if a["rejected_by"] else ""
        rank = f" #{a['rank_now']}" if a["now"] in ("planned", "passed") else ""
        p(f"  added    {a['deployment']}: {a['now']}{rank}{why}", highlight=False)
    for g in now["gone"]:
        p(f"  gone     {g['deployment']} (was {g['then']})", highlight=False)
    if not (now["changed"] or now["added"] or now["gone"]):
        p("  no candidate's fate changed")


def render_period(console: Console, out: Mapping[str, Any]) -> None:
    p = console.print
    p(f"[bold]policy[/bold]   {out['fingerprint']}   runtime {out['runtime']}")
    p(
        f"{out['calls']} calls, {out['distinct_decisions']} distinct decisions replayed in {out['seconds']}s "
        f"({out['receipts_per_s']} receipts/s)"
    )
    p(f"[bold]{out['would_route_elsewhere']}[/bold] of {out['calls']} would route elsewhere today")
    emit_table(
        console,
        ["then winner", "now winner", "calls", "moved"],
        [
            [g["then"] or "none", g["now"] or "none", str(g["calls"]), "yes" if g["moved"] else ""]
            for g in out["groups"]
        ],
        right=["calls"],
    )
    for m in out["mismatches"]:
        d = m.get("first_difference") or {}
        p(
            f"[bold red]MISMATCH[/bold red] {m['request_id']} ({m['calls']} calls): first differing "
            f"{'candidate ' + str(d.get('deployment')) if d.get('where') == 'candidate' else d.get('where')}"
        )
    for e in out["errors"]:
        p(f"[bold red]cannot replay[/bold red] {e['request_id']}: {escape(str(e['error']))}")


def render_trace(console: Console, s: Mapping[str, Any], *, show_all: bool = False) -> None:
    """One receipt for a person: the sentence first, then policy, candidates, attempts and money."""
    p = console.print
    p(f"[bold]{escape(str(s['explanation'] or '(no explanation: the call has not finished)'))}[/bold]")
    p(
        f"[bold]receipt[/bold]  {s['request_id']}  trace {s['trace_id']}  {s['created_at']}  "
        f"status {s['status']}"
    )
    if s.get("workflow"):
        p(f"[bold]workflow[/bold] {s['workflow'].get('id')}  node {s['workflow'].get('node') or '—'}")
    pol = s["policy"]
    p(
        f"[bold]policy[/bold]   {pol['name'] or '(inline)'}  workload {pol['workload']}  "
        f"{pol['fingerprint']}  "
        f"sha256 {str(pol['sha256'])[:16]}…" + (f"  pinned {s['pinned']}" if s.get("pinned") else "")
    )
    for r in pol["rules"]:
        p(f"           {r['id']}: {r['field']} {r['op']} {fmt(r.get('value'))}", highlight=False)
    f = s.get("features") or {}
    p(
        f"[bold]request[/bold]  ~{f.get('est_input_tokens')} input tokens, "
        f"{f.get('est_output_tokens')} output"
        + "".join(
            f", {k[6:] if k.startswith('needs_') else k}"
            for k in ("needs_tools", "needs_vision", "needs_json_schema", "stream")
            if f.get(k)
        )
        + f"   catalog {str(s['catalog_version'])[:16]}…"
    )
    counts = s.get("counts") or {}
    emit_table(
        console,
        ["#", "deployment", "status", "est cost"],
        [
            [
                fmt(c["rank"]),
                c["deployment"],
                c["status"] + (" (planned)" if c["planned"] and c["status"] == "ranked" else ""),
                _usd(c["est_cost_usd"]),
            ]
            for c in s["passed"]
        ],
        title=f"passed: {counts.get('passed', len(s['passed']))} of {counts.get('candidates', '?')}",
        right=["#", "est cost"],
    )
    if s.get("waived"):
        p(f"waived: {', '.join(s['waived'])} (it would have left no candidate)")
    rows = []
    for g in s["rejected"]:
        ids = ", ".join(f"{d['deployment']} ({fmt(d['actual'])})" for d in g["deployments"])
        more = g["first"] - len(g["deployments"])
        rows.append(
            [
                g["rule_id"],
                g["source"] or "",
                g["test"],
                str(g["rejected"]),
                str(g["first"]),
                ids + (f", … {more} more (--all)" if more > 0 else ""),
            ]
        )
    emit_table(
        console,
        ["rule", "source", "test", "fails", "first", "deployments (first failure here)"],
        rows,
        title=f"rejected: {counts.get('rejected', '?')}, grouped by the first rule each failed",
        right=["fails", "first"],
    )
    emit_table(
        console,
        ["#", "at ms", "deployment", "latency ms", "ttft ms", "http", "result", "fallback"],
        [
            [
                str(a["n"]),
                fmt(a["at_ms"]),
                a["deployment"],
                fmt(a["latency_ms"]),
                fmt(a["ttft_ms"]),
                fmt(a["http_status"]),
                a["result"],
                f"→ {a['fell_back_to']}" if a["fell_back_to"] else ("yes" if a["fell_back"] else ""),
            ]
            for a in s["attempts"]
        ],
        title=f"attempts: {len(s['attempts'])}"
        + (f", call {fmt(s['latency_ms'])} ms" if s.get("latency_ms") else ""),
        right=["#", "at ms", "latency ms", "ttft ms", "http"],
    )
    for a in s["attempts"]:
        if a.get("error"):
            p(f"  #{a['n']} {a['deployment']}: {escape(str(a['error']))}", highlight=False)
    m = s["money"]
    usage = m.get("usage") or {}
    tokens = f"{usage.get('input_tokens')} in / {usage.get('output_tokens')} out" if usage else "no usage"
    p(
        f"[bold]cost[/bold]     {_usd(m['cost_usd'])} on {m['deployment'] or '—'} ({tokens});  baseline "
        f"{m['baseline'] or '—'} {_usd(m['baseline_cost_usd'])};  saved {_usd(m['savings_usd'])}"
        + (f" ({m['savings_pct']}%)" if m.get("savings_pct") is not None else "")
    )
    if s.get("error"):
        p(f"[bold red]error[/bold red]    {escape(str(s['error']))}")


def render_list(console: Console, rows: list[Mapping[str, Any]]) -> None:
    import datetime as dt

    def when(ts: Any) -> str:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") if ts else "—"

    emit_table(
        console,
        ["created", "request_id", "status", "workload", "deployment", "cost", "saved", "ms", "fingerprint"],
        [
            [
                when(r.get("created_at")),
                r["request_id"],
                str(r.get("status")),
                str(r.get("workload")),
                r.get("deployment") or "—",
                _usd(r.get("cost_usd")),
                _usd(r.get("savings_usd")),
                fmt(r.get("latency_ms")),
                str(r.get("fingerprint")),
            ]
            for r in rows
        ],
        title=f"{len(rows)} receipts, newest first",
        right=["cost", "saved", "ms"],
    )
