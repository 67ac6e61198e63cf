"""`unhardcoded verify`: walk each tenant's chain (store/chain.py) and its signed checkpoints, and say
whether any receipt was altered, deleted, reordered or inserted since it was written.

What catches what:
- an altered receipt column or body: its recomputed entry hash differs from its stored `chain_hash`;
- a deleted receipt: a gap in the sequence numbers; deleted last ones: `chain_heads`, the latest signed
  checkpoint or a SEQ:HASH a client was given reaches further than the chain;
- reordered receipts: an entry's `chain_prev` is not the hash of the entry before it;
- an altered stored decision: its bytes no longer hash to its address (`decision_hash`);
- a forged receipt spliced in with the whole chain after it recomputed (and `chain_heads` fixed): the
  chain no longer matches a signed checkpoint (or a client-held hash); a checkpoint rewritten to match
  fails its signature;
- a final receipt stored outside the chain after the chain began (m004 applied): inserted by hand.

Per tenant, the first sequence number that cannot be trusted is reported. A mismatch against a signed
checkpoint or a client-held hash proves only that something at or before that entry changed, so it is
reported from the entry after the last hash that still matched (the range is in the message). The walk
reads pages in sequence order; memory holds one page and the hashes of the decisions seen.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from unhardcoded.errors import UserError
from unhardcoded.gateway.signing import PublicKey, by_id, checkpoint_message
from unhardcoded.store.chain import GENESIS, entry_hash, receipt_hash
from unhardcoded.store.chain_read import ChainReader, ChainRow, Checkpoint

__all__ = ["Anchor", "ChainResult", "Problem", "Report", "parse_claim", "verify_store"]

_DECISION_CACHE = 100_000  # decision hashes remembered as checked; past that the memo starts over
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Problem:
    tenant: str  # chain key: '' is the default tenant
    seq: int | None  # the first sequence number that cannot be trusted (None: a receipt outside the chain)
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant or None, "seq": self.seq, "what": self.what}


@dataclass(frozen=True, slots=True)
class Anchor:
    """A hash the chain must have at `seq`: from a signed checkpoint or held by a client."""

    seq: int
    hash: str
    source: str  # "the signed checkpoint" | "the client-held receipt"


@dataclass(slots=True)
class ChainResult:
    tenant: str
    entries: int = 0  # entries read and found intact
    last_seq: int = 0
    last_hash: str = GENESIS
    checkpoints: int = 0  # checkpoints whose signature verified
    problem: Problem | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant or None,
            "entries": self.entries,
            "last": f"{self.last_seq}:{self.last_hash}",
            "checkpoints": self.checkpoints,
            "ok": self.problem is None,
            "problem": self.problem.to_dict() if self.problem else None,
        }


@dataclass(slots=True)
class Report:
    chains: list[ChainResult] = field(default_factory=list)
    outside: list[Problem] = field(default_factory=list)  # final receipts stored outside the chain
    cannot: str | None = None  # why the store could not be verified at all

    @property
    def problems(self) -> list[Problem]:
        return [c.problem for c in self.chains if c.problem is not None] + self.outside

    @property
    def exit_code(self) -> int:
        return 2 if self.cannot else 1 if self.problems else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "verdict": ("cannot verify", "tampered", "intact")[[2, 1, 0].index(self.exit_code)],
            "cannot": self.cannot,
            "entries": sum(c.entries for c in self.chains),
            "chains": [c.to_dict() for c in self.chains],
            "problems": [p.to_dict() for p in self.problems],
        }


def parse_claim(text: str) -> tuple[int, str]:
    """`SEQ:HASH` as the x-unhardcoded-receipt header gave it."""
    seq, _, h = text.strip().partition(":")
    if not seq.isdigit() or int(seq) < 1 or len(h) != 64 or not all(c in "0123456789abcdef" for c in h):
        raise UserError(
            f"--receipt: expected SEQ:HASH as the x-unhardcoded-receipt header gives it "
            f"(a number, ':', 64 hex digits), got {text[:80]!r}",
            path="receipt",
        )
    return int(seq), h


class _Decisions:
    """Checks each stored decision once: it must exist and hash to its address."""

    def __init__(self, reader: ChainReader) -> None:
        self.reader = reader
        self.verdict: dict[str, str | None] = {}

    async def check(self, rows: Sequence[ChainRow]) -> None:
        """Judge every decision this page names that is not judged yet."""
        named = {h for r in rows if (h := r.row["decision_hash"])}
        if len(self.verdict) + len(named) > _DECISION_CACHE:
            self.verdict.clear()  # bounded memory; the page's own hashes are judged again below
        wanted = sorted(h for h in named if h not in self.verdict)
        if not wanted:
            return
        blobs = await self.reader.decision_blobs(wanted)
        for h in wanted:
            blob = blobs.get(h)
            if blob is None:
                self.verdict[h] = f"its decision {h} is not in the store (deleted)"
            elif hashlib.sha256(blob).hexdigest() != h:
                self.verdict[h] = f"its stored decision {h} was altered: its bytes no longer hash to it"
            else:
                self.verdict[h] = None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Walk:
    """One tenant's chain, judged entry by entry against its anchors."""

    def __init__(self, key: str, decisions: _Decisions) -> None:
        self.res = ChainResult(key)
        self.anchors: list[Anchor] = []
        self.by_seq: dict[int, list[Anchor]] = {}
        self.decisions = decisions
        self.trusted = 0  # the last entry a signed checkpoint or a client-held hash confirmed

    def anchor(self, anchors: Iterable[Anchor]) -> None:
        self.anchors = sorted(anchors, key=lambda a: a.seq)
        for a in self.anchors:
            self.by_seq.setdefault(a.seq, []).append(a)

    def fail(self, seq: int, what: str) -> None:
        if self.res.problem is None or (self.res.problem.seq or 0) > seq:
            self.res.problem = Problem(self.res.tenant, seq, what)

    def since_trusted(self, seq: int, anchor: Anchor) -> None:
        """A hash an anchor vouches for differs: something in (trusted, seq] changed."""
        first = self.trusted + 1
        span = f"entry {seq} was" if first == seq else f"entries {first}..{seq} were"
        self.fail(first, f"{span} rewritten: entry {seq} does not match {anchor.source} ({anchor.hash})")

    async def page(self, rows: Sequence[ChainRow]) -> bool:
        """Judge a page; False once a problem is found (the walk stops there)."""
        await self.decisions.check(rows)
        res = self.res
        for r in rows:
            expected = res.last_seq + 1
            if r.seq != expected:
                gap = (
                    f"entry {expected} is"
                    if r.seq == expected + 1
                    else f"entries {expected}..{r.seq - 1} are"
                )
                self.fail(expected, f"{gap} missing (deleted): the chain goes from {res.last_seq} to {r.seq}")
                return False
            if r.prev != res.last_hash:
                self.fail(
                    r.seq,
                    "its chain_prev is not the hash of the entry before it (rows reordered or replaced)",
                )
                return False
            if entry_hash(res.tenant, r.seq, r.prev, receipt_hash(r.row, r.body)) != r.hash:
                self.fail(
                    r.seq, f"receipt {r.row['request_id']} was altered: it no longer hashes to its chain_hash"
                )
                return False
            verdict = self.decisions.verdict.get(r.row["decision_hash"]) if r.row["decision_hash"] else None
            if verdict:
                self.fail(r.seq, f"receipt {r.row['request_id']}: {verdict}")
                return False
            anchors = self.by_seq.get(r.seq)
            if anchors:
                wrong = [a for a in anchors if a.hash != r.hash]
                if wrong:
                    self.since_trusted(r.seq, wrong[0])
                    return False
                self.trusted = r.seq
            res.entries += 1
            res.last_seq, res.last_hash = r.seq, r.hash or ""
        return True

    def ends(self, head: tuple[int, str] | None) -> None:
        """The walk reached the end of the stored chain: nothing vouched for may lie beyond it."""
        res = self.res
        last = res.last_seq
        beyond = [a for a in self.anchors if a.seq > last]
        if beyond:
            a = beyond[-1]
            self.fail(
                last + 1, f"the chain ends at {last} but {a.source} vouches for entry {a.seq} (truncated)"
            )
        hseq, hhash = head if head is not None else (0, GENESIS)
        if hseq > last:
            self.fail(
                last + 1, f"chain_heads says the chain reaches {hseq} but it ends at {last} (truncated)"
            )
        elif hseq < last:
            self.fail(
                hseq + 1, f"entries {hseq + 1}..{last} are beyond chain_heads ({hseq}): written by hand"
            )
        elif last and hhash != res.last_hash:
            self.fail(last, f"chain_heads holds another hash for entry {last} than the chain")


