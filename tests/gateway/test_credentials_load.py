"""Keys per provider (gateway/credentials.py): which providers can be called and, when not, why in words
(the actual value `rt:no-key` shows); what `get` hands an adapter; which secrets redaction must hide.

From environment mappings and temporary files, no network; written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.scripted import ScriptedTransport
from unhardcoded.config import ProviderConfig
from unhardcoded.errors import ProviderError
from unhardcoded.gateway.credentials import CredentialStore
from unhardcoded.gateway.transport import Timeouts
from unhardcoded.providers.base import Credentials

TMO = Timeouts(1, 1, 1, 1)
AWS = {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "aws-secret-1"}


def store(env: dict[str, str], **providers: ProviderConfig) -> CredentialStore:
    return CredentialStore(providers, ScriptedTransport(), env=env)


def test_a_keyed_provider_needs_its_variable_set_and_not_empty() -> None:
    p = ProviderConfig(base_url="http://x.test/v1", api_key_env="X_KEY")
    assert store({"X_KEY": "k1"}, x=p).missing() == {}
    assert store({}, x=p).missing() == {"x": "no key in $X_KEY"}
    assert store({"X_KEY": ""}, x=p).missing() == {"x": "no key in $X_KEY"}


def test_a_provider_without_a_key_variable_needs_no_key() -> None:
    s = store({}, local=ProviderConfig(base_url="http://localhost:8000/v1"))
    assert s.missing() == {} and s.secrets() == []
    assert s.key_variable("local") == "no key needed"


def test_a_provider_without_a_base_url_says_which_setting_is_missing() -> None:
    assert store({"K": "k"}, x=ProviderConfig(api_key_env="K")).missing() == {
        "x": "no base URL (set base_url)"
    }
    az = ProviderConfig(base_url_env="UH_TEST_UNSET_AZURE_URL", api_key_env="K")
    assert store({"K": "k"}, az=az).missing() == {"az": "no base URL (set UH_TEST_UNSET_AZURE_URL)"}


async def test_get_hands_the_key_to_the_adapter_and_refuses_unknown_providers() -> None:
    s = store({"X_KEY": "k1"}, x=ProviderConfig(base_url="http://x.test/v1", api_key_env="X_KEY"))
    assert await s.get("x", TMO) == Credentials(api_key="k1")
    with pytest.raises(ProviderError) as e:
        await s.get("nope", TMO)
    assert (e.value.error_class, e.value.message) == ("auth_error", "no credentials for provider 'nope'")


async def test_a_provider_missing_its_key_cannot_be_called() -> None:
    s = store({}, x=ProviderConfig(base_url="http://x.test/v1", api_key_env="X_KEY"))
    with pytest.raises(ProviderError) as e:
        await s.get("x", TMO)
    assert e.value.error_class == "auth_error"


async def test_bedrock_takes_the_aws_variables() -> None:
    s = store({**AWS, "AWS_SESSION_TOKEN": "tok"}, br=ProviderConfig(kind="bedrock"))
    assert s.missing() == {}
    assert await s.get("br", TMO) == Credentials(
        aws_access_key_id="AKIA1", aws_secret_access_key="aws-secret-1", aws_session_token="tok"
    )
    plain = store(AWS, br=ProviderConfig(kind="bedrock"))
    assert (await plain.get("br", TMO)).aws_session_token is None


def test_bedrock_without_credentials_says_where_they_come_from() -> None:
    if (Path.home() / ".aws" / "credentials").exists():
        pytest.skip("this machine has a shared AWS profile: the profile would be read")
    for env in ({}, {"AWS_ACCESS_KEY_ID": "AKIA1"}, {"AWS_SECRET_ACCESS_KEY": "s"}):
        assert store(env, br=ProviderConfig(kind="bedrock")).missing() == {
            "br": "no AWS credentials ($AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or a profile)"
        }


def test_vertex_needs_a_service_account_file_and_a_project(tmp_path: Path) -> None:
    sa = tmp_path / "sa.json"
    sa.write_text("{}")
    vx = ProviderConfig(kind="vertex", project="p1")
    assert store({}, vx=vx).missing() == {"vx": "no service-account file in $GOOGLE_APPLICATION_CREDENTIALS"}
    gone = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json")}
    assert store(gone, vx=vx).missing() == {
        "vx": "no service-account file in $GOOGLE_APPLICATION_CREDENTIALS"
    }
    own = ProviderConfig(kind="vertex", project="p1", credentials_env="MY_SA")
    assert store({}, vx=own).missing() == {"vx": "no service-account file in $MY_SA"}
    assert store({"MY_SA": str(sa)}, vx=own).missing() == {}
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(sa)}
    assert store(env, vx=ProviderConfig(kind="vertex")).missing() == {"vx": "no project configured"}
    unset = ProviderConfig(kind="vertex", project_env="UH_TEST_UNSET_PROJECT")
    assert store(env, vx=unset).missing() == {"vx": "no project in $UH_TEST_UNSET_PROJECT"}


def test_secrets_are_every_key_and_aws_secret_loaded() -> None:
    s = store(
        {"X_KEY": "k1", **AWS},
        x=ProviderConfig(base_url="http://x.test/v1", api_key_env="X_KEY"),
        br=ProviderConfig(kind="bedrock"),
        local=ProviderConfig(base_url="http://localhost/v1"),
    )
    assert sorted(s.secrets()) == ["aws-secret-1", "k1"]


def test_key_variable_names_what_the_operator_must_set() -> None:
    s = store(
        {},
        x=ProviderConfig(base_url="http://x.test/v1", api_key_env="X_KEY"),
        br=ProviderConfig(kind="bedrock"),
        vx=ProviderConfig(kind="vertex"),
        vy=ProviderConfig(kind="vertex", credentials_env="MY_SA"),
    )
    assert s.key_variable("x") == "$X_KEY"
    assert s.key_variable("br") == "AWS credentials"
    assert s.key_variable("vx") == "$GOOGLE_APPLICATION_CREDENTIALS"
    assert s.key_variable("vy") == "$MY_SA"
    assert s.key_variable("nope") == "a configured provider"
