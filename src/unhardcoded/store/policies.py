"""Stored policies (SPEC §7): each `put` adds the next version of (tenant, name); a version never changes.
The SQL both backends run; the next version is computed inside the INSERT, under the store's write lock
(SQLite) or an advisory lock per (tenant, name) (PostgreSQL); the unique index backs both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

COLUMNS = ("tenant", "name", "version", "doc", "fingerprint", "sha256", "created_at")


def insert_sql(ph: str) -> str:
    """Parameters: tenant, name, doc, fingerprint, sha256, created_at, tenant, name. Returns the version."""
    return (
        "INSERT INTO policies (tenant, name, version, doc, fingerprint, sha256, created_at) "
        f"SELECT CAST({ph} AS TEXT), {ph}, COALESCE(MAX(version), 0) + 1, {ph}, {ph}, {ph}, {ph} "
        f"FROM policies WHERE COALESCE(tenant, '') = {ph} AND name = {ph} RETURNING version"
    )


def insert_params(
    tenant: str | None, name: str, doc_json: str, fingerprint: str, sha256: str, now: float
) -> tuple[Any, ...]:
    if not name:
        raise ValueError("a stored policy needs a name")
    return (tenant, name, doc_json, fingerprint, sha256, now, tenant or "", name)


def select_sql(ph: str, tenant: str | None, name: str | None) -> tuple[str, list[Any]]:
    where, params = f"COALESCE(tenant, '') = {ph}", [tenant or ""]
    if name is not None:
        where += f" AND name = {ph}"
        params.append(name)
    return f"SELECT {', '.join(COLUMNS)} FROM policies WHERE {where} ORDER BY name, version", params


def as_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row, strict=True))
    out["version"] = int(out["version"])
    out["doc_json"] = out.pop("doc")
    out["policy"] = orjson.loads(out["doc_json"])
    return out
