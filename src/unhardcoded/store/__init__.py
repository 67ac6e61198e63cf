"""Receipt stores: `open_store(url, durability=...)` builds a SQLite or PostgreSQL store from its URL.
The store is not opened yet: `await store.open()` (or `async with store:`) migrates and starts the writer.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from unhardcoded.errors import ConfigError
from unhardcoded.store.base import (
    DURABILITIES,
    STATUSES,
    ReceiptRecord,
    ReceiptStore,
    StoreClosedError,
    StoreError,
    StoreStats,
    StoreWriteError,
)
from unhardcoded.store.sqlite import SqliteStore

__all__ = [
    "DURABILITIES",
    "STATUSES",
    "ReceiptRecord",
    "ReceiptStore",
    "SqliteStore",
    "StoreClosedError",
    "StoreError",
    "StoreStats",
    "StoreWriteError",
    "open_store",
    "split_schema",
]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def split_schema(url: str) -> tuple[str, str | None]:
    """Take our `schema=` parameter out of a PostgreSQL URL (libpq rejects parameters it does not know)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), None)
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema or None


def open_store(url: str, *, durability: str = "strict", busy_timeout_s: float = 10.0) -> ReceiptStore:
    """The store a `store:` URL names, with `durability` "strict" (the default) or "fast"."""
    if durability not in DURABILITIES:
        raise ConfigError(
            f"durability must be one of {', '.join(DURABILITIES)}, not {durability!r}",
            path="durability",
            choices=list(DURABILITIES),
        )
    if url.startswith(SQLITE_PREFIX):
        raw = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
        if raw in ("", ":memory:"):
            raise ConfigError(f"store {url!r}: a SQLite store needs a file path", path="store")
        path = Path(raw).expanduser().resolve()  # against the working folder now, not whenever it opens
        return SqliteStore(path, durability=durability, busy_timeout_s=busy_timeout_s)
    if urlsplit(url).scheme in POSTGRES_SCHEMES:
        try:
            from unhardcoded.store.postgres import PostgresStore
        except ImportError as exc:  # psycopg is the optional `postgres` extra
            raise ConfigError(
                f"store {url.split('@')[-1]!r} needs psycopg: pip install 'unhardcoded[postgres]'",
                path="store",
            ) from exc
        conninfo, schema = split_schema(url)
        return PostgresStore(conninfo, schema=schema, durability=durability, busy_timeout_s=busy_timeout_s)
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"store URL scheme {scheme!r} is not supported; use sqlite:///path or postgresql://...",
        path="store",
        choices=["sqlite", "postgresql"],
    )
