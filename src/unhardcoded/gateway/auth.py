"""Gateway keys: who is calling, for which tenant, with which scope (SPEC §7).

Keys are 256-bit random tokens that `unhardcoded keys add` prints once; only their HMAC-SHA256 is kept
(`hmac-sha256:<hex>`). A keyed fast hash, not a password hash: a key carries 256 bits of entropy, so no
guessing attack applies, and a password hash (bcrypt, argon2: tens of milliseconds by design) would cost
that on every request. The HMAC key ("pepper") comes from the variable `auth.pepper_env` when set, so a
leaked keys file alone does not even allow checking a guess; without it a fixed domain-separation key is
used. Digests are compared with `hmac.compare_digest`.

Scopes: `client` calls and reads its own tenant's receipts, traces, roll-ups and policies; `admin` reads
everything, every tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from unhardcoded.config import AuthConfig, GatewayKey
from unhardcoded.errors import ConfigError

Scope = Literal["client", "admin"]
KEY_PREFIX = "uh_"
_DEFAULT_PEPPER = b"unhardcoded gateway key v1"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request. `tenant` None with scope admin and `open`: no keys are configured (loopback)."""

    tenant: str | None
    scope: Scope
    name: str | None = None
    open: bool = False

    @property
    def admin(self) -> bool:
        return self.scope == "admin"

    def sees(self, tenant: str | None) -> bool:
        """May this caller read a record of `tenant`?"""
        return self.admin or tenant == self.tenant


OPEN = Caller(tenant=None, scope="admin", open=True)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str, pepper: bytes = _DEFAULT_PEPPER) -> str:
    return "hmac-sha256:" + hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """`Authorization: Bearer KEY` (the OpenAI SDK) or `x-api-key: KEY` (the Anthropic SDK)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class KeyRing:
    """The configured keys, by digest."""

    def __init__(self, keys: Sequence[GatewayKey], pepper: bytes = _DEFAULT_PEPPER) -> None:
        self.pepper = pepper
        self._by_digest: dict[str, GatewayKey] = {}
        for k in keys:
            if not k.hash.startswith("hmac-sha256:") or len(k.hash) != len("hmac-sha256:") + 64:
                raise ConfigError(
                    f"auth.keys: {k.name or k.tenant!r}: hash must be 'hmac-sha256:' and 64 hex digits"
                    " (`unhardcoded keys add` writes it)",
                    path="auth.keys",
                )
            self._by_digest[k.hash] = k

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    def __len__(self) -> int:
        return len(self._by_digest)

    def caller(self, key: str | None) -> Caller | None:
        """The caller a presented key belongs to, or None."""
        if key is None:
            return None
        digest = key_digest(key, self.pepper)
        found = self._by_digest.get(digest)
        if found is None or not hmac.compare_digest(found.hash, digest):
            return None
        return Caller(tenant=found.tenant, scope=found.scope, name=found.name)


def load_keyring(auth: AuthConfig, env: Mapping[str, str], base: Path | None = None) -> KeyRing:
    """The keys of the config plus those of `auth.keys_file` (which `keys add` writes)."""
    keys = list(auth.keys)
    if auth.keys_file:
        path = Path(auth.keys_file)
        if base is not None and not path.is_absolute():
            path = base / path
        keys += read_keys_file(path)
    pepper = _DEFAULT_PEPPER
    if auth.pepper_env:
        value = env.get(auth.pepper_env)
        if not value:
            raise ConfigError(
                f"auth.pepper_env names ${auth.pepper_env}, which is not set", path="auth.pepper_env"
            )
        pepper = value.encode()
    return KeyRing(keys, pepper)


def read_keys_file(path: Path) -> list[GatewayKey]:
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text()) or {}
        return [GatewayKey.model_validate(k) for k in doc.get("keys", [])]
    except (yaml.YAMLError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: not a keys file ({type(e).__name__})", path="auth.keys_file") from None


def add_key(path: Path, tenant: str, scope: Scope, name: str | None, pepper: bytes = _DEFAULT_PEPPER) -> str:
    """Make a key, append its digest to the keys file, return the key (shown once, never stored)."""
    keys = read_keys_file(path)
    key = new_key()
    entry: dict[str, Any] = {"hash": key_digest(key, pepper), "tenant": tenant, "scope": scope}
    if name:
        entry["name"] = name
    doc = {"keys": [k.model_dump(exclude_none=True) for k in keys] + [entry]}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)  # whole or not at all: a crash never leaves half a keys file
    return key
