"""Canonical JSON (RFC 8785) and the policy fingerprint `R-P (sigma-pol/v1)`. Pure."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def jcs(value: Any) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme: sorted keys, no white space, UTF-8, ES6 numbers."""
    out: bytes = rfc8785.dumps(value)
    return out


def prefix32(data: bytes) -> int:
    """The unsigned 32-bit big-endian prefix of SHA-256(data)."""
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def fingerprint(canonical_policy: dict[str, Any]) -> tuple[str, str, bytes]:
    """(fingerprint, full sha256 hex, canonical bytes) of a canonical policy dict."""
    whole = jcs(canonical_policy)
    rules = jcs(canonical_policy["rules"])
    fp = f"{prefix32(rules)}-{prefix32(whole)} ({canonical_policy['schema']})"
    return fp, hashlib.sha256(whole).hexdigest(), whole


MAX_SAFE_INT = 2**53 - 1


def normalise_number(value: Any) -> Any:
    """55.0 -> 55, so that writing a number either way means the same policy.

    JSON numbers are IEEE doubles to RFC 8785, which refuses integers beyond +-(2**53 - 1): those become
    floats (and an integer too large even for a float becomes inf, which every caller rejects as not
    finite), so a policy can never fail to canonicalise.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        try:
            return float(value)
        except OverflowError:
            return float("inf") if value > 0 else float("-inf")
    return value
