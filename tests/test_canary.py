"""The secrets canary can fail: the scanner finds a planted canary key (in a SQLite file, across a read
boundary, in a log record), and a pytest session that leaves one behind fails, naming file and offset.

Planted artefacts live outside this session's basetemp, or are removed before the test ends: the
session's own canary scan must not find them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.canary import ADMIN_GATEWAY_KEY, ALPHA_KEY, MARKER, find, scan_file, scan_tree

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def outside() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="canary-planted-") as d:
        yield Path(d)


def test_a_key_in_a_sqlite_receipt_is_found_with_its_offset(outside: Path) -> None:
    db = outside / "receipts.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE receipts (body BLOB)")
        body = b'{"error": "bad key ' + ALPHA_KEY.encode() + b'"}'
        conn.execute("INSERT INTO receipts VALUES (?)", (body,))
    conn.close()
    hits = scan_file(db)
    assert [h.secret for h in hits] == [ALPHA_KEY]
    raw = db.read_bytes()
    assert raw[hits[0].offset : hits[0].offset + len(MARKER)] == MARKER.encode()
    assert str(db) in str(hits[0]) and f"offset {hits[0].offset}" in str(hits[0])
    assert [h.where for h in scan_tree(outside)] == [str(db)]


def test_a_key_across_a_read_boundary_is_found_once(outside: Path) -> None:
    f = outside / "big.wal"
    at = (1 << 20) - 5  # the marker starts 5 bytes before the scanner's first read ends
    f.write_bytes(b"\0" * (at - 9) + ALPHA_KEY.encode() + b"\0" * 100)
    hits = scan_file(f)
    assert [(h.offset, h.secret) for h in hits] == [(at, ALPHA_KEY)]


def test_clean_data_and_cut_keys() -> None:
    assert find(b"sk-alpha-****-6789 and nothing else", "x") == []
    (hit,) = find(f"token={MARKER}-partial", "text")
    assert (hit.offset, hit.secret) == (6, MARKER)  # a fragment holding the marker still counts


INNER_CONFTEST = """
from tests.canary_plugin import CanaryWatch

def pytest_configure(config):
    config.pluginmanager.register(CanaryWatch(config), "canary")
"""

LEAKY = """
import logging, sqlite3
from tests.canary import ALPHA_KEY, ADMIN_GATEWAY_KEY

def test_leaks(tmp_path):
    with sqlite3.connect(tmp_path / "receipts.db") as conn:
        conn.execute("CREATE TABLE receipts (body BLOB)")
        conn.execute("INSERT INTO receipts VALUES (?)", (("upstream said: " + ALPHA_KEY).encode(),))
    logging.getLogger("unhardcoded.http").debug("caller %s", ADMIN_GATEWAY_KEY)
"""

CLEAN = """
import logging

def test_clean(tmp_path):
    (tmp_path / "receipts.db").write_bytes(b"nothing secret")
    logging.getLogger("unhardcoded.http").debug("caller uh_****")
"""


def _session(tmp: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    (tmp / "conftest.py").write_text(INNER_CONFTEST)
    (tmp / "test_inner.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp), "-p", "no:cacheprovider",
            "--basetemp", str(tmp / "bt"), "-q", str(tmp / "test_inner.py")]  # fmt: skip
    try:
        return subprocess.run(args, capture_output=True, text=True, cwd=tmp, env=env, timeout=120)
    finally:
        shutil.rmtree(tmp / "bt", ignore_errors=True)  # the planted keys must not reach our own scan


def test_a_session_that_leaves_a_key_behind_fails(outside: Path) -> None:
    out = _session(outside, LEAKY)
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 passed" in out.stdout  # the test itself passed: the canary failed the session
    assert "secrets canary: FOUND" in out.stdout
    found = [line for line in out.stdout.splitlines() if "receipts.db at offset" in line]
    assert found and repr(ALPHA_KEY) in found[0], out.stdout[-3000:]
    logged = [line for line in out.stdout.splitlines() if "log record unhardcoded.http DEBUG" in line]
    assert logged and repr(ADMIN_GATEWAY_KEY) in logged[0], out.stdout[-3000:]


def test_a_clean_session_passes(outside: Path) -> None:
    out = _session(outside, CLEAN)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "secrets canary: no canary key" in out.stdout
