"""`unhardcoded demo`: the whole flow with no keys and no network — a simulated upstream, scripted calls."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import orjson
from rich.console import Console

from unhardcoded.config import parse_settings
from unhardcoded.http.server import build_gateway, start_in_process
from unhardcoded.testing import fake_openai

DEMO_KEY_ENV = "UNHARDCODED_DEMO_KEY"
_DEP = {
    "provider": "sim",
    "capabilities": ["json_schema", "streaming", "tools"],
    "context_window": 128000,
    "max_output_tokens": 8192,
    "data_retention": "none",
}


def demo_config(base_url: str, store: str) -> dict[str, Any]:
    """A config with a simulated provider; its deployments sit beside the bundled catalog."""
    return {
        "providers": {
            "sim": {
                "kind": "openai",
                "base_url": base_url,
                "api_key_env": DEMO_KEY_ENV,
                "simulated": True,
                "timeout_s": 10,
            }
        },
        "catalog": {
            "deployments": [
                {
                    **_DEP,
                    "id": "sim/fast-mini@eu-west-1",
                    "model": "sim/fast-mini",
                    "upstream_model": "fast-mini",
                    "region": "eu-west-1",
                    "geography": "eu",
                    "price_input_per_mtok": 0.05,
                    "price_output_per_mtok": 0.2,
                    "bench_intelligence": 41,
                },
                {
                    **_DEP,
                    "id": "sim/flaky@eu-west-1",
                    "model": "sim/flaky",
                    "upstream_model": "sim-503",
                    "region": "eu-west-1",
                    "geography": "eu",
                    "price_input_per_mtok": 0.2,
                    "price_output_per_mtok": 0.8,
                    "bench_intelligence": 58,
                },
                {
                    **_DEP,
                    "id": "sim/balanced@eu-west-1",
                    "model": "sim/balanced",
                    "upstream_model": "balanced",
                    "region": "eu-west-1",
                    "geography": "eu",
                    "price_input_per_mtok": 0.4,
                    "price_output_per_mtok": 1.6,
                    "bench_intelligence": 60,
                },
                {
                    **_DEP,
                    "id": "sim/pro@us-east-1",
                    "model": "sim/pro",
                    "upstream_model": "pro",
                    "region": "us-east-1",
                    "geography": "us",
                    "price_input_per_mtok": 2.0,
                    "price_output_per_mtok": 8.0,
                    "bench_intelligence": 70,
                },
            ]
        },
        "policies": {
            "support-bot": {
                "workload": "support-bot",
                "rules": [
                    {"id": "quality-floor", "field": "bench_intelligence", "op": ">=", "value": 55},
                    {"id": "eu-only", "field": "geography", "op": "==", "value": "eu"},
                    {"id": "needs-tools", "field": "capabilities", "op": "has", "value": "tools"},
                ],
            },
            "best": {
                "workload": "research",
                "rules": [{"id": "top", "field": "bench_intelligence", "op": ">=", "value": 65}],
                "rank": [{"by": "bench_intelligence", "order": "desc"}],
            },
        },
        "default_baseline": "openai/gpt-4.1",
        "store": store,
        "durability": "strict",
    }


CALLS: list[tuple[str, dict[str, Any]]] = [
    (
        "cheapest that can serve it (model: auto, no policy)",
        {"model": "auto", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 64},
    ),
    (
        "policy by name: support-bot — its cheapest passer answers 503, the call falls back",
        {
            "model": "policy:support-bot",
            "messages": [{"role": "user", "content": "Where is my parcel?"}],
            "max_tokens": 128,
        },
    ),
    (
        "inline policy in the body (the SDK's extra_body), streamed",
        {
            "model": "auto",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Write one line about receipts."}],
            "max_tokens": 64,
            "policy": {
                "rules": [
                    {"id": "eu-only", "field": "geography", "op": "==", "value": "eu"},
                    {"field": "bench_intelligence", "op": ">=", "value": 59},
                ]
            },
        },
    ),
    (
        "policy by name: best — ranked by bench_intelligence, not price",
        {"model": "policy:best", "messages": [{"role": "user", "content": "Summarise the plan."}]},
    ),
]


async def _call(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, str], str]:
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        text = await resp.text()
        return resp.status, dict(resp.headers), text


def _answer_text(text: str, streamed: bool) -> str:
    if not streamed:
        doc = orjson.loads(text)
        return str(doc.get("choices", [{}])[0].get("message", {}).get("content") or doc.get("error", {}))
    parts = []
    for line in text.splitlines():
        if line.startswith("data: {"):
            chunk = orjson.loads(line[6:])
            for c in chunk.get("choices", []):
                parts.append(c.get("delta", {}).get("content") or "")
    return "".join(parts)


async def _main(port: int, keep: bool, console: Console) -> int:
    upstream, base_url, _ = await fake_openai.start(api_key="sk-sim-demo")
    store_path = os.path.abspath("unhardcoded-demo.db")
    settings = parse_settings(demo_config(base_url, f"sqlite:///{store_path}"))
    gw = build_gateway(settings, env={DEMO_KEY_ENV: "sk-sim-demo"})
    runner, url = await start_in_process(gw, port=port)
    console.print(f"[bold]simulated upstream[/bold] {base_url} (marked simulated on receipts)")
    console.print(f"[bold]gateway[/bold] {url}  store {store_path}\n")
    ids = []
    try:
        async with aiohttp.ClientSession() as session:
            for title, body in CALLS:
                status, headers, text = await _call(session, url, body)
                rid = headers.get("x-unhardcoded-request-id", "")
                ids.append(rid)
                async with session.get(f"{url}/x/receipts/{rid}") as r:
                    receipt = await r.json()
                o = receipt["outcome"]
                console.rule(title)
                console.print(
                    f"HTTP {status}  deployment {headers.get('x-unhardcoded-deployment')}  "
                    f"fingerprint {headers.get('x-unhardcoded-fingerprint')}",
                    highlight=False,
                )
                console.print(
                    f"answer: {_answer_text(text, bool(body.get('stream')))[:100]}", highlight=False
                )
                for a in receipt["attempts"]:
                    console.print(
                        f"  attempt {a['deployment']}: HTTP {a['http_status']} "
                        f"{a['error_class'] or 'ok'}{' -> fell back' if a['fell_back'] else ''}",
                        highlight=False,
                    )
                console.print(
                    f"cost ${o['cost_usd']}  baseline {o['baseline']['deployment']} "
                    f"${o['baseline']['cost_usd']}  saved ${o['savings_usd']}",
                    highlight=False,
                )
                console.print(f"[italic]{receipt['explanation']}[/italic]", highlight=False)
                console.print(f"receipt: curl {url}/x/receipts/{rid}\n", highlight=False)
        console.print(
            f"Receipts are in {store_path}; every one lists all {gw.health()['deployments']} candidates "
            "and the rules that rejected them (most bundled deployments by rt:no-key: no keys here)."
        )
        if keep:
            console.print(f"Gateway running at {url} — Ctrl-C to stop.")
            while True:
                await asyncio.sleep(3600)
    finally:
        await runner.cleanup()
        await upstream.cleanup()
    return 0


def run_demo(*, port: int = 8787, keep: bool = False) -> int:
    console = Console()
    try:
        return asyncio.run(_main(port, keep, console))
    except KeyboardInterrupt:
        return 0
