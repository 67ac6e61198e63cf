#!/usr/bin/env python3
"""Regenerate the bundled model catalog from the raw source files.

    python scripts/build_catalog.py [--sources DIR] [--out PATH] [--check] [--report]

Reproducible: the same inputs give byte-identical output (no clock, no randomness, sorted keys,
deployments sorted by id). Standard library only. `--check` rebuilds in memory and exits 1 when the
bundled file differs. The rules live in scripts/catalog_build/ (see its package docstring).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from catalog_build.assemble import build_document, render  # noqa: E402
from catalog_build.litellm_table import build_table, render_table  # noqa: E402
from catalog_build.sources import load  # noqa: E402

DEFAULT_OUT = REPO / "src" / "unhardcoded" / "catalog" / "data" / "catalog.json"
# The LiteLLM reference table for `unhardcoded import litellm` (scripts/catalog_build/litellm_table.py).
TABLE_OUT = REPO / "src" / "unhardcoded" / "imports" / "data" / "litellm_models.json"
FALLBACK_SOURCES = Path("/work/shared/data/sources")
GAP_FIELDS = ("price_input_per_mtok", "price_output_per_mtok", "context_window")


def default_sources() -> Path:
    """<repo>/../shared/data/sources, falling back to /work/shared/data/sources."""
    sibling = REPO.parent / "shared" / "data" / "sources"
    return sibling if sibling.is_dir() else FALLBACK_SOURCES


def build(sources: Path) -> str:
    """The catalog JSON text built from a sources directory."""
    return render(_document(sources))


def _document(sources: Path) -> dict[str, Any]:
    doc = build_document(load(sources))
    ids = [d["id"] for d in doc["deployments"]]
    if len(ids) != len(set(ids)):
        raise SystemExit("build_catalog: duplicate deployment ids")
    return doc


def gaps(doc: dict[str, Any]) -> list[str]:
    """Deployments missing a price or a context window: no saved source states the value."""
    out = []
    for d in doc["deployments"]:
        missing = [f for f in GAP_FIELDS if d.get(f) is None]
        if missing:
            out.append(f"{d['id']}: {', '.join(missing)}")
    return out


def print_diff(current: Path, text: str) -> int:
    """What the rebuilt catalog changes against the bundled file (unhardcoded.catalog.diff); 1 if anything."""
    if str(REPO / "src") not in sys.path:
        sys.path.insert(0, str(REPO / "src"))
    from unhardcoded.catalog.diff import diff_catalogs, render_lines
    from unhardcoded.catalog.load import build_catalog

    before = build_catalog(bundled_raw=json.loads(current.read_text(encoding="utf-8")))
    after = build_catalog(bundled_raw=json.loads(text))
    d = diff_catalogs(before, after)
    print("\n".join(render_lines(d, limit=None)))
    return 0 if d.empty else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=None, help="raw source files (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output file (default: %(default)s)")
    parser.add_argument("--table-out", type=Path, default=TABLE_OUT, help="LiteLLM reference table output")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh build")
    parser.add_argument("--report", action="store_true", help="list providers and the gaps no source fills")
    parser.add_argument(
        "--diff", action="store_true", help="what a rebuild from --sources changes in --out; writes nothing"
    )
    args = parser.parse_args(argv)
    sources = args.sources or default_sources()
    if not sources.is_dir():
        print(f"build_catalog: sources directory not found: {sources}", file=sys.stderr)
        return 2
    doc = _document(sources)
    if args.report:
        providers = sorted({d["provider"] for d in doc["deployments"]})
        print(f"{len(doc['deployments'])} deployments, {len(providers)} providers: {', '.join(providers)}")
        found = gaps(doc)
        print(f"{len(found)} deployments with a gap (no saved source states the value; it stays null):")
        for line in found:
            print(f"  {line}")
        return 0
    if args.diff:
        return print_diff(args.out, render(doc))
    outputs = [(args.out, render(doc)), (args.table_out, render_table(build_table(load(sources))))]
    if args.check:
        stale = [p for p, text in outputs if (p.read_text(encoding="utf-8") if p.is_file() else None) != text]
        for p in stale:
            print(f"build_catalog: {p} is out of date; run scripts/build_catalog.py", file=sys.stderr)
        if stale:
            return 1
        print(f"build_catalog: {args.out} and {args.table_out} are up to date")
        return 0
    for p, text in outputs:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    print(f"build_catalog: wrote {len(doc['deployments'])} deployments to {args.out}, and {args.table_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
