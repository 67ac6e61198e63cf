"""An upstream that echoes the caller's key in an error: the key must reach no path a message takes.

For every provider kind, the fake answers with the key the gateway sent, once key-shaped (`sk-...`,
`ya29....`) in the usual wording, and once without a prefix, in parentheses, where no pattern can guess it.
It does so on a plain call, on a stream before its first byte, on a stream after it, and on a first
attempt that a second one recovers. The paths checked: the client's status line, headers and body; the
stored receipt and its trace (every attempt's `error`, the outcome); the gateway's log records and its
process's stderr; and `/metrics`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from unhardcoded.config import parse_settings
from unhardcoded.http.server import build_gateway, start_in_process
from unhardcoded.testing import fake_anthropic, fake_bedrock, fake_gemini, fake_openai
from unhardcoded.testing.google_sa import default_service_account
from unhardcoded.testing.script import Script, Step

KINDS = ("openai", "anthropic", "gemini", "vertex", "vertex-claude", "bedrock")
PATHS = ("plain", "stream-before-first-byte", "stream-after-first-byte", "fallback")


@dataclass(frozen=True)
class Shape:
    name: str
    key: str  # the secret the gateway holds (Vertex: the start of every token the fake issues)
    template: str  # what the upstream says; {key} is replaced by the credential the request carried


SHAPES = (
    Shape(
        "key-shaped",
        "sk-k3yShaped0123456789abcdefXYZ",
        "Incorrect API key provided: {key}. You can find your API key at https://example.invalid/keys.",
    ),
    Shape("in-words", "k3yW1thoutPrefix0123456789abcdefXYZ", "invalid api key ({key}), check your settings"),
)
_VERTEX_SHAPED = "ya29.k3yShapedV3rtexT0ken-"
_VERTEX_WORDS = "k3yW1thoutPrefixV3rtexT0ken"
_TEXT = "please answer with a few words so that the stream has several events"


def _dep(id_: str, provider: str, upstream: str, price: float, region: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": id_,
        "provider": provider,
        "model": id_.split("@")[0],
        "upstream_model": upstream,
        "price_input_per_mtok": price,
        "price_output_per_mtok": price * 4,
        "context_window": 200000,
        "max_output_tokens": 8192,
        "capabilities": ["streaming"],
    }
    if region:
        d |= {"region": region, "endpoint_region": region, "geography": "eu"}
    return d


class Stack:
    """One provider kind behind a real gateway on 127.0.0.1: two deployments, `a` cheaper than `b`."""

    def __init__(self, tmp: Path, kind: str, shape: Shape) -> None:
        self.kind, self.shape = kind, shape
        self.secret = shape.key
        if kind.startswith("vertex"):
            self.secret = _VERTEX_SHAPED if shape.name == "key-shaped" else _VERTEX_WORDS
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[Any] = []
        self.script = Script()
        self.url = ""
        self.gateway: Any = None
        asyncio.run_coroutine_threadsafe(self._start(tmp), self.loop).result(30)

    async def _start(self, tmp: Path) -> None:
        kind, key = self.kind, self.shape.key
        env: dict[str, str] = {}
        if kind == "openai":
            runner, url, _ = await fake_openai.start(script=self.script, api_key=key)
            provider = {"kind": "openai", "base_url": url, "api_key_env": "P_KEY"}
            deps = [_dep("p/a", "p", "model-a", 1), _dep("p/b", "p", "model-b", 2)]
            env["P_KEY"] = key
        elif kind == "anthropic":
            runner, url, _ = await fake_anthropic.start(script=self.script, api_key=key)
            provider = {"kind": "anthropic", "base_url": url, "api_key_env": "P_KEY"}
            deps = [_dep("p/a", "p", "claude-a-1", 1), _dep("p/b", "p", "claude-b-1", 2)]
            env["P_KEY"] = key
        elif kind == "gemini":
            runner, url, _ = await fake_gemini.start(script=self.script, api_key=key)
            provider = {"kind": "gemini", "base_url": url, "api_key_env": "P_KEY"}
            deps = [_dep("p/a", "p", "gemini-a", 1), _dep("p/b", "p", "gemini-b", 2)]
            env["P_KEY"] = key
        elif kind.startswith("vertex"):
            runner, url, _ = await fake_gemini.start(script=self.script, token_prefix=self.secret)
            sa = tmp / "sa.json"
            sa.write_text(default_service_account().json_text)
            provider = {
                "kind": "vertex",
                "base_url": url,
                "project": "fake-project",
                "token_uri": url + "/token",
            }
            model = "claude" if kind == "vertex-claude" else "gemini"
            deps = [
                _dep("p/a@europe-west4", "p", f"{model}-a", 1, "europe-west4"),
                _dep("p/b@europe-west4", "p", f"{model}-b", 2, "europe-west4"),
            ]
            env["GOOGLE_APPLICATION_CREDENTIALS"] = str(sa)
        else:
            runner, url, _ = await fake_bedrock.start(
                script=self.script, region="eu-central-1", secret_access_key=key
            )
            provider = {"kind": "bedrock", "base_url": url}
            deps = [
                _dep("p/a@eu-central-1", "p", "anthropic.claude-a-v1:0", 1, "eu-central-1"),
                _dep("p/b@eu-central-1", "p", "anthropic.claude-b-v1:0", 2, "eu-central-1"),
            ]
            env |= {"AWS_ACCESS_KEY_ID": fake_bedrock.TEST_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": key}
        self.runners.append(runner)
        cfg = {
            "providers": {"p": provider},
            "catalog": {"bundled": False, "deployments": deps},
            "store": f"sqlite:///{tmp / 'receipts.db'}",
        }
        self.gateway = build_gateway(parse_settings(cfg), env=env)
        gw_runner, self.url = await start_in_process(self.gateway)
        self.runners.insert(0, gw_runner)

    def stop(self) -> None:
        async def _stop() -> None:
            for r in self.runners:
                await r.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def request(
        self, method: str, path: str, body: Any = None, *, release_after_first_data: bool = False
    ) -> tuple[int, dict[str, str], str]:
        """Status, headers and the whole body (a stream is read to its end). With `release_after_first_data`
        the upstream's held error is released only once a `data:` line has reached this client."""
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, data, {"content-type": "application/json"} if data else {})
            resp = conn.getresponse()
            head = b""
            if release_after_first_data:
                while not head.startswith(b"data: ") and (line := resp.readline()):
                    head = line
                self.script.release()
            return resp.status, dict(resp.getheaders()), (head + resp.read()).decode("utf-8", "replace")
        finally:
            conn.close()

    def final_receipt(self, rid: str) -> tuple[str, dict[str, Any]]:
        """The receipt once the call has ended (a stream's record is written again when it ends)."""
        deadline = time.time() + 10
        while True:
            status, _, text = self.request("GET", f"/x/receipts/{rid}")
            assert status == 200, text
            receipt = json.loads(text)
            if receipt["status"] != "started" or time.time() > deadline:
                return text, receipt
            time.sleep(0.05)


