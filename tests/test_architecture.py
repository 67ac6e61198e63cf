"""Dependencies point inward: the policy engine is pure, adapters never do I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import unhardcoded

SRC = Path(unhardcoded.__file__).parent


def imports_of(folder: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (SRC / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        out[path.name] = names
    return out


def test_policy_is_pure() -> None:
    banned = (
        "unhardcoded.gateway",
        "unhardcoded.http",
        "unhardcoded.store",
        "unhardcoded.providers",
        "aiohttp",
        "asyncio",
        "time",
        "random",
        "socket",
        "logging",
        "os",
        "datetime.datetime",
    )
    for module, names in imports_of("policy").items():
        bad = {n for n in names if n.startswith(banned) or n in banned}
        assert not bad, f"policy/{module} imports {bad}"


def test_providers_do_no_io_and_do_not_reach_outward() -> None:
    banned = ("unhardcoded.gateway", "unhardcoded.http", "unhardcoded.store", "aiohttp", "socket", "httpx")
    for module, names in imports_of("providers").items():
        bad = {n for n in names if n.startswith(banned)}
        assert not bad, f"providers/{module} imports {bad}"


def test_inner_layers_do_not_import_the_shell() -> None:
    for folder in ("catalog", "store"):
        for module, names in imports_of(folder).items():
            bad = {
                n
                for n in names
                if n.startswith(("unhardcoded.gateway", "unhardcoded.http", "unhardcoded.cli"))
            }
            assert not bad, f"{folder}/{module} imports {bad}"


def test_public_names() -> None:
    assert unhardcoded.__all__ == sorted(unhardcoded.__all__)
    for name in unhardcoded.__all__:
        assert hasattr(unhardcoded, name)
