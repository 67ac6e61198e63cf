"""JSON from the gateway -> the client's frozen dataclasses, driven by their type hints.

One generic decoder instead of a hand-written `from_dict` per class: the dataclass declarations in
records.py are then the whole contract, which tests/client/test_records_schema.py compares with the
receipt JSON Schema. A key a class requires (no default) that the gateway left out raises DecodeError, so
drift shows up as an error, not as a silent None; keys the class does not know are ignored (and kept in a
`raw` field where the class has one), so a newer gateway does not break an older client.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from unhardcoded.errors import UnhardcodedError

T = TypeVar("T")
_MISSING = dataclasses.MISSING


class DecodeError(UnhardcodedError):
    """The gateway's answer does not have the shape this client expects (a version mismatch)."""


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def decode(cls: type[T], data: Any, where: str = "$") -> T:
    """Build the dataclass `cls` from the decoded JSON object `data`."""
    if not isinstance(data, Mapping):
        raise DecodeError(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name == "raw":
            kwargs["raw"] = dict(data)
            continue
        key = f.metadata.get("key", f.name)
        if key not in data:
            if f.default is _MISSING and f.default_factory is _MISSING:
                raise DecodeError(f"{where}.{key}: required by {cls.__name__}, absent")
            continue
        kwargs[f.name] = _value(hints[f.name], data[key], f"{where}.{key}")
    return cls(**kwargs)


def _value(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            if len(args) < len(get_args(tp)):
                return None
            raise DecodeError(f"{where}: null where {tp} was expected")
        if len(args) == 1:
            return _value(args[0], value, where)
        return value  # a union of scalars (int | float | str): taken as JSON gave it
    if origin is tuple:
        if not isinstance(value, list):
            raise DecodeError(f"{where}: expected an array, got {type(value).__name__}")
        item = get_args(tp)[0]
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise DecodeError(f"{where}: expected an object, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return decode(tp, value, where)  # type: ignore[arg-type]
    return _scalar(tp, value, where)


def _scalar(tp: Any, value: Any, where: str) -> Any:
    if tp is dt.datetime:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif tp is dt.date:
        if isinstance(value, str):
            return dt.date.fromisoformat(value[:10])
    elif tp is Decimal:
        # Roll-ups write money as exact decimal strings; repr keeps a float's shortest form exact.
        if isinstance(value, str):
            return Decimal(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(repr(value))
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    else:
        return value  # Literal and other aliases: JSON already holds the value
    raise DecodeError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
