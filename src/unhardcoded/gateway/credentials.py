"""Keys and tokens for each provider: read from the environment variables the config names, never stored.

For Vertex the service-account key is exchanged for an OAuth access token (a signed JWT sent to the token
endpoint) and the token is cached until a minute before it expires. Bedrock credentials come from the
usual AWS chain (environment variables, then the shared profile) through botocore.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unhardcoded.config import ProviderConfig
from unhardcoded.errors import ProviderError
from unhardcoded.gateway.transport import Timeouts, Transport
from unhardcoded.providers.base import Credentials


class CredentialStore:
    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        transport: Transport,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._providers = providers
        self._transport = transport
        self._env = dict(os.environ if env is None else env)
        self._static: dict[str, Credentials] = {}
        self._missing: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._accounts: dict[str, Any] = {}
        for name, p in providers.items():
            why = self._load(name, p)
            if why:
                self._missing[name] = why

    def _load(self, name: str, p: ProviderConfig) -> str | None:
        """Load what can be loaded now; return why the provider cannot be called, or None."""
        if p.kind == "bedrock":
            return self._load_aws(name)
        if p.kind == "vertex":
            var = p.credentials_env or "GOOGLE_APPLICATION_CREDENTIALS"
            path = self._env.get(var)
            if not path or not Path(path).is_file():
                return f"no service-account file in ${var}"
            if not p.options().get("project") and not p.project_env:
                return "no project configured"
            if not p.options().get("project"):
                return f"no project in ${p.project_env}"
            return None
        if p.resolved_base_url() is None:
            return f"no base URL (set {p.base_url_env or 'base_url'})"
        if p.api_key_env is None:
            self._static[name] = Credentials()  # e.g. a local vLLM or Ollama with no key
            return None
        key = self._env.get(p.api_key_env)
        if not key:
            return f"no key in ${p.api_key_env}"
        self._static[name] = Credentials(api_key=key)
        return None

    def _load_aws(self, name: str) -> str | None:
        ak, sk = self._env.get("AWS_ACCESS_KEY_ID"), self._env.get("AWS_SECRET_ACCESS_KEY")
        if ak and sk:
            self._static[name] = Credentials(
                aws_access_key_id=ak,
                aws_secret_access_key=sk,
                aws_session_token=self._env.get("AWS_SESSION_TOKEN"),
            )
            return None
        if not (self._env.get("AWS_PROFILE") or Path("~/.aws/credentials").expanduser().exists()):
            return "no AWS credentials ($AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or a profile)"
        import botocore.session

        session = botocore.session.Session(profile=self._env.get("AWS_PROFILE"))
        creds = session.get_credentials()
        if creds is None:
            return "no AWS credentials in the profile"
        frozen = creds.get_frozen_credentials()
        self._static[name] = Credentials(
            aws_access_key_id=frozen.access_key,
            aws_secret_access_key=frozen.secret_key,
            aws_session_token=frozen.token,
        )
        return None

    def secrets(self) -> list[str]:
        out = [s for c in self._static.values() for s in (c.api_key, c.aws_secret_access_key) if s]
        return out + [t for t, _ in self._tokens.values()]

    def missing(self) -> Mapping[str, str]:
        """Providers that cannot be called -> why (shown as the actual value of `rt:no-key`)."""
        return self._missing

    def key_variable(self, provider: str) -> str:
        p = self._providers.get(provider)
        if p is None:
            return "a configured provider"
        if p.kind == "bedrock":
            return "AWS credentials"
        if p.kind == "vertex":
            return f"${p.credentials_env or 'GOOGLE_APPLICATION_CREDENTIALS'}"
        return f"${p.api_key_env}" if p.api_key_env else "no key needed"

    async def get(self, provider: str, timeouts: Timeouts) -> Credentials:
        c = self._static.get(provider)
        if c is not None:
            return c
        p = self._providers.get(provider)
        if p is not None and p.kind == "vertex":
            return Credentials(api_key=await self._vertex_token(provider, p, timeouts))
        raise ProviderError("auth_error", f"no credentials for provider {provider!r}")

    async def _vertex_token(self, name: str, p: ProviderConfig, timeouts: Timeouts) -> str:
        cached = self._tokens.get(name)
        now = time.time()
        if cached and cached[1] > now + 60:
            return cached[0]
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(name)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
            from unhardcoded.providers import google_auth

            sa = self._accounts.get(name)
            if sa is None:
                path = self._env[p.credentials_env or "GOOGLE_APPLICATION_CREDENTIALS"]
                sa = google_auth.load_service_account(Path(path).read_text())
                self._accounts[name] = sa
            call = google_auth.build_token_request(sa, now=int(time.time()), token_uri=p.token_uri)
            resp = await self._transport.send(call, timeouts)
            token, expires_in = google_auth.parse_token_response(resp.status, resp.body)
            self._tokens[name] = (token, time.time() + float(expires_in))
            return token
