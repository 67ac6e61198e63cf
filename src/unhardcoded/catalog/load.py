"""Build a Catalog: the bundled snapshot (package data) plus the config's overlay, checked field by field."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.resources
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import rfc8785

from unhardcoded.catalog.fields import CAPABILITIES, RESERVED, Field, FieldRegistry
from unhardcoded.catalog.model import Catalog, Deployment, blended_price
from unhardcoded.errors import ConfigError

REQUIRED = ("id", "provider", "model", "upstream_model")
MAX_SAFE_INT = 2**53 - 1  # RFC 8785 (and so catalog_version) takes no integer beyond this
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def load_bundled_raw() -> dict[str, Any]:
    """The bundled catalog file as shipped in the package."""
    data = importlib.resources.files("unhardcoded.catalog").joinpath("data/catalog.json").read_bytes()
    raw = orjson.loads(data)
    if not isinstance(raw, dict):
        raise ConfigError("the bundled catalog is not a JSON object")
    return raw


def build_catalog(
    *,
    bundled: bool = True,
    overlay: Iterable[Mapping[str, Any]] = (),
    custom_fields: Mapping[str, Mapping[str, Any]] | None = None,
    bundled_raw: Mapping[str, Any] | None = None,
) -> Catalog:
    """The effective catalog: bundled deployments, then the overlay (new ids add, same ids override)."""
    fields = FieldRegistry.with_custom(custom_fields or {})
    records: dict[str, dict[str, Any]] = {}
    meta: dict[str, Any] = {}
    if bundled:
        raw = bundled_raw if bundled_raw is not None else load_bundled_raw()
        meta = {k: v for k, v in raw.items() if k in ("schema", "built_from", "bench")}
        for rec in raw.get("deployments", []):
            records[rec["id"]] = dict(rec)
    for i, rec in enumerate(overlay):
        path = f"catalog.deployments[{i}]"
        if not isinstance(rec, Mapping) or not isinstance(rec.get("id"), str) or not rec["id"]:
            raise ConfigError(f"{path}.id: every overlay deployment needs a string id", path=f"{path}.id")
        dep_id = rec["id"]
        base = records.get(dep_id, {})
        merged = {**base, **{k: v for k, v in rec.items() if k != "sources"}}
        sources = dict(base.get("sources", {}))
        own = rec.get("sources")
        given: dict[str, Any] = own if isinstance(own, dict) else {}
        # Each overlay value cites the config, unless the overlay names its own source (an importer does).
        sources.update({k: str(given.get(k, "config")) for k in rec if k not in ("id", "sources")})
        merged["sources"] = sources
        merged.setdefault("upstream_model", str(merged.get("model", dep_id)).split("/")[-1])
        records[dep_id] = _validate(merged, fields, f"{path} ({dep_id})")
    deployments = [_to_deployment(rec, fields) for rec in records.values()]
    version = catalog_version(deployments, fields)
    return Catalog(deployments, fields, version, meta)


def catalog_version(deployments: Iterable[Deployment], fields: FieldRegistry) -> str:
    """SHA-256 of the catalog's canonical JSON (RFC 8785), custom field definitions included."""
    doc = {
        "fields": [f.to_dict() for f in fields.custom()],
        "deployments": sorted((d.to_dict() for d in deployments), key=lambda r: r["id"]),
    }
    return hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


def _to_deployment(rec: Mapping[str, Any], fields: FieldRegistry) -> Deployment:
    values: dict[str, Any] = {}
    for f in fields.stored():
        v = rec.get(f.name)
        if f.type == "list" and v is not None:
            v = sorted(v)
        if isinstance(v, float) and v.is_integer() and f.type == "number":
            v = int(v)
        values[f.name] = v
    values["price_blended_per_mtok"] = blended_price(values)
    return Deployment(
        id=rec["id"],
        provider=rec["provider"],
        upstream_model=rec["upstream_model"],
        endpoint_region=rec.get("endpoint_region"),
        values=values,
        sources=dict(rec.get("sources") or {}),
    )


def _validate(rec: dict[str, Any], fields: FieldRegistry, where: str) -> dict[str, Any]:
    for name in REQUIRED:
        if not isinstance(rec.get(name), str) or not rec[name]:
            raise ConfigError(
                f"{where}: field '{name}' is required (a non-empty string)", path=f"{where}.{name}"
            )
    for name, value in rec.items():
        if name in ("sources", "endpoint_region", "upstream_model"):
            continue
        f = fields.get(name)
        if f is None or f.derived:
            valid = sorted({x.name for x in fields.stored()} | RESERVED)
            raise ConfigError(
                f"{where}: unknown field '{name}'; valid fields: {', '.join(valid)}",
                path=f"{where}.{name}",
                choices=valid,
            )
        if value is not None:
            _check_type(f, value, f"{where}.{name}")
    return rec


def _check_type(f: Field, value: Any, path: str) -> None:
    ok: bool
    if f.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            ok = False
        elif isinstance(value, int):
            ok = abs(value) <= MAX_SAFE_INT
        else:
            ok = math.isfinite(value)
    elif f.type == "string":
        ok = isinstance(value, str) and _is_unicode(value)
    elif f.type == "bool":
        ok = isinstance(value, bool)
    elif f.type == "date":
        ok = isinstance(value, str) and _is_date(value)
    else:
        ok = isinstance(value, list) and all(isinstance(x, str) and _is_unicode(x) for x in value)
        if ok and f.name == "capabilities":
            bad = [x for x in value if x not in CAPABILITIES]
            if bad:
                raise ConfigError(
                    f"{path}: unknown capability {bad[0]!r}; valid: {', '.join(CAPABILITIES)}",
                    path=path,
                    choices=list(CAPABILITIES),
                )
    if not ok:
        want = {"list": "a list of strings", "date": "a date YYYY-MM-DD"}.get(f.type, f"a {f.type}")
        raise ConfigError(f"{path}: expected {want}, got {value!r}", path=path)


def _is_date(value: str) -> bool:
    # Only YYYY-MM-DD: date.fromisoformat also takes week dates (2024-W01-1), which compare wrongly as text.
    if not DATE_RE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which RFC 8785 cannot canonicalise
        return False
    return True
