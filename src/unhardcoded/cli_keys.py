"""`unhardcoded keys add`: make a gateway key, print it once, keep only its digest."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from unhardcoded.config import load_settings
from unhardcoded.errors import UserError

keys_app = typer.Typer(help="Gateway keys: who may call the gateway, for which tenant.", no_args_is_help=True)


@keys_app.command("add")
def add(
    tenant: Annotated[str, typer.Option(help="the tenant this key calls and reads for")],
    scope: Annotated[str, typer.Option(help="client (its own tenant) or admin (every tenant)")] = "client",
    name: Annotated[str | None, typer.Option(help="a label for the key, e.g. 'billing service'")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="the keys file (default: auth.keys_file of the config)")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="unhardcoded.yaml")] = None,
) -> None:
    """Print a new key (once: only its HMAC-SHA256 is stored) and add it to the keys file."""
    from unhardcoded.config import GatewayKey
    from unhardcoded.gateway.auth import add_key, load_keyring

    try:
        if scope not in ("client", "admin"):
            raise UserError(
                f"--scope: expected client or admin, got {scope!r}", path="scope", choices=["client", "admin"]
            )
        s: Literal["client", "admin"] = "admin" if scope == "admin" else "client"
        GatewayKey(hash="hmac-sha256:" + "0" * 64, tenant=tenant, scope=s)  # the config's own checks
        settings = load_settings(config)
        target = file or Path(settings.auth.keys_file or "unhardcoded-keys.yaml")
        ring = load_keyring(settings.auth.model_copy(update={"keys": [], "keys_file": None}), os.environ)
        key = add_key(target, tenant, s, name, ring.pepper)
    except UserError as e:
        print(f"error: {e.message}", file=sys.stderr)
        raise typer.Exit(2) from None
    except ValueError as e:  # pydantic: the tenant's shape
        print(f"error: --tenant: {str(e).splitlines()[-1].strip()}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(key)
    where = (
        ""
        if settings.auth.keys_file
        else f"\nname it in the config so the gateway reads it: auth: {{keys_file: {target}}}"
    )
    print(
        f"stored its digest in {target} ({s} key for tenant {tenant!r}); the key is not shown again{where}",
        file=sys.stderr,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
