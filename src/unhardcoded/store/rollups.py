"""Pre-aggregated receipts: `rollup_hours` holds, per UTC hour and (tenant, workload, fingerprint,
deployment, decision, catalog version), the sums a roll-up or a budget needs. Triggers keep it equal to the
final receipts at every commit (an upsert subtracts the row it replaces), so it is exact and survives
restarts; readers add the raw receipts of the two partial hours at the edges of a period.

Money is summed as integers in units of 1e-10 USD: the gateway rounds each receipt's cost to 10 decimals,
so that is exact (micro-dollars would not be), and int64 holds 920 million dollars per sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unhardcoded.store.migrations import Dialect

MONEY_SCALE = 10  # money columns hold USD x 10**MONEY_SCALE
HOUR_S = 3600
# The NOT NULL key columns of rollup_hours; '' stands for NULL (a primary key cannot hold NULL).
KEYS = ("tenant", "workload", "fingerprint", "deployment", "decision_hash", "catalog_version")
BY = {  # roll-up groupings -> the expression over rollup_hours (raw receipts use key_expr)
    "workload": "workload",
    "fingerprint": "fingerprint",
    "deployment": "deployment",
    "tenant": "tenant",
    "day": "hour / 24",
}
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


def _add(d: Dialect, r: str, sign: str, where: str) -> str:
    """One receipt row's contribution, times `sign`, upserted into its hour."""
    cols = ("hour", *KEYS, *VALUES)
    exprs = [hour_expr(d, r), *(key_expr(k, r) for k in KEYS)]
    exprs += [f"{sign} * ({value_expr(d, v, r)})" for v in VALUES]
    sets = ", ".join(f"{v} = rollup_hours.{v} + excluded.{v}" for v in VALUES)
    return (
        f"INSERT INTO rollup_hours ({', '.join(cols)}) SELECT {', '.join(exprs)} WHERE {where} "
        f"ON CONFLICT (hour, {', '.join(KEYS)}) DO UPDATE SET {sets}"
    )


def ddl(d: Dialect) -> list[str]:
    """The table, the triggers that maintain it, and the sums of the receipts already stored."""
    values = ", ".join(f"{v} {d.integer} NOT NULL DEFAULT 0" for v in VALUES)
    keys = ", ".join(f"{k} TEXT NOT NULL" for k in KEYS)
    stmts = [
        f"CREATE TABLE rollup_hours (hour {d.integer} NOT NULL, {keys}, {values}, "
        f"PRIMARY KEY (hour, {', '.join(KEYS)}))"
    ]
    final_new, final_old = "NEW.status <> 'started'", "OLD.status <> 'started'"
    if d.name == "sqlite":
        for name, event, r, sign, when in (
            ("rollup_insert", "INSERT", "NEW", "1", final_new),
            ("rollup_update_old", "UPDATE", "OLD", "-1", final_old),
            ("rollup_update_new", "UPDATE", "NEW", "1", final_new),
            ("rollup_delete", "DELETE", "OLD", "-1", final_old),
        ):
            stmts.append(
                f"CREATE TRIGGER {name} AFTER {event} ON receipts WHEN {when} "
                f"BEGIN {_add(d, r, sign, 'true')}; END"
            )
    else:
        stmts.append(
            "CREATE FUNCTION rollup_receipt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' AND {final_old} THEN {_add(d, 'OLD', '-1', 'true')}; END IF; "
            f"IF TG_OP <> 'DELETE' AND {final_new} THEN {_add(d, 'NEW', '1', 'true')}; END IF; "
            "RETURN NULL; END $$"
        )
        stmts.append(
            "CREATE TRIGGER rollup_receipt AFTER INSERT OR UPDATE OR DELETE ON receipts "
            "FOR EACH ROW EXECUTE FUNCTION rollup_receipt()"
        )
    group = [hour_expr(d, "r"), *(key_expr(k, "r") for k in KEYS)]
    sums = [f"SUM({value_expr(d, v, 'r')})" for v in VALUES]
    stmts.append(
        f"INSERT INTO rollup_hours (hour, {', '.join(KEYS)}, {', '.join(VALUES)}) "
        f"SELECT {', '.join(group + sums)} FROM receipts r WHERE r.status <> 'started' "
        f"GROUP BY {', '.join(group)}"
    )
    return stmts


