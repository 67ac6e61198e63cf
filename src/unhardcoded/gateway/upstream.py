"""How one attempt reaches a deployment: its target, adapter, key, timeouts and the transport.

`Upstream` turns (deployment, body) into a sent request and an answer or a ProviderError. It also owns the
one redaction function: every message that leaves an attempt goes through `redact` before anyone stores,
logs or returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unhardcoded.catalog.model import Catalog, Deployment
from unhardcoded.config import ProviderConfig
from unhardcoded.gateway.credentials import CredentialStore
from unhardcoded.gateway.transport import StreamHandle, Timeouts, Transport
from unhardcoded.policy.decision import RuntimeRule
from unhardcoded.providers.base import Adapter, ChatResult, HttpCall, Target


@dataclass(frozen=True, slots=True)
class Prepared:
    """An attempt ready to send: the adapter accepted the request for this deployment."""

    target: Target
    adapter: Adapter
    request: HttpCall
    timeouts: Timeouts
    warnings: tuple[str, ...]  # parameters this provider has no equivalent for (dropped)


class Upstream:
    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        adapters: Mapping[str, Adapter],
        transport: Transport,
        credentials: CredentialStore,
    ) -> None:
        self._providers = providers
        self._adapters = adapters
        self._transport = transport
        self.credentials = credentials
        self._targets: dict[str, Target] = {}

    def target(self, dep: Deployment) -> Target:
        t = self._targets.get(dep.id)
        if t is None:
            p = self._providers[dep.provider]
            t = Target(
                deployment_id=dep.id,
                provider=dep.provider,
                kind=p.kind,
                upstream_model=dep.upstream_model,
                base_url=p.resolved_base_url() or "",
                region=dep.endpoint_region or dep.get("region"),
                options=p.options(),
            )
            self._targets[dep.id] = t
        return t

    def timeouts(self, provider: str, remaining_s: float) -> Timeouts:
        p = self._providers[provider]
        return Timeouts(
            connect_s=p.connect_timeout_s,  # fixed, so the client reuses it; total_s bounds it
            first_byte_s=min(p.first_byte_timeout_s, remaining_s),
            idle_s=min(p.idle_timeout_s, remaining_s),
            total_s=max(0.001, min(p.timeout_s, remaining_s)),
        )

    async def prepare(
        self, dep: Deployment, body: Mapping[str, Any], remaining_s: float, *, stream: bool
    ) -> Prepared:
        """Key and request for one attempt. A ProviderError here means nothing was sent."""
        target = self.target(dep)
        adapter = self._adapters[target.kind]
        tmo = self.timeouts(dep.provider, remaining_s)
        creds = await self.credentials.get(dep.provider, tmo)
        request = adapter.build_request(body, target, creds, stream=stream)
        return Prepared(target, adapter, request, tmo, tuple(adapter.request_warnings(body, target)))

    async def send(self, p: Prepared) -> tuple[int, ChatResult]:
        """A complete answer: its HTTP status and the parsed result, or ProviderError."""
        resp = await self._transport.send(p.request, p.timeouts)
        if resp.status >= 300:
            raise p.adapter.parse_error(resp.status, resp.headers, resp.body)
        return resp.status, p.adapter.parse_response(resp.status, resp.headers, resp.body, p.target)

    async def open_stream(self, p: Prepared) -> StreamHandle:
        """A stream whose status is 2xx (the caller closes it), or ProviderError."""
        handle = await self._transport.open_stream(p.request, p.timeouts)
        if handle.status >= 300:
            try:
                raise p.adapter.parse_error(handle.status, handle.headers, await handle.read_all())
            finally:
                handle.close()
        return handle

    def redact(self, text: str) -> str:
        """Upstream messages can echo a key back in any words: replace every configured secret."""
        for secret in self.credentials.secrets():
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def simulated(self, provider: str) -> bool:
        p = self._providers.get(provider)
        return bool(p and p.simulated)

    def no_key_rule(self, catalog: Catalog) -> RuntimeRule:
        """`rt:no-key`: deployments whose provider is not configured, has no adapter, or has no key."""
        missing = self.credentials.missing()
        excluded: dict[str, str] = {}
        for d in catalog:
            p = self._providers.get(d.provider)
            if p is None:
                excluded[d.id] = f"provider {d.provider!r} is not configured"
            elif p.kind not in self._adapters:
                excluded[d.id] = f"no adapter for kind {p.kind!r}"
            elif d.provider in missing:
                excluded[d.id] = missing[d.provider]
        return RuntimeRule("rt:no-key", "provider", "has_key", "a key for the provider", excluded)

    async def close(self) -> None:
        await self._transport.close()


def dedupe(*groups: Sequence[str]) -> tuple[str, ...]:
    """Warnings in first-seen order, each once."""
    return tuple(dict.fromkeys(w for g in groups for w in g))
