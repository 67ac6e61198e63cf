"""The store schema: an ordered tuple of named migrations, plain SQL per dialect, shared by both backends.
Each is applied once, recorded in `migrations`, under a lock so several processes may open one store at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unhardcoded.store import rollups
from unhardcoded.store.base import STATUSES

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the backends in DDL."""

    name: str
    blob: str
    float: str
    integer: str


SQLITE = Dialect("sqlite", blob="BLOB", float="REAL", integer="INTEGER")
POSTGRES = Dialect("postgres", blob="BYTEA", float="DOUBLE PRECISION", integer="BIGINT")

Migration = Callable[[Dialect], list[str]]
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at {float} NOT NULL)"
)
# Any constant works: it only serialises migrations between processes.
PG_LOCK_KEY = 0x756E6861726463


def m001_initial(d: Dialect) -> list[str]:
    statuses = "'started', 'ok', 'error', 'partial', 'no_route'"
    return [
        f"CREATE TABLE decisions (hash TEXT PRIMARY KEY, blob {d.blob} NOT NULL)",
        f"""CREATE TABLE catalogs (
            version TEXT PRIMARY KEY,
            blob {d.blob} NOT NULL,
            created_at {d.float} NOT NULL
        )""",
        f"""CREATE TABLE receipts (
            request_id TEXT PRIMARY KEY,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            parent_span_id TEXT,
            workflow_id TEXT,
            workflow_node TEXT,
            tenant TEXT,
            workload TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ({statuses})),
            created_at {d.float} NOT NULL,
            finished_at {d.float},
            deployment TEXT,
            fingerprint TEXT,
            policy_sha256 TEXT,
            catalog_version TEXT NOT NULL,
            decision_hash TEXT,
            cost_usd {d.float},
            baseline_cost_usd {d.float},
            savings_usd {d.float},
            latency_ms {d.float},
            body {d.blob} NOT NULL
        )""",
        "CREATE INDEX receipts_trace ON receipts (trace_id, created_at)",
        "CREATE INDEX receipts_created ON receipts (created_at)",
        "CREATE INDEX receipts_workload ON receipts (workload, created_at)",
        "CREATE INDEX receipts_deployment ON receipts (deployment, created_at)",
        "CREATE INDEX receipts_fingerprint ON receipts (fingerprint, created_at)",
    ]


def m002_rollups(d: Dialect) -> list[str]:
    """Token counts, fallbacks and the policy version as columns, and the hourly sums (store/rollups.py).
    Receipts stored before this have NULL tokens: roll-ups count them under `usage_calls` apart."""
    added = m002_columns(d)
    return [f"ALTER TABLE receipts ADD COLUMN {name} {kind}" for name, kind in added] + rollups.ddl(d)


def m002_columns(d: Dialect) -> list[tuple[str, str]]:
    return [
        ("input_tokens", d.integer),
        ("output_tokens", d.integer),
        ("cached_input_tokens", d.integer),
        ("fallbacks", d.integer),
        ("policy_name", "TEXT"),
        ("policy_version", d.integer),
    ]


def m003_policies(d: Dialect) -> list[str]:
    """Stored policies: immutable versions per (tenant, name). A primary key cannot hold the NULL tenant,
    so a unique index over COALESCE(tenant, '') stands for it."""
    return [
        f"""CREATE TABLE policies (
            tenant TEXT,
            name TEXT NOT NULL,
            version {d.integer} NOT NULL CHECK (version >= 1),
            doc TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            created_at {d.float} NOT NULL
        )""",
        "CREATE UNIQUE INDEX policies_key ON policies ((COALESCE(tenant, '')), name, version)",
    ]


_M001_INDEXES = [s for s in m001_initial(SQLITE) if s.startswith("CREATE INDEX")]


