"""What changed between two catalog versions, field by field per deployment. Pure: no I/O, no clock.

Replay's decision diff (review/diff.py) asks why a call would now go elsewhere; this asks what the
catalog itself says differently: deployments added and removed, and per deployment that stayed, each
changed value (prices, scores, context window, capabilities gained or lost, ...), plus custom fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from unhardcoded.catalog.model import Catalog, Deployment

PRICE_PREFIX = "price_"
SCORE_PREFIX = "bench_"
# Derived from other values: a change shows up in those already.
SKIPPED = frozenset({"price_blended_per_mtok"})


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        """price | score | capabilities | other: how `catalog diff` groups it."""
        if self.field.startswith(PRICE_PREFIX):
            return "price"
        if self.field.startswith(SCORE_PREFIX):
            return "score"
        return "capabilities" if self.field == "capabilities" else "other"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.field,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
        }
        if self.field == "capabilities":
            b, a = set(self.before or ()), set(self.after or ())
            out["gained"], out["lost"] = sorted(a - b), sorted(b - a)
        return out


@dataclass(slots=True)
class CatalogDiff:
    before: str  # catalog_version
    after: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[FieldChange]] = field(default_factory=dict)  # deployment id -> its changes
    fields_added: list[str] = field(default_factory=list)  # custom fields
    fields_removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.fields_added or self.fields_removed)

    def counts(self) -> dict[str, int]:
        kinds: dict[str, int] = {"price": 0, "score": 0, "capabilities": 0, "other": 0}
        for changes in self.changed.values():
            for c in changes:
                kinds[c.kind] += 1
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed), **kinds}

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "counts": self.counts(),
            "added": self.added,
            "removed": self.removed,
            "changed": {d: [c.to_dict() for c in cs] for d, cs in self.changed.items()},
            "fields_added": self.fields_added,
            "fields_removed": self.fields_removed,
        }


def _values(d: Deployment) -> dict[str, Any]:
    out = {k: v for k, v in d.values.items() if k not in SKIPPED}
    out["upstream_model"] = d.upstream_model
    out["endpoint_region"] = d.endpoint_region
    return out


def _changes(a: Deployment, b: Deployment) -> list[FieldChange]:
    va, vb = _values(a), _values(b)
    return [
        FieldChange(name, va.get(name), vb.get(name))
        for name in sorted(set(va) | set(vb))
        if va.get(name) != vb.get(name)
    ]


def diff_catalogs(before: Catalog, after: Catalog) -> CatalogDiff:
    """Deployments added, removed and changed (field by field) from `before` to `after`."""
    out = CatalogDiff(before.version, after.version)
    ids_a, ids_b = set(before.ids), set(after.ids)
    out.added = sorted(ids_b - ids_a)
    out.removed = sorted(ids_a - ids_b)
    for dep_id in sorted(ids_a & ids_b):
        a, b = before.get(dep_id), after.get(dep_id)
        assert a is not None and b is not None
        changes = _changes(a, b)
        if changes:
            out.changed[dep_id] = changes
    custom_a = {f.name for f in before.fields.custom()}
    custom_b = {f.name for f in after.fields.custom()}
    out.fields_added, out.fields_removed = sorted(custom_b - custom_a), sorted(custom_a - custom_b)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def render_lines(d: CatalogDiff, *, limit: int | None = None) -> Iterable[str]:
    """Plain text: a summary, then each added / removed deployment and each changed value."""
    c = d.counts()
    yield f"catalog {d.before[:16]}… -> {d.after[:16]}…"
    if d.empty:
        yield "no differences"
        return
    yield (
        f"{c['added']} added, {c['removed']} removed, {c['changed']} changed"
        f" ({c['price']} price, {c['score']} score, {c['capabilities']} capability,"
        f" {c['other']} other values)"
    )
    for name in d.fields_added:
        yield f"+ field {name}"
    for name in d.fields_removed:
        yield f"- field {name}"
    for dep_id in d.added:
        yield f"+ {dep_id}"
    for dep_id in d.removed:
        yield f"- {dep_id}"
    for shown, (dep_id, changes) in enumerate(d.changed.items()):
        if limit is not None and shown >= limit:
            yield f"  ... {len(d.changed) - shown} more changed deployments (--json lists all)"
            return
        yield f"~ {dep_id}"
        for ch in changes:
            if ch.field == "capabilities":
                x = ch.to_dict()
                parts = [f"+{g}" for g in x["gained"]] + [f"-{g}" for g in x["lost"]]
                yield f"    capabilities: {' '.join(parts)}"
            else:
                yield f"    {ch.field}: {_fmt(ch.before)} -> {_fmt(ch.after)}"
