"""The what-if reads a decision's head only: on every decision real calls stored, the head gives what the
whole receipt gives (features, pinned), and a blob of another layout is parsed whole."""

from __future__ import annotations

from typing import Any

import orjson

from tests.review.conftest import History, run_async, with_store
from unhardcoded.review.past_calls import Shape, shape_of_decision, shape_of_receipt


def every_decision(url: str) -> list[tuple[dict[str, Any], bytes]]:
    async def read(store: Any) -> list[tuple[dict[str, Any], bytes]]:
        rows = await store.search(limit=10_000)
        blobs = await store.decisions([r["decision_hash"] for r in rows])
        return [(await store.get(r["request_id"]), blobs[r["decision_hash"]]) for r in rows]

    out: list[tuple[dict[str, Any], bytes]] = run_async(with_store(url, read))
    return out


def test_the_head_of_every_stored_decision_gives_what_the_receipt_gives(history: History) -> None:
    pairs = every_decision(history.url)
    assert len(pairs) == 19
    shapes = [(shape_of_receipt(receipt), shape_of_decision(blob)) for receipt, blob in pairs]
    assert all(whole == head for whole, head in shapes)
    # Only the head is parsed: the first half of each blob (no valid JSON) gives the same shape.
    assert all(
        shape_of_decision(blob[: len(blob) // 2]) == whole
        for (_, blob), (whole, _) in zip(pairs, shapes, strict=True)
    )
    assert sum(head.pinned for _, head in shapes) == 3  # pinned, pinned by model, and the waived one
    assert len({head.features for _, head in shapes}) > 5  # tools, stream, sizes: the features differ


def test_another_layout_is_parsed_whole_and_garbage_is_unreadable(history: History) -> None:
    receipt, blob = every_decision(history.url)[0]
    doc = orjson.loads(blob)
    reordered = orjson.dumps({k: doc[k] for k in reversed(list(doc))})
    assert shape_of_decision(reordered) == shape_of_receipt(receipt) == shape_of_decision(blob)
    assert shape_of_decision(b"not json") == Shape(None, False)
    assert shape_of_decision(orjson.dumps({**doc, "features": {"x": 1}})) == Shape(None, False)
