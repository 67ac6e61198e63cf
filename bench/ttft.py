"""Streaming time to first token, measured with an aiohttp client.

Sends ``n`` streaming chat completions one after another over one kept-alive connection and
times each from the moment the request is sent to the first SSE chunk whose delta carries
non-empty content. The rest of each stream is read to ``data: [DONE]`` so that a target that
breaks the stream is caught (counted in ``errors``).

    python bench/ttft.py http://127.0.0.1:18001/v1/chat/completions -n 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp


@dataclass
class TtftResult:
    samples_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    usage_seen: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self.samples_ms),
            "errors": self.errors,
            "first_error": self.first_error,
            "usage_seen": self.usage_seen,
            "ttft_p50_ms": percentile(self.samples_ms, 50),
            "ttft_p99_ms": percentile(self.samples_ms, 99),
            "total_p50_ms": percentile(self.total_ms, 50),
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _has_content(data: bytes) -> tuple[bool, bool]:
    """(chunk carries non-empty delta content, chunk carries usage)."""
    try:
        obj = json.loads(data)
    except ValueError:
        return False, False
    usage = bool(obj.get("usage"))
    for choice in obj.get("choices") or ():
        if (choice.get("delta") or {}).get("content"):
            return True, usage
    return False, usage


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[float, float, bool]:
    t0 = time.perf_counter()
    first: float | None = None
    done = usage = False
    async with session.post(url, data=body, headers=headers) as resp:
        if resp.status != 200:
            text = (await resp.read())[:200].decode(errors="replace")
            raise RuntimeError(f"HTTP {resp.status}: {text}")
        async for raw in resp.content:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            content, has_usage = _has_content(data)
            usage = usage or has_usage
            if content and first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    if first is None or not done:
        raise RuntimeError("stream ended without content" if first is None else "stream ended without [DONE]")
    return (first - t0) * 1000.0, (end - t0) * 1000.0, usage


async def measure(
    url: str, body: bytes, n: int, api_key: str = "sk-bench", warmup: int = 5, timeout: float = 30.0
) -> TtftResult:
    """Run ``warmup`` then ``n`` sequential streaming requests against ``url``."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    result = TtftResult()
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        for i in range(warmup + n):
            try:
                ttft, total, usage = await _one(session, url, body, headers)
            except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
                if i >= warmup:
                    result.errors += 1
                    result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            if i >= warmup:
                result.samples_ms.append(ttft)
                result.total_ms.append(total)
                result.usage_seen += int(usage)
    return result


def streaming_body(body: dict[str, Any]) -> bytes:
    """``body`` as a streaming request that asks for the usage chunk."""
    return json.dumps({**body, "stream": True, "stream_options": {"include_usage": True}}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--api-key", default="sk-bench")
    parser.add_argument("--model", default="auto")
    args = parser.parse_args()
    body = streaming_body(
        {"model": args.model, "messages": [{"role": "user", "content": "Say hello in five words."}]}
    )
    result = asyncio.run(measure(args.url, body, args.n, args.api_key))
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
