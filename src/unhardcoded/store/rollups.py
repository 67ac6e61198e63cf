"""Pre-aggregated receipts: `rollup_days` and `rollup_hours` hold, per UTC day and per UTC hour and
(tenant, workload, fingerprint, deployment, decision, catalog version), the sums a roll-up or a budget
needs. Triggers keep both equal to the final receipts at every commit (an upsert subtracts the row it
replaces), so they are exact and survive restarts. A period is read as whole days from `rollup_days`, the
whole hours of its two edge days from `rollup_hours`, and the receipts of its two edge hours themselves.
A day is the hour // 24 (never computed from seconds apart), so the three parts never overlap.

Money is summed as integers in units of 1e-10 USD: the gateway rounds each receipt's cost to 10 decimals,
so that is exact (micro-dollars would not be), and int64 holds 920 million dollars per sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from unhardcoded.store.migrations import Dialect

MONEY_SCALE = 10  # money columns hold USD x 10**MONEY_SCALE
HOUR_S = 3600
# The NOT NULL key columns of rollup_hours; '' stands for NULL (a primary key cannot hold NULL).
KEYS = ("tenant", "workload", "fingerprint", "deployment", "decision_hash", "catalog_version")
BY = ("workload", "fingerprint", "deployment", "tenant", "day")  # roll-up groupings
LEVELS = (("rollup_days", "day", 24), ("rollup_hours", "hour", 1))  # table, bucket column, hours in one
_ANSWERED = "{r}.status IN ('ok', 'partial')"
_BOTH = "{r}.cost_usd IS NOT NULL AND {r}.baseline_cost_usd IS NOT NULL"
# Per final receipt, what it adds to each sum ({r}: the row alias, {e10}: money to integer units).
VALUES: dict[str, str] = {
    "calls": "1",
    "ok": "CASE WHEN {r}.status = 'ok' THEN 1 ELSE 0 END",
    "partial": "CASE WHEN {r}.status = 'partial' THEN 1 ELSE 0 END",
    "errors": "CASE WHEN {r}.status = 'error' THEN 1 ELSE 0 END",
    "no_route": "CASE WHEN {r}.status = 'no_route' THEN 1 ELSE 0 END",
    "fallback_calls": "CASE WHEN {r}.fallbacks > 0 THEN 1 ELSE 0 END",
    "fallbacks": "COALESCE({r}.fallbacks, 0)",
    "usage_calls": "CASE WHEN {r}.input_tokens IS NOT NULL THEN 1 ELSE 0 END",
    "input_tokens": "COALESCE({r}.input_tokens, 0)",
    "output_tokens": "COALESCE({r}.output_tokens, 0)",
    "cached_input_tokens": "COALESCE({r}.cached_input_tokens, 0)",
    "priced_calls": "CASE WHEN {r}.cost_usd IS NOT NULL THEN 1 ELSE 0 END",
    "cost_e10": "COALESCE({cost}, 0)",
    "unpriced_calls": f"CASE WHEN {_ANSWERED} AND {{r}}.cost_usd IS NULL THEN 1 ELSE 0 END",
    "compared_calls": f"CASE WHEN {_BOTH} THEN 1 ELSE 0 END",
    "compared_cost_e10": f"CASE WHEN {_BOTH} THEN {{cost}} ELSE 0 END",
    "baseline_e10": f"CASE WHEN {_BOTH} THEN {{base}} ELSE 0 END",
}


def hour_expr(d: Dialect, r: str) -> str:
    """The UTC hour of a receipt; Python's math.floor(created_at / 3600) gives the same (IEEE division)."""
    if d.name == "sqlite":
        return f"CAST({r}.created_at / {HOUR_S} AS INTEGER)"
    return f"CAST(floor({r}.created_at / {HOUR_S}) AS BIGINT)"


def e10(d: Dialect, expr: str) -> str:
    cast = "INTEGER" if d.name == "sqlite" else "BIGINT"
    return f"CAST(round({expr} * 1e{MONEY_SCALE}) AS {cast})"


def key_expr(name: str, r: str) -> str:
    return f"{r}.{name}" if name in ("workload", "catalog_version") else f"COALESCE({r}.{name}, '')"


