"""Bad input (issue 10 item 5): every hostile body or header ends in a 4xx OpenAI-shaped error (or a normal
answer with a true receipt), never a 5xx; afterwards the server is healthy and what was stored is intact;
no field of a request, at any depth, reaches an upstream host other than the configured one."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.harness import Harness
from tests.faults.harness import Q60, FaultHarness
from tests.http.rawhttp import RawConn

MSG = [{"role": "user", "content": "hi"}]
FORGED = "FORGED-LINE level=INFO"


class Canary:
    """A listening socket that counts every connection: the upstream host no request may ever reach."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self._stop:
                conn.close()
                return
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        with socket.create_connection(("127.0.0.1", self.port)):
            pass
        self._t.join(5)
        self.sock.close()


class Guarded:
    """A gateway, a canary, the first call's receipt: `check()` says the server is fine and that is intact."""

    def __init__(self, h: FaultHarness, canary: Canary) -> None:
        self.h = h
        self.canary = canary
        status, headers, _ = h.post("/v1/chat/completions", {"model": "auto", "messages": MSG, "policy": Q60})
        assert status == 200
        self.rid = headers["x-unhardcoded-request-id"]
        self.first = h.receipt(self.rid)

    def post(self, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, hdrs, out = self.h.post("/v1/chat/completions", data, headers)
        assert status < 500, (status, out)
        if status >= 400:
            assert isinstance(out, dict) and set(out["error"]) >= {"message", "type", "param", "code"}, out
        elif "x-unhardcoded-request-id" in hdrs:
            assert self.h.receipt(hdrs["x-unhardcoded-request-id"])["status"] in ("ok", "no_route")
        return status, hdrs, out

    def check(self) -> None:
        assert self.h.get("/healthz")[0] == 200
        assert self.h.receipt(self.rid) == self.first
        status, _, _ = self.h.post("/v1/chat/completions", {"model": "auto", "messages": MSG, "policy": Q60})
        assert status == 200
        assert self.canary.hits == 0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    canary = Canary()
    h = FaultHarness.start_faulty(tmp_path_factory.mktemp("bad-input"), relay=False)
    try:
        yield Guarded(h, canary)
    finally:
        h.stop()
        canary.close()


def raw(h: FaultHarness, data: bytes) -> tuple[int, dict[str, str], bytes]:
    async def go() -> tuple[int, dict[str, str], bytes]:
        host, port = h.url.removeprefix("http://").split(":")
        conn = await RawConn.open(host, int(port))
        try:
            await conn.send(data)
            status, headers = await conn.read_head()
            n = int(headers.get("content-length", "0"))
            body = await asyncio.wait_for(conn.reader.readexactly(n), 5) if n else b""
            return status, headers, body
        finally:
            conn.writer.close()

    return h.run(go())


def chat_bytes(body: bytes, extra_headers: bytes = b"", length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + extra_headers + b"content-length: " + str(n).encode() + b"\r\n\r\n" + body)  # fmt: skip


# -- size, encoding, depth, numbers, duplicate keys -----------------------------------------------


def test_body_over_the_limit_is_413_before_it_is_read(guarded: Guarded) -> None:
    status, _, body = raw(guarded.h, chat_bytes(b"", length=33 * 1024**2))  # the body is never sent
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    guarded.check()


def test_body_limit_is_configurable(tmp_path: Path) -> None:
    h = Harness.start(tmp_path, config={"max_body_bytes": 4096})
    try:
        small = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "x" * 2000}]}
        big = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "x" * 5000}]}
        assert h.post("/v1/chat/completions", small)[0] == 200
        status, _, out = h.post("/v1/chat/completions", big)
        assert status == 413 and out["error"]["code"] == "too_large"
        assert h.get("/healthz")[0] == 200
    finally:
        h.stop()


@pytest.mark.parametrize(
    "content",
    [
        '"\\ud800 lone high"',  # a lone surrogate, escaped
        '"lone low \\udfff"',
        '"nul \\u0000 inside"',
        '"\\ud83d\\ude00 a proper pair"',
    ],
)
def test_surrogates_and_nul_in_json_strings(guarded: Guarded, content: str) -> None:
    body = f'{{"model": "auto", "messages": [{{"role": "user", "content": {content}}}]}}'.encode()
    guarded.post(body)
    guarded.check()


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "auto", "messages": [{"role": "user", "content": "nul \x00 raw"}]}',
        b'{"model": "auto", "messages": [{"role": "user", "content": "\xed\xa0\x80 raw surrogate"}]}',
        b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe not utf-8"}]}',
        b"\x00" * 64,
    ],
)
def test_raw_nul_and_invalid_utf8_are_refused(guarded: Guarded, body: bytes) -> None:
    status, _, out = guarded.post(body)
    assert status == 400 and out["error"]["code"] == "invalid_json"
    guarded.check()


