"""What one group-commit transaction writes, planned in two steps around the reads it needs:

1. `CommitPlan.of` (before the transaction): the new decision rows and the hashes to look up.
2. `plan.finish(done, heads)` (inside it, once the writer holds the lock and has read which of the
   batch's requests are already final and the tenants' chain heads): the receipt rows with their chain
   links, the roll-up sums, and the new heads.

A final receipt is written once: a second final write of the same request (a retry whose first COMMIT
did land, two workers' sweepers) changes nothing and answers with the stored link. That is what keeps
the chain and the sums exact without reading back the rows a batch replaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from unhardcoded.store import chain, sums
from unhardcoded.store.base import (
    BLOB_COLUMNS,
    RECEIPT_COLUMNS,
    DecisionCache,
    ReceiptRecord,
    decision_rows,
    decisions_sql,
    unknown_decision,
    unresolved_hashes,
)

_COLUMNS = (*RECEIPT_COLUMNS, *chain.CHAIN_COLUMNS)


# What a call's started record already holds, equal in its final one (both are built from the same call):
# the update that turns a started row final leaves these alone. SQLite rewrites every index whose columns
# an UPDATE sets, changed or not; leaving these out spares the trace, created, workload and fingerprint
# indexes on every strict call.
SAME_FROM_STARTED = (
    "request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "workflow_id",
    "workflow_node",
    "tenant",
    "workload",
    "created_at",
    "fingerprint",
    "policy_sha256",
    "catalog_version",
    "decision_hash",
    "policy_name",
    "policy_version",
)


def upsert_sql(ph: str, blob_ph: str) -> str:
    """Insert a receipt, or turn its `started` row final; a final row is never replaced."""
    values = ", ".join(blob_ph if c in BLOB_COLUMNS else ph for c in _COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in SAME_FROM_STARTED)
    return (
        f"INSERT INTO receipts ({', '.join(_COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT (request_id) DO UPDATE SET {sets} WHERE receipts.status = 'started'"
    )


def final_sql(ph: str, n: int) -> str:
    """Which of n request ids already have a final receipt, with their links."""
    return (
        "SELECT request_id, chain_seq, chain_hash FROM receipts "
        f"WHERE request_id IN ({', '.join([ph] * n)}) AND status <> 'started'"
    )


def heads_sql(ph: str, n: int, *, lock: bool) -> str:
    return f"SELECT tenant, seq, hash FROM chain_heads WHERE tenant IN ({', '.join([ph] * n)})" + (
        " ORDER BY tenant FOR UPDATE" if lock else ""
    )


def put_heads_sql(ph: str) -> str:
    return (
        f"INSERT INTO chain_heads (tenant, seq, hash) VALUES ({ph}, {ph}, {ph}) "
        "ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
    )


def new_heads_sql(ph: str) -> str:
    """PostgreSQL: make sure each tenant has a head row to lock (`FOR UPDATE` cannot lock a missing row)."""
    return (
        f"INSERT INTO chain_heads (tenant, seq, hash) VALUES ({ph}, 0, '{chain.GENESIS}') "
        "ON CONFLICT (tenant) DO NOTHING"
    )


@dataclass(slots=True)
class Written:
    """`finish`'s result: what the transaction writes."""

    rows: list[tuple[Any, ...]]
    sums: list[list[tuple[Any, ...]]]  # per rollups.LEVELS
    heads: list[tuple[str, int, str]]  # (tenant key, seq, hash)
    links: dict[str, chain.Link] = field(default_factory=dict)  # request_id -> its final's link


@dataclass(frozen=True, slots=True)
class CommitPlan:
    decisions: list[tuple[str, bytes]]
    unresolved: list[str]
    records: Sequence[ReceiptRecord]

    @classmethod
    def of(cls, records: Sequence[ReceiptRecord], stored: DecisionCache) -> CommitPlan:
        decisions = decision_rows(records, stored)
        return cls(decisions, unresolved_hashes(records, decisions, stored), records)

    def lookup_sql(self, ph: str) -> str:
        return decisions_sql(ph, len(self.unresolved), blobs=False)

    def check(self, found: Iterable[str]) -> list[str]:
        """Raise UnknownDecisionError (the transaction rolls back) unless every unresolved hash was found."""
        have = list(found)
        if len(have) < len(self.unresolved):
            raise unknown_decision(sorted(set(self.unresolved) - set(have)))
        return have

    def final_ids(self) -> list[str]:
        """The requests this batch makes final (to ask the store which of them already are)."""
        return sorted({r.request_id for r in self.records if r.status != "started"})

    def tenants(self) -> list[str]:
        """The chain keys this batch may extend, sorted (the order PostgreSQL locks their heads in)."""
        return sorted({r.tenant or "" for r in self.records if r.status != "started"})

    def finish(self, done: dict[str, chain.Link | None], heads: dict[str, chain.Head]) -> Written:
        """`done`: request_id -> link of the batch's requests that are final already (None: final from
        before the chain). `heads`: tenant key -> its last entry (advanced here)."""
        kept: list[ReceiptRecord] = []
        finals: list[ReceiptRecord] = []
        closed = set(done)  # requests whose final is stored or planned: later writes are dropped
        for r in self.records:
            if r.request_id in closed:
                continue
            if r.status != "started":
                closed.add(r.request_id)
                finals.append(r)
            kept.append(r)
        linked = chain.link_all(finals, heads)
        unlinked = (None, None, None)
        rows = [(*r.params(), *(unlinked if r.status == "started" else linked[r.request_id])) for r in kept]
        links = {rid: chain.Link(seq, h) for rid, (seq, _, h) in linked.items()}
        links.update((rid, link) for rid, link in done.items() if link is not None)
        touched = {r.tenant or "" for r in finals}
        new_heads = [(t, heads[t].seq, heads[t].hash) for t in sorted(touched)]
        return Written(rows, sums.batch_sums(finals), new_heads, links)

    def committed(self, stored: DecisionCache, found: Iterable[str]) -> None:
        """After COMMIT: the writer knows these decisions are in the table."""
        for digest in [d for d, _ in self.decisions] + list(found):
            stored.add(digest)