def _judge_checkpoints(cps: Sequence[Checkpoint], keys: dict[str, PublicKey], walk: _Walk) -> list[Anchor]:
    """The checkpoints whose signature verifies become anchors; a bad one fails the chain from the last
    good checkpoint before it."""
    good: list[Anchor] = []
    for cp in cps:
        pub = keys.get(cp.key_id)
        message = checkpoint_message(cp.tenant, cp.seq, cp.hash, cp.created_at)
        if pub is not None and pub.verifies(message, cp.signature):
            good.append(Anchor(cp.seq, cp.hash, f"the signed checkpoint of {_iso(cp.created_at)}"))
            continue
        seqs = [a.seq for a in good]
        before = seqs[bisect.bisect_left(seqs, cp.seq) - 1] if seqs and seqs[0] < cp.seq else 0
        why = "signed by an unknown key" if pub is None else "its signature does not verify"
        span = f"entries {before + 1}..{cp.seq}" if before + 1 < cp.seq else f"entry {cp.seq}"
        walk.fail(
            before + 1,
            f"the checkpoint of entry {cp.seq} is forged or altered ({why}): {span} cannot be trusted",
        )
    walk.res.checkpoints = len(good)
    return good


async def verify_chain(
    reader: ChainReader,
    key: str,
    keys: dict[str, PublicKey],
    claims: Sequence[tuple[int, str]] = (),
    *,
    decisions: _Decisions | None = None,
    progress: Progress | None = None,
) -> ChainResult:
    """Walk one chain. Checkpoints are read before the rows and the head after them, so receipts committed
    meanwhile by a live gateway never look like tampering."""
    cps = await reader.checkpoints(key)
    walk = _Walk(key, decisions or _Decisions(reader))
    signed = _judge_checkpoints(cps, keys, walk)
    walk.anchor(signed + [Anchor(s, h, "the client-held receipt") for s, h in claims])
    after = 0
    for _ in range(100):  # a live gateway may extend the chain while we read; this catches up, boundedly
        async with contextlib.aclosing(reader.walk(key, after)) as pages:
            async for rows in pages:
                if not await walk.page(rows):
                    return walk.res
                if progress is not None:
                    progress(len(rows))
        head = await reader.head(key)
        if head is None or head[0] <= walk.res.last_seq or walk.res.last_seq == after:
            walk.ends(head)
            return walk.res
        after = walk.res.last_seq
    walk.ends(await reader.head(key))
    return walk.res