@pytest.mark.parametrize("where", ["metadata", "policy", "messages"])
def test_nesting_10000_deep(guarded: Guarded, where: str) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    if where == "messages":
        body = f'{{"model": "auto", "messages": [{{"role": "user", "content": {deep}}}]}}'
    else:
        body = f'{{"model": "auto", "messages": {json.dumps(MSG)}, "{where}": {deep}}}'
    status, _, _ = guarded.post(body.encode())
    assert status == 400
    guarded.check()


@pytest.mark.parametrize(
    "field",
    [
        '"max_tokens": 1{digits}',
        '"temperature": 0.{digits}',
        '"temperature": 1{digits}.5e-4990',
        '"policy": {{"rules": [{{"field": "bench_intelligence", "op": ">=", "value": 1{digits}}}]}}',
        '"policy": {{"limits": {{"max_est_cost_usd": 0.{digits}}}}}',
    ],
)
def test_numbers_with_5000_digits(guarded: Guarded, field: str) -> None:
    digits = "7" * 5000
    body = f'{{"model": "auto", "messages": {json.dumps(MSG)}, {field.format(digits=digits)}}}'
    guarded.post(body.encode())
    guarded.check()


def test_duplicate_keys_are_read_one_way(guarded: Guarded) -> None:
    """The gateway routes and the upstream receives the same (last) value of a repeated key."""
    body = (b'{"model": "beta/mid2", "messages": [{"role": "user", "content": "dup"}], "model": "alpha/mid",'
            b' "stream": true, "stream": false}')  # fmt: skip
    h = guarded.h
    status, headers, out = guarded.post(body)
    assert status == 200 and isinstance(out, dict)  # not streamed: the last `stream` won
    assert headers["x-unhardcoded-deployment"] == "alpha/mid"
    r = h.receipt(headers["x-unhardcoded-request-id"])
    assert r["pinned"] == "alpha/mid"
    assert h.alpha.seen[-1]["body"]["model"] == "mid" and h.alpha.seen[-1]["body"].get("stream") is not True
    guarded.check()


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? \S+$')


def well_formed(metrics: str) -> None:
    """Every line of the Prometheus text is a comment or one sample: no label value broke a line."""
    for line in metrics.split("\n"):
        assert not line or line.startswith("#") or _SAMPLE.match(line), repr(line)
        assert not line.startswith("# HELP forged")


# -- CR/LF in names: no forged log lines, headers or metrics -----------------------------------------


def test_crlf_in_the_workload_name(guarded: Guarded, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    workload = f"wl\r\n{FORGED}\n# HELP forged"
    body = {"model": "auto", "messages": MSG, "policy": {**Q60, "workload": workload}}
    status, headers, out = guarded.post(body)
    if status == 200:  # stored as given, and every output escapes it
        assert guarded.h.receipt(headers["x-unhardcoded-request-id"])["policy"]["workload"] == workload
    guarded.post({"model": "auto", "messages": MSG, "policy": {"rules": "bad", "workload": workload}})
    metrics = guarded.h.get("/metrics")[1]
    assert workload.split("\n")[0] in metrics  # the name is there (its \n escaped), so this checks something
    well_formed(metrics)
    assert not any(line.lstrip().startswith("FORGED") for line in caplog.text.splitlines())
    for name, value in headers.items():
        assert "\r" not in name + value and "\n" not in name + value
    guarded.check()


@pytest.mark.parametrize(
    "header",
    [
        b"x-unhardcoded-workflow: wf\rFORGED-LINE: 1\r\n",  # a bare CR inside the value
        b"x-unhardcoded-workflow: wf\nFORGED-LINE: 1\r\n",  # a bare LF
        b"x-unhardcoded-workflow: wf\r\n FORGED-LINE level=INFO\r\n",  # obs-fold: a continuation line
        b"x-unhardcoded-workflow: wf\x00FORGED\r\n",
        b"x-unhardcoded-workflow-node: n\r\n\tFORGED-LINE\r\n",
    ],
)
def test_crlf_in_the_workflow_header(
    guarded: Guarded, caplog: pytest.LogCaptureFixture, header: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"model": "auto", "messages": MSG, "policy": Q60}).encode()
    status, headers, out = raw(guarded.h, chat_bytes(body, header))
    assert status < 500, out
    if status == 200:
        r = guarded.h.receipt(headers["x-unhardcoded-request-id"])
        wf = r["workflow"] or {}
        assert not any(c in json.dumps(wf) for c in ("\r", "\n"))  # JSON escapes them anyway
        assert "\r" not in str(wf) and "\n" not in str(wf), wf
    well_formed(guarded.h.get("/metrics")[1])
    assert not any(line.lstrip().startswith("FORGED") for line in caplog.text.splitlines())
    guarded.check()


