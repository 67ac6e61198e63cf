"""The catalog as the decision reads it: deployments in id order, plus one column per field for fast scans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from unhardcoded.catalog.fields import FieldRegistry


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place a model is served. `values` holds every field value (None = absent)."""

    id: str
    provider: str
    upstream_model: str
    endpoint_region: str | None
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def get(self, field: str) -> Any:
        return self.values.get(field)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.values.items() if k != "price_blended_per_mtok"}
        out["upstream_model"] = self.upstream_model
        out["endpoint_region"] = self.endpoint_region
        out["sources"] = dict(self.sources)
        return out


def blended_price(values: Mapping[str, Any]) -> float | None:
    pin, pout = values.get("price_input_per_mtok"), values.get("price_output_per_mtok")
    if pin is None or pout is None:
        return None
    blended: float = round((3 * pin + pout) / 4, 9)
    return blended


class Catalog:
    """An immutable set of deployments with a content version.

    `columns` are built once per catalog: the decision evaluates a rule as one scan over a column,
    which is what keeps a 2,000-deployment decision under a millisecond.
    """

    __slots__ = (
        "_by_id",
        "_columns",
        "_rank_columns",
        "deployments",
        "derived",
        "fields",
        "ids",
        "meta",
        "version",
    )

    def __init__(
        self,
        deployments: list[Deployment],
        fields: FieldRegistry,
        version: str,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.deployments: tuple[Deployment, ...] = tuple(sorted(deployments, key=lambda d: d.id))
        self.fields = fields
        self.version = version
        self.meta: Mapping[str, Any] = meta or {}
        self.ids: tuple[str, ...] = tuple(d.id for d in self.deployments)
        self._by_id = {d.id: i for i, d in enumerate(self.deployments)}
        self._columns: dict[str, list[Any]] = {}
        self._rank_columns: dict[str, list[float | None]] = {}
        # Structures computed from this catalog on first use (the engine's indexes): never its content.
        self.derived: dict[str, object] = {}
        for f in fields:
            if f.derived and f.name == "est_cost_usd":
                continue
            col = [d.values.get(f.name) for d in self.deployments]
            if f.type == "list":
                col = [frozenset(v) if v is not None else None for v in col]
            self._columns[f.name] = col
            if f.type == "number":
                self._rank_columns[f.name] = col
            elif f.type == "date":
                self._rank_columns[f.name] = [
                    float(dt.date.fromisoformat(v).toordinal()) if v is not None else None for v in col
                ]

    def __len__(self) -> int:
        return len(self.deployments)

    def __iter__(self) -> Iterator[Deployment]:
        return iter(self.deployments)

    def index(self, deployment_id: str) -> int | None:
        return self._by_id.get(deployment_id)

    def get(self, deployment_id: str) -> Deployment | None:
        i = self._by_id.get(deployment_id)
        return None if i is None else self.deployments[i]

    def column(self, field: str) -> list[Any]:
        """Values of one field, in deployment order (list fields as frozensets)."""
        return self._columns[field]

    def rank_column(self, field: str) -> list[float | None]:
        """Numeric values of a number or date field (dates as ordinals), for ranking."""
        return self._rank_columns[field]

    def resolve(self, name: str) -> Deployment | None:
        """A deployment by id, or the first deployment of a model id (`openai/gpt-4.1`)."""
        d = self.get(name)
        if d is not None:
            return d
        models = self._columns.get("model", [])
        for i, m in enumerate(models):
            if m == name:
                return self.deployments[i]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalog_version": self.version,
            "fields": [f.to_dict() for f in self.fields.custom()],
            "deployments": [d.to_dict() for d in self.deployments],
            **{k: v for k, v in self.meta.items() if k not in ("deployments",)},
        }
