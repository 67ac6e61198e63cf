"""What the gateway builds from its settings and what it decides before a call's first attempt
(gateway/service.py, `Gateway.__init__` and `_runner`): spend caps through a real call (`reject` drops
even what would fit, `downgrade` keeps what fits, each tenant's cap its own decision, a call no policy can
route is no route whatever the caps), how long a circuit stays open (`breaker.open_s`), the sweeper that
finishes lost calls and counts them on /metrics, and the checkpoint signing key read from the environment
the gateway was given.

In process: a gateway over a scripted transport and a real SQLite file (tests/gateway/scripted.py). Written
from the `service.py` survivors of `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import pytest

import unhardcoded.gateway.service as service
from tests.gateway.scripted import KEYS, Answer, Rig, ScriptedTransport, settings
from unhardcoded.errors import CallFailed
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.signing import Signer
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}]}
DEAR = {"rank": [{"by": "est_cost_usd", "order": "desc"}]}
# Each deployment's estimate for BODY (5 input, 512 output tokens): a/one 0.0001029, a/two 0.0002058,
# b/three 0.0003087, c/four 0.0004116 USD.


async def answered_by(rig: Rig, policy: Any, tenant: str | None = None) -> tuple[str, dict[str, Any]]:
    """(the deployment that answered, or the error class; the receipt)"""
    req = ChatRequest.parse({**BODY, "policy": policy}, {}, tenant=tenant)
    try:
        reply = await rig.gw.chat(req)
    except CallFailed as e:
        rid = e.request_id
    else:
        rid = str(reply.headers["x-unhardcoded-request-id"])
    r = await rig.gw.receipt(rid)
    assert r is not None
    out = r["outcome"]
    return (out["deployment"] or out["error"]["error_class"]), r


# -- spend caps ----------------------------------------------------------------------------------------


async def test_reject_drops_every_deployment_and_downgrade_keeps_what_fits(tmp_path: Path) -> None:
    caps = [{"id": "small", "usd": 0.00025}]  # the pricier two do not fit, a/one and a/two do
    async with Rig(tmp_path, budgets=caps) as rig:
        who, r = await answered_by(rig, DEAR)  # on_budget: reject (the default)
        assert who == "budget_exceeded" and r["status"] == "no_route"
        assert (r["budget"]["id"], r["budget"]["left_usd"]) == ("small", 0.00025)
        assert r["outcome"]["error"]["message"].startswith("spend cap 'small' reached: ")
        who, r = await answered_by(rig, {**DEAR, "on_budget": "downgrade"})
        assert who == "a/two" and r["status"] == "ok"  # the dearest that fits what is left
        (rule,) = [x for x in r["rules"] if x["id"] == "rt:budget"]
        assert (rule["op"], rule["rejected"]) == ("fits_budget", 2)


async def test_each_tenants_cap_makes_its_own_decision(tmp_path: Path) -> None:
    caps = [
        {"id": "acme", "usd": 0.00035, "tenant": "acme"},  # only c/four does not fit
        {"id": "beta", "usd": 0.00025, "tenant": "beta"},  # neither c/four nor b/three fits
    ]
    down = {**DEAR, "on_budget": "downgrade"}
    async with Rig(tmp_path, budgets=caps) as rig:
        assert (await answered_by(rig, down, "acme"))[0] == "b/three"
        assert (await answered_by(rig, down, "beta"))[0] == "a/two"
        assert (await answered_by(rig, down, "acme"))[0] == "b/three"
        assert (await answered_by(rig, down))[0] == "c/four"  # no cap for the default tenant


async def test_a_call_no_policy_can_route_is_no_route_whatever_the_caps(tmp_path: Path) -> None:
    nobody = {"rules": [{"field": "id", "op": "==", "value": "nobody"}]}
    async with Rig(tmp_path, budgets=[{"id": "all", "usd": 1.0}]) as rig:
        who, r = await answered_by(rig, nobody)
    assert (r["status"], who) == ("no_route", "no_route") and "budget" not in r


# -- circuit breakers ----------------------------------------------------------------------------------


class WallClock:
    """`service.time` with the wall clock moved on by `ahead` seconds (what the runtime rules see)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def time(self) -> float:
        return time.time() + self.ahead

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def perf_counter() -> float:
        return time.perf_counter()


async def test_a_circuit_stays_open_for_the_configured_open_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock()
    monkeypatch.setattr(service, "time", clock)
    async with Rig(tmp_path) as rig:  # breaker: 2 failures, open_s 60
        for _ in range(2):
            rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
            await rig.call(CHEAP)
        clock.ahead = 45.0  # past the default of 30 s, within the configured 60 s
        assert rig.gw.dry_run({"policy": CHEAP})["plan"][0] == "b/three"
        clock.ahead = 61.0
        assert rig.gw.dry_run({"policy": CHEAP})["plan"][0] == "a/one"  # half-open: one probe allowed


# -- the sweeper and the checkpoints the gateway starts ------------------------------------------------


async def test_the_gateways_sweeper_finishes_a_lost_call_and_counts_it(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:  # call_timeout_s 10 + sweep_grace_s 60: lost after 70 s
        rig.transport.push("a", Answer(delay_s=60))
        task = asyncio.create_task(rig.gw.chat(ChatRequest.parse(BODY, {}, tenant="acme")))
        while not rig.transport.seen:  # the started record is committed before the provider call
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        (row,) = await rig.gw.search(status="started")
        sweeper = rig.gw._sweeper
        assert await sweeper.sweep(now=row["created_at"] + 69) == 0
        assert await sweeper.sweep(now=row["created_at"] + 71) == 1
        r = await rig.gw.receipt(row["request_id"])
        assert r is not None and r["status"] == "incomplete"
        text = rig.gw.metrics_text()
    assert 'unhardcoded_calls_total{status="incomplete",workload="default"} 1' in text.splitlines()


def checkpoint_key(tmp_path: Path, env: dict[str, str] | None) -> dict[str, Any] | None:
    s = settings(tmp_path, checkpoints={"signing_key_env": "UNHARDCODED_TEST_CHECKPOINT_KEY"})
    store = open_store(s.store, durability=s.durability)
    gw = Gateway(s, Policies(s), store, ScriptedTransport(), load_adapters(), env=env)
    return gw.checkpoints.public_key()


def test_the_checkpoint_key_is_read_from_the_environment_the_gateway_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = Signer.new(), Signer.new()
    monkeypatch.setenv("UNHARDCODED_TEST_CHECKPOINT_KEY", raw_key(other))
    given = checkpoint_key(tmp_path, {**KEYS, "UNHARDCODED_TEST_CHECKPOINT_KEY": raw_key(mine)})
    assert given is not None and given["key_id"] == mine.public.key_id  # the mapping, not os.environ
    assert (
        checkpoint_key(tmp_path, dict(KEYS)) is None
    )  # not in the mapping: no key, even if os.environ has one
    from_os = checkpoint_key(tmp_path, None)  # no mapping given: the process environment
    assert from_os is not None and from_os["key_id"] == other.public.key_id


def raw_key(signer: Signer) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = signer._key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()
