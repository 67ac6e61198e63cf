"""`unhardcoded import litellm` and `unhardcoded catalog diff`: switching in, and seeing what changed.

Thin: read, call imports/ or catalog/diff.py, write. `import litellm` exits 0 converted (the not-converted
list may be non-empty: it is printed), 1 the input cannot be read or is not a LiteLLM config, 2 the
converted config does not load (a bug: please report it). `catalog diff` and `catalog refresh` exit 0
identical, 1 different, 2 a version or the sources cannot be found or read.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml

from unhardcoded.catalog.model import Catalog
from unhardcoded.errors import UserError

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="unhardcoded.yaml (else $UNHARDCODED_CONFIG)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]

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


def _version_catalog(spec: str, store_url: str | None, config: Path | None) -> Catalog:
    """`current` (bundled + the config's overlay), `bundled`, a catalog JSON file, or a stored version."""
    from unhardcoded.catalog.load import build_catalog
    from unhardcoded.config import load_settings
    from unhardcoded.review.rebuild import catalog_from_blob
    from unhardcoded.store import SQLITE_PREFIX, open_store

    if spec == "bundled":
        return build_catalog()
    settings = load_settings(config)
    if spec == "current":
        c = settings.catalog
        return build_catalog(bundled=c.bundled, overlay=c.deployments, custom_fields=c.fields)
    path = Path(spec)
    if path.is_file():
        doc = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict) or not isinstance(doc.get("deployments"), list):
            raise UserError(f"{spec}: not a catalog JSON (no `deployments` list)")
        custom = {f["name"]: f for f in doc.get("fields") or []}
        custom = {n: {k: f.get(k) for k in ("type", "unit", "description")} for n, f in custom.items()}
        raw = {k: v for k, v in doc.items() if k not in ("catalog_version", "fields")}
        return build_catalog(bundled=True, bundled_raw=raw, custom_fields=custom)
    url = store_url or settings.store
    if "://" not in url:
        url = SQLITE_PREFIX + url
    if url.startswith(SQLITE_PREFIX) and not Path(url[len(SQLITE_PREFIX) :].split("?", 1)[0]).is_file():
        raise UserError(f"store: no SQLite file at {url[len(SQLITE_PREFIX) :]}")

    async def fetch() -> bytes | None:
        store = open_store(url)
        await store.open()
        try:
            return await store.get_catalog(spec)
        finally:
            await store.close()

    blob = asyncio.run(fetch())
    if blob is None:
        raise UserError(f"catalog {spec[:16]}… is not kept in the store (valid: a version, current, bundled)")
    return catalog_from_blob(blob, spec)


def catalog_diff(
    before: Annotated[str, typer.Argument(help="a catalog version in the store, current, bundled or a file")],
    after: Annotated[str, typer.Argument(help="the same kinds; usually current")] = "current",
    store: Annotated[str | None, typer.Option("--store", help="store URL (else the config's)")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="changed deployments shown in text")] = 50,
) -> None:
    """What changed between two catalog versions: deployments added/removed, prices, scores, capabilities."""
    from unhardcoded.catalog.diff import diff_catalogs, render_lines

    try:
        a = _version_catalog(before, store, config)
        b = _version_catalog(after, store, config)
    except UserError as e:
        _fail(e.message, 2)
        return
    d = diff_catalogs(a, b)
    if as_json:
        sys.stdout.write(orjson.dumps(d.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write("\n".join(render_lines(d, limit=limit)) + "\n")
    raise typer.Exit(0 if d.empty else 1)


def catalog_refresh(
    from_dir: Annotated[Path, typer.Option("--from", help="newer copies of the same public source files")],
    write: Annotated[bool, typer.Option(help="also rewrite the bundled catalog (source checkouts)")] = False,
) -> None:
    """Rebuild the bundled catalog from newer source files, offline, and say what changed."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "scripts" / "build_catalog.py"
    if not script.is_file():
        _fail("refresh needs a source checkout: scripts/build_catalog.py is not next to this package", 2)
    if not from_dir.is_dir():
        _fail(f"--from: no directory {from_dir}", 2)
    base = [sys.executable, str(script), "--sources", str(from_dir)]
    diff = subprocess.run([*base, "--diff"], capture_output=True, text=True, check=False)
    sys.stdout.write(diff.stdout)
    if diff.returncode not in (0, 1):
        _fail(diff.stderr.strip() or "the catalog builder failed", 2)
    if write and diff.returncode == 1:
        done = subprocess.run(base, capture_output=True, text=True, check=False)
        sys.stdout.write(done.stdout)
        if done.returncode != 0:
            _fail(done.stderr.strip() or "the catalog builder failed", 2)
    raise typer.Exit(diff.returncode)


def _catalog_group(listing: Any) -> typer.Typer:
    """`catalog` keeps listing the catalog; `catalog diff` is added under it."""
    group = typer.Typer(help=listing.__doc__)

    @group.callback(invoke_without_command=True)
    def _catalog(ctx: typer.Context, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
        if ctx.invoked_subcommand is None:
            listing(config=config, as_json=as_json)

    group.command("diff")(catalog_diff)
    group.command("refresh")(catalog_refresh)
    return group


def register(app: typer.Typer) -> None:
    """Add `import ...` to the main CLI, and `diff` under its `catalog` command (which becomes a group
    whose bare form runs the same listing function, so `unhardcoded catalog [--json]` is unchanged)."""
    app.add_typer(import_app, name="import")
    for i, cmd in enumerate(app.registered_commands):
        if (cmd.name or getattr(cmd.callback, "__name__", None)) == "catalog":
            del app.registered_commands[i]
            app.add_typer(_catalog_group(cmd.callback), name="catalog")
            return
    app.command("catalog-diff")(catalog_diff)  # no listing command to extend
