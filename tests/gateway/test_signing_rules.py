"""The checkpoint signing key (gateway/signing.py): what a checkpoint's signature covers, which key texts are
accepted (PKCS#8 PEM or the base64 of the 32-byte seed; a public key as PEM or base64 of 32 raw bytes),
what each refusal says (where the key was looked for, never its bytes), and the key id.

In process, keys generated per test; written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from unhardcoded.errors import ConfigError
from unhardcoded.gateway.signing import (
    KIND,
    PublicKey,
    Signer,
    by_id,
    checkpoint_message,
    load_public_key,
    load_signer,
)


def seed_b64(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_the_message_is_the_rfc8785_object_of_the_five_fields() -> None:
    msg = checkpoint_message("acme", 7, "ab" * 32, 1700000000.5)
    assert KIND == "unhardcoded-checkpoint/v1"
    assert msg == (
        b'{"hash":"' + b"ab" * 32 + b'","kind":"unhardcoded-checkpoint/v1","seq":7,"tenant":"acme",'
        b'"time":1700000000.5}'
    )
    assert orjson.loads(msg) == {
        "hash": "ab" * 32,
        "kind": KIND,
        "seq": 7,
        "tenant": "acme",
        "time": 1700000000.5,
    }


def test_a_signature_verifies_with_the_public_key_and_nothing_else() -> None:
    signer = Signer.new()
    msg = checkpoint_message("t", 1, "00" * 32, 1.0)
    sig = signer.sign(msg)
    assert len(sig) == 128 and bytes.fromhex(sig)  # 64 bytes, hex
    assert signer.public.verifies(msg, sig)
    assert not signer.public.verifies(checkpoint_message("t", 2, "00" * 32, 1.0), sig)
    assert not Signer.new().public.verifies(msg, sig)
    assert not signer.public.verifies(msg, "zz")  # not hex: refused, not raised
    assert not signer.public.verifies(msg, sig[:-2])


def test_the_key_id_is_the_first_16_hex_digits_of_the_sha256_of_the_raw_public_key() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key)
    expected = hashlib.sha256(raw_public(key)).hexdigest()[:16]
    assert signer.public.key_id == expected
    assert repr(signer) == f"Signer(key_id={expected})"
    assert seed_b64(key) not in repr(signer)
    assert by_id([signer.public]) == {expected: signer.public}
    other = Signer.new()
    assert set(by_id([signer.public, other.public])) == {expected, other.public.key_id}


def test_keys_round_trip_through_their_pem() -> None:
    signer = Signer.new()
    pem = signer.private_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = Signer(serialization.load_pem_private_key(pem, password=None))  # type: ignore[arg-type]
    assert again.public.key_id == signer.public.key_id
    pub = signer.public.pem()
    assert pub.startswith("-----BEGIN PUBLIC KEY-----")
    assert load_public_key(pub, "x").key_id == signer.public.key_id


def test_a_signer_from_a_key_file_in_pem(tmp_path: Path) -> None:
    signer = Signer.new()
    f = tmp_path / "k.pem"
    f.write_bytes(b"\n  " + signer.private_pem() + b"\n\n")  # surrounding whitespace is fine
    got = load_signer(str(f), "UNUSED", {"UNUSED": seed_b64(Ed25519PrivateKey.generate())})
    assert got is not None and got.public.key_id == signer.public.key_id  # the file wins over the variable


def test_a_key_file_path_may_start_with_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    signer = Signer.new()
    (tmp_path / "k.pem").write_bytes(signer.private_pem())
    got = load_signer("~/k.pem", None, {})
    assert got is not None and got.public.key_id == signer.public.key_id


def test_a_signer_from_a_variable_holding_the_seed_or_the_pem() -> None:
    key = Ed25519PrivateKey.generate()
    want = Signer(key).public.key_id
    got = load_signer(None, "SIGNING_KEY", {"SIGNING_KEY": " " + seed_b64(key) + "\n"})
    assert got is not None and got.public.key_id == want
    pem = Signer(key).private_pem().decode()
    got = load_signer("", "SIGNING_KEY", {"SIGNING_KEY": pem})
    assert got is not None and got.public.key_id == want


def test_no_key_configured_or_an_empty_variable_means_no_signer() -> None:
    assert load_signer(None, None, {"SIGNING_KEY": "x"}) is None
    assert load_signer(None, "SIGNING_KEY", {}) is None
    assert load_signer(None, "SIGNING_KEY", {"SIGNING_KEY": ""}) is None
    assert load_signer("", "", {"": "x"}) is None


def test_a_missing_key_file_names_the_path_and_why(tmp_path: Path) -> None:
    path = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as e:
        load_signer(str(path), None, {})
    assert e.value.message == f"checkpoints.signing_key_file: cannot read {path}: No such file or directory"
    assert e.value.path == "checkpoints.signing_key_file"


def test_a_key_file_that_is_not_a_key_says_where_and_never_shows_the_text(tmp_path: Path) -> None:
    f = tmp_path / "k.pem"
    f.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW5vdC1hLWtleQ==\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as e:
        load_signer(str(f), None, {})
    assert e.value.message == (
        f"checkpoints.signing_key_file {f}: not an Ed25519 private key (a PKCS#8 PEM, or the base64 of its"
        " 32-byte seed)"
    )
    assert e.value.path == "checkpoints.signing_key_file"
    assert "c2VjcmV0" not in str(e.value)


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!",
        base64.b64encode(b"short").decode(),  # base64, but not 32 bytes
        "c2VlZA==\n!!",  # base64 with junk: validate=True refuses it
    ],
)
def test_a_variable_that_is_not_a_seed_names_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_signer(None, "SIGNING_KEY", {"SIGNING_KEY": text})
    assert e.value.message == (
        "$SIGNING_KEY: not an Ed25519 private key (a PKCS#8 PEM, or the base64 of its 32-byte seed)"
    )
    assert e.value.path == "checkpoints.signing_key_file"


def test_a_private_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    ec = generate_private_key(SECP256R1())
    pem = ec.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ConfigError) as e:
        load_signer(None, "K", {"K": pem})
    assert e.value.message == "$K: the key is not an Ed25519 key"
    assert e.value.path == "checkpoints.signing_key_file"


def test_a_public_key_as_pem_or_as_base64_of_its_raw_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    want = Signer(key).public.key_id
    b64 = base64.b64encode(raw_public(key)).decode()
    assert load_public_key("\n" + b64 + " ", "pubkey").key_id == want
    assert load_public_key(Signer(key).public.pem() + "\n", "pubkey").key_id == want
    assert isinstance(load_public_key(b64, "x"), PublicKey)


@pytest.mark.parametrize(
    "text", ["not a key", base64.b64encode(b"x" * 31).decode(), "-----BEGIN PUBLIC KEY-----\nxx\n"]
)
def test_a_public_key_that_is_not_one_names_where_it_came_from(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_public_key(text, "--pubkey k.pub")
    assert e.value.message == "--pubkey k.pub: not an Ed25519 public key (PEM or base64)"
    assert e.value.path == "pubkey"


def test_a_public_key_of_another_kind_is_refused() -> None:
    ec = generate_private_key(SECP256R1()).public_key()
    pem = ec.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ConfigError) as e:
        load_public_key(pem, "k.pub")
    assert e.value.message == "k.pub: the key is not an Ed25519 key"
    assert e.value.path == "pubkey"


def test_base64_with_characters_outside_the_alphabet_is_refused_not_skipped() -> None:
    key = Ed25519PrivateKey.generate()
    seed = seed_b64(key)
    with pytest.raises(ConfigError):  # a decoder skipping the "!" would read the right 32 bytes
        load_signer(None, "K", {"K": seed[:20] + "!" + seed[20:]})
    pub = base64.b64encode(raw_public(key)).decode()
    with pytest.raises(ConfigError):
        load_public_key(pub[:20] + "\n" + pub[20:], "k.pub")
    assert load_public_key(pub, "k.pub").key_id == Signer(key).public.key_id
