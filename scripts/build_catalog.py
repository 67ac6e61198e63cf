#!/usr/bin/env python3
"""Regenerate the bundled model catalog from the raw source files.

    python scripts/build_catalog.py [--sources DIR] [--out PATH] [--check]

Reproducible: the same inputs give byte-identical output (no clock, no randomness, sorted keys,
deployments sorted by id). Standard library only. `--check` rebuilds in memory and exits 1 when the
bundled file differs. The rules live in scripts/catalog_build/ (see its package docstring).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from catalog_build.assemble import build_document, render  # noqa: E402
from catalog_build.sources import load  # noqa: E402

DEFAULT_OUT = REPO / "src" / "unhardcoded" / "catalog" / "data" / "catalog.json"
FALLBACK_SOURCES = Path("/work/shared/data/sources")


def default_sources() -> Path:
    """<repo>/../shared/data/sources, falling back to /work/shared/data/sources."""
    sibling = REPO.parent / "shared" / "data" / "sources"
    return sibling if sibling.is_dir() else FALLBACK_SOURCES


def build(sources: Path) -> str:
    """The catalog JSON text built from a sources directory."""
    doc = build_document(load(sources))
    ids = [d["id"] for d in doc["deployments"]]
    if len(ids) != len(set(ids)):
        raise SystemExit("build_catalog: duplicate deployment ids")
    return render(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=None, help="raw source files (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output file (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh build")
    args = parser.parse_args(argv)
    sources = args.sources or default_sources()
    if not sources.is_dir():
        print(f"build_catalog: sources directory not found: {sources}", file=sys.stderr)
        return 2
    text = build(sources)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"build_catalog: {args.out} is out of date; run scripts/build_catalog.py", file=sys.stderr)
            return 1
        print(f"build_catalog: {args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    count = text.count('"id": ')
    print(f"build_catalog: wrote {count} deployments to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
