"""The tamper-evident chain: per tenant, every final receipt gets a sequence number, the previous entry's
hash and its own hash, assigned by the group-commit writer inside the transaction that stores it.

What an entry's hash covers (the one definition, used by the writer and by `unhardcoded verify`):

    receipt_hash = sha256(JCS(row))          row: every receipts column but `body` and the chain columns,
                                             plus "body_sha256": sha256 of the stored body bytes
    entry hash   = sha256(JCS({"prev": PREV, "receipt": receipt_hash, "seq": SEQ, "tenant": TENANT}))

JCS is RFC 8785 (JSON Canonicalization Scheme). The stored decision enters through the `decision_hash`
column, which is the SHA-256 of the decision's stored bytes, so a deduplicated decision is covered by every
receipt that names it. The body is opaque bytes the gateway writes once and nothing re-encodes, so it
enters by the hash of those bytes. Prompts and completions are never stored (`store_prompts` is not
implemented), so nothing a retention delete would remove is inside the chain. The first entry of a
tenant's chain has `prev` = GENESIS. A NULL tenant is the chain "" (the default tenant).

The canonical form here is RFC 8785 for the values a receipt row holds (strings, integers, floats, null);
`tests/store/test_chain.py` checks it against the `rfc8785` package, which is ~60x slower.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_type_hints

import orjson

from unhardcoded.store.base import RECEIPT_COLUMNS, Link, ReceiptRecord

__all__ = ["GENESIS", "Head", "Link", "canonical", "entry_hash", "link_all", "receipt_hash"]

GENESIS = "0" * 64
CHAIN_COLUMNS = ("chain_seq", "chain_prev", "chain_hash")
# The row fields a receipt hash covers, in RFC 8785 key order (all ASCII, so code-unit order is byte order).
HASHED = tuple(sorted([c for c in RECEIPT_COLUMNS if c != "body"] + ["body_sha256"]))
_ROW_KEYS = tuple(c for c in HASHED if c != "body_sha256")


def es_number(x: float) -> str:
    """A float as ECMAScript's Number.prototype.toString writes it (RFC 8785 §3.2.2.3): the shortest
    digits that round-trip (Python's repr finds the same), fixed notation from 1e-6 up to 1e21."""
    if not math.isfinite(x):
        raise ValueError(f"RFC 8785 has no form for {x!r}")
    if x == 0:
        return "0"  # and -0.0 too
    r = repr(x)
    if "e" not in r:  # repr is fixed notation from 1e-4 to 1e16, where it is already ECMAScript's form
        return r[:-2] if r.endswith(".0") else r
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # n: the decimal exponent with the value = 0.DIGITS x 10^n
    n = len(whole.lstrip("0")) if whole != "0" else -(len(frac) - len(frac.lstrip("0")))
    n += int(exp) if exp else 0
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        out = f"0.{'0' * -n}{digits}"
    else:
        e = n - 1
        out = f"{digits[0]}{'.' + digits[1:] if k > 1 else ''}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + out


def _canonical_float(x: float) -> Any:
    """What orjson should write for a float so that its output is RFC 8785's: orjson already writes the
    same shortest digits from 1e-5 to 1e16 (but `1.0` for 1 and exponents outside that range)."""
    if x.is_integer() and abs(x) < 1e16:
        return int(x)
    if 1e-5 <= abs(x) < 1e16:
        return x
    return orjson.Fragment(es_number(x).encode())


def canonical(doc: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a flat object of str / int / float / None values with ASCII keys. orjson writes
    strings as RFC 8785 does (only the required escapes, UTF-8 otherwise) and sorts the keys."""
    return orjson.dumps(
        {k: _canonical_float(v) if isinstance(v, float) else v for k, v in doc.items()},
        option=orjson.OPT_SORT_KEYS,
    )


_ROW_VALUES = operator.attrgetter(*_ROW_KEYS)


def receipt_hash(row: Mapping[str, Any], body: bytes) -> str:
    """The hash of one receipt row (column name -> value, as stored) and its body bytes."""
    doc = {k: row[k] for k in _ROW_KEYS}
    doc["body_sha256"] = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(canonical(doc)).hexdigest()


_BODY_AT = HASHED.index("body_sha256")
_HINTS = get_type_hints(ReceiptRecord)
_FLOAT_AT = tuple(
    i
    for i, k in enumerate(HASHED)
    if k != "body_sha256" and (_HINTS[k] is float or float in get_args(_HINTS[k]))
)


def record_hash(record: ReceiptRecord) -> str:
    """`receipt_hash` of a record about to be written: the writer's hot path, so the object is built in
    key order (no sort) and only the float fields are looked at. `receipt_hash` is the definition; a test
    checks the two agree."""
    values = list(_ROW_VALUES(record))
    values.insert(_BODY_AT, hashlib.sha256(record.body).hexdigest())
    for i in _FLOAT_AT:
        v = values[i]
        if type(v) is float and not (1e-5 <= abs(v) < 1e16 and not v.is_integer()):
            values[i] = _canonical_float(v)
    return hashlib.sha256(orjson.dumps(dict(zip(HASHED, values)))).hexdigest()  # noqa: B905  (same length)


def entry_hash(tenant: str | None, seq: int, prev: str, receipt: str) -> str:
    doc = {"prev": prev, "receipt": receipt, "seq": seq, "tenant": tenant or ""}  # no floats: orjson is JCS
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(slots=True)
class Head:
    seq: int
    hash: str


def link_all(records: Iterable[ReceiptRecord], heads: dict[str, Head]) -> dict[str, tuple[int, str, str]]:
    """Assign (seq, prev, hash) to each record in order, advancing `heads` (tenant key -> last entry; a
    missing tenant starts at GENESIS). Returns request_id -> (seq, prev, hash)."""
    out: dict[str, tuple[int, str, str]] = {}
    for r in records:
        key = r.tenant or ""
        head = heads.get(key)
        if head is None:
            head = heads[key] = Head(0, GENESIS)
        seq = head.seq + 1
        h = entry_hash(r.tenant, seq, head.hash, record_hash(r))
        out[r.request_id] = (seq, head.hash, h)
        head.seq, head.hash = seq, h
    return out
