"""Signed checkpoints (gateway/checkpoints.py): one every N receipts or T seconds per tenant, none twice for
one (tenant, seq), a last one at close; the signing key from a file or the environment, never shown."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.store.test_store import record
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.checkpoints import Checkpointer
from unhardcoded.gateway.signing import Signer, checkpoint_message, load_public_key, load_signer
from unhardcoded.store.chain_read import ChainReader

if TYPE_CHECKING:
    from tests.store.conftest import Backend

SIGNER = Signer.new()


async def test_every_n_receipts_per_tenant(backend: Backend) -> None:
    async with backend.make() as store:
        cps = Checkpointer(store, SIGNER, every=3, every_s=3600)
        for i in range(2):
            await store.write(record(i))
        assert await cps.run_once() == []
        link = await store.write(record(2))
        await store.write(record(50, tenant="beta"))
        [cp] = await cps.run_once()
        assert link is not None and (cp.tenant, cp.seq, cp.hash) == ("acme", 3, link.hash)
        assert await cps.run_once() == []  # nothing new: nothing signed
        stored = await ChainReader(store).checkpoints()
        assert stored == [cp]
        assert SIGNER.public.verifies(checkpoint_message("acme", 3, link.hash, cp.created_at), cp.signature)


async def test_every_t_seconds_once_a_chain_grew(backend: Backend) -> None:
    async with backend.make() as store:
        cps = Checkpointer(store, SIGNER, every=1000, every_s=60)
        start = cps._started
        await store.write(record(1))
        assert await cps.run_once(now=start + 10) == []
        [first] = await cps.run_once(now=start + 61)
        assert first.seq == 1
        assert await cps.run_once(now=start + 200) == []  # no new receipt since: nothing to vouch for
        await store.write(record(2))
        assert await cps.run_once(now=first.created_at + 30) == []
        [second] = await cps.run_once(now=first.created_at + 61)
        assert second.seq == 2


async def test_two_workers_signing_one_head_store_it_once(backend: Backend) -> None:
    async with backend.make() as store:
        link = await store.write(record(1))
        assert link is not None
        reader = ChainReader(store)
        a, b = Checkpointer(store, SIGNER), Checkpointer(store, Signer.new())
        first = a.sign("acme", 1, link.hash, 1000.0)
        await reader.put_checkpoint(first)
        await reader.put_checkpoint(b.sign("acme", 1, link.hash, 1001.0))  # a sibling worker, same head
        assert await reader.checkpoints("acme") == [first]
        assert await b.run_once(force=True) == []  # it reads the latest first: nothing left to sign


async def test_close_checkpoints_what_is_new_and_no_key_signs_nothing(backend: Backend) -> None:
    async with backend.make() as store:
        cps = Checkpointer(store, SIGNER, every=1000, every_s=3600)
        cps.start()
        link = await store.write(record(1))
        await cps.close()
        [cp] = await ChainReader(store).checkpoints("acme")
        assert link is not None and (cp.seq, cp.hash) == (1, link.hash)
        idle = Checkpointer(store, None)
        idle.start()
        await store.write(record(2))
        assert await idle.run_once(force=True) == [] and idle.public_key() is None
        await idle.close()
        assert len(await ChainReader(store).checkpoints("acme")) == 1


def test_the_signing_key_from_a_file_or_the_environment(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_bytes(pem)
    from_file = load_signer(str(tmp_path / "k.pem"), "SIGNING", {})
    from_pem = load_signer(None, "SIGNING", {"SIGNING": pem.decode()})
    from_seed = load_signer(None, "SIGNING", {"SIGNING": base64.b64encode(seed).decode()})
    assert from_file and from_pem and from_seed
    assert from_file.public.key_id == from_pem.public.key_id == from_seed.public.key_id
    assert load_signer(None, "SIGNING", {}) is None  # no key: no checkpoints
    assert load_public_key(from_file.public.pem(), "pem").key_id == from_file.public.key_id
    assert base64.b64encode(seed).decode() not in repr(from_seed)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SIGNING": "not a key"}, "$SIGNING: not an Ed25519 private key"),
        ({"SIGNING": base64.b64encode(b"short").decode()}, "$SIGNING: not an Ed25519 private key"),
    ],
)
def test_a_bad_signing_key_names_where_it_was_never_what(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_signer(None, "SIGNING", env)
    assert message in e.value.message and env["SIGNING"] not in e.value.message


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_signer(str(tmp_path / "nope.pem"), None, {})
    assert e.value.path == "checkpoints.signing_key_file" and "nope.pem" in e.value.message
