"""Canonical JSON (RFC 8785) and the policy fingerprint `R-P (sigma-pol/v1)`. Pure."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def jcs(value: Any) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme: sorted keys, no white space, UTF-8, ES6 numbers."""
    return rfc8785.dumps(value)  # type: ignore[no-any-return]


def prefix32(data: bytes) -> int:
    """The unsigned 32-bit big-endian prefix of SHA-256(data)."""
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def fingerprint(canonical_policy: dict[str, Any]) -> tuple[str, str, bytes]:
    """(fingerprint, full sha256 hex, canonical bytes) of a canonical policy dict."""
    whole = jcs(canonical_policy)
    rules = jcs(canonical_policy["rules"])
    fp = f"{prefix32(rules)}-{prefix32(whole)} ({canonical_policy['schema']})"
    return fp, hashlib.sha256(whole).hexdigest(), whole


def normalise_number(value: Any) -> Any:
    """55.0 -> 55, so that writing a number either way means the same policy."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