def value_expr(d: Dialect, name: str, r: str) -> str:
    return VALUES[name].format(r=r, cost=e10(d, f"{r}.cost_usd"), base=e10(d, f"{r}.baseline_cost_usd"))


def bucket_expr(d: Dialect, r: str, hours: int) -> str:
    return hour_expr(d, r) if hours == 1 else f"{hour_expr(d, r)} / {hours}"


def _add(d: Dialect, r: str, sign: str, level: tuple[str, str, int]) -> str:
    """One receipt row's contribution, times `sign`, upserted into its day or hour."""
    table, bucket, hours = level
    cols = (bucket, *KEYS, *VALUES)
    exprs = [bucket_expr(d, r, hours), *(key_expr(k, r) for k in KEYS)]
    exprs += [f"{sign} * ({value_expr(d, v, r)})" for v in VALUES]
    sets = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in VALUES)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} WHERE true "
        f"ON CONFLICT ({bucket}, {', '.join(KEYS)}) DO UPDATE SET {sets}"
    )


def ddl(d: Dialect) -> list[str]:
    """The tables, the triggers that maintain them, and the sums of the receipts already stored."""
    values = ", ".join(f"{v} {d.integer} NOT NULL DEFAULT 0" for v in VALUES)
    keys = ", ".join(f"{k} TEXT NOT NULL" for k in KEYS)
    # SQLite: rows stored in key order, so a period's days are one sequential read, not a lookup per row.
    clustered = " WITHOUT ROWID" if d.name == "sqlite" else ""
    stmts = [
        f"CREATE TABLE {table} ({bucket} {d.integer} NOT NULL, {keys}, {values}, "
        f"PRIMARY KEY ({bucket}, {', '.join(KEYS)})){clustered}"
        for table, bucket, _ in LEVELS
    ]
    # What a roll-up needs of a decision (its passers and their estimated costs), kept once read: a
    # decision blob is mostly rejections, and parsing hundreds of them was most of a roll-up's time.
    stmts.append(f"CREATE TABLE decision_passers (hash TEXT PRIMARY KEY, passers {d.blob} NOT NULL)")
    final_new, final_old = "NEW.status <> 'started'", "OLD.status <> 'started'"
    if d.name == "sqlite":
        for name, event, r, sign, when in (
            ("rollup_insert", "INSERT", "NEW", "1", final_new),
            ("rollup_update_old", "UPDATE", "OLD", "-1", final_old),
            ("rollup_update_new", "UPDATE", "NEW", "1", final_new),
            ("rollup_delete", "DELETE", "OLD", "-1", final_old),
        ):
            body = " ".join(f"{_add(d, r, sign, level)};" for level in LEVELS)
            stmts.append(f"CREATE TRIGGER {name} AFTER {event} ON receipts WHEN {when} BEGIN {body} END")
    else:
        # Days before hours, in one function: every writer locks the sum rows in the same order.
        old = " ".join(f"{_add(d, 'OLD', '-1', level)};" for level in LEVELS)
        new = " ".join(f"{_add(d, 'NEW', '1', level)};" for level in LEVELS)
        stmts.append(
            "CREATE FUNCTION rollup_receipt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' AND {final_old} THEN {old} END IF; "
            f"IF TG_OP <> 'DELETE' AND {final_new} THEN {new} END IF; "
            "RETURN NULL; END $$"
        )
        stmts.append(
            "CREATE TRIGGER rollup_receipt AFTER INSERT OR UPDATE OR DELETE ON receipts "
            "FOR EACH ROW EXECUTE FUNCTION rollup_receipt()"
        )
    for table, bucket, hours in LEVELS:
        group = [bucket_expr(d, "r", hours), *(key_expr(k, "r") for k in KEYS)]
        sums = [f"SUM({value_expr(d, v, 'r')})" for v in VALUES]
        stmts.append(
            f"INSERT INTO {table} ({bucket}, {', '.join(KEYS)}, {', '.join(VALUES)}) "
            f"SELECT {', '.join(group + sums)} FROM receipts r WHERE r.status <> 'started' "
            f"GROUP BY {', '.join(group)}"
        )
    return stmts