def m004_chain(d: Dialect) -> list[str]:
    """The tamper-evident chain (store/chain.py): three columns per receipt, a head per tenant, one entry
    per (tenant, sequence number) at most. The roll-up sums move from per-row triggers to the writer
    (store/sums.py). `incomplete` becomes a status (a call the gateway lost, written by the sweeper).
    Receipts stored before this migration stay outside the chain (their chain columns are NULL)."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    chain = [("chain_seq", d.integer), ("chain_prev", "TEXT"), ("chain_hash", "TEXT")]
    common = [
        f"CREATE TABLE chain_heads (tenant TEXT PRIMARY KEY, seq {d.integer} NOT NULL, hash TEXT NOT NULL)",
    ]
    if d.name == "postgres":
        return [
            "DROP TRIGGER rollup_receipt ON receipts",
            "DROP FUNCTION rollup_receipt()",
            "ALTER TABLE receipts DROP CONSTRAINT receipts_status_check",
            f"ALTER TABLE receipts ADD CONSTRAINT receipts_status_check CHECK (status IN ({statuses}))",
            *(f"ALTER TABLE receipts ADD COLUMN {name} {kind}" for name, kind in chain),
            "CREATE UNIQUE INDEX receipts_chain ON receipts ((COALESCE(tenant, '')), chain_seq) "
            "WHERE chain_seq IS NOT NULL",
            *common,
        ]
    # SQLite cannot change a CHECK constraint in place: the table is rebuilt (its documented procedure),
    # which drops the old triggers with it.
    (old,) = [s for s in m001_initial(d) if s.startswith("CREATE TABLE receipts")]
    added = ", ".join(f"{n} {k}" for n, k in [*m002_columns(d), *chain])
    table = old.replace("CREATE TABLE receipts", "CREATE TABLE receipts_m004").replace(
        "'started', 'ok', 'error', 'partial', 'no_route'", statuses
    )
    table = table.rstrip().removesuffix(")") + f", {added})"
    cols = "request_id, trace_id, span_id, parent_span_id, workflow_id, workflow_node, tenant, workload, "
    cols += "status, created_at, finished_at, deployment, fingerprint, policy_sha256, catalog_version, "
    cols += "decision_hash, cost_usd, baseline_cost_usd, savings_usd, latency_ms, body, "
    cols += ", ".join(n for n, _ in m002_columns(d))
    return [
        table,
        f"INSERT INTO receipts_m004 ({cols}) SELECT {cols} FROM receipts",
        "DROP TABLE receipts",
        "ALTER TABLE receipts_m004 RENAME TO receipts",
        *_M001_INDEXES,
        "CREATE UNIQUE INDEX receipts_chain ON receipts (COALESCE(tenant, ''), chain_seq) "
        "WHERE chain_seq IS NOT NULL",
        *common,
    ]


def m005_checkpoints(d: Dialect) -> list[str]:
    """Signed checkpoints of the chain (gateway/checkpoints.py): at most one per (chain key, sequence
    number), so several workers signing the same head write it once."""
    return [
        f"""CREATE TABLE checkpoints (
            tenant TEXT NOT NULL,
            seq {d.integer} NOT NULL,
            hash TEXT NOT NULL,
            created_at {d.float} NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (tenant, seq)
        )"""
    ]


MIGRATIONS: tuple[Migration, ...] = (m001_initial, m002_rollups, m003_policies, m004_chain, m005_checkpoints)


def migrate_sqlite(conn: sqlite3.Connection) -> list[str]:
    """Apply what is missing; return the names applied. `conn` must be in autocommit mode."""
    conn.execute("BEGIN IMMEDIATE")  # the write lock: a second process waits, then sees our rows
    try:
        conn.execute(MIGRATIONS_TABLE.format(float=SQLITE.float))
        done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
        applied = []
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            for statement in migration(SQLITE):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (migration.__name__, time.time())
            )
            applied.append(migration.__name__)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied


async def migrate_postgres(
    conn: psycopg.AsyncConnection[tuple[object, ...]], schema: str | None
) -> list[str]:
    """Create `schema` if given (the connection's search_path must already name it), then migrate."""
    from psycopg import sql

    applied = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
        if schema is not None:
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        await conn.execute(MIGRATIONS_TABLE.format(float=POSTGRES.float))
        cur = await conn.execute("SELECT name FROM migrations")
        done = {row[0] for row in await cur.fetchall()}
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            for statement in migration(POSTGRES):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (%s, %s)", (migration.__name__, time.time())
            )
            applied.append(migration.__name__)
    return applied
