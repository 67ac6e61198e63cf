"""`unhardcoded import litellm`: switch from another gateway's config in one command. Thin: read, convert,
write.

Exit codes: 0 converted (the not-converted list may be non-empty: it is printed), 1 the input cannot be
read or is not a LiteLLM config, 2 the converted config does not load (a bug: please report it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from unhardcoded.errors import UserError

import_app = typer.Typer(
    no_args_is_help=True, help="Convert another gateway's config into an unhardcoded.yaml."
)


def _fail(message: str, code: int) -> None:
    from unhardcoded.cli_render import make_console

    make_console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@import_app.command("litellm")
def import_litellm(
    config: Annotated[Path, typer.Argument(help="a LiteLLM proxy config.yaml")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="write unhardcoded.yaml here (else print it)")
    ] = None,
) -> None:
    """A LiteLLM proxy config as ours: providers, catalog overlay, one policy per model group."""
    from unhardcoded.catalog.load import build_catalog
    from unhardcoded.config import parse_settings
    from unhardcoded.gateway.policies import Policies
    from unhardcoded.imports.litellm import convert_litellm
    from unhardcoded.imports.reference import Reference
    from unhardcoded.imports.render import render_yaml, summary

    try:
        doc = yaml.safe_load(config.read_text())
    except OSError as e:
        _fail(f"cannot read {config}: {e.strerror}", 1)
        return
    except yaml.YAMLError as e:
        _fail(f"{config} is not valid YAML: {e}", 1)
        return
    try:
        conv = convert_litellm(doc, catalog=build_catalog(), reference=Reference.bundled())
    except UserError as e:
        _fail(f"{config}: {e.message}", 1)
        return
    text = render_yaml(conv, source=config.name)
    try:  # what we write must load: the same path the gateway takes at start
        Policies(parse_settings(yaml.safe_load(text), source="converted config"))
    except UserError as e:
        _fail(f"the converted config does not load: {e.message}", 2)
        return
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text)
    sys.stdout.write(f"wrote {out}\n" + "\n".join(summary(conv)) + "\n")


def register(app: typer.Typer) -> None:
    """Add `import ...` to the main CLI."""
    app.add_typer(import_app, name="import")
