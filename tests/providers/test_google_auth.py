"""Google service-account OAuth pieces: key loading, the signed token request, the token answer."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import jwt
import pytest

from unhardcoded.errors import ConfigError, ProviderError
from unhardcoded.providers.google_auth import (
    CLOUD_PLATFORM_SCOPE,
    JWT_BEARER_GRANT,
    ServiceAccount,
    build_token_request,
    load_service_account,
    parse_token_response,
)
from unhardcoded.testing.google_sa import FakeServiceAccount, default_service_account, make_service_account

NOW = 1_760_000_000


@pytest.fixture(scope="module")
def fake() -> FakeServiceAccount:
    return default_service_account()


def test_load_reads_the_key_file(fake: FakeServiceAccount) -> None:
    sa = load_service_account(fake.json_text)
    assert sa.client_email == fake.client_email and sa.project_id == fake.project_id
    assert sa.token_uri == "https://oauth2.googleapis.com/token" and sa.private_key_id
    assert "PRIVATE KEY" not in repr(sa) and sa.client_email in repr(sa)
    assert load_service_account(fake.json_text.encode()) == sa


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "not a JSON object"),
        ('{"type": "authorized_user"}', "authorized_user"),
        ('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----"}', "client_email"),
        ('{"client_email": "a@b", "private_key": "hunter2"}', "not a PEM"),
    ],
)
def test_load_errors_say_what_is_wrong_never_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_service_account(text)
    assert fragment in str(info.value) and "hunter2" not in str(info.value)


def test_token_request_is_a_signed_jwt_bearer_grant(fake: FakeServiceAccount) -> None:
    sa = load_service_account(fake.json_text)
    call = build_token_request(sa, now=NOW, token_uri="http://127.0.0.1:1/token")
    assert call.method == "POST" and call.url == "http://127.0.0.1:1/token"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(call.body.decode())
    assert form["grant_type"] == [JWT_BEARER_GRANT]
    assertion = form["assertion"][0]
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT", "kid": sa.private_key_id}
    claims = jwt.decode(
        assertion, fake.public_key_pem, algorithms=["RS256"], audience="http://127.0.0.1:1/token",
        options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    assert claims == {
        "iss": fake.client_email,
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": "http://127.0.0.1:1/token",
        "iat": NOW,
        "exp": NOW + 3600,
    }
    assert "PRIVATE" not in repr(call)


def test_token_request_defaults_to_the_key_files_token_uri(fake: FakeServiceAccount) -> None:
    call = build_token_request(load_service_account(fake.json_text), now=NOW, scope="s1 s2")
    assert call.url == "https://oauth2.googleapis.com/token"
    claims = jwt.decode(parse_qs(call.body.decode())["assertion"][0], options={"verify_signature": False})
    assert claims["scope"] == "s1 s2"


def test_another_accounts_key_does_not_verify(fake: FakeServiceAccount) -> None:
    other = make_service_account()
    call = build_token_request(load_service_account(other.json_text), now=NOW)
    assertion = parse_qs(call.body.decode())["assertion"][0]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            assertion,
            fake.public_key_pem,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False},
        )


def test_an_unusable_key_is_a_config_error() -> None:
    sa = ServiceAccount("a@b", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as info:
        build_token_request(sa, now=NOW)
    assert "nope" not in str(info.value)


def test_parse_token_response_success() -> None:
    body = json.dumps({"access_token": "ya29.abc", "expires_in": 3599, "token_type": "Bearer"}).encode()
    assert parse_token_response(200, body) == ("ya29.abc", 3599)
    assert parse_token_response(200, b'{"access_token": "t"}') == ("t", 3600)


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (400, b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}', "auth_error"),
        (401, b'{"error": "invalid_client"}', "auth_error"),
        (200, b'{"token_type": "Bearer"}', "auth_error"),
        (200, b"<html>", "auth_error"),
        (429, b"{}", "rate_limited"),
        (503, b"Service Unavailable", "server_error"),
    ],
)
def test_parse_token_response_errors(status: int, body: bytes, error_class: str) -> None:
    with pytest.raises(ProviderError) as info:
        parse_token_response(status, body)
    assert info.value.error_class == error_class and info.value.status == status
    if b"invalid_grant" in body:
        assert "Invalid JWT Signature" in str(info.value)
