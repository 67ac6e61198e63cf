"""Validate a sigma-pol/v1 document and build its canonical Policy. Pure.

Every error is a PolicyError naming the JSON path of the bad part and, where there is a closed set,
the valid choices. Anything JSON can hold may come in; nothing else escapes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

from unhardcoded.catalog.fields import FieldRegistry
from unhardcoded.errors import FALLBACK_CLASSES, PolicyError
from unhardcoded.policy.canonical import fingerprint, jcs, normalise_number
from unhardcoded.policy.model import (
    DEFAULT_FALLBACK_ON,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CANDIDATES,
    MAX_PLAN,
    SCHEMA,
    Policy,
    RankKey,
    Rule,
)

TOP_KEYS = ("schema", "workload", "rules", "rank", "select", "fallback", "baseline", "limits", "on_budget")
RULE_KEYS = ("id", "field", "op", "value", "missing")
LIST_OPS = ("in", "not_in", "has_any", "has_all")
DERIVED_RANK = ("est_cost_usd", "price_blended_per_mtok")
# Only YYYY-MM-DD: date.fromisoformat also takes week dates (2024-W01-1) and compact forms, which would
# then compare as strings against the catalog's dates.
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _err(path: str, message: str, choices: list[str] | None = None) -> PolicyError:
    text = f"{path}: {message}"
    if choices:
        text += f"; valid: {', '.join(choices)}"
    return PolicyError(text, path=path, choices=choices)


def _obj(value: Any, path: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _err(path, f"expected an object, got {_kind(value)}")
    for k in value:
        if k not in keys:
            raise _err(f"{path}.{k}", "unknown key", list(keys))
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "an object" if isinstance(value, Mapping) else type(value).__name__
    )


def _int(value: Any, path: str, lo: int, hi: int) -> int:
    value = normalise_number(value)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _err(path, f"expected an integer from {lo} to {hi}, got {value!r}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _err(path, f"expected a non-empty string, got {_kind(value)}")
    return _unicode(value, path)


def _unicode(value: str, path: str) -> str:
    # A JSON decoder may hand over lone surrogates ("\ud800"), which RFC 8785 cannot canonicalise.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _err(path, "expected valid Unicode text (a lone surrogate is not)") from None
    return value


def parse_policy(
    doc: Any,
    fields: FieldRegistry,
    *,
    default_baseline: str | None = None,
    name: str | None = None,
) -> Policy:
    """Validate `doc` (a decoded JSON value) and return the canonical Policy."""
    top = _obj(doc, "$", TOP_KEYS)
    schema = top.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise _err("$.schema", f"unsupported schema {schema!r}", [SCHEMA])
    workload = _str(top.get("workload", "default"), "$.workload")
    rules_doc = top.get("rules", [])
    if not isinstance(rules_doc, list):
        raise _err("$.rules", f"expected an array of rules, got {_kind(rules_doc)}")
    rules = tuple(_rule(r, f"$.rules[{i}]", fields) for i, r in enumerate(rules_doc))
    seen: dict[str, int] = {}
    for i, r in enumerate(rules):
        if r.id in seen:
            raise _err(f"$.rules[{i}].id", f"duplicate rule id {r.id!r} (also $.rules[{seen[r.id]}])")
        seen[r.id] = i
    rank = _rank(top.get("rank"), fields)
    sel = _obj(top.get("select", {}), "$.select", ("max_candidates",))
    max_candidates = _int(
        sel.get("max_candidates", DEFAULT_MAX_CANDIDATES), "$.select.max_candidates", 1, MAX_PLAN
    )
    fb = _obj(top.get("fallback", {}), "$.fallback", ("on", "max_attempts"))
    on_doc = fb.get("on", list(DEFAULT_FALLBACK_ON))
    if not isinstance(on_doc, list):
        raise _err("$.fallback.on", f"expected an array of error classes, got {_kind(on_doc)}")
    for i, c in enumerate(on_doc):
        if c not in FALLBACK_CLASSES:
            raise _err(f"$.fallback.on[{i}]", f"unknown error class {c!r}", list(FALLBACK_CLASSES))
    fallback_on = tuple(c for c in FALLBACK_CLASSES if c in on_doc)
    max_attempts = _int(fb.get("max_attempts", DEFAULT_MAX_ATTEMPTS), "$.fallback.max_attempts", 1, MAX_PLAN)
    baseline = top.get("baseline", default_baseline)
    if baseline is not None:
        baseline = _str(baseline, "$.baseline")
    limits = _obj(top.get("limits", {}), "$.limits", ("max_est_cost_usd",))
    max_cost = limits.get("max_est_cost_usd")
    if max_cost is not None:
        max_cost = normalise_number(max_cost)
        if (
            not isinstance(max_cost, int | float)
            or isinstance(max_cost, bool)
            or not 0 <= max_cost < math.inf
        ):
            raise _err("$.limits.max_est_cost_usd", f"expected a finite number >= 0, got {max_cost!r}")
    on_budget = top.get("on_budget", "reject")
    if on_budget not in ("reject", "downgrade"):
        raise _err("$.on_budget", f"unknown value {on_budget!r}", ["reject", "downgrade"])

    canonical: dict[str, Any] = {
        "schema": SCHEMA,
        "workload": workload,
        "rules": [
            {"id": r.id, "field": r.field, "op": r.op, "value": _jsonable(r.value), "missing": r.missing}
            for r in rules
        ],
        "rank": [{"by": k.by, "order": k.order} for k in rank],
        "select": {"max_candidates": max_candidates},
        "fallback": {"on": list(fallback_on), "max_attempts": max_attempts},
        "baseline": baseline,
        "limits": {} if max_cost is None else {"max_est_cost_usd": max_cost},
        "on_budget": on_budget,
    }
    fp, sha, whole = fingerprint(canonical)
    return Policy(
        rules=rules,
        rank=rank,
        max_candidates=max_candidates,
        fallback_on=fallback_on,
        max_attempts=max_attempts,
        baseline=baseline,
        max_est_cost_usd=None if max_cost is None else float(max_cost),
        on_budget=on_budget,
        workload=workload,
        canonical=canonical,
        canonical_json=whole,
        sha256=sha,
        fingerprint=fp,
        name=name,
    )


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _rule(doc: Any, path: str, fields: FieldRegistry) -> Rule:
    r = _obj(doc, path, RULE_KEYS)
    if "field" not in r:
        raise _err(f"{path}.field", "required", fields.names())
    name = r["field"]
    field = fields.get(name) if isinstance(name, str) else None
    if field is None:
        raise _err(f"{path}.field", f"unknown field {name!r}", fields.names())
    if "op" not in r:
        raise _err(f"{path}.op", "required", list(field.ops))
    op = r["op"]
    if not isinstance(op, str) or op not in field.ops:
        raise _err(f"{path}.op", f"op {op!r} does not fit the {field.type} field {name!r}", list(field.ops))
    missing = r.get("missing", "reject")
    if missing not in ("reject", "pass"):
        raise _err(f"{path}.missing", f"unknown value {missing!r}", ["reject", "pass"])
    if op == "exists":
        value: Any = r.get("value", True)
        if not isinstance(value, bool):
            raise _err(f"{path}.value", "exists takes true (present) or false (absent)")
    else:
        if "value" not in r:
            raise _err(f"{path}.value", "required")
        value = _value(r["value"], field.type, op, f"{path}.value")
    rid = r.get("id")
    if rid is None:
        body = jcs({"field": name, "op": op, "value": _jsonable(value), "missing": missing})
        rid = f"{name}-{hashlib.sha256(body).hexdigest()[:8]}"
    else:
        rid = _str(rid, f"{path}.id")
        if rid.startswith(("req:", "rt:", "lim:")):
            raise _err(f"{path}.id", "ids starting with req:, rt: or lim: are reserved for the gateway")
    return Rule(id=rid, field=name, op=op, value=value, missing=missing)


def _value(value: Any, ftype: str, op: str, path: str) -> Any:
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise _err(path, f"{op} takes a non-empty array, got {_kind(value)}")
        item_type = "string" if ftype == "list" else ftype
        items = [_scalar(v, item_type, f"{path}[{i}]") for i, v in enumerate(value)]
        # Order and repeats do not change what a set test means, so they do not change the fingerprint.
        return tuple(sorted(set(items), key=lambda x: (str(type(x)), x)))
    return _scalar(value, "string" if ftype == "list" else ftype, path)


def _scalar(value: Any, ftype: str, path: str) -> Any:
    value = normalise_number(value)
    if ftype == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            # NaN too: JSON has none, but json.loads and YAML (.nan) hand it over.
            if not math.isfinite(value):
                raise _err(path, "expected a finite number")
            return value
        raise _err(path, f"expected a number, got {_kind(value)}")
    if ftype == "bool":
        if isinstance(value, bool):
            return value
        raise _err(path, f"expected true or false, got {_kind(value)}")
    if ftype == "date":
        if isinstance(value, str) and DATE_RE.fullmatch(value):
            try:
                dt.date.fromisoformat(value)
                return value
            except ValueError:
                pass
        raise _err(path, f"expected a date YYYY-MM-DD, got {value!r}")
    if isinstance(value, str):
        return _unicode(value, path)
    raise _err(path, f"expected a string, got {_kind(value)}")


def _rank(doc: Any, fields: FieldRegistry) -> tuple[RankKey, ...]:
    if doc is None:
        return (RankKey("est_cost_usd", "asc"),)
    if not isinstance(doc, list) or not doc:
        raise _err("$.rank", f"expected a non-empty array of rank keys, got {_kind(doc)}")
    keys = []
    rankable = sorted(set(fields.rankable()) | set(DERIVED_RANK))
    for i, k in enumerate(doc):
        path = f"$.rank[{i}]"
        obj = _obj(k, path, ("by", "order"))
        by = obj.get("by")
        if by not in rankable:
            raise _err(f"{path}.by", f"cannot rank by {by!r}", rankable)
        order = obj.get("order", "asc")
        if order not in ("asc", "desc"):
            raise _err(f"{path}.order", f"unknown order {order!r}", ["asc", "desc"])
        keys.append(RankKey(by, order))
    return tuple(keys)
