"""A real gateway on 127.0.0.1 in a background thread, in front of two fake OpenAI-compatible providers."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from tests import canary
from tests.canary import ADMIN_GATEWAY_KEY, ALPHA_KEY, BETA_KEY, CLIENT_GATEWAY_KEY
from unhardcoded.config import parse_settings
from unhardcoded.gateway.auth import key_digest, load_keyring
from unhardcoded.http.server import build_gateway, start_in_process
from unhardcoded.testing import fake_openai
from unhardcoded.testing.script import Script

T = TypeVar("T")
# Canary keys: the session fails if any of them turns up in a receipt, a log, a dump or a body (canary.py).
GATEWAY_AUTH = {
    "keys": [
        {"hash": key_digest(CLIENT_GATEWAY_KEY), "tenant": "canary", "scope": "client"},
        {"hash": key_digest(ADMIN_GATEWAY_KEY), "tenant": "ops", "scope": "admin"},
    ]
}
_CAPS = ["json_schema", "streaming", "tools", "vision"]


def dep(id_: str, upstream: str, pin: float, pout: float, bench: float, region: str = "eu-west-1", **kw: Any):
    provider = id_.split("/")[0]
    return {
        "id": id_,
        "provider": provider,
        "model": id_.split("@")[0],
        "upstream_model": upstream,
        "region": region,
        "geography": region.split("-")[0],
        "price_input_per_mtok": pin,
        "price_output_per_mtok": pout,
        "context_window": 128000,
        "max_output_tokens": 8192,
        "capabilities": _CAPS,
        "bench_intelligence": bench,
        **kw,
    }


DEPLOYMENTS = [
    dep("alpha/cheap", "cheap", 0.1, 0.2, 50),
    dep("alpha/mid", "mid", 0.3, 0.6, 60),
    dep("beta/mid2", "mid2", 0.4, 0.8, 60),
    dep("beta/top", "top", 1.0, 4.0, 80, region="us-east-1"),
    dep("gamma/nokey", "nk", 0.01, 0.01, 90),
]


class Harness:
    """Start with `Harness.start(tmp_path, ...)`; `stop()` shuts everything down (and flushes receipts)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = ""
        self.alpha: Script = Script()
        self.beta: Script = Script()
        self.gateway: Any = None
        self._runners: list[Any] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @classmethod
    def start(
        cls,
        tmp_path: Path,
        *,
        durability: str = "strict",
        env: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,
        bundled: bool = False,
        alpha_options: dict[str, Any] | None = None,
    ) -> Harness:
        h = cls()
        h.run(h._start(tmp_path, durability, env, config or {}, bundled, alpha_options or {}))
        return h

    async def _start(
        self,
        tmp: Path,
        durability: str,
        env: Any,
        extra: dict[str, Any],
        bundled: bool,
        alpha: dict[str, Any],
    ) -> None:
        ra, alpha_url, self.alpha = await fake_openai.start(api_key=ALPHA_KEY, **alpha)
        rb, beta_url, self.beta = await fake_openai.start(api_key=BETA_KEY)
        self._runners += [ra, rb]
        fast = {
            "timeout_s": 2.0,
            "first_byte_timeout_s": 0.5,
            "idle_timeout_s": 0.5,
            "connect_timeout_s": 0.5,
        }
        cfg: dict[str, Any] = {
            "providers": {
                "alpha": {"kind": "openai", "base_url": alpha_url, "api_key_env": "ALPHA_KEY", **fast},
                "beta": {"kind": "openai", "base_url": beta_url, "api_key_env": "BETA_KEY", **fast},
                "gamma": {"kind": "openai", "base_url": alpha_url, "api_key_env": "GAMMA_KEY"},
            },
            "catalog": {"bundled": bundled, "deployments": DEPLOYMENTS},
            "policies": {
                "eu-quality": {
                    "workload": "support",
                    "rules": [
                        {"id": "quality", "field": "bench_intelligence", "op": ">=", "value": 55},
                        {"id": "eu", "field": "geography", "op": "==", "value": "eu"},
                    ],
                }
            },
            "default_baseline": "beta/top",
            "store": f"sqlite:///{tmp / 'receipts.db'}",
            "durability": durability,
            "call_timeout_s": 5.0,
            "breaker": {"failures": 3, "open_s": 30},
        }
        cfg.update(extra)
        environ = {"ALPHA_KEY": ALPHA_KEY, "BETA_KEY": BETA_KEY} if env is None else env
        settings = parse_settings(cfg)
        self.gateway = build_gateway(settings, env=environ)
        keys = load_keyring(settings.auth, environ)
        runner, self.url = await start_in_process(self.gateway, keys=keys)
        self._runners.insert(0, runner)

    def stop(self) -> None:
        if self.url:  # what /metrics says last must hold no secret either (checked by get)
            self.get("/metrics", {"authorization": f"Bearer {ADMIN_GATEWAY_KEY}"})

        async def _stop() -> None:
            for r in self._runners:
                await r.cleanup()

        self.run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = _no_canary(r.read(), f"GET {path}")
                ctype = r.headers.get("content-type", "")
                return r.status, json.loads(body) if "json" in ctype else body.decode()
        except urllib.error.HTTPError as e:
            raw = _no_canary(e.read(), f"GET {path}")
            return e.code, json.loads(raw) if raw.startswith(b"{") else raw.decode()

    def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method="POST",
            headers={"content-type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = _no_canary(r.read(), f"POST {path}")
                return r.status, dict(r.headers), json.loads(raw) if raw.startswith(b"{") else raw.decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(_no_canary(e.read(), f"POST {path}"))

    def receipt(self, request_id: str) -> dict[str, Any]:
        status, body = self.get(f"/x/receipts/{request_id}")
        assert status == 200, body
        return body


def _no_canary(body: bytes, where: str) -> bytes:
    """A body the gateway sent (an error, a receipt, /metrics) must carry no key: fail the test at once."""
    hits = canary.find(body, f"the body of {where}")
    assert not hits, f"a canary key in what the gateway answered: {hits[0]}"
    return body
