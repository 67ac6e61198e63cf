"""Credentials that are fetched rather than read (gateway/credentials.py): the Vertex service-account key
exchanged for an access token (sent through the gateway's transport, cached until a minute before it
expires, one exchange for concurrent callers), and Bedrock credentials from the shared AWS profile.

In process: a generated service-account key, a token endpoint answered by a scripted transport (nothing
leaves the process), a fake clock, and a temporary HOME holding `~/.aws/credentials`. Written from
`make mutation` (docs/mutation.md).
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
import pytest

import unhardcoded.gateway.credentials as credentials_mod
from unhardcoded.config import ProviderConfig
from unhardcoded.errors import ProviderError
from unhardcoded.gateway.credentials import CredentialStore
from unhardcoded.gateway.transport import Timeouts, UpstreamResponse
from unhardcoded.providers.base import Credentials, HttpCall
from unhardcoded.testing.google_sa import FakeServiceAccount, make_service_account

TMO = Timeouts(1, 2, 3, 4)
TOKEN_URI = "http://127.0.0.1:9/token"
T0 = 1_700_000_000.0  # in the past: the JWT checks below do not look at expiry


@functools.cache
def account(email: str = "gw-test@fake-project.iam.gserviceaccount.com") -> FakeServiceAccount:
    return make_service_account(client_email=email)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


class TokenEndpoint:
    """Answers token requests in turn with `tok-1`, `tok-2`, ... (or a scripted status and body)."""

    def __init__(self, expires_in: Any = 3600, *, status: int = 200, pause: bool = False) -> None:
        self.expires_in = expires_in
        self.status = status
        self.pause = pause
        self.calls: list[tuple[HttpCall, Timeouts]] = []

    async def send(self, call: HttpCall, timeouts: Timeouts) -> UpstreamResponse:
        self.calls.append((call, timeouts))
        if self.pause:  # let a concurrent caller run while this exchange is under way
            for _ in range(5):
                await asyncio.sleep(0)
        if self.status != 200:
            return UpstreamResponse(self.status, {}, b'{"error": "invalid_grant"}')
        body = {"access_token": f"tok-{len(self.calls)}", "expires_in": self.expires_in}
        return UpstreamResponse(200, {}, orjson.dumps(body))

    def claims(self, i: int = -1) -> dict[str, Any]:
        call = self.calls[i][0]
        form = parse_qs(call.body.decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        public = account().public_key_pem
        out: dict[str, Any] = jwt.decode(
            form["assertion"][0],
            public,
            algorithms=["RS256"],
            audience=call.url,
            options={"verify_exp": False},
        )
        return out


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(credentials_mod, "time", c)
    return c


def vertex(tmp_path: Path, endpoint: TokenEndpoint, var: str | None = None, **kw: Any) -> CredentialStore:
    sa = tmp_path / "sa.json"
    sa.write_text(account().json_text)
    p = ProviderConfig(kind="vertex", project="p1", token_uri=TOKEN_URI, credentials_env=var, **kw)
    env = {var or "GOOGLE_APPLICATION_CREDENTIALS": str(sa)}
    return CredentialStore({"vx": p}, endpoint, env=env)  # type: ignore[arg-type]


async def test_vertex_exchanges_the_service_account_key_for_an_access_token(
    tmp_path: Path, clock: Clock
) -> None:
    endpoint = TokenEndpoint()
    s = vertex(tmp_path, endpoint)
    assert s.missing() == {}
    assert await s.get("vx", TMO) == Credentials(api_key="tok-1")
    ((call, timeouts),) = endpoint.calls
    assert (call.method, call.url) == ("POST", TOKEN_URI)
    assert timeouts is TMO  # the attempt's timeouts bound the exchange too
    claims = endpoint.claims()  # signed with the account's own key, for the configured endpoint
    assert claims["iss"] == account().client_email and claims["aud"] == TOKEN_URI
    assert claims["iat"] == int(T0) and claims["exp"] == int(T0) + 3600
    assert s.secrets() == ["tok-1"]  # redaction hides the access token


async def test_the_service_account_file_is_named_by_the_providers_own_variable(
    tmp_path: Path, clock: Clock
) -> None:
    endpoint = TokenEndpoint()
    s = vertex(tmp_path, endpoint, var="MY_SA")
    assert await s.get("vx", TMO) == Credentials(api_key="tok-1")
    assert endpoint.claims()["iss"] == account().client_email


async def test_the_token_is_used_until_a_minute_before_it_expires(tmp_path: Path, clock: Clock) -> None:
    endpoint = TokenEndpoint(expires_in=3600)
    s = vertex(tmp_path, endpoint)
    assert (await s.get("vx", TMO)).api_key == "tok-1"
    clock.now = T0 + 3539  # expires at T0 + 3600: 61 s left, still good
    assert (await s.get("vx", TMO)).api_key == "tok-1"
    assert len(endpoint.calls) == 1
    clock.now = T0 + 3540  # 60 s left: fetch a new one
    assert (await s.get("vx", TMO)).api_key == "tok-2"
    assert len(endpoint.calls) == 2
    assert endpoint.claims()["iat"] == int(T0 + 3540)
    clock.now = T0 + 3540 + 3539  # the new token counts from when it was fetched
    assert (await s.get("vx", TMO)).api_key == "tok-2"
    assert s.secrets() == ["tok-2"]


async def test_a_token_expiring_within_a_minute_is_fetched_again_for_every_call(
    tmp_path: Path, clock: Clock
) -> None:
    endpoint = TokenEndpoint(expires_in=60)
    s = vertex(tmp_path, endpoint)
    assert [(await s.get("vx", TMO)).api_key for _ in range(3)] == ["tok-1", "tok-2", "tok-3"]
    short = TokenEndpoint(expires_in=61)
    s = vertex(tmp_path, short)
    assert [(await s.get("vx", TMO)).api_key for _ in range(3)] == ["tok-1"] * 3


async def test_concurrent_calls_share_one_exchange(tmp_path: Path, clock: Clock) -> None:
    endpoint = TokenEndpoint(pause=True)
    s = vertex(tmp_path, endpoint)
    got = await asyncio.gather(*(s.get("vx", TMO) for _ in range(4)))
    assert [c.api_key for c in got] == ["tok-1"] * 4
    assert len(endpoint.calls) == 1


async def test_concurrent_calls_after_expiry_share_one_exchange_too(tmp_path: Path, clock: Clock) -> None:
    endpoint = TokenEndpoint(pause=True)
    s = vertex(tmp_path, endpoint)
    assert (await s.get("vx", TMO)).api_key == "tok-1"
    clock.now = T0 + 3540
    got = await asyncio.gather(*(s.get("vx", TMO) for _ in range(3)))
    assert [c.api_key for c in got] == ["tok-2"] * 3
    assert len(endpoint.calls) == 2


async def test_the_key_file_is_read_once(tmp_path: Path, clock: Clock) -> None:
    endpoint = TokenEndpoint()
    s = vertex(tmp_path, endpoint)
    assert (await s.get("vx", TMO)).api_key == "tok-1"
    (tmp_path / "sa.json").unlink()  # rotated away: the account already loaded keeps working
    clock.now = T0 + 7200
    assert (await s.get("vx", TMO)).api_key == "tok-2"


async def test_two_vertex_providers_keep_their_own_tokens(tmp_path: Path, clock: Clock) -> None:
    sa = tmp_path / "sa.json"
    sa.write_text(account().json_text)
    endpoint = TokenEndpoint()
    providers = {
        name: ProviderConfig(kind="vertex", project=name, token_uri=f"{TOKEN_URI}/{name}")
        for name in ("eu", "us")
    }
    s = CredentialStore(providers, endpoint, env={"GOOGLE_APPLICATION_CREDENTIALS": str(sa)})  # type: ignore[arg-type]
    assert (await s.get("eu", TMO)).api_key == "tok-1"
    assert (await s.get("us", TMO)).api_key == "tok-2"
    assert (await s.get("eu", TMO)).api_key == "tok-1"
    assert [c.url for c, _ in endpoint.calls] == [f"{TOKEN_URI}/eu", f"{TOKEN_URI}/us"]
    assert sorted(s.secrets()) == ["tok-1", "tok-2"]


async def test_a_refused_exchange_is_an_auth_error_and_nothing_is_cached(
    tmp_path: Path, clock: Clock
) -> None:
    endpoint = TokenEndpoint(status=401)
    s = vertex(tmp_path, endpoint)
    for n in (1, 2):
        with pytest.raises(ProviderError) as e:
            await s.get("vx", TMO)
        assert e.value.error_class == "auth_error"
        assert len(endpoint.calls) == n
    assert s.secrets() == []


async def test_a_provider_that_is_neither_keyed_nor_vertex_has_no_credentials(tmp_path: Path) -> None:
    s = CredentialStore(
        {"x": ProviderConfig(base_url="http://x.test/v1", api_key_env="X_KEY")}, TokenEndpoint(), env={}
    )  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as e:
        await s.get("x", TMO)
    assert (e.value.error_class, e.value.message) == ("auth_error", "no credentials for provider 'x'")


# --- Bedrock: the shared AWS profile ---

PROFILES = """\
[default]
aws_access_key_id = AKIADEFAULTPROFILE
aws_secret_access_key = default-profile-secret

