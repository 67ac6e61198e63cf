"""The field registry: every catalog column with its type, unit, description, source and the ops it takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from unhardcoded.errors import ConfigError

FieldType = Literal["number", "string", "bool", "list", "date"]
FIELD_TYPES: tuple[FieldType, ...] = ("number", "string", "bool", "list", "date")

ALL_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "has", "has_any", "has_all", "exists")
OPS_BY_TYPE: Mapping[FieldType, tuple[str, ...]] = {
    "number": ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists"),
    "date": ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists"),
    "string": ("==", "!=", "in", "not_in", "exists"),
    "bool": ("==", "!=", "exists"),
    "list": ("has", "has_any", "has_all", "exists"),
}

CAPABILITIES = ("json_schema", "reasoning", "streaming", "tools", "vision")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    unit: str | None
    description: str
    source: str
    derived: bool = False  # computed, not stored: usable in rules and rank, not in an overlay
    rankable: bool = False  # numeric: can be a rank key

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS_BY_TYPE[self.type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "unit": self.unit,
            "description": self.description,
            "source": self.source,
            "derived": self.derived,
            "rankable": self.rankable,
            "ops": list(self.ops),
        }


def _f(name: str, type_: FieldType, unit: str | None, description: str, source: str, **kw: Any) -> Field:
    return Field(name, type_, unit, description, source, rankable=type_ in ("number", "date"), **kw)


_LITELLM = "litellm model_prices_and_context_window (1.110.2), then models.dev, then OpenRouter"
BUILTIN_FIELDS: tuple[Field, ...] = (
    _f("id", "string", None, "deployment id: provider/model[@region]", "catalog"),
    _f("provider", "string", None, "the serving provider (API that answers the call)", "catalog"),
    _f("model", "string", None, "the model family, creator/name", "catalog"),
    _f("creator", "string", None, "the lab that trained the model", "catalog"),
    _f(
        "region",
        "string",
        None,
        "the region or data zone the deployment is pinned to; absent = global"
        " endpoint with no region statement",
        "provider docs via litellm keys",
    ),
    _f(
        "geography",
        "string",
        None,
        "coarse residency: eu, us, apac, jp, au, in, cn, global",
        "derived from region",
    ),
    _f(
        "price_input_per_mtok", "number", "USD per 1M tokens", "input (prompt) price, standard tier", _LITELLM
    ),
    _f("price_output_per_mtok", "number", "USD per 1M tokens", "output (completion) price", _LITELLM),
    _f(
        "price_cached_input_per_mtok",
        "number",
        "USD per 1M tokens",
        "cached-input price; absent = not listed",
        _LITELLM,
    ),
    _f(
        "price_blended_per_mtok",
        "number",
        "USD per 1M tokens",
        "(3 x input + 1 x output) / 4, the blend Artificial Analysis uses",
        "derived",
        derived=True,
    ),
    _f("context_window", "number", "tokens", "maximum input tokens", _LITELLM),
    _f("max_output_tokens", "number", "tokens", "maximum output tokens", _LITELLM),
    _f("capabilities", "list", None, "subset of " + ", ".join(CAPABILITIES), _LITELLM),
    _f(
        "data_retention",
        "string",
        None,
        "what the provider keeps of prompts, where a source states it",
        "provider docs",
    ),
    _f(
        "release_date",
        "date",
        "YYYY-MM-DD",
        "model release date",
        "Artificial Analysis, then models.dev, then OpenRouter",
    ),
    _f("deprecation_date", "date", "YYYY-MM-DD", "announced retirement date", "litellm"),
    _f("open_weights", "bool", None, "weights are published", "Artificial Analysis, then models.dev"),
    _f(
        "bench_intelligence",
        "number",
        "index (0-100)",
        "Artificial Analysis Intelligence Index, 2026-08-22 snapshot, best reasoning variant; absent"
        " when the model is not in it",
        "Data provided by Artificial Analysis, artificialanalysis.ai",
    ),
    _f(
        "est_cost_usd",
        "number",
        "USD",
        "estimated cost of this request: est. input tokens x input price + est. output tokens x output price",
        "derived from the request and prices",
        derived=True,
    ),
)
DERIVED = frozenset(f.name for f in BUILTIN_FIELDS if f.derived)
RESERVED = frozenset(("upstream_model", "endpoint_region", "sources"))


class FieldRegistry:
    """Built-in fields plus the config's custom ones. Immutable once built."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[Field] = BUILTIN_FIELDS) -> None:
        self._fields: dict[str, Field] = {f.name: f for f in fields}

    @classmethod
    def with_custom(cls, custom: Mapping[str, Mapping[str, Any]]) -> FieldRegistry:
        """Add custom fields declared in the config (`catalog.fields`)."""
        fields = list(BUILTIN_FIELDS)
        known = {f.name for f in fields} | RESERVED
        for name, spec in custom.items():
            path = f"catalog.fields.{name}"
            if name in known:
                raise ConfigError(f"{path}: '{name}' is a built-in field; choose another name", path=path)
            if not name.replace("_", "").isalnum() or not name[:1].isalpha():
                raise ConfigError(f"{path}: a field name is letters, digits and underscores", path=path)
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{path}: expected a mapping with type, unit, description", path=path)
            type_ = spec.get("type")
            if type_ not in FIELD_TYPES:
                raise ConfigError(
                    f"{path}.type: {type_!r} is not a field type; valid: {', '.join(FIELD_TYPES)}",
                    path=f"{path}.type",
                    choices=list(FIELD_TYPES),
                )
            fields.append(_f(name, type_, spec.get("unit"), str(spec.get("description", "")), "config"))
        return cls(fields)

    def get(self, name: str) -> Field | None:
        return self._fields.get(name)

    def names(self) -> list[str]:
        return sorted(self._fields)

    def rankable(self) -> list[str]:
        return sorted(n for n, f in self._fields.items() if f.rankable)

    def stored(self) -> list[Field]:
        return [f for f in self._fields.values() if not f.derived]

    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields.values())

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def custom(self) -> list[Field]:
        return [f for f in self._fields.values() if f.source == "config"]