def sort_key(record: Any) -> tuple[Any, ...]:
    """Batch order for commits: `started` rows first (they touch no sums), then final rows by the day, key
    and hour they add to, so every writer locks sum rows (a day's, then its hours') in one global order and
    two processes' batches cannot deadlock. Python's sort is stable: two writes of one request keep their
    order."""
    if record.status == "started":
        return (0,)
    hour = math.floor(record.created_at / HOUR_S)
    return (
        1,
        hour // 24,
        record.tenant or "",
        record.workload,
        record.fingerprint or "",
        record.deployment or "",
        record.decision_hash or "",
        record.catalog_version,
        hour,
    )


def _filters(ph: str, r: str, d: Dialect, tenant: str | None, workload: str | None) -> tuple[str, list[Any]]:
    where, params = "", []
    for name, value in (("tenant", tenant), ("workload", workload)):
        if value is not None:
            where += f" AND {key_expr(name, r) if r else name} = {ph}"
            params.append(value)
    return where, params


def _parts(hs: int, hu: int, ph: str) -> list[tuple[str, str, str, list[Any]]]:
    """(table, bucket column, condition, parameters) of the pre-aggregated parts of the hours strictly
    between `hs` and `hu`: whole days, then the whole hours of each edge day (each its own narrow range
    of the primary key: one range with an OR between would scan every hour of the period)."""
    ds, du = hs // 24, hu // 24
    cond = f"{{0}} > {ph} AND {{0}} < {ph}"
    parts = [("rollup_days", "day", cond.format("day"), [ds, du])]
    if ds == du:
        return [*parts, ("rollup_hours", "hour", cond.format("hour"), [hs, hu])]
    parts.append(("rollup_hours", "hour", cond.format("hour"), [hs, 24 * (ds + 1)]))
    parts.append(("rollup_hours", "hour", cond.format("hour"), [24 * du - 1, hu]))
    return parts


def _sum(d: Dialect, expr: str) -> str:
    """SUM as a 64-bit integer: PostgreSQL's SUM(bigint) is numeric (Decimal in Python, slow to convert);
    past 2**63 (920 million USD in one sum) both backends raise rather than round."""
    return f"SUM({expr})" if d.name == "sqlite" else f"CAST(SUM({expr}) AS BIGINT)"


# Sums that count calls or attempts: one pre-aggregated row (a day or an hour of one key) never holds 2**31
# of them, and PostgreSQL's SUM(integer) keeps a plain 64-bit state where SUM(bigint) allocates a 128-bit
# one per group and sum. A roll-up by day aggregates ~16,000 groups x 17 sums: EXPLAIN ANALYZE showed that
# hash table spilling to disk; with these 11 sums on integers it is ~15 % faster. (Past 2**31 in one row
# PostgreSQL raises "integer out of range", never a wrong sum.)
_COUNTS = frozenset(v for v in VALUES if "tokens" not in v and "e10" not in v)


def _sum_column(d: Dialect, column: str) -> str:
    """The SUM of a pre-aggregated column, as a 64-bit integer."""
    if d.name == "postgres" and column in _COUNTS:
        return f"SUM(CAST({column} AS INTEGER))"
    return _sum(d, column)


def _edge(d: Dialect, ph: str, h: int, since: float, until: float) -> tuple[str, list[Any]]:
    """The receipts of edge hour `h` inside [since, until): created_at bounds (an hour wider than the
    bucket) give the index its range, the hour expression decides, as in the triggers. One narrow range
    per edge: with a period-wide bound beside it a planner may scan the whole period instead."""
    cond = f"r.created_at >= {ph} AND r.created_at < {ph} AND {hour_expr(d, 'r')} = {ph}"
    return cond, [max(since, (h - 1) * HOUR_S), min(until, (h + 2) * HOUR_S), h]