[work]
aws_access_key_id = AKIAWORKPROFILE
aws_secret_access_key = work-profile-secret
aws_session_token = work-session-token

[empty]
region = eu-west-1
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of our own with `~/.aws/credentials`, and no AWS setting of this machine's in the way."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask the instance metadata service
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / ".aws" / "config"))
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(PROFILES)
    return tmp_path


def bedrock(env: dict[str, str]) -> CredentialStore:
    return CredentialStore({"br": ProviderConfig(kind="bedrock")}, TokenEndpoint(), env=env)  # type: ignore[arg-type]


async def test_bedrock_reads_the_default_profile_of_the_shared_credentials_file(home: Path) -> None:
    s = bedrock({})
    assert s.missing() == {}
    assert await s.get("br", TMO) == Credentials(
        aws_access_key_id="AKIADEFAULTPROFILE", aws_secret_access_key="default-profile-secret"
    )
    assert s.secrets() == ["default-profile-secret"]


async def test_bedrock_reads_the_profile_aws_profile_names(home: Path) -> None:
    s = bedrock({"AWS_PROFILE": "work"})
    assert s.missing() == {}
    assert await s.get("br", TMO) == Credentials(
        aws_access_key_id="AKIAWORKPROFILE",
        aws_secret_access_key="work-profile-secret",
        aws_session_token="work-session-token",
    )


