"""Schemathesis fuzzes every documented operation: no input may produce a 5xx, and the server stays up.
With gateway keys configured, every response must also conform to the document (status code, content
type, body schema), and every operation that needs a key answers 401 without one, in the documented shape.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from tests.e2e.harness import ADMIN_GATEWAY_KEY, CLIENT_GATEWAY_KEY, GATEWAY_AUTH, Harness


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


def schemathesis(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("schemathesis")
    cmd = [str(cli), "run", f"{url}/openapi.json", "--max-examples", "25", "--seed", "1", "--no-color", *args]
    return subprocess.run(cmd, capture_output=True, cwd=cwd, text=True, timeout=300)


def test_with_keys_on_every_response_conforms_to_the_document(tmp_path: Path) -> None:
    h = Harness.start(tmp_path, config={"auth": GATEWAY_AUTH})
    try:
        checks = "not_a_server_error,status_code_conformance,content_type_conformance,"
        checks += "response_schema_conformance,ignored_auth"
        out = schemathesis(
            h.url, tmp_path, "--checks", checks, "-H", f"Authorization: Bearer {ADMIN_GATEWAY_KEY}"
        )
        assert out.returncode == 0, out.stdout[-4000:]
        assert "passed" in out.stdout
        assert h.get("/healthz")[0] == 200
    finally:
        h.stop()


def test_with_keys_on_no_operation_answers_without_one_but_the_public_ones(tmp_path: Path) -> None:
    h = Harness.start(tmp_path, config={"auth": GATEWAY_AUTH})
    try:
        doc = h.get("/openapi.json")[1]
        error_schema = {**doc["components"]["schemas"]["Error"], "components": doc["components"]}
        secured = 0
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                url = h.url + path.replace("{what}", "receipt").replace("{", "x").replace("}", "")
                status, headers, body = _send(method, url)
                if op.get("security") == []:  # public: answered, or a documented 404 (no signing key here)
                    assert status == 200 or str(status) in op["responses"], (method, path, status)
                    assert status != 401, (method, path)
                    continue
                secured += 1
                assert "401" in op["responses"], (method, path)
                assert status == 401, (method, path, status)
                assert headers.get("www-authenticate", "").startswith("Bearer"), (method, path)
                jsonschema.validate(body, error_schema)
                assert body["error"]["code"] == "invalid_api_key"
                # A client key gets in (the admin-only /metrics says 403, as documented).
                status, _, _ = _send(method, url, CLIENT_GATEWAY_KEY)
                assert status != 401 and (status != 403 or "403" in op["responses"]), (method, path, status)
        assert secured >= 15
        assert h.alpha.seen == [] and h.beta.seen == []
    finally:
        h.stop()


def _send(method: str, url: str, key: str | None = None) -> tuple[int, dict[str, str], Any]:
    data = b"{}" if method == "post" else None
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=data, method=method.upper(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    body = orjson.loads(raw) if raw.startswith(b"{") else raw
    return status, {k.lower(): v for k, v in hdrs.items()}, body
