"""Store fixtures: a `backend` per store kind (a temporary SQLite file, a throwaway PostgreSQL schema)
with raw-SQL helpers (row counts, holding the write lock). PostgreSQL skips without a server; CI=true fails.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from unhardcoded.store import SqliteStore
from unhardcoded.store.postgres import PostgresStore

PG_URL = os.environ.get("UNHARDCODED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Backend:
    """One place receipts can live, with helpers that look under the store's API."""

    name: str
    url: str  # what open_store takes
    path: Path | None = None
    schema: str | None = None

    def make(self, durability: str = "strict", **options: Any) -> SqliteStore | PostgresStore:
        if self.path is not None:
            return SqliteStore(self.path, durability=durability, **options)
        return PostgresStore(PG_URL, schema=self.schema, durability=durability, **options)

    def drop(self) -> None:
        if self.schema is not None:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def count(self, table: str) -> int:
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path)) as conn:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(self.schema or "public"), sql.Identifier(table)
            )
            row = conn.execute(query).fetchone()
            assert row is not None
            return int(row[0])

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold a lock that stops every receipt write from committing until the block ends."""
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as lite:
                lite.execute("BEGIN IMMEDIATE")
                try:
                    yield
                finally:
                    lite.execute("ROLLBACK")
            return
        with psycopg.connect(PG_URL) as pg:
            target = sql.Identifier(self.schema or "public", "receipts")
            pg.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(target))
            try:
                yield
            finally:
                pg.rollback()


def postgres_unavailable() -> str | None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = postgres_unavailable()
    if reason is not None:
        message = (
            f"no PostgreSQL server answers at {PG_URL} ({reason}); set UNHARDCODED_TEST_PG to point elsewhere"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- CI=true, so this is a failure, not a skip")
        pytest.skip(message)
    return PG_URL


@pytest.fixture
def pg_backend(postgres_url: str) -> Iterator[Backend]:
    schema = f"uh_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in postgres_url else "?"
    backend = Backend("postgres", f"{postgres_url}{sep}schema={schema}", schema=schema)
    try:
        yield backend
    finally:
        backend.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "receipts.db"
        return Backend("sqlite", f"sqlite:///{path}", path=path)
    backend: Backend = request.getfixturevalue("pg_backend")
    return backend
