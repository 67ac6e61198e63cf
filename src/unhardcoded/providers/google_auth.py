"""The pure pieces of Google's service-account OAuth flow (RFC 7523 JWT bearer grant) for Vertex AI.

Loads a service-account key, builds the signed token request, reads the token answer. No I/O and no
clock: `gateway/credentials.py` sends the request, passes `now`, and caches the token until it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import orjson

from unhardcoded.errors import ConfigError, ErrorClass, ProviderError
from unhardcoded.providers.base import HttpCall

DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600  # Google's maximum for the assertion's exp - iat
DEFAULT_EXPIRES_IN = 3600


@dataclass(frozen=True, slots=True, repr=False)
class ServiceAccount:
    """A Google service-account key. repr never shows the private key."""

    client_email: str
    private_key: str
    token_uri: str = DEFAULT_TOKEN_URI
    private_key_id: str | None = None
    project_id: str | None = None

    def __repr__(self) -> str:
        return f"ServiceAccount({self.client_email}, key=***)"


def load_service_account(json_text: str | bytes) -> ServiceAccount:
    """A service-account key file's JSON → ServiceAccount; ConfigError says what is missing, not values."""
    try:
        data: Any = orjson.loads(json_text)
    except orjson.JSONDecodeError:
        raise ConfigError("the Google service-account key is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("the Google service-account key is not a JSON object")
    if data.get("type", "service_account") != "service_account":
        raise ConfigError(
            f"the Google credentials file has type {data.get('type')!r}, expected 'service_account'"
        )
    missing = [k for k in ("client_email", "private_key") if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise ConfigError(f"the Google service-account key has no {' or '.join(missing)}")
    if "PRIVATE KEY-----" not in data["private_key"]:
        raise ConfigError("the Google service-account private_key is not a PEM private key")
    return ServiceAccount(
        client_email=data["client_email"],
        private_key=data["private_key"],
        token_uri=data.get("token_uri") or DEFAULT_TOKEN_URI,
        private_key_id=data.get("private_key_id") or None,
        project_id=data.get("project_id") or None,
    )


def build_token_request(
    sa: ServiceAccount, *, now: int, token_uri: str | None = None, scope: str = CLOUD_PLATFORM_SCOPE
) -> HttpCall:
    """The token request: an RS256-signed JWT assertion, form-encoded, POSTed to the token URI."""
    uri = token_uri or sa.token_uri
    claims = {
        "iss": sa.client_email,
        "scope": scope,
        "aud": uri,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_S,
    }
    headers = {"kid": sa.private_key_id} if sa.private_key_id else None
    try:
        assertion = jwt.encode(claims, sa.private_key, algorithm="RS256", headers=headers)
    except Exception:  # whatever the crypto layer raises, say only that the key is unusable
        raise ConfigError(
            f"the private key of service account {sa.client_email} cannot sign (RS256)"
        ) from None
    body = urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": assertion}).encode()
    headers_out = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    return HttpCall("POST", uri, headers_out, body)


def parse_token_response(status: int, body: bytes) -> tuple[str, int]:
    """The token endpoint's answer → (access_token, expires_in seconds).

    Raises ProviderError: auth_error for a refused grant or an unusable answer, rate_limited for 429 and
    server_error for 5xx (those two may pass with time, so the gateway may try the next deployment).
    """
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if 200 <= status < 300 and isinstance(data, dict):
        token, expires_in = data.get("access_token"), data.get("expires_in", DEFAULT_EXPIRES_IN)
        if isinstance(token, str) and token:
            valid = isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            return token, int(expires_in) if valid else DEFAULT_EXPIRES_IN
    cls: ErrorClass = "auth_error"
    if status == 429:
        cls = "rate_limited"
    elif status >= 500:
        cls = "server_error"
    reason = "no access_token in the answer"
    if isinstance(data, dict) and data.get("error"):
        reason = f"{data['error']}: {data.get('error_description') or ''}".strip(": ")
    raise ProviderError(cls, f"Google token endpoint answered {status}: {reason[:200]}", status=status)
