"""Exact money for the read side: USD as Decimal, summed without float error (SPEC §7). Pure.

A receipt's own `cost_usd` is a float for JSON; it enters a sum through its shortest repr, so
`0.1 + 0.2` sums to exactly 0.3, and sums leave as decimal strings (as roll-ups write money). Prices come
the same way and tokens are integers, so a cost computed here is exact: usage x prices / 1e6, with cached
input at the cached price where one is listed (the formula gateway/receipts.py prices a call with).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from unhardcoded.catalog.model import Deployment

ZERO = Decimal(0)
_MTOK = Decimal(1_000_000)


def usd(value: Any) -> Decimal | None:
    """A stored amount as an exact Decimal; None for anything that is not a number (unknown stays unknown)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def usage_cost(dep: Deployment | None, usage: Mapping[str, Any] | None) -> Decimal | None:
    """What `usage` costs on `dep` at its catalog prices; None when a price or the usage is unknown."""
    if dep is None or not usage:
        return None
    pin, pout = usd(dep.get("price_input_per_mtok")), usd(dep.get("price_output_per_mtok"))
    if pin is None or pout is None:
        return None
    pc = usd(dep.get("price_cached_input_per_mtok"))
    inp = int(usage.get("input_tokens") or 0)
    cached = min(int(usage.get("cached_input_tokens") or 0), inp)
    out = int(usage.get("output_tokens") or 0)
    return ((inp - cached) * pin + cached * (pin if pc is None else pc) + out * pout) / _MTOK


def exact(value: Decimal | None) -> str | None:
    """For JSON: the exact sum as a decimal string (a float would round it), as roll-ups write money."""
    return None if value is None else format(value.normalize(), "f")


def pct(part: Decimal | None, whole: Decimal | None) -> float | None:
    if part is None or not whole:
        return None
    return round(float(100 * part / whole), 2)