def sort_key(record: Any) -> tuple[Any, ...]:
    """Batch order for commits: `started` rows first (they touch no sums), then final rows by the hour and
    key they add to, so two processes' batches take the sum rows' locks in one order (no deadlock).
    Python's sort is stable, so two writes of one request keep their order."""
    if record.status == "started":
        return (0,)
    return (
        1,
        math.floor(record.created_at / HOUR_S),
        record.tenant or "",
        record.workload,
        record.fingerprint or "",
        record.deployment or "",
        record.decision_hash or "",
        record.catalog_version,
    )


def _filters(ph: str, r: str, d: Dialect, tenant: str | None, workload: str | None) -> tuple[str, list[Any]]:
    where, params = "", []
    for name, value in (("tenant", tenant), ("workload", workload)):
        if value is not None:
            where += f" AND {key_expr(name, r) if r else name} = {ph}"
            params.append(value)
    return where, params


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
    [since, until): whole hours from rollup_hours, the edge hours from the receipts themselves."""
    hs, hu = math.floor(since / HOUR_S), math.floor(until / HOUR_S)
    # Hours strictly between the edge hours lie wholly inside [since, until) (division is monotonic).
    agg_keys = [BY[b] for b in by] + ["deployment", "decision_hash", "catalog_version"]
    agg_where, agg_params = _filters(ph, "", d, tenant, workload)
    agg = (
        f"SELECT {', '.join(agg_keys)}, {', '.join(f'SUM({v})' for v in VALUES)} FROM rollup_hours "
        f"WHERE hour > {ph} AND hour < {ph}{agg_where} GROUP BY {', '.join(agg_keys)}"
    )
    hour = hour_expr(d, "r")
    raw_keys = [f"{hour} / 24" if b == "day" else key_expr(b, "r") for b in by]
    raw_keys += [key_expr(k, "r") for k in ("deployment", "decision_hash", "catalog_version")]
    raw_where, raw_params = _filters(ph, "r", d, tenant, workload)
    edges = []
    edge_params: list[Any] = []
    for h in sorted({hs, hu}):
        # created_at bounds an hour wider than the bucket (for the index), the hour expression decides
        edges.append(f"(r.created_at >= {ph} AND r.created_at < {ph} AND {hour} = {ph})")
        edge_params += [max(since, (h - 1) * HOUR_S), min(until, (h + 2) * HOUR_S), h]
    raw_sums = ", ".join(f"SUM({value_expr(d, v, 'r')})" for v in VALUES)
    raw = (
        f"SELECT {', '.join(raw_keys)}, {raw_sums} "
        f"FROM receipts r WHERE r.status <> 'started' AND r.created_at >= {ph} AND r.created_at < {ph} "
        f"AND ({' OR '.join(edges)}){raw_where} GROUP BY {', '.join(raw_keys)}"
    )
    params = [hs, hu, *agg_params, since, until, *edge_params, *raw_params]
    return f"{agg} UNION ALL {raw}", params


def spend_sql(
    d: Dialect, ph: str, since: float, *, tenant: str | None, workload: str | None
) -> tuple[str, list[Any]]:
    """The committed cost (1e-10 USD) of final receipts created at or after `since`, in two sums."""
    hs = math.floor(since / HOUR_S)
    agg_where, agg_params = _filters(ph, "", d, tenant, workload)
    raw_where, raw_params = _filters(ph, "r", d, tenant, workload)
    cost = value_expr(d, "cost_e10", "r")
    sql = (
        f"SELECT SUM(cost_e10) FROM rollup_hours WHERE hour > {ph}{agg_where} UNION ALL "
        f"SELECT SUM({cost}) FROM receipts r WHERE r.status <> 'started' AND r.created_at >= {ph} "
        f"AND r.created_at < {ph} AND {hour_expr(d, 'r')} = {ph}{raw_where}"
    )
    return sql, [hs, *agg_params, since, (hs + 2) * HOUR_S, hs, *raw_params]


def column_names(by: Sequence[str]) -> list[str]:
    """The names of rollup_sql's result columns."""
    return [*by, "deployment", "decision_hash", "catalog_version", *VALUES]
