"""`unhardcoded replay` and `unhardcoded trace`: questions asked of stored receipts, without a server.
Thin: open the store the config (or --store) names, call review/, print. Exit codes: replay 0 identical,
4 an as-then rebuild differs (or cannot be rebuilt), 2 bad input; trace 0 found, 2 bad input.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer

from unhardcoded.config import Settings, load_settings
from unhardcoded.errors import UserError
from unhardcoded.store import SQLITE_PREFIX, open_store
from unhardcoded.store.base import ReceiptStore

T = TypeVar("T")
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="unhardcoded.yaml (else $UNHARDCODED_CONFIG)")
]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="a store URL or SQLite file (else the config's `store`)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def _fail(message: str, code: int = 2) -> None:
    from unhardcoded.cli_render import make_console

    make_console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _store_url(store: str | None, settings: Settings) -> str:
    url = store or settings.store
    if "://" not in url:
        url = SQLITE_PREFIX + url  # a plain path is a SQLite file
    if url.startswith(SQLITE_PREFIX):
        path = Path(url[len(SQLITE_PREFIX) :].split("?", 1)[0]).expanduser()
        if not path.is_file():
            raise UserError(f"store: no SQLite file at {path}", path="store")  # opening would create one
    return url


def _with_store(url: str, work: Callable[[ReceiptStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(url)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _dump(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def _live_runtime(settings: Settings, router: Any, store: ReceiptStore) -> Any:
    """Today's runtime as the gateway would compute it at start: the no-key rule from this environment
    (no breaker is open in a process that has made no call). Built by the gateway itself, so nothing is
    copied; nothing is sent."""
    from unhardcoded.gateway.service import Gateway
    from unhardcoded.gateway.transport import AiohttpTransport
    from unhardcoded.providers.registry import load_adapters

    gw = Gateway(settings, router, store, AiohttpTransport(), load_adapters(include_plugins=True))
    return gw.runtime(time.time())


def replay(
    ident: Annotated[
        str | None, typer.Argument(help="a request id or a trace id", show_default=False)
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    live: Annotated[
        bool, typer.Option("--live", help="now with today's runtime (keys in this environment)")
    ] = False,
    fingerprint: Annotated[
        str | None, typer.Option("--fingerprint", help="replay every call under this policy fingerprint")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="with --fingerprint: 30d, 12h or ISO 8601")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="with --fingerprint: 30d, 12h or ISO 8601")
    ] = None,
) -> None:
    """Rebuild a stored decision as then (it must be identical: exit 4 if not) and against today's catalog."""
    from unhardcoded.cli_render import make_console
    from unhardcoded.gateway.policies import Policies
    from unhardcoded.review.period import parse_when, replay_period
    from unhardcoded.review.render import render_period, render_replay
    from unhardcoded.review.replay import replay_id

    try:
        if (ident is None) == (fingerprint is None):
            raise UserError("give a request or trace id, or --fingerprint F [--since 30d]")
        settings = load_settings(config)
        router = Policies(settings)
        url = _store_url(store, settings)
        now = time.time()
        t_since = parse_when(since, now=now) if since else None
        t_until = parse_when(until, now=now, name="until") if until else None
    except UserError as e:
        _fail(e.message)
        return
    console = make_console()

    async def work(st: ReceiptStore) -> dict[str, Any]:
        runtime = _live_runtime(settings, router, st) if live else None
        if ident is not None:
            return await replay_id(st, ident, catalog_now=router.catalog, live=runtime)
        assert fingerprint is not None
        from rich.progress import Progress

        with Progress(console=make_console(stderr=True), transient=True) as bar:
            task = bar.add_task("replaying", total=None)

            def advance(n: int, total: int) -> None:
                bar.update(task, advance=n, total=total)

            return await replay_period(
                st,
                fingerprint=fingerprint,
                since=t_since,
                until=t_until,
                catalog_now=router.catalog,
                live=runtime,
                progress=advance,
            )

    try:
        out = _with_store(url, work)
    except UserError as e:
        _fail(e.message)
        return
    if as_json:
        _dump(out)
    elif ident is not None:
        for n, r in enumerate(out["receipts"]):
            if n:
                console.print()
            render_replay(console, r)
    else:
        render_period(console, out)
    raise typer.Exit(0 if out["identical"] else 4)


def trace(
    ident: Annotated[
        str | None, typer.Argument(help="a request id or a trace id", show_default=False)
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="every candidate, not the first few per rule")
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="search receipts (the filters of GET /x/traces)")
    ] = False,
    workload: Annotated[str | None, typer.Option(help="with --list")] = None,
    since: Annotated[str | None, typer.Option(help="with --list: 30d, 12h or ISO 8601")] = None,
    until: Annotated[str | None, typer.Option(help="with --list: 30d, 12h or ISO 8601")] = None,
    deployment: Annotated[str | None, typer.Option(help="with --list: the deployment that answered")] = None,
    fingerprint: Annotated[str | None, typer.Option(help="with --list")] = None,
    status: Annotated[
        str | None, typer.Option(help="with --list: ok, error, partial, no_route, incomplete, started")
    ] = None,
    limit: Annotated[int, typer.Option(help="with --list: at most this many, newest first")] = 50,
) -> None:
    """One receipt for a person (explanation, policy, rejections by rule, attempts, cost), or --list."""
    from unhardcoded.cli_render import make_console
    from unhardcoded.gateway.receipts import expand
    from unhardcoded.review.period import parse_when
    from unhardcoded.review.render import render_list, render_trace
    from unhardcoded.review.trace import summarize
    from unhardcoded.store import STATUSES

    try:
        if list_ == (ident is not None):
            raise UserError("give a request or trace id, or --list with filters")
        if status is not None and status not in STATUSES:
            raise UserError(f"--status: {status!r} is not a status; valid: {', '.join(STATUSES)}")
        if limit < 1:
            raise UserError("--limit: at least 1")
        settings = load_settings(config)
        url = _store_url(store, settings)
        now = time.time()
        t_since = parse_when(since, now=now) if since else None
        t_until = parse_when(until, now=now, name="until") if until else None
    except UserError as e:
        _fail(e.message)
        return

    async def work(st: ReceiptStore) -> Any:
        if list_:
            return await st.search(
                workload=workload,
                since=t_since,
                until=t_until,
                deployment=deployment,
                fingerprint=fingerprint,
                status=status,
                limit=limit,
            )
        assert ident is not None
        one = await st.get(ident)
        return [one] if one is not None else await st.trace(ident)

    found = _with_store(url, work)
    console = make_console()
    if list_:
        if as_json:
            _dump({"receipts": found})
        else:
            render_list(console, found)
        return
    if not found:
        _fail(f"no receipt or trace {ident!r} in {url.split('@')[-1]}")
    receipts = [expand(r) for r in found]
    if as_json:
        _dump(receipts[0] if len(receipts) == 1 else {"trace_id": ident, "receipts": receipts})
        return
    for n, r in enumerate(receipts):
        if n:
            console.rule()
        render_trace(console, summarize(r, show_all=show_all), show_all=show_all)


def register(app: typer.Typer) -> None:
    app.command()(replay)
    app.command()(trace)
