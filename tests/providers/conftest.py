"""Shared helpers for adapter tests: fixture paths, OpenAI-shape checks, stream assembly, byte splitting."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import Adapter, ChatResult, Credentials, HttpCall, StreamTranslator, Target
from unhardcoded.testing.script import Script, Step

FIXTURES = Path(__file__).parent / "fixtures"
FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter"}
DONE = b"data: [DONE]\n\n"
TEST_API_KEY = "sk-test-0123456789abcdefSECRET"
TEST_CREDENTIALS = Credentials(
    api_key=TEST_API_KEY,
    aws_access_key_id="AKIDEXAMPLE0123456789",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    aws_session_token=None,
)
SECRETS = (TEST_API_KEY, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def matches(expected: Any, actual: Any, path: str = "$") -> None:
    """Assert `actual` contains `expected`: dict keys recursively, lists of the same length element by
    element. Two strings that both hold JSON objects or arrays compare as parsed JSON (tool arguments)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}: missing key {key!r} (have {sorted(actual)})"
            matches(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), (
            f"{path}: {len(actual)} items, expected {len(expected)}: {actual!r}"
        )
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            matches(e, a, f"{path}[{i}]")
    elif isinstance(expected, str) and isinstance(actual, str) and expected != actual:
        assert _json_container(expected) == _json_container(actual) is not None, (
            f"{path}: {actual!r} != {expected!r}"
        )
    elif isinstance(expected, float) or isinstance(actual, float):
        assert isinstance(actual, int | float) and abs(actual - expected) < 1e-9, (
            f"{path}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected and type(actual) is type(expected), f"{path}: {actual!r} != {expected!r}"


def _json_container(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def check_completion(body: dict[str, Any]) -> None:
    """Assert an OpenAI `chat.completion` shape."""
    assert body.get("object") == "chat.completion", body
    assert isinstance(body.get("id"), str) and body["id"]
    assert isinstance(body.get("created"), int)
    assert isinstance(body.get("model"), str)
    choices = body["choices"]
    assert isinstance(choices, list) and choices
    for i, choice in enumerate(choices):
        assert choice["index"] == i
        message = choice["message"]
        assert message["role"] == "assistant"
        assert message.get("content") is None or isinstance(message["content"], str)
        for call in message.get("tool_calls") or ():
            assert isinstance(call["id"], str) and call["id"] and call["type"] == "function"
            assert isinstance(call["function"]["name"], str) and call["function"]["name"]
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
        assert choice["finish_reason"] in FINISH_REASONS
    if body.get("usage") is not None:
        check_usage(body["usage"])


def check_usage(usage: dict[str, Any]) -> None:
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert isinstance(usage[key], int) and usage[key] >= 0, usage
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], usage


def sse_data(stream: bytes) -> list[str]:
    """The `data` of each event of a translated stream, which must be strictly `data: ...\\n\\n` framed."""
    assert stream.endswith(DONE), f"stream does not end with [DONE]: {stream[-80:]!r}"
    events = stream[:-2].split(b"\n\n")
    out = []
    for event in events:
        assert event.startswith(b"data: ") and b"\n" not in event, f"bad SSE framing: {event[:120]!r}"
        out.append(event[6:].decode())
    return out


def assemble_openai_stream(stream: bytes) -> dict[str, Any]:
    """Check every chunk of an OpenAI SSE stream and assemble it: content, tool_calls, finish_reason,
    usage (from the usage chunk, else None), include_usage_chunk, model."""
    datas = sse_data(stream)
    assert datas[-1] == "[DONE]" and "[DONE]" not in datas[:-1]
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage: dict[str, Any] | None = None
    saw_role = False
    model = None
    for data in datas[:-1]:
        chunk = json.loads(data)
        assert chunk.get("object") == "chat.completion.chunk", chunk
        assert isinstance(chunk.get("id"), str) and isinstance(chunk.get("created"), int), chunk
        assert isinstance(chunk.get("model"), str), chunk
        model = model or chunk["model"]
        assert usage is None, "a chunk came after the usage chunk"
        choices = chunk["choices"]
        assert isinstance(choices, list), chunk
        if not choices:
            assert isinstance(chunk.get("usage"), dict), f"a chunk with no choices and no usage: {chunk}"
            check_usage(chunk["usage"])
            usage = chunk["usage"]
            continue
        for choice in choices:
            assert isinstance(choice["index"], int) and isinstance(choice["delta"], dict), choice
            delta = choice["delta"]
            if not saw_role:
                assert delta.get("role") == "assistant", f"the first chunk must carry role: {chunk}"
                saw_role = True
            if choice.get("finish_reason") is not None:
                assert choice["finish_reason"] in FINISH_REASONS, choice
            if choice["index"] != 0:
                continue
            if delta.get("content") or delta.get("tool_calls"):
                assert finish is None, f"a delta after finish_reason: {chunk}"
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                _add_tool_delta(calls, call)
            if choice.get("finish_reason") is not None:
                assert finish is None, "finish_reason sent twice"
                finish = choice["finish_reason"]
    tool_calls = [calls[i] for i in sorted(calls)]
    for call in tool_calls:
        assert isinstance(json.loads(call["function"]["arguments"] or "{}"), dict), call
    return {
        "content": "".join(content),
        "tool_calls": tool_calls,
        "finish_reason": finish,
        "usage": usage,
        "include_usage_chunk": usage is not None,
        "model": model,
    }


def _add_tool_delta(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    index = delta["index"]
    assert isinstance(index, int), delta
    fn = delta.get("function") or {}
    if index not in calls:
        assert isinstance(delta.get("id"), str) and delta["id"], f"a new tool call needs an id: {delta}"
        assert delta.get("type") == "function" and isinstance(fn.get("name"), str) and fn["name"], delta
        calls[index] = {
            "id": delta["id"],
            "type": "function",
            "function": {"name": fn["name"], "arguments": ""},
        }
    else:
        assert "name" not in fn or not fn["name"], f"tool name repeated: {delta}"
    calls[index]["function"]["arguments"] += fn.get("arguments") or ""


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    sizes: Callable[[int], Iterator[int]]  # total length → the sizes of the pieces


def _random_sizes(seed: int, most: int) -> Callable[[int], Iterator[int]]:
    def sizes(total: int) -> Iterator[int]:
        rng = random.Random(seed)
        done = 0
        while done < total:
            step = rng.randint(1, most)
            yield step
            done += step

    return sizes


SPLITS = (
    Split("whole", lambda total: iter([total])),
    Split("bytes", lambda total: iter([1] * total)),
    Split("random-7", _random_sizes(7, 7)),
    Split("random-13", _random_sizes(13, 40)),
    Split("random-42", _random_sizes(42, 200)),
)


def pieces(data: bytes, split: Split) -> Iterator[bytes]:
    at = 0
    for size in split.sizes(len(data)):
        if at >= len(data):
            return
        yield data[at : at + size]
        at += size


def run_translator(translator: StreamTranslator, data: bytes, split: Split) -> bytes:
    """Feed `data` in the given split and return every byte the translator produced, finish included."""
    out = [translator.feed(piece) for piece in pieces(data, split)]
    out.append(translator.finish())
    return b"".join(out)


def load_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


@dataclass
class FakeServer:
    """An adapter in front of a local fake provider, over real HTTP: build the request, send it, parse the
    answer, as the gateway's transport would (without fallback). Each test file adds its own targets."""

    adapter: Adapter
    base_url: str
    script: Script
    session: aiohttp.ClientSession
    stream_content_type: str | None = None  # of the last streamed answer

    async def send(self, call: HttpCall, timeout: float = 5.0) -> tuple[int, Mapping[str, str], bytes]:
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with self.session.request(
            call.method, call.url, headers=call.headers, data=call.body, timeout=client_timeout
        ) as resp:
            return resp.status, CIMultiDict(resp.headers), await resp.read()

    async def round_trip(self, body: Mapping[str, Any], target: Target, creds: Credentials) -> ChatResult:
        status, headers, raw = await self.send(self.adapter.build_request(body, target, creds, stream=False))
        return self.adapter.parse_response(status, headers, raw, target)

    async def stream_through(
        self,
        body: Mapping[str, Any],
        target: Target,
        creds: Credentials,
        *,
        include_usage: bool | None = None,
        request_id: str = "req-fake",
    ) -> tuple[bytes, StreamTranslator]:
        """The translated stream's bytes (finish included) and its translator."""
        if include_usage is None:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        call = self.adapter.build_request(body, target, creds, stream=True)
        translator = self.adapter.stream_translator(
            target, include_usage=include_usage, request_id=request_id
        )
        async with self.session.post(call.url, headers=call.headers, data=call.body) as resp:
            if resp.status != 200:
                raise self.adapter.parse_error(resp.status, resp.headers, await resp.read())
            self.stream_content_type = resp.headers.get("Content-Type")
            out = [translator.feed(data) async for data in resp.content.iter_any()]
        out.append(translator.finish())
        return b"".join(out), translator


@dataclass
class OneModelFake(FakeServer):
    """A FakeServer whose targets differ only by model (Anthropic, Gemini): chat and stream by model name."""

    kind: str = ""
    default_model: str = ""
    creds: Credentials = field(default_factory=Credentials)

    def target(self, model: str | None = None) -> Target:
        name = model or self.default_model
        return Target(f"{self.kind}/{name}", self.kind, self.kind, name, self.base_url)

    async def chat(
        self, body: dict[str, Any], model: str | None = None, creds: Credentials | None = None
    ) -> ChatResult:
        return await self.round_trip(body, self.target(model), creds or self.creds)

    async def stream(
        self, body: dict[str, Any], model: str | None = None
    ) -> tuple[dict[str, Any], StreamTranslator]:
        raw, translator = await self.stream_through(body, self.target(model), self.creds)
        return assemble_openai_stream(raw), translator

    async def scripted_error(self, step: Step, body: dict[str, Any], *, stream: bool) -> ProviderError:
        """Push one scripted step; the ProviderError the call (chat or stream) then raises."""
        self.script.push(step)
        with pytest.raises(ProviderError) as info:
            if stream:
                await self.stream(body)
            else:
                await self.chat(body)
        return info.value
