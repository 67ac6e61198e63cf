"""Signed checkpoints of the receipt chain, and the `/x/checkpoints` and `/x/verify` verbs.

Every `tick_s` the task reads the tenants' chain heads (one small query) and signs a checkpoint (tenant,
seq, hash, time) for each tenant whose chain grew by `checkpoints.every` entries since its last checkpoint,
or grew at all and whose last checkpoint is older than `checkpoints.every_s`. The store's `checkpoints`
table is shared by every worker and replica: each reads the latest checkpoints before signing, and two
signing the same (tenant, seq) at once write it once (ON CONFLICT DO NOTHING). At close, every head with
new entries is checkpointed, so a clean shutdown leaves the whole chain vouched for.

A checkpoint is what proves truncation and a rewritten chain after the fact: the signing key is not in the
store, so whoever edits the tables cannot make a matching one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from unhardcoded.config import Settings
from unhardcoded.errors import RequestError
from unhardcoded.gateway.auth import Caller
from unhardcoded.gateway.receipts import iso
from unhardcoded.gateway.signing import Signer, checkpoint_message, load_signer
from unhardcoded.store.base import ReceiptStore, StoreError
from unhardcoded.store.chain_read import ChainReader, Checkpoint, Readable

log = logging.getLogger("unhardcoded.checkpoints")

_TICK_S = 1.0


def checkpoint_dict(cp: Checkpoint) -> dict[str, Any]:
    return {
        "tenant": cp.tenant or None,
        "seq": cp.seq,
        "hash": cp.hash,
        "time": cp.created_at,
        "signed_at": iso(cp.created_at),
        "key_id": cp.key_id,
        "signature": cp.signature,
    }


class Checkpointer:
    """One per gateway. Without a signing key it signs nothing and `/x/checkpoints/pubkey` is a 404."""

    def __init__(
        self,
        store: ReceiptStore,
        signer: Signer | None,
        *,
        every: int = 1000,
        every_s: float = 60.0,
        tick_s: float = _TICK_S,
    ) -> None:
        self.signer = signer
        self.every = every
        self.every_s = every_s
        self.tick_s = min(tick_s, every_s)
        self._reader = ChainReader(_readable(store))
        self._started = time.time()
        self._task: asyncio.Task[None] | None = None
        self.signed = 0  # checkpoints this process wrote

    @classmethod
    def for_settings(cls, store: ReceiptStore, settings: Settings, env: Mapping[str, str]) -> Checkpointer:
        c = settings.checkpoints
        signer = load_signer(c.signing_key_file, c.signing_key_env, env)
        return cls(store, signer, every=c.every, every_s=c.every_s)

    @property
    def reader(self) -> ChainReader:
        return self._reader

    def start(self) -> None:
        if self.signer is not None:
            self._started = time.time()
            self._task = asyncio.create_task(self._run(), name="chain-checkpoints")

    async def close(self) -> None:
        """Stop the task, then checkpoint every chain with entries past its last checkpoint (the store is
        still open: the gateway closes it after this)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await self.run_once(force=True)
        except Exception as e:  # a store that is down at shutdown: the next start checkpoints
            log.warning("the closing checkpoint was not written: %s", e)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.run_once()
            except StoreError as e:
                log.warning("checkpointing failed, will retry in %gs: %s", self.tick_s, e)
            except Exception:
                log.exception("checkpointing failed, will retry in %gs", self.tick_s)

    async def run_once(self, now: float | None = None, *, force: bool = False) -> list[Checkpoint]:
        """Sign what is due (everything new with `force`); the checkpoints written."""
        if self.signer is None:
            return []
        now = time.time() if now is None else now
        latest = await self._reader.latest_checkpoints()
        made = []
        for key, (seq, h) in sorted((await self._reader.heads()).items()):
            last_seq, last_at = latest.get(key, (0, self._started))
            if seq <= last_seq:
                continue
            if force or seq - last_seq >= self.every or now - last_at >= self.every_s:
                made.append(self.sign(key, seq, h, now))
        for cp in made:
            await self._reader.put_checkpoint(cp)
        self.signed += len(made)
        return made

    def sign(self, key: str, seq: int, hash_: str, at: float) -> Checkpoint:
        assert self.signer is not None
        signature = self.signer.sign(checkpoint_message(key, seq, hash_, at))
        return Checkpoint(key, seq, hash_, at, self.signer.public.key_id, signature)

    # -- HTTP verbs ------------------------------------------------------------------------------------

    def public_key(self) -> dict[str, Any] | None:
        if self.signer is None:
            return None
        pub = self.signer.public
        return {"key_id": pub.key_id, "algorithm": "Ed25519", "public_key_pem": pub.pem()}

    async def list(self, query: Mapping[str, str], caller: Caller) -> dict[str, Any]:
        """`GET /x/checkpoints?tenant=&cursor=&limit=`: a client key sees its own tenant's only."""
        known = {"tenant", "cursor", "limit"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise RequestError(
                f"{unknown[0]}: not a checkpoints parameter", path=unknown[0], choices=sorted(known)
            )
        key = _chain_key(query.get("tenant"), caller)
        try:
            limit = max(1, min(int(query.get("limit", "100")), 1000))
        except ValueError:
            raise RequestError("limit: expected an integer", path="limit") from None
        after = None
        if query.get("cursor"):
            tenant, _, seq = query["cursor"].rpartition("~")
            if not seq.isdigit():
                raise RequestError("cursor: not a next_cursor this endpoint gave", path="cursor")
            after = (tenant, int(seq))
        cps = await self._reader.checkpoints(key, after=after, limit=limit)
        cursor = f"{cps[-1].tenant}~{cps[-1].seq}" if len(cps) == limit else None
        return {
            "public_key": self.public_key(),
            "checkpoints": [checkpoint_dict(cp) for cp in cps],
            "next_cursor": cursor,
        }

    async def verify(self, doc: Any, caller: Caller) -> dict[str, Any]:
        """`POST /x/verify {"tenant"?, "receipts"?: ["SEQ:HASH"]}` (admins only: the route checks)."""
        from unhardcoded.review.verify import parse_claim, verify_store

        if not isinstance(doc, dict) or set(doc) - {"tenant", "receipts"}:
            raise RequestError(
                'body: expected {"tenant"?: "...", "receipts"?: ["SEQ:HASH"]}', choices=["tenant", "receipts"]
            )
        tenant = doc.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise RequestError("tenant: expected a tenant name", path="tenant")
        receipts = doc.get("receipts") or []
        if not isinstance(receipts, list) or not all(isinstance(r, str) for r in receipts):
            raise RequestError('receipts: expected a list of "SEQ:HASH" strings', path="receipts")
        claims = [parse_claim(r) for r in receipts]
        keys = [self.signer.public] if self.signer is not None else []
        report = await verify_store(self._reader, public_keys=keys, tenant=tenant, claims=claims)
        return report.to_dict()


def _chain_key(asked: str | None, caller: Caller) -> str | None:
    """The chain key a caller reads (None: every chain, admins only)."""
    if asked is not None and not asked:
        raise RequestError("tenant: expected a tenant name", path="tenant")
    if caller.admin:
        return asked
    if asked is not None and asked != caller.tenant:
        raise RequestError("tenant: a client key reads its own tenant's checkpoints only", path="tenant")
    return caller.tenant or ""


def _readable(store: ReceiptStore) -> Readable:
    """Both stores are group-commit stores with `_fetch`/`_execute`; a ReceiptStore protocol object that is
    not (a test double) has no chain to checkpoint."""
    if not hasattr(store, "_fetch") or not hasattr(store, "placeholder"):
        raise TypeError(f"{type(store).__name__} cannot be checkpointed: it has no SQL read side")
    readable: Readable = store  # type: ignore[assignment]
    return readable
