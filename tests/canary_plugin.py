"""The secrets canary over a whole test session (issue 10 item 6): the canary keys of tests/canary.py must
appear in nothing the gateway wrote or said. Registered by tests/conftest.py.

What is searched, and when:
- every log record at any level (a root handler at DEBUG), exception text included, as it is emitted;
- each test's report: its failure text and its captured stdout, stderr and log;
- the PostgreSQL schemas a test created, dumped with `pg_dump` before its fixtures drop them (tests marked
  `postgres`), and whatever new schema is left at the end; skipped with the reason in the summary when
  the server does not answer, a failure under CI=true;
- at the end, every file under the session's basetemp: SQLite databases and WALs, logs, anything else
  a test left there;
- HTTP bodies the harnesses received (errors, receipts, /metrics) are checked as they arrive, by
  tests/e2e/harness.py.

Any hit fails the session, naming the file (or text) and the byte offset.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from tests.canary import MARKER, Hit, find, scan_tree

PG_URL = os.environ.get("UNHARDCODED_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


class _Records(logging.Handler):
    """Searches every record as it is emitted; keeps only the hits."""

    def __init__(self, hits: list[Hit]) -> None:
        super().__init__(logging.DEBUG)
        self.hits = hits
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: search its parts
            text = f"{record.msg} {record.args}"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        text = " ".join(str(t) for t in (text, record.exc_text or "", record.stack_info or ""))
        if MARKER in text:
            self.hits.extend(find(text, f"log record {record.name} {record.levelname}"))


class CanaryWatch:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.hits: list[Hit] = []
        self.notes: list[str] = []
        self.dumped = 0
        self._handler = _Records(self.hits)
        self._old_level = logging.NOTSET
        self._pg_schemas: set[str] | None = None  # the schemas there before the session (never ours)
        self._pg_dump = shutil.which("pg_dump")

    # -- logs ----------------------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        root = logging.getLogger()
        self._old_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self._handler)
        self._pg_schemas = self._schemas()

    # -- reports -------------------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.longrepr is not None:
            self.hits.extend(find(report.longreprtext, f"{report.nodeid} ({report.when}): failure text"))
        for title, text in report.sections:
            if MARKER in text:
                self.hits.extend(find(text, f"{report.nodeid}: {title}"))

    # -- PostgreSQL ----------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, None]:
        if item.get_closest_marker("postgres") is not None:
            self._dump_new_schemas(item.nodeid)  # before the fixtures drop them
        yield

    def _schemas(self) -> set[str] | None:
        """The database's schemas, or None (with the reason noted) when PostgreSQL does not answer."""
        try:
            import psycopg

            with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
                rows = conn.execute("SELECT nspname FROM pg_namespace").fetchall()
        except Exception as e:  # psycopg.Error, or no driver at all
            reason = f"no PostgreSQL answers at {PG_URL} ({' '.join(str(e).split())[:200]})"
            if os.environ.get("CI") == "true":
                self.hits.append(Hit(f"PostgreSQL dumps: {reason}; CI=true needs them", 0, MARKER))
            elif reason not in self.notes:
                self.notes.append(reason)
            return None
        return {r[0] for r in rows}

    def _dump_new_schemas(self, where: str, attempts: int = 3) -> None:
        if self._pg_schemas is None:
            return
        now = self._schemas()
        new = sorted((now or set()) - self._pg_schemas)
        if not new:
            return
        if self._pg_dump is None:
            reason = "no pg_dump on this machine"
            if os.environ.get("CI") == "true":
                self.hits.append(Hit(f"PostgreSQL dumps: {reason}; CI=true needs them", 0, MARKER))
            elif reason not in self.notes:
                self.notes.append(reason)
            return
        args = [self._pg_dump, "--no-owner", *(f"--schema={s}" for s in new), PG_URL]
        out = subprocess.run(args, capture_output=True, timeout=120)
        if out.returncode != 0:
            if attempts > 1:  # a schema another session dropped meanwhile: dump the ones still there
                self._dump_new_schemas(where, attempts - 1)
            else:
                err = out.stderr.decode(errors="replace").strip()[:200]
                self.notes.append(f"pg_dump after {where}: {err}")
            return
        self.dumped += 1
        self.hits.extend(find(out.stdout, f"pg_dump of schema(s) {', '.join(new)} after {where}"))

    # -- the end -------------------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._old_level)
        self._dump_new_schemas("the session")
        basetemp = self.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        self.hits.extend(scan_tree(Path(basetemp)))
        if self.hits:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        if self.hits:
            tr.section("secrets canary: FOUND", sep="!", red=True, bold=True)
            for h in self.hits[:50]:
                tr.line(str(h), red=True)
            if len(self.hits) > 50:
                tr.line(f"... and {len(self.hits) - 50} more", red=True)
            return
        tr.line(
            f"secrets canary: no canary key in {self._handler.seen} log records, the test reports, "
            f"{self.dumped} pg_dump(s) or the files under the basetemp"
        )
        for note in self.notes:
            tr.line(f"secrets canary: PostgreSQL dumps skipped: {note}")
