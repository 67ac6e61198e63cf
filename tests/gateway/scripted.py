"""An in-process gateway over a scripted transport (as httpx's MockTransport): no sockets, real SQLite.

Each upstream host has a queue of answers; every request pops the next one. Answers can be a status with
a body, a ProviderError to raise (what the real transport raises on timeouts and refused connections), a
delay, or a stream of chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from tests.canary import SCRIPTED_KEYS
from unhardcoded.config import parse_settings
from unhardcoded.errors import CallFailed, ProviderError
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import Timeouts, UpstreamResponse
from unhardcoded.http.errors import call_failed
from unhardcoded.providers.base import HttpCall
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store

KEYS = SCRIPTED_KEYS  # canary keys (tests/canary.py)


def completion(text: str = "hi", *, prompt: int = 10, completion_tokens: int = 5, cached: int = 0) -> bytes:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion_tokens}
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": usage,
        }
    )


def chunk(text: str) -> bytes:
    c = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    c["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    return b"data: " + orjson.dumps(c) + b"\n\n"


@dataclass
class Answer:
    status: int = 200
    body: bytes = field(default_factory=completion)
    headers: dict[str, str] = field(default_factory=dict)
    raises: ProviderError | None = None
    delay_s: float = 0.0
    chunks: list[bytes] | None = None  # a stream: these chunks, then `raises` (if any) or the end
    raises_after_chunks: ProviderError | None = None


class _Handle:
    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.headers = answer.headers
        self._answer = answer

    async def chunks(self) -> AsyncIterator[bytes]:
        for c in self._answer.chunks or []:
            yield c
        if self._answer.raises_after_chunks is not None:
            raise self._answer.raises_after_chunks

    async def read_all(self) -> bytes:
        return self._answer.body

    def close(self) -> None:
        pass


class ScriptedTransport:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.seen: list[tuple[str, Timeouts, dict[str, Any]]] = []

    def push(self, host: str, *answers: Answer) -> None:
        self.scripts.setdefault(host, []).extend(answers)

    async def _next(self, call: HttpCall, timeouts: Timeouts) -> Answer:
        host = (urlsplit(call.url).hostname or "").split(".")[0]
        self.seen.append((host, timeouts, orjson.loads(call.body)))
        queue = self.scripts.get(host) or []
        answer = queue.pop(0) if queue else Answer()
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.raises is not None:
            raise answer.raises
        return answer

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        a = await self._next(call, timeouts)
        return UpstreamResponse(a.status, a.headers, a.body)

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> _Handle:
        return _Handle(await self._next(call, timeouts))

    async def close(self) -> None:
        pass

    def hosts(self) -> list[str]:
        return [h for h, _, _ in self.seen]


def dep(id_: str, pin: float = 1.0, pout: float = 2.0, **kw: Any) -> dict[str, Any]:
    provider = id_.split("/")[0]
    return {
        "id": id_,
        "provider": provider,
        "model": id_,
        "upstream_model": id_.split("/")[1],
        "price_input_per_mtok": pin,
        "price_output_per_mtok": pout,
        "context_window": 100_000,
        "max_output_tokens": 4096,
        "capabilities": ["streaming", "tools"],
        **kw,
    }


# Cheapest first: a/one, a/two (same provider), b/three, c/four.
DEPLOYMENTS = [
    dep("a/one", 0.1, 0.2),
    dep("a/two", 0.2, 0.4),
    dep("b/three", 0.3, 0.6),
    dep("c/four", 0.4, 0.8),
]


def settings(tmp: Path, **extra: Any) -> Any:
    timeouts = {"timeout_s": 7, "connect_timeout_s": 1.5, "first_byte_timeout_s": 3, "idle_timeout_s": 2}
    cfg: dict[str, Any] = {
        "providers": {
            name: {
                "kind": "openai",
                "base_url": f"http://{name}.test/v1",
                "api_key_env": f"{name.upper()}_KEY",
            }
            | timeouts
            for name in ("a", "b", "c")
        },
        "catalog": {"bundled": False, "deployments": DEPLOYMENTS},
        "default_baseline": "c/four",
        "store": f"sqlite:///{tmp / 'r.db'}",
        "call_timeout_s": 10,
        "breaker": {"failures": 2, "open_s": 60},
    }
    cfg.update(extra)
    return parse_settings(cfg)


class Rig:
    """One gateway over a scripted transport; `call` returns (HTTP status, receipt)."""

    def __init__(self, tmp: Path, *, exporter: Any = None, **extra: Any) -> None:
        s = settings(tmp, **extra)
        self.transport = ScriptedTransport()
        self.gw = Gateway(
            s,
            Policies(s),
            open_store(s.store, durability=s.durability),
            self.transport,
            load_adapters(),
            env=KEYS,
            exporter=exporter,
        )

    async def __aenter__(self) -> Rig:
        await self.gw.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.gw.close()

    async def call(
        self, policy: Any = None, headers: dict[str, str] | None = None, **body: Any
    ) -> tuple[int, dict[str, Any]]:
        doc = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **body}
        if policy is not None:
            doc["policy"] = policy
        req = ChatRequest.parse(doc, headers or {})
        try:
            reply = await self.gw.chat(req)
        except CallFailed as e:
            status, rid = call_failed(e).status, e.request_id
        else:
            status, rid = reply.status, reply.headers["x-unhardcoded-request-id"]
        receipt = await self.gw.receipt(rid)
        assert receipt is not None
        return status, receipt


def attempts(receipt: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    return [(a["deployment"], a["error_class"], a["fell_back"]) for a in receipt["attempts"]]
