"""Canary secrets: the provider keys and gateway keys the test harnesses hand the gateway, and the scanner
that looks for them where no secret may ever be (issue 10 item 6).

Every canary contains MARKER, so one search finds them all, in any artefact, however the key was cut or
quoted around it (JSON, YAML, a URL, a log line, a SQLite page). tests/canary_plugin.py runs the scanner
over what the whole test session left behind; tests/test_canary.py proves the scanner finds a planted one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = "c4n4ryQ7"
ALPHA_KEY = f"sk-alpha-{MARKER}-0123456789"  # provider keys (tests/e2e/harness.py, tests/faults/harness.py)
BETA_KEY = f"sk-beta-{MARKER}-9876543210"
SCRIPTED_KEYS = {  # provider keys of the scripted gateway (tests/gateway/scripted.py)
    "A_KEY": f"key-a-{MARKER}-0001",
    "B_KEY": f"key-b-{MARKER}-0002",
    "C_KEY": f"key-c-{MARKER}-0003",
}
SIM_KEY = f"sk-sim-{MARKER}"  # the provider key of the gateways run as processes (tests/faults/procs.py)
CLIENT_GATEWAY_KEY = f"uh_client-{MARKER}-0001"  # gateway keys (tests/e2e/harness.py GATEWAY_AUTH)
ADMIN_GATEWAY_KEY = f"uh_admin-{MARKER}-0002"
SECRETS = (ALPHA_KEY, BETA_KEY, *SCRIPTED_KEYS.values(), SIM_KEY, CLIENT_GATEWAY_KEY, ADMIN_GATEWAY_KEY)
_NEEDLE = MARKER.encode()


@dataclass(frozen=True)
class Hit:
    """A canary found: where (a file, or a description of a text), at which byte offset, and which one."""

    where: str
    offset: int
    secret: str  # the whole canary key when it is there intact, else the marker

    def __str__(self) -> str:
        return f"{self.where} at offset {self.offset}: {self.secret!r}"


def find(data: bytes | str, where: str) -> list[Hit]:
    """Every canary in `data` (text is searched as UTF-8)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    hits, start = [], raw.find(_NEEDLE)
    while start != -1:
        hits.append(Hit(where, start, _which(raw, start)))
        start = raw.find(_NEEDLE, start + 1)
    return hits


def _which(raw: bytes, at: int) -> str:
    for secret in SECRETS:
        s = secret.encode()
        begin = at - s.index(_NEEDLE)
        if raw[max(begin, 0) : begin + len(s)] == s:
            return secret
    return MARKER


def scan_file(path: Path) -> list[Hit]:
    """The file's bytes, read in pieces that overlap by the marker's length (SQLite files can be large)."""
    hits: list[Hit] = []
    piece, overlap = 1 << 20, len(_NEEDLE) + max(len(s) for s in SECRETS)
    try:
        with path.open("rb") as f:
            base, tail = 0, b""
            while chunk := f.read(piece):
                data = tail + chunk
                for h in find(data, str(path)):
                    if h.offset + len(_NEEDLE) > len(tail):  # one wholly in the tail was found before
                        hits.append(Hit(h.where, base - len(tail) + h.offset, h.secret))
                tail = data[-overlap:]
                base += len(chunk)
    except OSError:  # gone or unreadable (a socket, a file a test removed meanwhile): nothing to scan
        return []
    return hits


def scan_tree(root: Path, *, skip: Iterable[Path] = ()) -> Iterator[Hit]:
    """Every regular file under `root` (symlinks not followed), but the paths under `skip`."""
    skipped = [p.resolve() for p in skip]
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if any(path.resolve().is_relative_to(s) for s in skipped):
            continue
        yield from scan_file(path)
