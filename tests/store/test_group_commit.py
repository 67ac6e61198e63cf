"""The group-commit decisions both stores share (store/group_commit.py), driven without a database: which
records go in one transaction, what a failure costs, how a batch is gathered."""

from __future__ import annotations

import hashlib
import queue
import sqlite3

import pytest

from unhardcoded.store.base import DecisionCache, Item, ReceiptRecord, StoreWriteError, UnknownDecisionError
from unhardcoded.store.chain import Link
from unhardcoded.store.group_commit import flush_steps, gather, run_steps
from unhardcoded.store.plan import CommitPlan

BLOB = b'{"d": 1}'
HASH = hashlib.sha256(BLOB).hexdigest()


def record(i: int, *, blob: bytes | None = None, digest: str | None = None) -> ReceiptRecord:
    return ReceiptRecord(
        request_id=f"r{i}", trace_id="t", span_id="s", parent_span_id=None, workflow_id=None,
        workflow_node=None, tenant=None, workload="w", status="ok", created_at=float(i), finished_at=None,
        deployment=None, fingerprint=None, policy_sha256=None, catalog_version="c", decision_hash=digest,
        decision_blob=blob, cost_usd=None, baseline_cost_usd=None, savings_usd=None, latency_ms=None,
        body=b"{}",
    )  # fmt: skip


class Database:
    """Records each commit; raises `error` for any group that holds a record in `bad`."""

    def __init__(self, bad: frozenset[str] = frozenset(), error: type[Exception] = ValueError) -> None:
        self.bad, self.error = bad, error
        self.commits: list[list[str]] = []

    def commit(self, records: list[ReceiptRecord]) -> dict[str, Link]:
        ids = [r.request_id for r in records]
        self.commits.append(ids)
        if self.bad & set(ids):
            raise self.error(f"bad {sorted(self.bad & set(ids))}")
        return {rid: Link(len(self.commits), rid) for rid in ids}


def flush(records: list[ReceiptRecord], db: Database) -> list[StoreWriteError | None]:
    errors, links = run_steps(flush_steps(records, DecisionCache(), sqlite3.OperationalError), db.commit)
    # Only what a successful commit linked comes back, each from the commit that stored it.
    assert set(links) == {r.request_id for r, e in zip(records, errors, strict=True) if e is None}
    return errors


def test_a_good_group_is_one_transaction() -> None:
    db = Database()
    assert flush([record(i) for i in range(3)], db) == [None] * 3
    assert db.commits == [["r0", "r1", "r2"]]


def test_a_record_with_bad_data_fails_alone_after_a_retry_one_by_one() -> None:
    db = Database(frozenset({"r1"}))
    errors = flush([record(i) for i in range(3)], db)
    assert [e is None for e in errors] == [True, False, True]
    assert errors[1] is not None and errors[1].request_id == "r1" and "bad ['r1']" in str(errors[1])
    assert db.commits == [["r0", "r1", "r2"], ["r0"], ["r1"], ["r2"]]


def test_a_connection_error_fails_the_whole_group_without_retries() -> None:
    db = Database(frozenset({"r1"}), sqlite3.OperationalError)
    errors = flush([record(i) for i in range(3)], db)
    assert all(isinstance(e, StoreWriteError) for e in errors)
    assert db.commits == [["r0", "r1", "r2"]]


def test_records_that_fail_their_check_never_reach_the_database() -> None:
    db = Database()
    wrong = record(1, blob=b"{}", digest=HASH)  # the blob does not hash to its address
    errors = flush([record(0), wrong, record(2)], db)
    assert errors[0] is None and errors[2] is None and errors[1] is not None
    assert db.commits == [["r0", "r2"]]
    db = Database()
    assert flush([wrong], db)[0] is not None and db.commits == []


def test_commit_plan_inserts_each_new_decision_once_and_checks_the_rest() -> None:
    stored = DecisionCache()
    plan = CommitPlan.of([record(0, blob=BLOB, digest=HASH), record(1, blob=BLOB, digest=HASH)], stored)
    assert plan.decisions == [(HASH, BLOB)] and plan.unresolved == [] and len(plan.records) == 2
    plan.committed(stored, [])
    follower = CommitPlan.of([record(2, digest=HASH), record(3, digest="f" * 64)], stored)
    assert follower.decisions == [] and follower.unresolved == ["f" * 64]
    with pytest.raises(UnknownDecisionError, match="ffff"):
        follower.check([])
    assert follower.check(["f" * 64]) == ["f" * 64]


def test_gather_takes_what_is_queued_up_to_the_limit_and_sees_the_stop_marker() -> None:
    q: queue.SimpleQueue[list[Item] | None] = queue.SimpleQueue()
    items: list[Item] = [(record(i), None) for i in range(5)]
    q.put(items[1:3])
    q.put(items[3:5])
    batch, stop = gather(items[:1], q.get_nowait, queue.Empty, max_batch=3)
    assert [r.request_id for r, _ in batch] == ["r0", "r1", "r2"] and not stop
    q.put(None)
    batch, stop = gather([], q.get_nowait, queue.Empty, max_batch=10)
    assert [r.request_id for r, _ in batch] == ["r3", "r4"] and stop
    assert gather([], q.get_nowait, queue.Empty, max_batch=10) == ([], False)
