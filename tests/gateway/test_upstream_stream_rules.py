"""An attempt that streams (gateway/upstream.py `Upstream.open_stream`) hands the transport its timeouts, as
an answer does: the provider's limits, bounded by what is left of the call. Written from `make mutation`
(docs/mutation.md)."""

from __future__ import annotations

from pathlib import Path

from tests.gateway.scripted import Answer, Rig, chunk
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.transport import Timeouts


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def start(self, headers: dict[str, str]) -> None:
        pass

    async def write(self, data: bytes) -> None:
        self.sent.append(data)

    async def fail(self, error_class: str, message: str) -> None:
        raise AssertionError(message)


BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def test_a_stream_is_opened_with_the_providers_timeouts(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(chunks=[chunk("hi"), b"data: [DONE]\n\n"]))
        sink = Sink()
        await rig.gw.chat_stream(ChatRequest.parse(BODY, {}), sink)
        ((host, tmo, body),) = rig.transport.seen
    assert host == "a" and body["stream"] is True
    assert isinstance(tmo, Timeouts)
    assert (tmo.connect_s, tmo.first_byte_s, tmo.idle_s) == (1.5, 3, 2)
    assert 0 < tmo.total_s <= 7
    assert b"".join(sink.sent).endswith(b"data: [DONE]\n\n")
