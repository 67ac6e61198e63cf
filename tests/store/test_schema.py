"""The receipt row has one definition (ReceiptRecord): the migrated tables of both backends must match it."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import types
from dataclasses import fields
from typing import TYPE_CHECKING, Any, get_type_hints

import psycopg

from unhardcoded.store import split_schema
from unhardcoded.store.base import (
    BLOB_COLUMNS,
    RECEIPT_COLUMNS,
    STATUSES,
    SUMMARY_COLUMNS,
    ReceiptRecord,
)
from unhardcoded.store.plan import upsert_sql

if TYPE_CHECKING:
    from tests.store.conftest import Backend

HINTS = get_type_hints(ReceiptRecord)


def _kind(hint: Any) -> tuple[str, bool]:
    """(text | float | blob, nullable) for a field's type hint."""
    args = set(hint.__args__) if isinstance(hint, types.UnionType) else {hint}
    nullable = type(None) in args
    base = (args - {type(None)}).pop()
    return {str: "text", float: "float", bytes: "blob", int: "int"}[base], nullable


# The chain columns (store/chain.py) follow: the writer sets them, the caller's record does not carry them.
EXPECTED = [(name, *_kind(HINTS[name])) for name in RECEIPT_COLUMNS] + [
    ("chain_seq", "int", True),
    ("chain_prev", "text", True),
    ("chain_hash", "text", True),
]
SQLITE_TYPES = {"TEXT": "text", "REAL": "float", "BLOB": "blob", "INTEGER": "int"}
POSTGRES_TYPES = {"text": "text", "double precision": "float", "bytea": "blob", "bigint": "int"}


def test_columns_are_the_record_fields_but_the_decision_blob() -> None:
    names = [f.name for f in fields(ReceiptRecord)]
    assert [n for n in names if n != "decision_blob"] == list(RECEIPT_COLUMNS)
    assert BLOB_COLUMNS == ("body",)
    assert tuple(c for c in RECEIPT_COLUMNS if c != "body") == SUMMARY_COLUMNS


def test_record_params_follow_the_columns() -> None:
    values = {f.name: f"v-{f.name}" for f in fields(ReceiptRecord)}
    record = ReceiptRecord(**values)  # type: ignore[arg-type]
    assert record.params() == tuple(f"v-{c}" for c in RECEIPT_COLUMNS)


def test_upsert_binds_blobs_with_the_blob_placeholder() -> None:
    sql = upsert_sql("%s", "%b")
    assert sql.count("%b") == len(BLOB_COLUMNS) and sql.count("%s") == len(RECEIPT_COLUMNS) + 3 - len(
        BLOB_COLUMNS
    )
    assert "request_id = excluded" not in sql and "body = excluded.body" in sql
    assert sql.endswith("WHERE receipts.status = 'started'")  # a final receipt is never replaced


async def test_migrated_receipts_table_matches_the_record(backend: Backend) -> None:
    async with backend.make():
        pass
    if backend.path is not None:
        with contextlib.closing(sqlite3.connect(backend.path)) as conn:
            rows = conn.execute("PRAGMA table_info(receipts)").fetchall()
            table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'receipts'").fetchone()[0]
        # PRAGMA table_info: (cid, name, type, notnull, default, pk); a PRIMARY KEY is not null.
        got = [(r[1], SQLITE_TYPES[r[2]], not (r[3] or r[5])) for r in rows]
    else:
        with psycopg.connect(split_schema(backend.url)[0], autocommit=True) as conn:
            rows = conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'receipts' ORDER BY ordinal_position",
                (backend.schema,),
            ).fetchall()
            check = conn.execute(
                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n "
                "ON n.oid = c.connamespace WHERE n.nspname = %s AND c.conname = 'receipts_status_check'",
                (backend.schema,),
            ).fetchone()
        assert check is not None
        table_sql = str(check[0])
        got = [(r[0], POSTGRES_TYPES[r[1]], r[2] == "YES") for r in rows]
    assert got == EXPECTED
    assert set(re.findall(r"'(\w+)'", table_sql)) == set(STATUSES)
