"""Rebuild a decision's inputs from what a receipt stored: the catalog at its version, the canonical policy,
the request features and the runtime rules that fired then. Pure: bytes and dicts in, values out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from unhardcoded.catalog.fields import FieldRegistry
from unhardcoded.catalog.load import build_catalog
from unhardcoded.catalog.model import Catalog
from unhardcoded.errors import UnhardcodedError
from unhardcoded.policy.decision import Decision, RuntimeRule, RuntimeState
from unhardcoded.policy.model import Policy
from unhardcoded.policy.parse import parse_policy
from unhardcoded.policy.request import RequestFeatures

NO_KEY = "rt:no-key"


class ReplayInputError(UnhardcodedError):
    """What a receipt stored cannot be turned back into a decision's inputs (missing or unreadable)."""


def catalog_from_blob(blob: bytes, version: str) -> Catalog:
    """The catalog a receipt names, from the JSON `Catalog.to_dict()` wrote; its version must come back."""
    doc = orjson.loads(blob)
    if not isinstance(doc, dict) or not isinstance(doc.get("deployments"), list):
        raise ReplayInputError(f"catalog {version[:16]}…: the stored JSON is not a catalog")
    custom = {
        f["name"]: {"type": f["type"], "unit": f.get("unit"), "description": f.get("description", "")}
        for f in doc.get("fields") or []
    }
    # The bundled path takes records as they are (no overlay bookkeeping of `sources`), which is what a
    # stored catalog needs: its records are already the effective ones.
    raw = {k: v for k, v in doc.items() if k not in ("catalog_version", "fields")}
    catalog = build_catalog(bundled=True, bundled_raw=raw, custom_fields=custom)
    if catalog.version != version:
        raise ReplayInputError(
            f"catalog {version[:16]}…: the stored JSON rebuilds to version {catalog.version[:16]}…"
        )
    return catalog


def decision_hash(d: Decision) -> tuple[str, dict[str, Any]]:
    """The content hash a receipt names its decision by (sha256 of the orjson bytes), and the dict."""
    doc = d.to_dict()
    return hashlib.sha256(orjson.dumps(doc)).hexdigest(), doc


def stored_policy(stored: Mapping[str, Any], fields: FieldRegistry) -> Policy:
    """The policy from the decision's canonical form; its sha256 must be the one the receipt names."""
    pol = stored.get("policy") or {}
    canonical = pol.get("canonical")
    if not isinstance(canonical, dict):
        raise ReplayInputError("the stored decision has no canonical policy")
    policy = parse_policy(canonical, fields, default_baseline=None, name=pol.get("name"))
    if pol.get("sha256") and policy.sha256 != pol["sha256"]:
        raise ReplayInputError(
            f"the canonical policy parses to sha256 {policy.sha256[:16]}…, the receipt says "
            f"{str(pol['sha256'])[:16]}…"
        )
    return policy


def stored_features(stored: Mapping[str, Any]) -> RequestFeatures:
    f = stored.get("features")
    if not isinstance(f, dict):
        raise ReplayInputError("the stored decision has no request features")
    try:
        return RequestFeatures(**f)
    except TypeError as e:
        raise ReplayInputError(f"the stored request features do not fit: {e}") from None


@dataclass(frozen=True, slots=True)
class StoredRuntime:
    """The runtime rules that fired then, as the decision recorded them: rule -> deployment -> actual."""

    rules: tuple[dict[str, Any], ...]  # the stored rule entries with source "runtime", in order
    excluded: Mapping[str, Mapping[str, Any]]
    waived: tuple[str, ...]
    passed: tuple[str, ...]  # the deployments that passed then (a waived rule would have dropped them)

    def state(self, catalog: Catalog | None = None) -> RuntimeState:
        """The RuntimeState to decide with. With `catalog` (another catalog), `rt:no-key` also drops that
        catalog's other deployments of a provider it dropped then, for the same reason: a key is per
        provider, not per deployment."""
        out: list[RuntimeRule] = []
        for r in self.rules:
            excluded = dict(self.excluded.get(r["id"], {}))
            if catalog is not None and r["id"] == NO_KEY:
                excluded.update(_no_key_for_new(excluded, catalog))
            value = r.get("value")
            out.append(
                RuntimeRule(
                    r["id"], r["field"], r["op"], tuple(value) if isinstance(value, list) else value, excluded
                )
            )
        for rid in self.waived:
            # A waived rule is not on the receipt; all it did was to find that it would drop every passer.
            out.append(
                RuntimeRule(rid, "id", "circuit_closed", "closed", dict.fromkeys(self.passed), soft=True)
            )
        key = orjson.dumps(
            [[r.id, r.field, r.op, r.expected, dict(r.excluded), r.soft] for r in out],
            option=orjson.OPT_SORT_KEYS,
        )
        return RuntimeState(tuple(out), key=("replay", hashlib.sha256(key).hexdigest()))


def _no_key_for_new(excluded: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    by_provider: dict[str, set[Any]] = {}
    for dep_id, reason in excluded.items():
        by_provider.setdefault(dep_id.split("/", 1)[0], set()).add(reason)  # ids are provider/model[@region]
    out: dict[str, Any] = {}
    for d in catalog:
        reasons = by_provider.get(d.provider)
        if d.id not in excluded and reasons is not None and len(reasons) == 1:
            out[d.id] = next(iter(reasons))
    return out


def stored_runtime(stored: Mapping[str, Any]) -> StoredRuntime:
    rules = tuple(r for r in stored.get("rules") or [] if r.get("source") == "runtime")
    excluded: dict[str, dict[str, Any]] = {r["id"]: {} for r in rules}
    passed: list[str] = []
    for c in stored.get("candidates") or []:
        if c.get("status") != "rejected":
            passed.append(c["deployment"])
            continue
        for f in c.get("rejected_by") or []:
            if f.get("source") == "runtime" and f["rule_id"] in excluded:
                excluded[f["rule_id"]][c["deployment"]] = f.get("actual")
    return StoredRuntime(rules, excluded, tuple(stored.get("waived") or ()), tuple(passed))
