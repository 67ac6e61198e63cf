"""A stream from an Anthropic deployment through the in-process gateway (`CallRunner._stream`): the
Messages API's events, scripted, come out as OpenAI chunks named after the deployment's model, and the
receipt counts the stream's usage.

The rig's other streams are OpenAI's, whose translator ignores the target it is given; this one reads it.
Written from the survivors of `make mutation` on `gateway/call.py` (docs/mutation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.gateway.scripted import Answer, Rig, dep
from unhardcoded.gateway.request import ChatRequest

PROVIDERS = {
    "an": {
        "kind": "anthropic",
        "base_url": "http://an.test",
        "api_key_env": "A_KEY",
        "timeout_s": 7,
        "connect_timeout_s": 1.5,
        "first_byte_timeout_s": 3,
        "idle_timeout_s": 2,
    }
}
CATALOG = {"bundled": False, "deployments": [dep("an/claude", upstream_model="claude-x")]}


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": []}
EVENTS = [
    event("message_start", {"message": MESSAGE | {"usage": {"input_tokens": 10, "output_tokens": 1}}}),
    event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "hel"}}),
    event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
    event("content_block_stop", {"index": 0}),
    event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
    event("message_stop", {}),
]


class Sink:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.data = b""

    async def start(self, headers: dict[str, str]) -> None:
        self.headers = headers

    async def write(self, data: bytes) -> None:
        self.data += data

    async def fail(self, error_class: str, message: str) -> None:
        raise AssertionError(f"the stream failed: {error_class}: {message}")


def chunks(data: bytes) -> list[dict[str, Any]]:
    lines = [x.removeprefix(b"data: ") for x in data.split(b"\n\n") if x.startswith(b"data: {")]
    return [orjson.loads(x) for x in lines]


async def test_an_anthropic_stream_comes_out_as_openai_chunks_of_the_deployments_model(
    tmp_path: Path,
) -> None:
    async with Rig(tmp_path, providers=PROVIDERS, catalog=CATALOG, default_baseline="an/claude") as rig:
        rig.transport.push("an", Answer(chunks=EVENTS))
        sink = Sink()
        doc = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        await rig.gw.chat_stream(ChatRequest.parse(doc, {}), sink)
        receipt = await rig.gw.receipt(sink.headers["x-unhardcoded-request-id"])
    out = chunks(sink.data)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in out if c["choices"]) == "hello"
    assert {c["model"] for c in out} == {"claude-x"}
    assert {c["id"] for c in out} == {sink.headers["x-unhardcoded-request-id"]}
    assert sink.data.endswith(b"data: [DONE]\n\n")
    assert receipt is not None and receipt["status"] == "ok"
    assert receipt["outcome"]["deployment"] == "an/claude"
    assert (receipt["outcome"]["usage"]["input_tokens"], receipt["outcome"]["usage"]["output_tokens"]) == (
        10,
        5,
    )
