"""`unhardcoded verify` (is the receipt store as it was written?) and `unhardcoded keys signing` (the
Ed25519 key that signs checkpoints). Thin: the walk is review/verify.py, the key handling gateway/signing.py.

verify exits 0 intact, 1 tampered (the first untrusted sequence number and what is wrong, per tenant),
2 cannot verify (a store it cannot read, checkpoints but no public key, bad arguments).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from unhardcoded.config import load_settings
from unhardcoded.errors import UserError

_PROGRESS_FROM = 20_000  # entries: below this the walk takes about a second, no bar


def _err(message: str, code: int) -> None:
    from unhardcoded.cli_render import make_console

    make_console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _public_keys(files: list[Path], config: Path | None) -> list[Any]:
    """The --pubkey files, else the public half of the config's signing key (if any)."""
    from unhardcoded.gateway.signing import load_public_key, load_signer

    if files:
        keys = []
        for f in files:
            try:
                keys.append(load_public_key(f.read_text(), f"--pubkey {f}"))
            except OSError as e:
                raise UserError(f"--pubkey: cannot read {f}: {e.strerror}", path="pubkey") from None
        return keys
    c = load_settings(config).checkpoints
    signer = load_signer(c.signing_key_file, c.signing_key_env, os.environ)
    return [signer.public] if signer is not None else []


async def _verify(
    url: str, tenant: str | None, keys: list[Any], claims: list[tuple[int, str]], bar: bool
) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from unhardcoded.cli_render import make_console
    from unhardcoded.review.verify import verify_store
    from unhardcoded.store import open_store
    from unhardcoded.store.chain_read import ChainReader, Readable

    store = open_store(url)
    await store.open()
    try:
        readable: Readable = store  # type: ignore[assignment]
        reader = ChainReader(readable)
        heads = await reader.heads()
        total = heads.get(tenant, (0, ""))[0] if tenant is not None else sum(s for s, _ in heads.values())
        if not bar or total < _PROGRESS_FROM:
            return await verify_store(reader, public_keys=keys, tenant=tenant, claims=claims)
        columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=make_console(stderr=True), transient=True) as progress:
            task = progress.add_task("verify", total=total)
            return await verify_store(
                reader,
                public_keys=keys,
                tenant=tenant,
                claims=claims,
                progress=lambda n: progress.advance(task, n),
            )
    finally:
        await store.close()


def _print(report: Any) -> None:
    out = []
    for c in report.chains:
        name = repr(c.tenant) if c.tenant else "(default tenant)"
        if c.problem is None:
            out.append(
                f"tenant {name}: {c.entries} receipts intact, up to {c.last_seq}:{c.last_hash} "
                f"({c.checkpoints} signed checkpoints)"
            )
        else:
            out.append(f"tenant {name}: TAMPERED at sequence number {c.problem.seq}: {c.problem.what}")
    for p in report.outside:
        out.append(f"tenant {p.tenant or '(default tenant)'}: TAMPERED outside the chain: {p.what}")
    verdict = {0: "intact", 1: "TAMPERED"}[report.exit_code]
    out.append(
        f"{verdict}: {sum(c.entries for c in report.chains)} receipts verified in {len(report.chains)} chains"
    )
    sys.stdout.write("\n".join(out) + "\n")


def verify(
    store: Annotated[
        str | None, typer.Option("--store", help="a store URL or SQLite file (else the config's `store`)")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="verify this tenant's chain only ('' is the default tenant)"),
    ] = None,
    pubkey: Annotated[
        list[Path] | None,
        typer.Option("--pubkey", help="the checkpoints' public key (PEM); else the config's signing key"),
    ] = None,
    receipt: Annotated[
        list[str] | None,
        typer.Option("--receipt", help="a SEQ:HASH an x-unhardcoded-receipt header gave (repeatable)"),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="unhardcoded.yaml")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Walk each tenant's receipt chain and its signed checkpoints.

    Exit 0 intact, 1 tampered (the first untrusted sequence number per tenant), 2 cannot verify."""
    import orjson

    from unhardcoded.cli_review import _store_url
    from unhardcoded.review.verify import parse_claim

    try:
        url = _store_url(store, load_settings(config))
        keys = _public_keys(pubkey or [], config)
        claims = [parse_claim(r) for r in receipt or []]
    except UserError as e:
        _err(e.message, 2)
        return
    try:
        report = asyncio.run(_verify(url, tenant, keys, claims, bar=not as_json))
    except UserError as e:
        _err(e.message, 2)
        return
    except Exception as e:  # an unreachable server, a file that is not a store: nothing to judge
        where = url.split("@")[-1]  # never print a password of the URL
        _err(
            f"cannot read the store {where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            2,
        )
        return
    if as_json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif report.cannot:
        _err(report.cannot, 2)
    else:
        _print(report)
    raise typer.Exit(report.exit_code)


def signing(
    new: Annotated[bool, typer.Option("--new", help="make a new key")] = False,
    out: Annotated[
        Path, typer.Option("--out", help="where --new writes the private key (never overwritten)")
    ] = Path("unhardcoded-signing.pem"),
    public_out: Annotated[
        Path | None, typer.Option("--public-out", help="also write the public key (PEM) to this file")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="unhardcoded.yaml")] = None,
) -> None:
    """The checkpoint signing key: --new makes one (private key to --out, mode 0600); either way the public
    key is printed (PEM), for `unhardcoded verify --pubkey` and anyone checking checkpoints."""
    from unhardcoded.gateway.signing import Signer, load_signer

    try:
        if new:
            signer = Signer.new()
            try:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise UserError(
                    f"--out: {out} exists; a signing key is never overwritten", path="out"
                ) from None
            with os.fdopen(fd, "wb") as f:
                f.write(signer.private_pem())
        else:
            c = load_settings(config).checkpoints
            found = load_signer(c.signing_key_file, c.signing_key_env, os.environ)
            if found is None:
                raise UserError(
                    "no signing key is configured (checkpoints.signing_key_file or $"
                    f"{c.signing_key_env or 'UNHARDCODED_SIGNING_KEY'}); make one with --new",
                    path="checkpoints.signing_key_file",
                )
            signer = found
        pem = signer.public.pem()
        if public_out is not None:
            public_out.write_text(pem)
    except UserError as e:
        _err(e.message, 2)
        return
    sys.stdout.write(pem)
    if new:
        print(
            f"wrote the private key to {out} (key id {signer.public.key_id}); name it in the config so the "
            f"gateway signs checkpoints: checkpoints: {{signing_key_file: {out}}}",
            file=sys.stderr,
        )


def register(app: typer.Typer) -> None:
    from unhardcoded.cli_keys import keys_app

    app.command("verify")(verify)
    keys_app.command("signing")(signing)
