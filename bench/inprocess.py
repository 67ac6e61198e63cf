"""The gateway's own Python per call, without HTTP: event-loop CPU per chat call.

Builds the gateway of bench/gateway.yaml (the bundled catalog plus the mock deployment) on a real SQLite
store in a temporary folder, with a transport that answers every upstream request at once with a canned
completion, and runs ``--calls`` calls from ``--concurrency`` tasks on uvloop. It reports the main
thread's CPU time per call (``time.thread_time``): the request's parse, the policy, the memoised
decision, both receipts built and handed to the store, the metrics. The receipt writer's SQLite work runs
on its own thread and is not counted here (bench/store_commit.py measures it). ``--profile`` adds
cProfile's top functions (which inflates every figure several times; read the shares, not the times).

    .venv/bin/python bench/inprocess.py [--calls 20000] [--concurrency 64] [--durability strict]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from unhardcoded.config import load_settings
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import StreamHandle, Timeouts, UpstreamResponse
from unhardcoded.providers.base import HttpCall
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store

HERE = Path(__file__).resolve().parent
ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-small",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5},
    }
)
BODY: dict[str, Any] = {
    "model": "auto",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "max_tokens": 32,
}


class Canned:
    """A transport whose upstream answers at once."""

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        return UpstreamResponse(200, {"content-type": "application/json"}, ANSWER)

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> StreamHandle:
        raise NotImplementedError("complete answers only")

    async def close(self) -> None:
        return None


def gateway(folder: Path, durability: str) -> Gateway:
    config = (
        (HERE / "gateway.yaml")
        .read_text()
        .replace("${MOCK_PORT}", "9")
        .replace("${STORE_URL}", f"sqlite:///{folder / 'r.db'}")
        .replace("${DURABILITY}", durability)
    )
    (folder / "gateway.yaml").write_text(config)
    s = load_settings(str(folder / "gateway.yaml"))
    store = open_store(s.store, durability=s.durability)
    return Gateway(s, Policies(s), store, Canned(), load_adapters(), env={"MOCK_API_KEY": "sk-bench"})


async def measure(calls: int, concurrency: int, durability: str, profile: bool) -> float:
    """Main-thread CPU µs per call (after a warm-up of 200 calls)."""
    with tempfile.TemporaryDirectory() as tmp:
        gw = gateway(Path(tmp), durability)
        await gw.open()
        try:

            async def worker(n: int) -> None:
                for _ in range(n):
                    await gw.chat(ChatRequest.parse(dict(BODY), {}))

            per_task = max(1, calls // concurrency)
            await asyncio.gather(*(worker(max(1, 200 // concurrency)) for _ in range(concurrency)))
            prof = cProfile.Profile() if profile else None
            t0 = time.thread_time()
            if prof is not None:
                prof.enable()
            await asyncio.gather(*(worker(per_task) for _ in range(concurrency)))
            if prof is not None:
                prof.disable()
            us = (time.thread_time() - t0) / (per_task * concurrency) * 1e6
        finally:
            await gw.close()
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    return us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--durability", choices=("strict", "fast"), default="strict")
    ap.add_argument("--profile", action="store_true", help="print cProfile's top 20 functions by own time")
    args = ap.parse_args()
    us = uvloop.run(measure(args.calls, args.concurrency, args.durability, args.profile))
    print(
        f"event-loop CPU per call, in process: {us:.1f} µs "
        f"({args.durability}, {args.calls:,} calls, concurrency {args.concurrency})"
    )


if __name__ == "__main__":
    main()