@pytest.fixture(params=SHAPES, ids=[s.name for s in SHAPES])
def shape(request: pytest.FixtureRequest) -> Shape:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=KINDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path, shape: Shape) -> Iterator[Stack]:
    s = Stack(tmp_path, request.param, shape)
    yield s
    s.stop()


def _scripted(path: str, template: str) -> list[Step]:
    if path == "fallback":  # a 5xx moves to the next deployment, which answers
        return [Step(status=500, echo_key=template)]
    if path == "stream-after-first-byte":
        return [Step(error_after=2, echo_key=template, wait_release=True)]
    return [Step(status=401, echo_key=template)]  # an auth error on the only provider ends the call


@pytest.mark.parametrize("path", PATHS)
def test_an_echoed_key_reaches_no_path(
    stack: Stack, path: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    stack.script.push(*_scripted(path, stack.shape.template))
    body = {"model": "auto", "messages": [{"role": "user", "content": _TEXT}], "stream": path != "plain"}
    if path == "fallback":
        body["stream"] = False
    after = path == "stream-after-first-byte"
    status, headers, text = stack.request(
        "POST", "/v1/chat/completions", body, release_after_first_data=after
    )
    rid = headers["x-unhardcoded-request-id"]
    receipt_text, receipt = stack.final_receipt(rid)

    # The scene happened as scripted: the upstream's error was met (so its words were there to leak).
    attempts = receipt["attempts"]
    assert attempts and attempts[0].get("error_class"), receipt
    words_before_key = stack.shape.template.split("{key}")[0].strip()
    assert words_before_key in (attempts[0].get("error") or ""), attempts[0]  # the echo reached the gateway
    if path == "fallback":
        assert status == 200 and receipt["status"] == "ok" and len(attempts) == 2, receipt
    elif path == "stream-after-first-byte":
        assert status == 200 and receipt["status"] == "partial", receipt
        assert text.startswith("data: "), text  # content reached the client before the error
    else:
        assert status >= 400 and receipt["status"] != "ok", receipt

    trace = headers.get("x-unhardcoded-trace-id")
    trace_text = stack.request("GET", f"/x/traces/{trace}")[2] if trace else ""
    metrics = stack.request("GET", "/metrics")[2]
    seen = {
        "client status and headers": f"{status} {json.dumps(headers)}",
        "client body": text,
        "receipt": receipt_text,
        "trace": trace_text,
        "logs": caplog.text + "".join(repr(r.__dict__) for r in caplog.records),
        "stderr": capfd.readouterr().err,
        "metrics": metrics,
    }
    leaked = [where for where, what in seen.items() if stack.secret in what]
    assert leaked == [], f"{stack.secret!r} leaked into: {leaked}; attempts: {attempts}"
