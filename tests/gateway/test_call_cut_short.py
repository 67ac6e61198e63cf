"""The attempt a client cut short, when it followed a Retry-After wait (`CallRunner._cut_short`): the
receipt says how long the call waited before it, as it does for an attempt that ended by itself.

Written from the survivors of `make mutation` on `gateway/call.py` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.gateway.scripted import Answer, Rig, chunk
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.providers.sse import DONE

ONLY_A1 = {"rules": [{"field": "id", "op": "==", "value": "a/one"}]}


class Sink:
    async def start(self, headers: dict[str, str]) -> None:
        pass

    async def write(self, data: bytes) -> None:
        pass

    async def fail(self, error_class: str, message: str) -> None:
        pass


async def test_an_attempt_cut_short_after_a_retry_after_wait_says_how_long_it_waited(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        limited = Answer(status=429, body=b"{}", headers={"retry-after": "0.01"})
        slow = Answer(chunks=[chunk("x"), DONE], delay_s=5)  # the second attempt answers in 5 s
        rig.transport.push("a", limited, slow)
        doc = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        request = ChatRequest.parse(doc | {"policy": ONLY_A1}, {})
        task = asyncio.create_task(rig.gw.chat_stream(request, Sink()))
        while len(rig.transport.seen) < 2:  # the call waited 0.01 s and the second attempt is under way
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (row,) = await rig.gw.search()
        r = await rig.gw.receipt(row["request_id"])
    assert r is not None and r["outcome"]["error"]["error_class"] == "client_closed"
    assert [(a["error_class"], a["waited_s"]) for a in r["attempts"]] == [
        ("rate_limited", None),
        ("client_closed", 0.01),
    ]
