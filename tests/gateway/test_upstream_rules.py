"""How an attempt reaches a deployment (gateway/upstream.py): each attempt's timeouts against what is left
of the call, `rt:no-key` naming why a deployment cannot be called, simulated providers, key redaction,
error streams closed, and warnings kept once each.

Written from the survivors of `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.gateway.scripted import KEYS, Answer, Rig, ScriptedTransport, _Handle, dep, settings
from unhardcoded.errors import ProviderError
from unhardcoded.gateway.credentials import CredentialStore
from unhardcoded.gateway.policies import Policies
from unhardcoded.gateway.service import Gateway
from unhardcoded.gateway.transport import Timeouts
from unhardcoded.gateway.upstream import Upstream, dedupe
from unhardcoded.providers.base import HttpCall
from unhardcoded.providers.registry import load_adapters
from unhardcoded.store import open_store

ONLY_A1 = {"rules": [{"field": "id", "op": "==", "value": "a/one"}]}


def upstream(tmp_path: Path) -> Upstream:
    s = settings(tmp_path)
    transport = ScriptedTransport()
    return Upstream(
        s.providers, load_adapters(), transport, CredentialStore(s.providers, transport, env=KEYS)
    )


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (100.0, (1.5, 3, 2, 7)),  # the provider's own: connect 1.5, first byte 3, idle 2, total 7
        (2.5, (1.5, 2.5, 2, 2.5)),
        (1.0, (1.5, 1.0, 1.0, 1.0)),
        (0.0, (1.5, 0.0, 0.0, 0.001)),
        (-3.0, (1.5, -3.0, -3.0, 0.001)),  # a spent budget still gives the transport a positive total
    ],
)
def test_each_attempts_timeouts_are_the_providers_bounded_by_what_is_left(
    tmp_path: Path, remaining: float, expected: tuple[float, ...]
) -> None:
    t = upstream(tmp_path).timeouts("a", remaining)
    assert (t.connect_s, t.first_byte_s, t.idle_s, t.total_s) == expected


async def test_no_key_names_why_each_deployment_cannot_be_called(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        providers={
            "a": {"kind": "openai", "base_url": "http://a.test/v1", "api_key_env": "A_KEY"},
            "b": {"kind": "anthropic", "base_url": "http://b.test", "api_key_env": "B_KEY"},
            "c": {"kind": "openai", "base_url": "http://c.test/v1", "api_key_env": "NO_SUCH_KEY"},
        },
        catalog={
            "bundled": False,
            "deployments": [dep("a/one"), dep("b/two"), dep("c/three"), dep("z/four")],
        },
        default_baseline="a/one",
    )
    adapters = {k: v for k, v in load_adapters().items() if k != "anthropic"}
    store = open_store(s.store, durability=s.durability)
    gw = Gateway(s, Policies(s), store, ScriptedTransport(), adapters, env=KEYS)
    await gw.open()
    try:
        rules = {r.id: r for r in gw.runtime(time.time()).rules}
    finally:
        await gw.close()
    rule = rules["rt:no-key"]
    assert (rule.field, rule.op, rule.expected) == ("provider", "has_key", "a key for the provider")
    assert dict(rule.excluded) == {
        "b/two": "no adapter for kind 'anthropic'",
        "c/three": "no key in $NO_SUCH_KEY",
        "z/four": "provider 'z' is not configured",
    }


async def test_a_simulated_providers_receipts_say_so(tmp_path: Path) -> None:
    providers = {
        name: {"kind": "openai", "base_url": f"http://{name}.test/v1", "api_key_env": f"{name.upper()}_KEY"}
        | ({"simulated": True} if name == "a" else {})
        for name in "abc"
    }
    async with Rig(tmp_path, providers=providers) as rig:
        _, simulated = await rig.call(ONLY_A1)
        _, real = await rig.call({"rules": [{"field": "id", "op": "==", "value": "b/three"}]})
    assert simulated["simulated"] is True and real["simulated"] is False


async def test_a_key_echoed_by_the_upstream_is_redacted_wherever_the_message_goes(tmp_path: Path) -> None:
    echo = f"invalid key ({KEYS['A_KEY']}) for this org; also saw {KEYS['B_KEY']}"
    async with Rig(tmp_path) as rig:
        rig.transport.push("a", Answer(raises=ProviderError("server_error", echo)))
        code, r = await rig.call(ONLY_A1)
    assert code == 502
    assert r["attempts"][0]["error"] == "invalid key (***) for this org; also saw ***"
    assert KEYS["A_KEY"] not in str(r) and KEYS["B_KEY"] not in str(r)


class ClosingTransport(ScriptedTransport):
    """Counts the stream handles closed, so a test can see an error stream is not left open."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.closed = 0

    async def open_stream(self, call: HttpCall, timeouts: Timeouts) -> _Handle:
        handle = await super().open_stream(call, timeouts)
        self.opened += 1
        close = handle.close

        def counted() -> None:
            self.closed += 1
            close()

        handle.close = counted  # type: ignore[method-assign]
        return handle


async def test_every_stream_handle_is_closed_error_or_not(tmp_path: Path) -> None:
    from tests.gateway.test_call_receipts import DONE, Sink, content, stop, stream_request

    async with Rig(tmp_path) as rig:
        transport = ClosingTransport()
        rig.gw._upstream._transport = transport
        transport.push("a", Answer(status=503, body=b"{}"), Answer(chunks=[content("x"), stop(), DONE]))
        sink = Sink(rig)
        await rig.gw.chat_stream(stream_request(), sink)
    assert (transport.opened, transport.closed) == (2, 2)
    assert b"x" in sink.data


def test_warnings_are_kept_in_first_seen_order_once_each() -> None:
    assert dedupe(("b", "a"), (), ("a", "c", "b")) == ("b", "a", "c")
    assert dedupe() == ()


def test_the_target_carries_the_providers_url_and_the_deployments_model(tmp_path: Path) -> None:
    up = upstream(tmp_path)
    s = settings(tmp_path)
    catalog = Policies(s).catalog
    d = catalog.get("b/three")
    assert d is not None
    t = up.target(d)
    assert (t.deployment_id, t.provider, t.kind, t.upstream_model) == ("b/three", "b", "openai", "three")
    assert t.base_url == "http://b.test/v1"
    assert up.target(d) is t  # built once per deployment
