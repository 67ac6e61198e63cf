"""Signed checkpoints and the `/x/checkpoints` and `/x/verify` verbs (gateway/checkpoints.py), in process: a
gateway over a scripted transport writes real chained receipts into SQLite, and a Checkpointer with a
generated key signs them. Each rule at its boundary: `every` receipts, `every_s` seconds, `force`; what a
client key may read; every refusal in words. Written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.scripted import Rig
from unhardcoded.errors import RequestError
from unhardcoded.gateway.auth import Caller
from unhardcoded.gateway.checkpoints import Checkpointer, checkpoint_dict
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.signing import Signer, checkpoint_message
from unhardcoded.store.chain_read import ChainReader, Checkpoint

SIGNER = Signer.new()
ADMIN = Caller(None, "admin")
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


async def calls(rig: Rig, n: int, tenant: str | None = None) -> None:
    for _ in range(n):
        await rig.gw.chat(ChatRequest.parse(BODY, {}, tenant=tenant))


def cp(rig: Rig, signer: Signer | None = SIGNER, **kw: Any) -> Checkpointer:
    return Checkpointer(rig.gw._store, signer, **kw)


def test_a_checkpoint_as_the_api_shows_it() -> None:
    c = Checkpoint("", 7, "ab" * 32, 1700000000.25, "k1", "sig")
    assert checkpoint_dict(c) == {
        "tenant": None,
        "seq": 7,
        "hash": "ab" * 32,
        "time": 1700000000.25,
        "signed_at": "2023-11-14T22:13:20.250Z",
        "key_id": "k1",
        "signature": "sig",
    }
    assert checkpoint_dict(Checkpoint("acme", 1, "h", 0.0, "k", "s"))["tenant"] == "acme"


def test_the_tick_is_never_longer_than_every_s(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    assert cp(r).tick_s == 1.0 and (cp(r).every, cp(r).every_s) == (1000, 60.0)
    assert cp(r, every_s=0.25).tick_s == 0.25
    assert cp(r, every_s=5, tick_s=2).tick_s == 2


def test_a_store_without_a_sql_read_side_cannot_be_checkpointed() -> None:
    class Plain:
        _fetch = None

    with pytest.raises(TypeError) as e:
        Checkpointer(Plain(), SIGNER)  # type: ignore[arg-type]
    assert str(e.value) == "Plain cannot be checkpointed: it has no SQL read side"


async def test_every_n_receipts_at_the_boundary(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, every=3, every_s=3600)
        await calls(rig, 2)
        assert await c.run_once() == [] and c.signed == 0
        await calls(rig, 1)
        (first,) = await c.run_once()
        assert (first.tenant, first.seq, first.key_id) == ("", 3, SIGNER.public.key_id)
        assert SIGNER.public.verifies(
            checkpoint_message("", 3, first.hash, first.created_at), first.signature
        )
        assert await ChainReader(rig.gw._store).checkpoints() == [first]
        assert c.signed == 1
        await calls(rig, 2)
        assert await c.run_once() == []  # 2 past the last checkpoint
        await calls(rig, 1)
        (second,) = await c.run_once()
        assert second.seq == 6 and c.signed == 2


async def test_every_t_seconds_at_the_boundary(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, every=1000, every_s=60)
        start = c._started
        await calls(rig, 1)
        assert await c.run_once(now=start + 59.5) == []
        (first,) = await c.run_once(now=start + 60)
        assert (first.seq, first.created_at) == (1, start + 60)
        await calls(rig, 1)
        assert await c.run_once(now=first.created_at + 59.5) == []
        (second,) = await c.run_once(now=first.created_at + 60)
        assert second.seq == 2
        assert await c.run_once(now=first.created_at + 600) == []  # nothing new since


async def test_force_signs_every_chain_that_grew_once(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig)
        assert await c.run_once(force=True) == []  # no receipts: nothing to vouch for
        await calls(rig, 2, tenant="beta")
        await calls(rig, 1, tenant="acme")
        await calls(rig, 1)
        made = await c.run_once(force=True)
        assert [(m.tenant, m.seq) for m in made] == [("", 1), ("acme", 1), ("beta", 2)]  # by chain key
        assert c.signed == 3
        assert await c.run_once(force=True) == []
        assert c.signed == 3


async def test_without_a_key_nothing_is_signed_and_there_is_no_public_key(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, None)
        await calls(rig, 2)
        c.start()
        assert c._task is None
        assert await c.run_once(force=True) == [] and c.public_key() is None
        await c.close()
        assert await ChainReader(rig.gw._store).checkpoints() == []


async def test_the_task_signs_on_its_tick_and_close_signs_the_rest(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, every=1, every_s=3600, tick_s=0.01)
        c.start()
        await calls(rig, 1)
        deadline = time.monotonic() + 20
        while not await ChainReader(rig.gw._store).checkpoints():
            assert time.monotonic() < deadline, "the checkpoint task never signed"
            await asyncio.sleep(0.01)
        await c.close()
        assert c._task is None
        late = cp(rig, every=1000, every_s=3600, tick_s=3600)
        late.start()
        await calls(rig, 1)
        await late.close()  # not due, but close vouches for everything new
        seqs = [x.seq for x in await ChainReader(rig.gw._store).checkpoints()]
        assert seqs[-1] == 2 and late.signed == 1
        await late.close()  # twice is harmless
        assert late.signed == 1


async def test_a_closing_checkpoint_the_store_refuses_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, every=1000, every_s=3600, tick_s=3600)
        c.start()
        await calls(rig, 1)

        async def down(**kw: Any) -> list[Checkpoint]:
            raise RuntimeError("store down")

        c.run_once = down  # type: ignore[method-assign]
        await c.close()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "unhardcoded.checkpoints"]
    assert said == [("WARNING", "the closing checkpoint was not written: store down")]


async def test_the_loop_logs_a_failure_and_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, every=1, tick_s=0.01)
        failures = []

        async def flaky(**kw: Any) -> list[Checkpoint]:
            failures.append(1)
            if len(failures) == 1:
                from unhardcoded.store.base import StoreError

                raise StoreError("locked")
            if len(failures) == 2:
                raise ValueError("boom")
            return []

        c.run_once = flaky  # type: ignore[method-assign]
        c._task = asyncio.create_task(c._run())
        deadline = time.monotonic() + 20
        while len(failures) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        c._task.cancel()
        await asyncio.gather(c._task, return_exceptions=True)
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "unhardcoded.checkpoints"]
    assert said[:2] == [
        ("WARNING", "checkpointing failed, will retry in 0.01s: locked"),
        ("ERROR", "checkpointing failed, will retry in 0.01s"),
    ]
    assert "boom" in caplog.text  # the traceback


def test_for_settings_reads_the_key_and_the_rules(tmp_path: Path) -> None:
    pem = SIGNER.private_pem().decode()
    import base64

    from cryptography.hazmat.primitives import serialization

    raw = SIGNER._key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_text(pem)
    r = Rig(tmp_path, checkpoints={"every": 5, "every_s": 7, "signing_key_file": str(tmp_path / "k.pem")})
    c = r.gw.checkpoints
    assert c.signer is not None and c.signer.public.key_id == SIGNER.public.key_id
    assert (c.every, c.every_s, c.tick_s) == (5, 7, 1.0)
    env = {"MY_SIGNING": base64.b64encode(raw).decode()}
    s = Rig(tmp_path, checkpoints={"signing_key_env": "MY_SIGNING"}).gw._settings
    by_env = Checkpointer.for_settings(r.gw._store, s, env)
    assert by_env.signer is not None and by_env.signer.public.key_id == SIGNER.public.key_id


async def test_the_public_key(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        assert cp(rig).public_key() == {
            "key_id": SIGNER.public.key_id,
            "algorithm": "Ed25519",
            "public_key_pem": SIGNER.public.pem(),
        }


async def signed(rig: Rig) -> Checkpointer:
    """Checkpoints for '' (seq 1, 2), 'acme' (1, 2, 3) and 'beta' (1)."""
    c = cp(rig, every=1)
    for tenant, n in ((None, 2), ("acme", 3), ("beta", 1)):
        for _ in range(n):
            await calls(rig, 1, tenant)
            await c.run_once()
    return c


async def test_list_pages_through_the_checkpoints(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = await signed(rig)
        page = await c.list({}, ADMIN)
        assert page["public_key"] == c.public_key() and page["next_cursor"] is None
        got = [(x["tenant"], x["seq"]) for x in page["checkpoints"]]
        assert got == [(None, 1), (None, 2), ("acme", 1), ("acme", 2), ("acme", 3), ("beta", 1)]
        first = await c.list({"limit": "2"}, ADMIN)
        assert [(x["tenant"], x["seq"]) for x in first["checkpoints"]] == [(None, 1), (None, 2)]
        assert first["next_cursor"] == "~2"
        second = await c.list({"limit": "2", "cursor": first["next_cursor"]}, ADMIN)
        assert [(x["tenant"], x["seq"]) for x in second["checkpoints"]] == [("acme", 1), ("acme", 2)]
        assert second["next_cursor"] == "acme~2"
        third = await c.list({"limit": "3", "cursor": "acme~2"}, ADMIN)
        assert [(x["tenant"], x["seq"]) for x in third["checkpoints"]] == [("acme", 3), ("beta", 1)]
        assert third["next_cursor"] is None
        acme = await c.list({"tenant": "acme"}, ADMIN)
        assert [x["seq"] for x in acme["checkpoints"]] == [1, 2, 3]
        assert all(x["tenant"] == "acme" for x in acme["checkpoints"])
        one = await c.list({"limit": "0"}, ADMIN)  # at least one
        assert len(one["checkpoints"]) == 1 and one["next_cursor"] == "~1"
        assert len((await c.list({"limit": "-5"}, ADMIN))["checkpoints"]) == 1
        assert len((await c.list({"limit": "1"}, ADMIN))["checkpoints"]) == 1


async def test_list_reads_at_most_1000_and_100_by_default(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig)
        store = rig.gw._store
        reader = ChainReader(store)
        for seq in range(1, 1003):
            await reader.put_checkpoint(Checkpoint("", seq, "00" * 32, float(seq), "k", "s"))
        assert len((await c.list({}, ADMIN))["checkpoints"]) == 100
        big = await c.list({"limit": "5000"}, ADMIN)
        assert len(big["checkpoints"]) == 1000 and big["next_cursor"] == "~1000"
        exact = await c.list({"limit": "1000"}, ADMIN)
        assert len(exact["checkpoints"]) == 1000
        near = await c.list({"limit": "999"}, ADMIN)
        assert len(near["checkpoints"]) == 999


async def test_a_client_key_reads_its_own_tenants_checkpoints_only(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = await signed(rig)
        acme = Caller("acme", "client")
        mine = await c.list({}, acme)
        assert [(x["tenant"], x["seq"]) for x in mine["checkpoints"]] == [
            ("acme", 1),
            ("acme", 2),
            ("acme", 3),
        ]
        assert (await c.list({"tenant": "acme"}, acme))["checkpoints"] == mine["checkpoints"]
        with pytest.raises(RequestError) as e:
            await c.list({"tenant": "beta"}, acme)
        assert e.value.message == "tenant: a client key reads its own tenant's checkpoints only"
        assert e.value.path == "tenant"
        default = await c.list({}, Caller(None, "client"))  # the default tenant's chain
        assert [(x["tenant"], x["seq"]) for x in default["checkpoints"]] == [(None, 1), (None, 2)]


@pytest.mark.parametrize(
    "query, message, path, choices",
    [
        (
            {"tenant": "acme", "page": "2"},
            "page: not a checkpoints parameter",
            "page",
            ["cursor", "limit", "tenant"],
        ),
        ({"b": "1", "a": "1"}, "a: not a checkpoints parameter", "a", ["cursor", "limit", "tenant"]),
        ({"tenant": ""}, "tenant: expected a tenant name", "tenant", None),
        ({"limit": "ten"}, "limit: expected an integer", "limit", None),
        ({"cursor": "acme~x"}, "cursor: not a next_cursor this endpoint gave", "cursor", None),
        ({"cursor": "acme"}, "cursor: not a next_cursor this endpoint gave", "cursor", None),
    ],
)
async def test_list_refuses_what_it_does_not_know(
    tmp_path: Path, query: dict[str, str], message: str, path: str, choices: list[str] | None
) -> None:
    async with Rig(tmp_path) as rig:
        with pytest.raises(RequestError) as e:
            await cp(rig).list(query, ADMIN)
    assert (e.value.message, e.value.path) == (message, path)
    if choices is not None:
        assert e.value.choices == choices


async def test_a_cursor_tenant_may_hold_a_tilde(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = await signed(rig)
        page = await c.list({"cursor": "acme~x~1"}, ADMIN)  # split at the last '~'
        assert [(x["tenant"], x["seq"]) for x in page["checkpoints"]][0] == ("beta", 1)


async def test_verify_reports_an_intact_chain_and_checks_client_receipts(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = await signed(rig)
        report = await c.verify({}, ADMIN)
        assert report["ok"] is True and report["verdict"] == "intact" and report["entries"] == 6
        assert {ch["tenant"]: ch["checkpoints"] for ch in report["chains"]} == {None: 2, "acme": 3, "beta": 1}
        (head,) = [x for x in (await c.list({"tenant": "acme"}, ADMIN))["checkpoints"] if x["seq"] == 3]
        good = await c.verify({"tenant": "acme", "receipts": [f"3:{head['hash']}"]}, ADMIN)
        assert good["ok"] is True and [ch["tenant"] for ch in good["chains"]] == ["acme"]
        bad = await c.verify({"tenant": "acme", "receipts": [f"3:{'0' * 64}"]}, ADMIN)
        assert bad["ok"] is False and bad["verdict"] == "tampered"
        unsigned = await cp(rig, None).verify({"tenant": "acme", "receipts": None}, ADMIN)
        assert unsigned["verdict"] == "cannot verify"  # checkpoints exist but no key to check them


@pytest.mark.parametrize(
    "doc, message, path",
    [
        ([], 'body: expected {"tenant"?: "...", "receipts"?: ["SEQ:HASH"]}', None),
        ({"tenant": "a", "extra": 1}, 'body: expected {"tenant"?: "...", "receipts"?: ["SEQ:HASH"]}', None),
        ({"tenant": 3}, "tenant: expected a tenant name", "tenant"),
        ({"receipts": "1:ab"}, 'receipts: expected a list of "SEQ:HASH" strings', "receipts"),
        ({"receipts": ["1:ab", 2]}, 'receipts: expected a list of "SEQ:HASH" strings', "receipts"),
    ],
)
async def test_verify_refuses_a_body_it_does_not_know(
    tmp_path: Path, doc: Any, message: str, path: str | None
) -> None:
    async with Rig(tmp_path) as rig:
        with pytest.raises(RequestError) as e:
            await cp(rig).verify(doc, ADMIN)
    assert (e.value.message, e.value.path) == (message, path)
    if path is None:
        assert e.value.choices == ["tenant", "receipts"]


async def test_the_every_s_clock_starts_when_the_task_starts(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        c = cp(rig, every=1000, every_s=60, tick_s=3600)
        c._started = 0.0  # built long before it was started
        c.start()
        assert c._started > 0.0
        assert c._task is not None and c._task.get_name() == "chain-checkpoints"
        await calls(rig, 1)
        assert await c.run_once(now=c._started + 30) == []  # a new chain: due 60 s after the start
        (made,) = await c.run_once(now=c._started + 60)
        assert made.seq == 1
        await c.close()
