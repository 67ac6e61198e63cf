"""The policies a gateway knows, and which one a call carries: named, inline (parsed once), or pinned."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from unhardcoded.catalog.load import build_catalog
from unhardcoded.catalog.model import Catalog
from unhardcoded.config import Settings
from unhardcoded.errors import PolicyError, RequestError
from unhardcoded.gateway import openrouter
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.policy.decision import Decision, RuntimeState
from unhardcoded.policy.memo import DecisionMemo
from unhardcoded.policy.model import Policy
from unhardcoded.policy.parse import parse_policy
from unhardcoded.policy.request import RequestFeatures, features_from_body


class Policies:
    """Named and inline policies over one catalog, and the memoised decision; shared by the CLI and server."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None, *, memo_size: int = 4096) -> None:
        self.settings = settings
        self.catalog = catalog or build_catalog(
            bundled=settings.catalog.bundled,
            overlay=settings.catalog.deployments,
            custom_fields=settings.catalog.fields,
        )
        self.memo = DecisionMemo(memo_size)
        self._parsed: OrderedDict[bytes, Policy] = OrderedDict()
        self.configured: dict[str, Policy] = {}  # from the config file: read-only
        # through POST /x/policies, per tenant: name -> (newest version, policy)
        self.saved: dict[str | None, dict[str, tuple[int, Policy]]] = {}
        for name, doc in settings.policies.items():
            try:
                self.configured[name] = parse_policy(
                    doc, self.catalog.fields, default_baseline=settings.default_baseline, name=name
                )
                self._check_baseline(doc, self.configured[name])
            except PolicyError as e:
                raise PolicyError(f"policies.{name}: {e.message}", path=e.path, choices=e.choices) from None
        for alias, target in settings.aliases.items():
            if target not in self.configured:
                raise PolicyError(
                    f"aliases.{alias}: no policy named {target!r}",
                    path=f"aliases.{alias}",
                    choices=sorted(self.configured),
                )
        if settings.default_policy and settings.default_policy not in self.configured:
            raise PolicyError(
                f"default_policy: no policy named {settings.default_policy!r}",
                choices=sorted(self.configured),
            )

    def parse(self, doc: Any) -> Policy:
        """Parse an inline policy, memoised on its bytes (so a hot policy is parsed once)."""
        try:
            key = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            key = repr(doc).encode()
        p = self._parsed.get(key)
        if p is None:
            p = parse_policy(doc, self.catalog.fields, default_baseline=self.settings.default_baseline)
            self._check_baseline(doc, p)
            self._parsed[key] = p
            if len(self._parsed) > 1024:
                self._parsed.popitem(last=False)
        return p

    def _check_baseline(self, doc: Any, p: Policy) -> None:
        """A baseline the policy names must exist: savings against nothing would be invented."""
        if (
            isinstance(doc, dict)
            and doc.get("baseline") is not None
            and self.catalog.resolve(p.baseline or "") is None
        ):
            raise PolicyError(
                f"baseline: {p.baseline!r} is neither a deployment id nor a model id of the catalog"
                " (GET /v1/models lists them)",
                path="$.baseline",
            )

    def named(self, name: str, tenant: str | None = None) -> Policy:
        """A config policy, or the newest version of the tenant's stored policy of that name."""
        p = self.configured.get(name)
        if p is None:
            saved = self.saved.get(tenant, {}).get(name)
            if saved is not None:
                return saved[1]
            raise PolicyError(
                f"no policy named {name!r}",
                path="model" if name else "policy",
                choices=sorted({*self.configured, *self.saved.get(tenant, {})}),
            )
        return p

    def version_of(self, name: str | None, tenant: str | None = None) -> int | None:
        """The version of a stored policy the call named (config policies have none)."""
        if name is None or name in self.configured:
            return None
        saved = self.saved.get(tenant, {}).get(name)
        return saved[0] if saved else None

    def has_saved(self, name: str, tenant: str | None) -> bool:
        return name in self.saved.get(tenant, {})

    def load_saved(self, tenant: str | None, rows: dict[str, dict[str, Any]]) -> None:
        """The newest version of each of the tenant's stored policies, as the store lists them."""
        have_all = self.saved.get(tenant, {})
        fresh: dict[str, tuple[int, Policy]] = {}
        for name, row in rows.items():
            have = have_all.get(name)
            if have is not None and have[0] == row["version"]:
                fresh[name] = have
                continue
            fresh[name] = (row["version"], self.validate(row["policy"], name=name))
        self.saved[tenant] = fresh

    def validate(self, doc: Any, *, name: str | None = None) -> Policy:
        """Parse a policy to be stored: the same checks as an inline one, under its name."""
        p = parse_policy(doc, self.catalog.fields, default_baseline=self.settings.default_baseline, name=name)
        self._check_baseline(doc, p)
        return p

    @staticmethod
    def requested_name(req: ChatRequest) -> str | None:
        """The policy name a call asks for, if it asks for one by name."""
        if isinstance(req.policy, str):
            return req.policy
        if req.policy is None:
            if req.model.startswith("policy:"):
                return req.model[len("policy:") :]
            return req.policy_header
        return None

    def for_call(self, req: ChatRequest) -> tuple[Policy, str | None]:
        """The call's policy (with OpenRouter-style preferences added as `or:*` rules) and what it pinned."""
        policy, pinned = self._base_for_call(req)
        if req.openrouter is None:
            return policy, pinned
        rules, extra = openrouter.translate(*req.openrouter)
        doc = {**policy.canonical, **extra}
        doc["rules"] = [*policy.canonical.get("rules", []), *rules]
        composed = self.parse(doc)
        marked = tuple(
            dataclasses.replace(r, source=openrouter.SOURCE) if r.id.startswith("or:") else r
            for r in composed.rules
        )
        return dataclasses.replace(composed, rules=marked, name=policy.name), pinned

    def _base_for_call(self, req: ChatRequest) -> tuple[Policy, str | None]:
        """The call's policy, and the pinned deployment/model when the call names one instead.

        Precedence: body `policy` (inline or a name) > `model: "policy:NAME"` > header > pinned model >
        the config's default policy > `{}` (cheapest deployment that can serve the request).
        """
        doc, model, tenant = req.policy, req.model, req.tenant
        if doc is not None:
            return (self.named(doc, tenant) if isinstance(doc, str) else self.parse(doc)), None
        if model.startswith("policy:"):
            return self.named(model[len("policy:") :], tenant), None
        if req.policy_header:
            return self.named(req.policy_header, tenant), None
        alias = self.settings.aliases.get(model)
        if alias is not None:
            return self.named(alias, tenant), None
        if model != "auto":
            return self.pinned(model), model
        if self.settings.default_policy:
            return self.configured[self.settings.default_policy], None
        return self.parse({}), None

    def pinned(self, model: str) -> Policy:
        """A call naming a deployment or model: a policy of its candidates, with a receipt all the same."""
        if self.catalog.get(model) is not None:
            field = "id"
        elif model in set(self.catalog.column("model")):
            field = "model"
        else:
            matches = [d.id for d in self.catalog if d.upstream_model == model]
            if not matches:
                raise RequestError(
                    f"model: {model!r} is neither 'auto', 'policy:NAME', a deployment id nor a model id"
                    " (GET /v1/models lists them)",
                    path="model",
                )
            return self.parse({"rules": [{"id": "pinned", "field": "id", "op": "in", "value": matches}]})
        return self.parse({"rules": [{"id": "pinned", "field": field, "op": "==", "value": model}]})

    def features(self, body: Mapping[str, Any]) -> RequestFeatures:
        return features_from_body(body, default_output_tokens=self.settings.default_output_tokens)

    def decide(
        self, policy: Policy, features: RequestFeatures, runtime: RuntimeState | None = None
    ) -> Decision:
        return self.memo.decide(policy, self.catalog, features, runtime)
