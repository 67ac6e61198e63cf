"""A fast mock OpenAI-compatible upstream for the gateway bench.

``POST /v1/chat/completions`` answers a fixed completion with ``usage``; with ``"stream": true`` it
answers Server-Sent Events (``data: {...}`` chunks, a usage chunk when
``stream_options.include_usage`` is set, then ``data: [DONE]``). ``GET /health`` answers ``ok``.

The delay before the answer (``--delay-ms`` or ``BENCH_MOCK_DELAY_MS``, default 0) stands in for the
model's time to first byte. Several processes may share one port with ``--reuse-port``; the bench
pins each one to a core with ``taskset``.

    python bench/mock_upstream.py --port 18000 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Any

from aiohttp import web

try:  # orjson is a dependency of the gateway; the mock works without it.
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - depends on the environment

    def _loads(data: bytes) -> Any:
        return json.loads(data)

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


ANSWER_WORDS = ["Hello", " there,", " nice", " to", " meet", " you."]
PROMPT_TOKENS = 14
COMPLETION_TOKENS = len(ANSWER_WORDS)
USAGE = {
    "prompt_tokens": PROMPT_TOKENS,
    "completion_tokens": COMPLETION_TOKENS,
    "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


class Mock:
    """Holds the delay and caches the encoded answers per model name."""

    def __init__(self, delay_ms: float, chunk_delay_ms: float) -> None:
        self.delay = delay_ms / 1000.0
        self.chunk_delay = chunk_delay_ms / 1000.0
        self._plain: dict[str, bytes] = {}
        self._stream: dict[tuple[str, bool], list[bytes]] = {}

    def plain_body(self, model: str) -> bytes:
        body = self._plain.get(model)
        if body is None:
            body = _dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "system_fingerprint": "fp_bench",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(ANSWER_WORDS)},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": USAGE,
                }
            )
            self._plain[model] = body
        return body

    def stream_chunks(self, model: str, include_usage: bool) -> list[bytes]:
        key = (model, include_usage)
        chunks = self._stream.get(key)
        if chunks is None:
            base = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_bench",
            }

            def event(choices: list[Any], usage: Any = None, with_usage: bool = include_usage) -> bytes:
                obj: dict[str, Any] = {**base, "choices": choices}
                if with_usage:
                    obj["usage"] = usage
                return b"data: " + _dumps(obj) + b"\n\n"

            chunks = [
                event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            ]
            for word in ANSWER_WORDS:
                chunks.append(event([{"index": 0, "delta": {"content": word}, "finish_reason": None}]))
            chunks.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            if include_usage:
                chunks.append(event([], USAGE))
            chunks.append(b"data: [DONE]\n\n")
            self._stream[key] = chunks
        return chunks

    async def chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = _loads(raw)
            model = str(body.get("model") or "bench-small")
        except (ValueError, AttributeError):
            return web.json_response({"error": {"message": "body is not a JSON object"}}, status=400)
        if self.delay:
            await asyncio.sleep(self.delay)
        if not body.get("stream"):
            return web.Response(body=self.plain_body(model), content_type="application/json")
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        for chunk in self.stream_chunks(model, include_usage):
            await resp.write(chunk)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await resp.write_eof()
        return resp

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "bench-small", "object": "model", "owned_by": "bench"}]}
        )


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(delay_ms: float, chunk_delay_ms: float = 0.0) -> web.Application:
    mock = Mock(delay_ms, chunk_delay_ms)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", mock.chat)
    app.router.add_post("/chat/completions", mock.chat)
    app.router.add_get("/v1/models", mock.models)
    app.router.add_get("/health", _health)
    return app


async def serve(host: str, port: int, delay_ms: float, chunk_delay_ms: float, reuse_port: bool) -> None:
    runner = web.AppRunner(make_app(delay_ms, chunk_delay_ms), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock upstream pid {os.getpid()} on http://{host}:{port} delay {delay_ms:g} ms", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_loop(coro: Any) -> None:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18000)
    parser.add_argument(
        "--delay-ms", type=float, default=float(os.environ.get("BENCH_MOCK_DELAY_MS", "0") or 0)
    )
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between SSE chunks")
    parser.add_argument("--reuse-port", action="store_true", help="share the port with other processes")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(args.host, args.port, args.delay_ms, args.chunk_delay_ms, args.reuse_port))


if __name__ == "__main__":
    main()
