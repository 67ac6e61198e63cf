"""The checkpoint signing key (Ed25519) and what a checkpoint's signature covers.

A checkpoint says "the chain of tenant T reached entry SEQ with hash HASH at TIME"; its signature is over
the RFC 8785 bytes of {"hash", "kind", "seq", "tenant", "time"} (store/chain.py `canonical`), so anyone with
the public key can check it without this code. `key_id` is the first 16 hex digits of the SHA-256 of the
raw public key: it says which key signed, it proves nothing by itself.

The private key is a PKCS#8 PEM file (`unhardcoded keys signing --new` writes one, mode 0600), or the same
PEM or the base64 of the 32-byte seed in an environment variable. It never goes into a receipt, a log, an
error message or a metric: errors name where the key was looked for, never its bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unhardcoded.errors import ConfigError
from unhardcoded.store.chain import canonical

# `cryptography` is imported where a key is used, not at import: it adds ~10 MB to every gateway
# process, and most run without a signing key.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["KIND", "PublicKey", "Signer", "checkpoint_message", "load_public_key", "load_signer"]

KIND = "unhardcoded-checkpoint/v1"


def checkpoint_message(tenant: str, seq: int, hash_: str, time: float) -> bytes:
    return canonical({"hash": hash_, "kind": KIND, "seq": seq, "tenant": tenant, "time": time})


def _raw(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return hashlib.sha256(_raw(self.key)).hexdigest()[:16]

    def pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verifies(self, message: bytes, signature_hex: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self.key.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """Holds the private key; `sign` answers (key_id, signature hex). No repr of the key."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    def __repr__(self) -> str:
        return f"Signer(key_id={self.public.key_id})"

    @classmethod
    def new(cls) -> Signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def private_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _private_from(text: str, where: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise ConfigError(
            f"{where}: not an Ed25519 private key (a PKCS#8 PEM, or the base64 of its 32-byte seed)",
            path="checkpoints.signing_key_file",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: the key is not an Ed25519 key", path="checkpoints.signing_key_file")
    return key


def load_signer(key_file: str | None, key_env: str | None, env: Mapping[str, str]) -> Signer | None:
    """The signing key of the config: `key_file` if set (it must exist), else the variable `key_env` if
    set in `env`, else None (no checkpoints are signed)."""
    if key_file:
        path = Path(key_file).expanduser()
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(
                f"checkpoints.signing_key_file: cannot read {path}: {e.strerror}",
                path="checkpoints.signing_key_file",
            ) from None
        return Signer(_private_from(text, f"checkpoints.signing_key_file {path}"))
    if key_env and env.get(key_env):
        return Signer(_private_from(env[key_env], f"${key_env}"))
    return None


def load_public_key(text: str, where: str) -> PublicKey:
    """A public key: SubjectPublicKeyInfo PEM, or the base64 of its 32 raw bytes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise ConfigError(f"{where}: not an Ed25519 public key (PEM or base64)", path="pubkey") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: the key is not an Ed25519 key", path="pubkey")
    return PublicKey(key)


def by_id(keys: Iterable[PublicKey]) -> dict[str, PublicKey]:
    return {k.key_id: k for k in keys}
