"""Replay stored receipts: rebuild each decision as then (it must equal the stored one exactly) and run
it against today's catalog (now). Reads the store through its public methods; writes nothing.

`replay(...)` is what `POST /x/replay` and `unhardcoded replay ID` call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from unhardcoded.catalog.model import Catalog
from unhardcoded.errors import UserError
from unhardcoded.policy.decision import Decision, RuntimeState
from unhardcoded.policy.memo import DecisionMemo
from unhardcoded.policy.model import Policy
from unhardcoded.review.diff import diff_decisions, first_difference
from unhardcoded.review.rebuild import (
    ReplayInputError,
    catalog_from_blob,
    decision_hash,
    stored_features,
    stored_policy,
    stored_runtime,
)
from unhardcoded.store.base import ReceiptStore


def _disagreement(receipt: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """The receipt's own copy of what the decision was made from must agree with the decision."""
    pol, spol = receipt.get("policy") or {}, stored.get("policy") or {}
    pairs = [("catalog_version", receipt.get("catalog_version"), stored.get("catalog_version"))]
    pairs += [("features", receipt.get("features"), stored.get("features"))]
    pairs += [(f"policy.{k}", pol.get(k), spol.get(k)) for k in ("fingerprint", "sha256", "workload", "name")]
    for where, own, decided in pairs:
        if own != decided:
            return {"where": f"receipt.{where}", "stored": own, "rebuilt": decided}
    return None


class ReplayNotFound(UserError):
    """No receipt (or trace) with that id is in the store."""

    status = 404


