"""The e2e harness with alpha behind a fault relay (or at a dead address): alpha/mid, then beta/mid2.

`FaultHarness.start(tmp_path, alpha_url=...)` puts whatever base URL a test wants in front of alpha
(the relay's, a refused port, a port that never completes a handshake); beta stays a healthy fake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import ALPHA_KEY, BETA_KEY, DEPLOYMENTS, Harness
from unhardcoded.config import parse_settings
from unhardcoded.http.server import build_gateway, start_in_process
from unhardcoded.testing import fake_openai
from unhardcoded.testing.relay import Relay

# Every attempt's own limits; the call's budget (call_timeout_s) spans the fallbacks.
TIMEOUTS = {"timeout_s": 2.0, "first_byte_timeout_s": 0.5, "idle_timeout_s": 0.5, "connect_timeout_s": 0.5}
# The plan for this policy: alpha/mid (cheapest that passes), then beta/mid2.
Q60 = {"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 60}]}
ALPHA_ONLY = {"rules": [{"id": "only", "field": "id", "op": "==", "value": "alpha/mid"}]}


class FaultHarness(Harness):
    relay: Relay | None = None
    client: Any = None  # the SDK client tests/faults/conftest.sdk made for this harness

    @classmethod
    def start_faulty(
        cls,
        tmp_path: Path,
        *,
        alpha_url: str | None = None,
        relay: bool = True,
        timeouts: dict[str, float] | None = None,
        config: dict[str, Any] | None = None,
        durability: str = "strict",
        alpha_options: dict[str, Any] | None = None,
    ) -> FaultHarness:
        h = cls()
        h.run(h._start_faulty(tmp_path, alpha_url, relay, timeouts or {}, config or {}, durability,
                              alpha_options or {}))  # fmt: skip
        return h

    async def _start_faulty(
        self,
        tmp: Path,
        alpha_url: str | None,
        relay: bool,
        timeouts: dict[str, float],
        extra: dict[str, Any],
        durability: str,
        alpha_options: dict[str, Any],
    ) -> None:
        ra, real_alpha, self.alpha = await fake_openai.start(api_key=ALPHA_KEY, **alpha_options)
        rb, beta_url, self.beta = await fake_openai.start(api_key=BETA_KEY)
        self._runners += [ra, rb]
        if alpha_url is None and relay:
            port = int(real_alpha.rsplit(":", 1)[1].split("/")[0])
            self.relay = Relay(port).start()
            alpha_url = self.relay.url
        t = {**TIMEOUTS, **timeouts}
        alpha_base = alpha_url or real_alpha
        cfg: dict[str, Any] = {
            "providers": {
                "alpha": {"kind": "openai", "base_url": alpha_base, "api_key_env": "ALPHA_KEY", **t},
                "beta": {"kind": "openai", "base_url": beta_url, "api_key_env": "BETA_KEY", **t},
            },
            "catalog": {"bundled": False, "deployments": DEPLOYMENTS},
            "default_baseline": "beta/top",
            "store": f"sqlite:///{tmp / 'receipts.db'}",
            "durability": durability,
            "call_timeout_s": 5.0,
            "breaker": {"failures": 3, "open_s": 30},
        }
        cfg.update(extra)
        env = {"ALPHA_KEY": ALPHA_KEY, "BETA_KEY": BETA_KEY}
        self.gateway = build_gateway(parse_settings(cfg), env=env)
        runner, self.url = await start_in_process(self.gateway)
        self._runners.insert(0, runner)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        super().stop()
        if self.relay is not None:
            self.relay.stop()