async def test_half_of_the_aws_variables_is_not_enough_the_profile_is_read(home: Path) -> None:
    for env in ({"AWS_ACCESS_KEY_ID": "AKIAENVONLY"}, {"AWS_SECRET_ACCESS_KEY": "env-only-secret"}):
        s = bedrock(env)
        assert s.missing() == {}
        assert (await s.get("br", TMO)).aws_access_key_id == "AKIADEFAULTPROFILE"


def test_a_profile_without_keys_says_so(home: Path) -> None:
    assert bedrock({"AWS_PROFILE": "empty"}).missing() == {"br": "no AWS credentials in the profile"}


def test_aws_profile_alone_is_a_reason_to_ask_botocore(home: Path) -> None:
    (home / ".aws" / "credentials").unlink()
    cfg = home / ".aws" / "config"
    cfg.write_text(
        "[profile cfg]\naws_access_key_id = AKIACONFIGFILE\naws_secret_access_key = config-secret\n"
    )
    s = bedrock({"AWS_PROFILE": "cfg"})
    assert s.missing() == {}
    assert s.secrets() == ["config-secret"]
    assert bedrock({}).missing() == {
        "br": "no AWS credentials ($AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or a profile)"
    }


async def test_callers_waiting_on_an_exchange_take_a_token_with_just_over_a_minute_left(
    tmp_path: Path, clock: Clock
) -> None:
    endpoint = TokenEndpoint(expires_in=61, pause=True)  # 61 s: good for one more second
    s = vertex(tmp_path, endpoint)
    got = await asyncio.gather(*(s.get("vx", TMO) for _ in range(3)))
    assert [c.api_key for c in got] == ["tok-1"] * 3
    assert len(endpoint.calls) == 1


async def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UH_TEST_ENV_KEY", "env-key-1")
    p = ProviderConfig(base_url="http://x.test/v1", api_key_env="UH_TEST_ENV_KEY")
    s = CredentialStore({"x": p}, TokenEndpoint())  # type: ignore[arg-type]
    assert s.missing() == {}
    assert await s.get("x", TMO) == Credentials(api_key="env-key-1")