class Replayer:
    """Replays receipts of one store against one catalog "now". Keeps the catalogs it rebuilt, by version.

    `live`: today's runtime state (the HTTP endpoint passes the gateway's, the CLI the no-key rule from the
    environment); None replays now with the runtime rules as they fired then.
    """

    def __init__(
        self,
        store: ReceiptStore,
        catalog_now: Catalog | None,
        *,
        live: RuntimeState | None = None,
        memo_size: int = 1024,
    ) -> None:
        self.store = store
        self.catalog_now = catalog_now
        self.live = live
        self.memo = DecisionMemo(memo_size)
        self._catalogs: dict[str, Catalog] = {}
        # Parsed policies by (canonical JSON, name, catalog version): a period replays one policy many times.
        self._policies: dict[tuple[bytes, str | None, str], Policy] = {}
        if catalog_now is not None:
            self._catalogs[catalog_now.version] = catalog_now

    async def catalog(self, version: str) -> Catalog:
        cat = self._catalogs.get(version)
        if cat is None:
            blob = await self.store.get_catalog(version)
            if blob is None:
                raise ReplayInputError(f"catalog {version[:16]}… is not kept in the store")
            cat = self._catalogs[version] = catalog_from_blob(blob, version)
        return cat

    def policy(self, stored: Mapping[str, Any], catalog: Catalog) -> Policy:
        pol = stored.get("policy") or {}
        key = (orjson.dumps(pol.get("canonical")), pol.get("name"), catalog.version)
        p = self._policies.get(key)
        if p is None:
            p = self._policies[key] = stored_policy(stored, catalog.fields)
            if len(self._policies) > 1024:
                self._policies.clear()
        return p

    async def as_then(self, receipt: Mapping[str, Any]) -> tuple[Decision | None, dict[str, Any]]:
        """The decision rebuilt from the receipt, and the verdict: identical, or the first difference."""
        stored = receipt.get("decision")
        named = receipt.get("decision_hash")
        out: dict[str, Any] = {"identical": False, "decision_hash": named}
        if not isinstance(stored, dict):
            out["error"] = "the receipt's decision is not in the store"
            return None, out
        out["stored_hash"] = hashlib.sha256(orjson.dumps(stored)).hexdigest()
        try:
            catalog = await self.catalog(str(stored.get("catalog_version") or receipt.get("catalog_version")))
            policy = self.policy(stored, catalog)
            decision = self.memo.decide(
                policy, catalog, stored_features(stored), stored_runtime(stored).state()
            )
        except (ReplayInputError, UserError) as e:  # or the stored policy or catalog no longer validates
            out["error"] = getattr(e, "message", None) or str(e)
            return None, out
        except (KeyError, TypeError, ValueError) as e:
            out["error"] = f"the stored decision is malformed: {type(e).__name__}: {e}"
            return None, out
        digest, rebuilt = decision_hash(decision)
        out["rebuilt_hash"] = digest
        diff = first_difference(stored, rebuilt)
        if diff is None and digest != named:
            # Same content under another name: the receipt's hash itself was changed.
            diff = {"where": "decision_hash", "stored": named, "rebuilt": digest}
        out["first_difference"] = diff or _disagreement(receipt, stored)
        out["identical"] = out["first_difference"] is None
        return decision, out

    def now(self, then: Decision, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The same policy and features against today's catalog; runtime as then unless `live`."""
        if self.catalog_now is None:
            return {"error": "no catalog for now (give --config, or replay through the server)"}
        try:
            policy = self.policy(stored, self.catalog_now)
        except (ReplayInputError, UserError) as e:
            return {"error": f"the policy does not apply to today's catalog: {getattr(e, 'message', e)}"}
        runtime = self.live if self.live is not None else stored_runtime(stored).state(self.catalog_now)
        now = self.memo.decide(policy, self.catalog_now, then.features, runtime)
        out = diff_decisions(then, now)
        out["runtime"] = "live" if self.live is not None else "as then"
        return out

    async def replay_receipt(self, receipt: Mapping[str, Any], *, now: bool = True) -> dict[str, Any]:
        stored = receipt.get("decision") or {}
        pol = receipt.get("policy") or {}
        outcome = receipt.get("outcome") or {}
        decision, verdict = await self.as_then(receipt)
        return {
            "request_id": receipt.get("request_id"),
            "trace_id": receipt.get("trace_id"),
            "created_at": receipt.get("created_at"),
            "status": receipt.get("status"),
            "fingerprint": pol.get("fingerprint"),
            "workload": pol.get("workload"),
            "answered_by": outcome.get("deployment"),
            "catalog_version": receipt.get("catalog_version"),
            "as_then": verdict,
            "now": self.now(decision, stored) if now and decision is not None else None,
        }


async def replay(
    store: ReceiptStore,
    *,
    request_id: str | None = None,
    trace_id: str | None = None,
    catalog_now: Catalog | None,
    live: RuntimeState | None = None,
) -> dict[str, Any]:
    """Replay one receipt (by request id) or every call of a trace, as then and now.

    Returns {"receipts": [one result per receipt], "identical": every as-then rebuild equal,
    "mismatches": how many differ}. Raises ReplayNotFound (a 404) for an unknown id, UserError when
    neither id is given. `live` is today's runtime state; None replays now with the runtime as then.
    """
    if (request_id is None) == (trace_id is None):
        raise UserError('give one of "request_id" or "trace_id"', path="request_id")
    if request_id is not None:
        r = await store.get(request_id)
        if r is None:
            raise ReplayNotFound(f"no receipt {request_id!r}", path="request_id")
        receipts = [r]
    else:
        assert trace_id is not None
        receipts = await store.trace(trace_id)
        if not receipts:
            raise ReplayNotFound(f"no trace {trace_id!r}", path="trace_id")
    replayer = Replayer(store, catalog_now, live=live)
    results = [await replayer.replay_receipt(r) for r in receipts]
    bad = sum(1 for x in results if not x["as_then"]["identical"])
    return {"receipts": results, "identical": bad == 0, "mismatches": bad}


async def replay_id(store: ReceiptStore, ident: str, **kw: Any) -> dict[str, Any]:
    """A request id or a trace id, whichever the store knows (the CLI takes either)."""
    if await store.get(ident) is not None:
        return await replay(store, request_id=ident, **kw)
    return await replay(store, trace_id=ident, **kw)
