"""GET /ui and /ui/{asset} over real HTTP: content types, a strict CSP, revalidation, no path traversal.
No browser needed."""

from __future__ import annotations

import importlib.resources
import re
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.ui.conftest import ROOT, World, _unavailable, raw_get
from unhardcoded.http.ui import ASSET_NAME, CSP

SHIPPED = sorted(
    e.name for e in importlib.resources.files("unhardcoded.http").joinpath("ui").iterdir() if e.is_file()
)


def test_every_shipped_file_is_servable_and_the_page_names_only_shipped_scripts() -> None:
    assert SHIPPED and all(ASSET_NAME.fullmatch(n) for n in SHIPPED), SHIPPED
    text = importlib.resources.files("unhardcoded.http").joinpath("ui").joinpath("index.html").read_text()
    assert "http://" not in text and "https://" not in text  # no CDN
    for name in SHIPPED:
        if name.endswith(".js"):
            body = importlib.resources.files("unhardcoded.http").joinpath("ui", name).read_text()
            imports = re.findall(r'from "(/ui/[^"]+)"', body)
            assert all(i[len("/ui/") :] in SHIPPED for i in imports), (name, imports)
            assert ".innerHTML" not in body and "eval(" not in body, name


def test_the_page_and_its_assets_with_types_csp_and_cache_headers(world: World) -> None:
    assert raw_get(world.url + "/ui/")[2] == raw_get(world.url + "/ui")[2]
    status, headers, body = raw_get(world.url + "/ui")
    assert status == 200 and body.startswith(b"<!doctype html>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-cache" and headers["etag"].startswith('"')
    want = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    for name in SHIPPED:
        status, headers, body = raw_get(f"{world.url}/ui/{name}")
        assert status == 200, name
        ext = name[name.rfind(".") :]
        if ext in want:
            assert headers["content-type"] == want[ext], name
        expected = importlib.resources.files("unhardcoded.http").joinpath("ui", name).read_bytes()
        assert body == expected


def test_an_unchanged_asset_revalidates_with_304(world: World) -> None:
    _, headers, _ = raw_get(world.url + "/ui/app.js")
    req = urllib.request.Request(world.url + "/ui/app.js", headers={"if-none-match": headers["etag"]})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    with e.value:
        assert e.value.code == 304 and e.value.headers["etag"] == headers["etag"]
    req = urllib.request.Request(world.url + "/ui/app.js", headers={"if-none-match": '"stale"'})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ui/..%2fui.py",
        "/ui/%2e%2e%2fui.py",
        "/ui/ui.py",
        "/ui/..",
        "/ui/.hidden.js",
        "/ui/APP.JS",
        "/ui/app.js%00.css",
        "/ui/nothere.js",
        "/ui/../x/catalog",
        "/ui/dom.js/x",
    ],
)
def test_names_that_are_not_shipped_files_are_404(world: World, path: str) -> None:
    status, headers, body = raw_get(world.url + path)
    assert status == 404, (path, body[:200])
    assert b"orjson" not in body and b"import" not in body  # never a source file's text


@pytest.mark.slow
def test_the_wheel_ships_every_file_of_the_page(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("unhardcoded-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {f"unhardcoded/http/ui/{n}" for n in SHIPPED} <= names
    assert "unhardcoded/http/ui.py" in names


def test_without_a_browser_the_tests_skip_off_ci_and_fail_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        _unavailable("no chromium found")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        _unavailable("no chromium found")
