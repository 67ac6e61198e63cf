"""Throwaway Google service accounts for tests and the demo: a fresh RSA key in Google's key-file JSON.

The fake Google server (`testing/fake_gemini.py`) verifies token requests against `public_key_pem`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_EMAIL = "unhardcoded-test@fake-project.iam.gserviceaccount.com"
DEFAULT_PROJECT = "fake-project"


@dataclass(frozen=True, slots=True, repr=False)
class FakeServiceAccount:
    """A generated key pair: `json_text` is what a user would download from Google Cloud."""

    json_text: str
    client_email: str
    project_id: str
    public_key_pem: str

    def __repr__(self) -> str:
        return f"FakeServiceAccount({self.client_email})"


def make_service_account(
    *,
    token_uri: str = "https://oauth2.googleapis.com/token",
    client_email: str = DEFAULT_EMAIL,
    project_id: str = DEFAULT_PROJECT,
    key_size: int = 2048,
) -> FakeServiceAccount:
    """A new service account with a fresh RSA key (about 50 ms for 2048 bits)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": hashlib.sha1(public_pem.encode()).hexdigest(),
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }
    return FakeServiceAccount(json.dumps(info, indent=2), client_email, project_id, public_pem)


@functools.cache
def default_service_account() -> FakeServiceAccount:
    """One service account per process, trusted by every fake Google server unless told otherwise."""
    return make_service_account()
