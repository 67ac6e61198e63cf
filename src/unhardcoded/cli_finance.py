"""`unhardcoded audit` and `unhardcoded simulate`: finance and audit questions asked of stored receipts,
without a server. Thin: open the store the config (or --store) names, call review/, print a table, CSV or
JSON. Exit codes: 0 answered (audit --request: the rule is proven enforced), 4 audit --request could not
prove it, 2 bad input (the message names the parameter and the valid choices).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from unhardcoded.cli_review import (
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    _dump,
    _fail,
    _live_runtime,
    _store_url,
    _with_store,
)
from unhardcoded.config import load_settings
from unhardcoded.errors import PolicyError, UserError
from unhardcoded.store.base import ReceiptStore

CsvOpt = Annotated[bool, typer.Option("--csv", help="print CSV (one row per excluded deployment / move)")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="30d, 12h, 90m or an ISO 8601 timestamp")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="30d, 12h, 90m or an ISO 8601 timestamp")]


def _message(e: UserError) -> str:
    extra = f" (valid: {', '.join(e.choices)})" if e.choices and "valid:" not in e.message else ""
    return e.message + extra


def _named(policies: Any, text: str) -> Any:
    """The policy the config names `text`, or None (then `text` is a file or inline JSON)."""
    try:
        return policies.named(text)
    except UserError:
        return None


def _with_progress(
    label: str, work: Callable[[Callable[[int, int], None]], Awaitable[Any]]
) -> Awaitable[Any]:
    """Run `work(progress)` under a progress bar on stderr (transient: gone once done)."""
    from rich.progress import Progress

    from unhardcoded.cli_render import make_console

    async def run() -> Any:
        if not sys.stderr.isatty():  # a bar off a terminal is only noise in a log
            return await work(lambda n, total: None)
        with Progress(console=make_console(stderr=True), transient=True) as bar:
            task = bar.add_task(label, total=None)

            def advance(n: int, total: int) -> None:
                bar.update(task, advance=n, total=total)

            return await work(advance)

    return run()


def audit(
    fingerprint: Annotated[str | None, typer.Option("--fingerprint", help="one policy fingerprint")] = None,
    request: Annotated[
        str | None, typer.Option("--request", help="one call: prove its rule(s) were enforced")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="one rule id, e.g. eu-only")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    show_all: Annotated[bool, typer.Option("--all", help="list every excluded deployment")] = False,
) -> None:
    """Which rules were enforced, per policy fingerprint, and which deployments each excluded (by region and
    capability); with --request ID, the proof for one call (exit 4 if it cannot be proven)."""
    from unhardcoded.cli_render import make_console
    from unhardcoded.review.audit import audit as run_audit
    from unhardcoded.review.render_audit import audit_csv, proof_csv, render_audit, render_proof
    from unhardcoded.review.scan import parse_window

    try:
        if request is not None and (fingerprint or since or until):
            raise UserError("--request: give it alone (with --rule), not with --fingerprint/--since/--until")
        parse_window(since, until)  # bad input fails before the store is opened
        url = _store_url(store, load_settings(config))
    except UserError as e:
        _fail(_message(e))
        return

    async def work(st: ReceiptStore) -> dict[str, Any]:
        if request is not None:
            return await run_audit(st, request_id=request, rule=rule)

        async def go(progress: Callable[[int, int], None]) -> dict[str, Any]:
            return await run_audit(
                st, fingerprint=fingerprint, rule=rule, since=since, until=until, progress=progress
            )

        result: dict[str, Any] = await _with_progress("auditing", go)
        return result

    try:
        out = _with_store(url, work)
    except UserError as e:
        _fail(_message(e))
        return
    if as_json:
        _dump(out)
    elif as_csv:
        sys.stdout.write(proof_csv(out) if request is not None else audit_csv(out))
    elif request is not None:
        render_proof(make_console(), out)
    else:
        render_audit(make_console(), out, show_all=show_all)
    if request is not None and not out.get("enforced"):
        raise typer.Exit(4)


def simulate(
    policy: Annotated[
        str, typer.Option("--policy", help="the new policy: a JSON/YAML file, inline JSON, or a stored name")
    ],
    since: SinceOpt = "30d",
    until: UntilOpt = None,
    workload: Annotated[str | None, typer.Option("--workload", help="only this workload's calls")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    live: Annotated[
        bool, typer.Option("--live", help="apply today's runtime rules (deployments without a key here)")
    ] = False,
) -> None:
    """What-if: a new policy over the features and token usage of past calls, against today's catalog:
    projected cost against what happened, calls that would move and where, no-route calls, rules that bite."""
    from unhardcoded.cli import _load_doc
    from unhardcoded.cli_render import make_console
    from unhardcoded.gateway.policies import Policies
    from unhardcoded.review.render_simulate import render_simulate, simulate_csv
    from unhardcoded.review.scan import parse_window
    from unhardcoded.review.simulate import simulate as run_simulate

    try:
        settings = load_settings(config)
        policies = Policies(settings)
        named = _named(policies, policy)
        name = named.name if named is not None else None
        doc = named.canonical if named is not None else _load_doc(policy, "--policy")
        parse_window(since, until)
        url = _store_url(store, settings)
    except UserError as e:
        _fail(_message(e))
        return

    async def work(st: ReceiptStore) -> dict[str, Any]:
        runtime = _live_runtime(settings, policies, st) if live else None

        async def go(progress: Callable[[int, int], None]) -> dict[str, Any]:
            return await run_simulate(
                st,
                doc,
                catalog=policies.catalog,
                since=since,
                until=until,
                workload=workload,
                default_baseline=settings.default_baseline,
                name=name,
                live=runtime,
                progress=progress,
            )

        result: dict[str, Any] = await _with_progress("simulating", go)
        return result

    try:
        out = _with_store(url, work)
    except PolicyError as e:
        _fail(f"--policy: {_message(e)}")
        return
    except UserError as e:
        _fail(_message(e))
        return
    if as_json:
        _dump(out)
    elif as_csv:
        sys.stdout.write(simulate_csv(out))
    else:
        render_simulate(make_console(), out)


def register(app: typer.Typer) -> None:
    app.command()(audit)
    app.command()(simulate)
