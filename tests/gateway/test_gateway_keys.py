"""Gateway keys (gateway/auth.py): how a key is presented, its digest, who it names, the keys file and the
pepper. In process, on temporary files; written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
from pathlib import Path

import pytest
import yaml

from unhardcoded.config import AuthConfig, GatewayKey
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.auth import (
    OPEN,
    Caller,
    KeyRing,
    add_key,
    key_digest,
    load_keyring,
    new_key,
    presented_key,
    read_keys_file,
)


def test_new_keys_are_prefixed_url_safe_256_bit_tokens() -> None:
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(re.fullmatch(r"uh_[A-Za-z0-9_-]{43}", k) for k in keys)


def test_the_digest_is_an_hmac_sha256_under_the_pepper() -> None:
    default = hmac.new(b"unhardcoded gateway key v1", b"uh_k", hashlib.sha256).hexdigest()
    assert key_digest("uh_k") == "hmac-sha256:" + default
    assert (
        key_digest("uh_k", b"pepper")
        == "hmac-sha256:" + hmac.new(b"pepper", b"uh_k", hashlib.sha256).hexdigest()
    )


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer uh_a"}, "uh_a"),
        ({"authorization": "bearer   uh_a  "}, "uh_a"),
        ({"authorization": "BEARER uh_a", "x-api-key": "uh_b"}, "uh_a"),
        ({"authorization": "Bearer ", "x-api-key": "uh_b"}, "uh_b"),
        ({"authorization": "Basic uh_a", "x-api-key": " uh_b "}, "uh_b"),
        ({"authorization": "Bearer"}, None),
        ({"x-api-key": "   "}, None),
        ({"x-api-key": ""}, None),
        ({}, None),
    ],
)
def test_a_key_is_presented_as_a_bearer_token_or_an_x_api_key(
    headers: dict[str, str], key: str | None
) -> None:
    assert presented_key(headers) == key


def test_callers_see_their_own_tenant_and_admins_see_all() -> None:
    client = Caller(tenant="t1", scope="client")
    admin = Caller(tenant="t2", scope="admin")
    assert not client.admin and admin.admin
    assert client.sees("t1") and not client.sees("t2") and not client.sees(None)
    assert admin.sees("t1") and admin.sees(None)
    assert OPEN.admin and OPEN.open and OPEN.tenant is None and not client.open


def gk(
    key: str, tenant: str = "t1", scope: str = "client", name: str | None = None, pepper: bytes | None = None
) -> GatewayKey:
    digest = key_digest(key) if pepper is None else key_digest(key, pepper)
    return GatewayKey(hash=digest, tenant=tenant, scope=scope, name=name)  # type: ignore[arg-type]


def test_a_keyring_names_the_caller_of_a_known_key_only() -> None:
    ring = KeyRing([gk("uh_a", "t1", "client", "ci"), gk("uh_b", "t2", "admin")])
    assert bool(ring) and len(ring) == 2
    assert ring.caller("uh_a") == Caller(tenant="t1", scope="client", name="ci")
    assert ring.caller("uh_b") == Caller(tenant="t2", scope="admin", name=None)
    assert ring.caller("uh_c") is None and ring.caller(None) is None and ring.caller("") is None
    assert not KeyRing([]) and len(KeyRing([])) == 0


@pytest.mark.parametrize(
    "bad",
    ["sha256:" + "0" * 64, "hmac-sha256:" + "0" * 63, "hmac-sha256:" + "0" * 65, "0" * 76],
)
def test_a_malformed_digest_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError) as e:
        KeyRing([GatewayKey(hash=bad, tenant="t1", name="ci")])
    assert e.value.message == (
        "auth.keys: 'ci': hash must be 'hmac-sha256:' and 64 hex digits (`unhardcoded keys add` writes it)"
    )
    assert e.value.path == "auth.keys"
    with pytest.raises(ConfigError) as e:
        KeyRing([GatewayKey(hash=bad, tenant="t1")])
    assert e.value.message.startswith("auth.keys: 't1': ")


def test_add_key_appends_to_the_keys_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    k1 = add_key(path, "t1", "client", "ci")
    k2 = add_key(path, "t2", "admin", None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.yaml"]  # no temporary file left
    doc = yaml.safe_load(path.read_text())
    assert doc["keys"] == [
        {"hash": key_digest(k1), "tenant": "t1", "scope": "client", "name": "ci"},
        {"hash": key_digest(k2), "tenant": "t2", "scope": "admin"},
    ]
    ring = load_keyring(AuthConfig(keys_file=str(path)), {})
    assert ring.caller(k1) == Caller("t1", "client", "ci") and ring.caller(k2) == Caller("t2", "admin")


def test_add_key_digests_under_the_pepper(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "t1", "client", None, b"pep")
    assert yaml.safe_load(path.read_text())["keys"][0]["hash"] == key_digest(key, b"pep")


def test_a_relative_keys_file_is_read_from_the_config_directory(tmp_path: Path) -> None:
    key = add_key(tmp_path / "keys.yaml", "t1", "client", None)
    cfg = AuthConfig(keys=[gk("uh_inline", "t0")], keys_file="keys.yaml")
    ring = load_keyring(cfg, {}, base=tmp_path)
    assert len(ring) == 2 and ring.caller(key) is not None and ring.caller("uh_inline") is not None
    assert (
        len(load_keyring(AuthConfig(keys_file=str(tmp_path / "keys.yaml")), {}, base=Path("/elsewhere"))) == 1
    )


def test_the_pepper_comes_from_its_variable_and_must_be_set() -> None:
    cfg = AuthConfig(keys=[gk("uh_a", pepper=b"s3cret")], pepper_env="UH_PEPPER")
    ring = load_keyring(cfg, {"UH_PEPPER": "s3cret"})
    assert ring.caller("uh_a") == Caller("t1", "client")
    assert load_keyring(AuthConfig(keys=[gk("uh_a", pepper=b"s3cret")]), {}).caller("uh_a") is None
    for env in ({}, {"UH_PEPPER": ""}):
        with pytest.raises(ConfigError) as e:
            load_keyring(cfg, env)
        assert e.value.message == "auth.pepper_env names $UH_PEPPER, which is not set"
        assert e.value.path == "auth.pepper_env"


def test_a_missing_or_empty_keys_file_has_no_keys(tmp_path: Path) -> None:
    assert read_keys_file(tmp_path / "none.yaml") == []
    (tmp_path / "empty.yaml").write_text("")
    assert read_keys_file(tmp_path / "empty.yaml") == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("keys: [", "ParserError"),
        ("keys:\n  - {tenant: t1}\n", "ValidationError"),
        ("- 1\n", "AttributeError"),
    ],
)
def test_a_broken_keys_file_is_refused_in_words(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_keys_file(path)
    assert e.value.message == f"{path}: not a keys file ({kind})" and e.value.path == "auth.keys_file"


def test_the_keys_file_keeps_each_entry_as_written(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    add_key(path, "t1", "client", None)
    add_key(path, "t2", "admin", "ops")
    first, second = yaml.safe_load(path.read_text())["keys"]
    assert list(first) == ["hash", "tenant", "scope"]  # no `name: null` for a key added without one
    assert list(second) == ["hash", "tenant", "scope", "name"]  # in the order written, not sorted


def test_a_relative_keys_file_without_a_base_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add_key(tmp_path / "keys.yaml", "t1", "client", None)
    monkeypatch.chdir(tmp_path)
    assert load_keyring(AuthConfig(keys_file="keys.yaml"), {}).caller(key) == Caller("t1", "client")
