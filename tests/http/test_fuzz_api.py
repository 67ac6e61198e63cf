"""Schemathesis fuzzes every documented operation: no input may produce a 5xx, and the server stays up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import Harness


def test_no_input_breaks_the_server(tmp_path: Path) -> None:
    h = Harness.start(tmp_path)
    try:
        cli = Path(sys.executable).with_name("schemathesis")
        out = subprocess.run(
            [
                str(cli),
                "run",
                f"{h.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            cwd=tmp_path,
            text=True,
            timeout=240,
        )
        assert out.returncode == 0, out.stdout[-3000:]
        assert "passed" in out.stdout
        assert h.get("/healthz")[0] == 200
    finally:
        h.stop()
