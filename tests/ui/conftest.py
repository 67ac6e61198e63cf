"""The receipt viewer in a real browser: Debian's chromium driven by Playwright, against a real gateway whose
receipts come from real calls to fake providers on 127.0.0.1 (tests/e2e/harness.py).

Off CI the browser tests skip, saying why, when chromium or Playwright is missing; with CI=true they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness
from tests.review.conftest import EU60, chat
from unhardcoded.testing.script import Step

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a scratch folder, so a test run leaves the tree clean; `UI_SCREENSHOTS=docs/ui pytest
# tests/ui` refreshes the README's pictures.
SHOTS = Path(os.environ.get("UI_SCREENSHOTS") or Path(tempfile.gettempdir()) / "unhardcoded-ui-shots")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the browser tests cannot run: {why} (.ci/run installs Debian's chromium)")
    pytest.skip(f"browser tests skipped: {why} (apt-get install chromium; pip install -e '.[dev]')")


def chromium_path() -> str:
    for candidate in (os.environ.get("UNHARDCODED_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    _unavailable("no chromium found at /usr/bin/chromium or on PATH")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    exe = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user data dir for every run
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=exe,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900},  # a laptop screen
            locale="en-US",
            timezone_id="UTC",
        )
        try:
            yield ctx
        finally:
            ctx.close()


@dataclass
class World:
    """A running gateway and the receipts its calls made, by what made them."""

    h: Harness
    tmp: Path
    ids: dict[str, str] = field(default_factory=dict)
    traces: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.h.url

    def get(self, path: str) -> Any:
        status, body = self.h.get(path)
        assert status == 200, (path, status, body)
        return body

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        status, _, doc = self.h.post(path, body)
        return status, doc


def workflow_call(h: Harness, run: str, node: str, policy: Any) -> tuple[str, str]:
    body = {"model": "auto", "policy": policy, "messages": [{"role": "user", "content": f"step {node}"}]}
    status, headers, _ = h.post(
        "/v1/chat/completions",
        body,
        headers={"x-unhardcoded-workflow": run, "x-unhardcoded-workflow-node": node},
    )
    assert status == 200, headers
    low = {k.lower(): v for k, v in headers.items()}
    return low["x-unhardcoded-request-id"], low["x-unhardcoded-trace-id"]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("ui-gateway")
    h = Harness.start(tmp, config={"budgets": [{"id": "support-daily", "usd": 0.5, "workload": "support"}]})
    w = World(h, tmp)
    try:
        w.ids["named"] = chat(h, "eu-quality")
        w.ids["inline"] = chat(h, EU60, max_tokens=64)
        w.ids["pinned"] = chat(h, model="alpha/cheap")
        w.ids["no_route"] = chat(h, {"rules": [{"field": "bench_intelligence", "op": ">", "value": 99}]})
        h.alpha.push(Step(status=503))
        w.ids["fallback"] = chat(h, EU60)
        for node, policy in (("plan", EU60), ("draft", {}), ("review", "eu-quality")):
            w.ids[f"wf-{node}"], w.traces["workflow"] = workflow_call(h, "run-42", node, policy)
        yield w
    finally:
        h.stop()


@pytest.fixture
def page(browser_context: Any, world: World) -> Iterator[Any]:
    pg = browser_context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    pg.close()
    # A script error or a CSP refusal shows in the console: none is expected on any view.
    assert [e for e in errors if "status of 4" not in e] == []


def open_view(page: Any, world: World, hash_: str, name: str) -> None:
    page.goto(f"{world.url}/ui{hash_}")
    page.wait_for_selector(f"body[data-ready='{name}']", timeout=10_000)


def rerendered(page: Any, action: Any, name: str) -> None:
    """Do `action` (a click, a key) and wait for the view it leads to to finish rendering anew."""
    gen = page.evaluate("() => Number(document.body.dataset.gen || 0)")
    action()
    page.wait_for_function(
        "([g, n]) => Number(document.body.dataset.gen || 0) > g && document.body.dataset.ready === n",
        arg=[gen, name],
        timeout=10_000,
    )


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def raw_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def dump(doc: Any) -> str:
    return json.dumps(doc, indent=1)[:2000]