# -- hypothesis on the chat body; no field changes the upstream host ----------------------------------


def _json_values(canary: str) -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
        | st.sampled_from([canary, canary + "/chat/completions", "127.0.0.1", "//evil", "auto", "alpha/mid"])
    )
    keys = st.sampled_from(
        ["base_url", "api_base", "url", "host", "endpoint", "provider", "model", "policy", "azure_endpoint",
         "extra_headers", "headers", "baseURL", "api_key", "x_unhardcoded_base_url", "region", "id"]
    ) | st.text(max_size=8)  # fmt: skip
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


def test_hypothesis_chat_bodies(guarded: Guarded) -> None:
    url = guarded.canary.url
    values = _json_values(url)
    roles = st.sampled_from(["user", "system", "assistant", "tool"])
    good_message = st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=30)})
    good_messages = st.lists(good_message, min_size=1, max_size=3)
    any_messages = st.lists(st.fixed_dictionaries({"role": roles, "content": values}), max_size=3) | values
    good_models = st.sampled_from(["auto", "alpha/mid", "beta/mid2", "policy:eu-quality"])
    bodies = st.fixed_dictionaries(
        # Mostly well-formed where routing looks, so that both the answered and the refused paths run.
        {
            "messages": good_messages | good_messages | any_messages,
            "model": good_models | good_models | values,
        },
        optional={
            "policy": st.fixed_dictionaries({"rules": st.just(Q60["rules"])}, optional={"x": values})
            | values,
            "stream": st.booleans() | values,
            "max_tokens": st.integers(min_value=-5, max_value=10**6) | values,
            "temperature": values,
            "provider": values,
            "models": values,
            "base_url": values,
            "metadata": values,
            "tools": values,
            "model_url": st.just(url),
        },
    )

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(bodies)
    def run(body: dict[str, Any]) -> None:
        if body.get("stream") is True:
            body["stream"] = False  # the harness reads whole answers; streams are the fault tests' part
        statuses.append(guarded.post(body)[0])

    statuses: list[int] = []
    run()
    refused = sum(1 for x in statuses if 400 <= x < 500)
    assert statuses.count(200) >= 10 and refused >= 10, sorted(set(statuses))  # both paths ran
    guarded.check()
    assert guarded.canary.hits == 0


def test_no_field_at_any_depth_changes_the_upstream_host(guarded: Guarded) -> None:
    url = guarded.canary.url
    host = url.removeprefix("http://").removesuffix("/v1")
    hostile: dict[str, Any] = {"base_url": url, "api_base": url, "url": url, "host": host, "endpoint": url}
    bodies = [
        {"model": "auto", "messages": MSG, **hostile},
        {"model": url, "messages": MSG},
        {"model": "auto", "messages": MSG, "policy": {**Q60, **hostile}},
        {"model": "auto", "messages": MSG, "provider": {"order": ["alpha"], **hostile}, "models": [url]},
        {"model": "auto", "messages": [{"role": "user", "content": "hi", **hostile}]},
        {"model": "auto", "messages": MSG, "extra_body": hostile, "metadata": {"a": {"b": [hostile]}}},
        {"model": "alpha/mid", "messages": MSG, "x_unhardcoded_base_url": url, "azure_endpoint": url},
    ]
    headers = {
        "host": host,
        "x-forwarded-host": host,
        "x-unhardcoded-base-url": url,
        "forwarded": f"host={host}",
    }
    for body in bodies:
        guarded.post(body, headers)
    assert guarded.canary.hits == 0
    guarded.check()
