"""The roll-up sums a batch of final receipts adds, computed by the writer in Python and upserted once per
(day or hour, key) per batch. Per-row triggers did the same in SQL, two upserts per receipt; under load a
batch of hundreds of receipts of one workload now costs two upserts in all.

`contribution` is the Python twin of `rollups.VALUES` (the SQL that sums receipts of the edge hours and
backfills stores created before m004); `tests/store/test_sums.py` checks the two agree on random receipts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from unhardcoded.store.base import ReceiptRecord
from unhardcoded.store.rollups import HOUR_S, KEYS, LEVELS, MONEY_SCALE, VALUES

_SCALE = float(10**MONEY_SCALE)
Key = tuple[Any, ...]  # (bucket, *KEYS)


def e10(usd: float) -> int:
    """USD to integer units of 1e-10, as SQLite's round() does it (half away from zero)."""
    scaled = usd * _SCALE
    return int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))


def contribution(r: ReceiptRecord) -> tuple[int, ...]:
    """What one final receipt adds to each sum, in `VALUES` order."""
    cost = e10(r.cost_usd) if r.cost_usd is not None else 0
    both = r.cost_usd is not None and r.baseline_cost_usd is not None
    base = e10(r.baseline_cost_usd) if both and r.baseline_cost_usd is not None else 0
    fallbacks = r.fallbacks or 0
    status = r.status
    return (
        1,
        status == "ok",
        status == "partial",
        status == "error",
        status == "no_route",
        fallbacks > 0,
        fallbacks,
        r.input_tokens is not None,
        r.input_tokens or 0,
        r.output_tokens or 0,
        r.cached_input_tokens or 0,
        r.cost_usd is not None,
        cost,
        status in ("ok", "partial") and r.cost_usd is None,
        both,
        cost if both else 0,
        base,
    )


def key_of(r: ReceiptRecord) -> tuple[str, ...]:
    return (
        r.tenant or "",
        r.workload,
        r.fingerprint or "",
        r.deployment or "",
        r.decision_hash or "",
        r.catalog_version,
    )


def batch_sums(finals: Iterable[ReceiptRecord]) -> list[list[tuple[Any, ...]]]:
    """Per level of `rollups.LEVELS` (days, then hours), the rows to upsert: (bucket, *KEYS, *sums), in key
    order, so every writer locks sum rows in one global order and two processes' batches cannot deadlock."""
    groups: dict[Key, list[tuple[int, ...]]] = {}  # (hour, *key) -> contributions; a batch has few keys
    for r in finals:
        k = (math.floor(r.created_at / HOUR_S), *key_of(r))
        have = groups.get(k)
        if have is None:
            groups[k] = [contribution(r)]
        else:
            have.append(contribution(r))
    hours = {k: [int(sum(col)) for col in zip(*adds, strict=True)] for k, adds in groups.items()}
    out = []
    for _, _, per in LEVELS:
        if per == 1:
            out.append([(*k, *hours[k]) for k in sorted(hours)])
            continue
        merged: dict[Key, list[int]] = {}
        for (hour, *key), sums in hours.items():
            k = (hour // per, *key)
            have_sums = merged.get(k)
            merged[k] = sums if have_sums is None else [a + b for a, b in zip(have_sums, sums, strict=True)]
        out.append([(*k, *merged[k]) for k in sorted(merged)])
    return out


def upsert_sql(ph: str) -> list[str]:
    """Per level, the statement adding one row of `batch_sums` to the stored sums."""
    out = []
    for table, bucket, _ in LEVELS:
        cols = (bucket, *KEYS, *VALUES)
        sets = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in VALUES)
        out.append(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))}) "
            f"ON CONFLICT ({bucket}, {', '.join(KEYS)}) DO UPDATE SET {sets}"
        )
    return out
