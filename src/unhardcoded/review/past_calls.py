"""Past calls as the what-if reads them: each answered call's usage and its decision's shape (the request
features, and whether the call was pinned), with as few whole reads as the store allows.

Usage comes from the store's token columns when it keeps them; a call's shape from its decision, read once
per content hash. A decision is a few hundred KB for a catalog of hundreds of deployments, and only its
head is needed: the blob is `orjson.dumps(Decision.to_dict())`, which starts with the policy, the catalog
version and the features, so the head is parsed alone (anything else falls back to the whole blob).
A receipt is read whole (`ReceiptStore.get`, which also expands its decision) only when the store's
summary has no token counts (receipts stored before the columns existed).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from unhardcoded.policy.request import RequestFeatures
from unhardcoded.review.rebuild import ReplayInputError, stored_features
from unhardcoded.store.base import ReceiptStore

_GETS = 16  # receipts read at once: the store's reads run in threads while the caller decides
_SHAPES = 200_000  # decision shapes kept by hash
# `"catalog_version":"<sha256>","features":{flat}` cannot occur inside a JSON string (its quotes would be
# escaped) nor as a nested key (the canonical policy's keys are fixed by sigma-pol/v1): the first match is
# the decision's own.
_HEAD = re.compile(rb',"catalog_version":"[0-9a-f]{64}","features":(\{[^{}]*\})')


@dataclass(frozen=True, slots=True)
class Shape:
    """What a stored decision says of every call that names it."""

    features: RequestFeatures | None  # None: the stored features do not fit (counted as unreadable)
    pinned: bool  # the call named its deployment: no policy chose it


def shape_of_receipt(receipt: Mapping[str, Any]) -> Shape:
    try:
        features: RequestFeatures | None = stored_features(receipt)
    except ReplayInputError:
        features = None
    return Shape(features, bool(receipt.get("pinned")))


def _pinned(policy: Mapping[str, Any]) -> bool:
    """A pinned call's policy is one rule with the id `pinned` (gateway/policies.py `Policies.pinned`)."""
    rules = (policy.get("canonical") or {}).get("rules") or []
    return len(rules) == 1 and rules[0].get("id") == "pinned"


def shape_of_decision(blob: bytes) -> Shape:
    """The shape from a stored decision blob, parsing only its head when it has the usual layout."""
    m = _HEAD.search(blob)
    try:
        if m is not None and blob.startswith(b'{"policy":'):
            head = orjson.loads(blob[: m.start()] + b"}")
            doc = {"features": orjson.loads(m.group(1)), "policy": head["policy"]}
        else:
            doc = orjson.loads(blob)
        features: RequestFeatures | None = stored_features(doc)
    except (orjson.JSONDecodeError, ReplayInputError, KeyError, TypeError):
        return Shape(None, False)
    return Shape(features, _pinned(doc.get("policy") or {}))


def usage_of(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Usage from the store's token columns, when it keeps them (else the receipt must be read)."""
    i, o = summary.get("input_tokens"), summary.get("output_tokens")
    if i is None or o is None:
        return None
    return {
        "input_tokens": i,
        "output_tokens": o,
        "cached_input_tokens": summary.get("cached_input_tokens") or 0,
    }


Call = tuple[Mapping[str, Any], Mapping[str, Any] | None, Shape | None]  # summary, usage, shape (None: gone)


async def read_calls(store: ReceiptStore, rows: list[dict[str, Any]], shapes: dict[str, Shape]) -> list[Call]:
    """Per answered call (summaries from `ReceiptStore.search`): its usage and its decision's shape.
    `shapes` carries the shapes already read, by decision hash, from one page to the next."""
    if len(shapes) > _SHAPES:
        shapes.clear()  # bounded memory; only costs re-reads of decisions
    need: set[str] = set()
    whole: list[str] = []
    for r in rows:
        h = r.get("decision_hash")
        if h is not None and usage_of(r) is not None:
            if h not in shapes:
                need.add(h)
        else:
            whole.append(r["request_id"])
    if need:
        blobs = await store.decisions(sorted(need))
        for h in need:
            blob = blobs.get(h)
            shapes[h] = shape_of_decision(blob) if blob is not None else Shape(None, False)
    receipts: dict[str, dict[str, Any] | None] = {}
    for k in range(0, len(whole), _GETS):
        chunk = whole[k : k + _GETS]
        receipts.update(zip(chunk, await asyncio.gather(*(store.get(i) for i in chunk)), strict=True))
    out: list[Call] = []
    for r in rows:
        usage, h = usage_of(r), r.get("decision_hash")
        if usage is not None and h is not None:
            out.append((r, usage, shapes[h]))
            continue
        rec = receipts.get(r["request_id"])
        usage = (rec.get("outcome") or {}).get("usage") if rec is not None else None
        out.append((r, usage, None if rec is None else shape_of_receipt(rec)))
    return out