async def verify_store(
    reader: ChainReader,
    *,
    public_keys: Sequence[PublicKey] = (),
    tenant: str | None = None,
    claims: Sequence[tuple[int, str]] = (),
    progress: Progress | None = None,
) -> Report:
    """Verify every chain of the store (or the one of `tenant`; '' is the default tenant). `claims` are
    client-held SEQ:HASH of that tenant (of the only chain when `tenant` is None). Checkpoints exist but
    no public key is given: the report says it cannot verify."""
    report = Report()
    keys = by_id(public_keys)
    chains = await reader.chain_keys()
    if tenant is not None:
        chains = [tenant]
    if claims and tenant is None and len(chains) > 1:
        report.cannot = "--receipt: the store holds several tenants' chains; name one with --tenant"
        return report
    if not keys and await reader.checkpoints(tenant, limit=1):
        report.cannot = "the store has signed checkpoints but no public key was given (--pubkey FILE)"
        return report
    decisions = _Decisions(reader)
    for key in chains:
        report.chains.append(
            await verify_chain(reader, key, keys, claims, decisions=decisions, progress=progress)
        )
    began = await reader.chain_started_at()
    if began is not None:
        for t, rid, finished in await reader.unchained(began):
            if tenant is None or (t or "") == tenant:
                what = (
                    f"receipt {rid} is final but outside the chain, and finished {_iso(finished)}, after the "
                    f"chain began ({_iso(began)}): it was inserted by hand"
                )
                report.outside.append(Problem(t or "", None, what))
    return report