def rollup_sql(
    d: Dialect,
    ph: str,
    by: Sequence[str],
    since: float,
    until: float,
    *,
    tenant: str | None = None,
    workload: str | None = None,
) -> tuple[str, list[Any]]:
    """Sums per (*by, deployment, decision_hash, catalog_version) of the final receipts created in
    [since, until): pre-aggregated days and hours, and the receipts of the two edge hours."""
    hs, hu = math.floor(since / HOUR_S), math.floor(until / HOUR_S)
    rest = ["deployment", "decision_hash", "catalog_version"]
    selects, params = [], []
    for table, bucket, cond, part_params in _parts(hs, hu, ph):
        day = "day" if bucket == "day" else "hour / 24"
        keys = [day if b == "day" else b for b in by] + rest
        where, filter_params = _filters(ph, "", d, tenant, workload)
        selects.append(
            f"SELECT {', '.join(keys)}, {', '.join(_sum_column(d, v) for v in VALUES)} FROM {table} "
            f"WHERE {cond}{where} GROUP BY {', '.join(keys)}"
        )
        params += part_params + filter_params
    hour = hour_expr(d, "r")
    raw_keys = [f"{hour} / 24" if b == "day" else key_expr(b, "r") for b in by]
    raw_keys += [key_expr(k, "r") for k in rest]
    raw_where, raw_params = _filters(ph, "r", d, tenant, workload)
    raw_sums = ", ".join(_sum(d, value_expr(d, v, "r")) for v in VALUES)
    for h in sorted({hs, hu}):
        edge, edge_params = _edge(d, ph, h, since, until)
        selects.append(
            f"SELECT {', '.join(raw_keys)}, {raw_sums} FROM receipts r "
            f"WHERE {edge} AND r.status <> 'started'{raw_where} GROUP BY {', '.join(raw_keys)}"
        )
        params += [*edge_params, *raw_params]
    return " UNION ALL ".join(selects), params


def spend_sql(
    d: Dialect, ph: str, since: float, *, tenant: str | None, workload: str | None
) -> tuple[str, list[Any]]:
    """The committed cost (1e-10 USD) of final receipts created at or after `since`, in three sums. A
    budget's period starts on the hour (midnight, the 1st): then its first hour is whole and read from
    `rollup_hours` too, no receipt at all, so a tight cap can read it on every call."""
    hs = math.floor(since / HOUR_S)
    ds = hs // 24
    where, filter_params = _filters(ph, "", d, tenant, workload)
    if since == hs * HOUR_S:
        sql = (
            f"SELECT SUM(cost_e10) FROM rollup_days WHERE day > {ph}{where} UNION ALL "
            f"SELECT SUM(cost_e10) FROM rollup_hours WHERE hour >= {ph} AND hour < {ph}{where}"
        )
        return sql, [ds, *filter_params, hs, 24 * (ds + 1), *filter_params]
    raw_where, raw_params = _filters(ph, "r", d, tenant, workload)
    edge, edge_params = _edge(d, ph, hs, since, math.inf)
    sql = (  # whole days after the edge day, the edge day's later hours, the edge hour's receipts
        f"SELECT SUM(cost_e10) FROM rollup_days WHERE day > {ph}{where} UNION ALL "
        f"SELECT SUM(cost_e10) FROM rollup_hours WHERE hour > {ph} AND hour < {ph}{where} UNION ALL "
        f"SELECT SUM({value_expr(d, 'cost_e10', 'r')}) FROM receipts r WHERE {edge} "
        f"AND r.status <> 'started'{raw_where}"
    )
    params = [ds, *filter_params, hs, 24 * (ds + 1), *filter_params, *edge_params, *raw_params]
    return sql, params


def column_names(by: Sequence[str]) -> list[str]:
    """The names of rollup_sql's result columns."""
    return [*by, "deployment", "decision_hash", "catalog_version", *VALUES]


def passers_of(blob: bytes) -> bytes | None:
    """[[deployment, est_cost_usd], ...] of a stored decision's ranked candidates, in rank order, as JSON;
    None when the blob is not a decision."""
    try:
        cands = orjson.loads(blob)["candidates"]
        ranked = sorted(
            (c["rank"], c["deployment"], c.get("est_cost_usd")) for c in cands if c["status"] == "ranked"
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return orjson.dumps([[dep, est] for _, dep, est in ranked])
