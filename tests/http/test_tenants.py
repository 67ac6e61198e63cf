"""Gateway keys and tenants (SPEC §7): nobody in without a key, no tenant sees another's anything."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.canary import MARKER
from tests.e2e.harness import Harness
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.auth import key_digest
from unhardcoded.gateway.receipts import workflow_trace_id
from unhardcoded.http.server import serve

# Canary keys (tests/canary.py): the session fails if one turns up in a receipt, a log, a dump or a body.
ACME, GLOBEX, ADMIN = f"uh_acme-{MARKER}-0001", f"uh_globex-{MARKER}-0002", f"uh_admin-{MARKER}-0003"
AUTH = {
    "keys": [
        {"hash": key_digest(ACME), "tenant": "acme", "scope": "client"},
        {"hash": key_digest(GLOBEX), "tenant": "globex", "scope": "client"},
        {"hash": key_digest(ADMIN), "tenant": "ops", "scope": "admin"},
    ]
}
CHAT = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "hi"}]}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Harness]:
    h = Harness.start(tmp_path, config={"auth": AUTH})
    yield h
    h.stop()


def call(gw: Harness, key: str, **headers: str) -> str:
    status, h, body = gw.post("/v1/chat/completions", CHAT, {**bearer(key), **headers})
    assert status == 200, body
    return h["x-unhardcoded-request-id"]


def test_no_key_no_entry_but_liveness_and_schemas_are_public(gw: Harness) -> None:
    status, _, body = gw.post("/v1/chat/completions", CHAT)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert gw.post("/v1/chat/completions", CHAT, bearer("uh_wrong"))[0] == 401
    for path in ("/x/traces", "/v1/models", "/x/catalog", "/x/receipts/req_x", "/metrics"):
        assert gw.get(path)[0] == 401, path
    assert gw.get("/healthz")[0] == 200 and gw.get("/openapi.json")[0] == 200
    assert gw.alpha.seen == [] and gw.beta.seen == []


def test_both_sdk_headers_are_accepted(gw: Harness) -> None:
    call(gw, ACME)
    status, _, _ = gw.post("/v1/chat/completions", CHAT, {"x-api-key": GLOBEX})
    assert status == 200


def test_another_tenants_receipt_is_a_404_exactly_like_a_missing_one(gw: Harness) -> None:
    rid = call(gw, ACME)
    ok, mine = gw.get(f"/x/receipts/{rid}", bearer(ACME))
    assert ok == 200 and mine["tenant"] == "acme"
    theirs = gw.get(f"/x/receipts/{rid}", bearer(GLOBEX))
    missing = gw.get("/x/receipts/req_000000000000000000000000", bearer(GLOBEX))
    assert theirs[0] == missing[0] == 404
    assert {k: v for k, v in theirs[1]["error"].items() if k != "message"} == {
        k: v for k, v in missing[1]["error"].items() if k != "message"
    }
    assert gw.get(f"/x/receipts/{rid}", bearer(ADMIN))[0] == 200


def test_traces_search_and_replay_are_scoped(gw: Harness) -> None:
    a, g = call(gw, ACME), call(gw, GLOBEX)
    _, rows_a = gw.get("/x/traces?limit=50", bearer(ACME))
    _, rows_admin = gw.get("/x/traces?limit=50", bearer(ADMIN))
    assert {r["request_id"] for r in rows_a["receipts"]} == {a}
    assert {r["request_id"] for r in rows_admin["receipts"]} == {a, g}
    _, mine = gw.get(f"/x/receipts/{a}", bearer(ACME))
    assert gw.get(f"/x/traces/{mine['trace_id']}", bearer(GLOBEX))[0] == 404
    assert gw.post("/x/replay", {"request_id": a}, bearer(GLOBEX))[0] == 404
    assert gw.post("/x/replay", {"request_id": a}, bearer(ACME))[0] == 200


def test_metrics_need_an_admin_key(gw: Harness) -> None:
    assert gw.get("/metrics", bearer(ACME))[0] == 403
    assert gw.get("/metrics", bearer(ADMIN))[0] == 200


def test_stored_policies_are_per_tenant(gw: Harness) -> None:
    policy = {"name": "mine", "policy": {"rules": []}}
    assert gw.post("/x/policies", policy, bearer(ACME))[0] == 201
    body = {**CHAT, "model": "policy:mine"}
    assert gw.post("/v1/chat/completions", body, bearer(ACME))[0] == 200
    status, _, out = gw.post("/v1/chat/completions", body, bearer(GLOBEX))
    assert status == 400 and "mine" not in out["error"]["choices"]
    assert gw.get("/x/policies/mine", bearer(GLOBEX))[0] == 404


def test_a_workflow_name_is_a_different_trace_per_tenant(gw: Harness) -> None:
    a = call(gw, ACME, **{"x-unhardcoded-workflow": "run-1"})
    g = call(gw, GLOBEX, **{"x-unhardcoded-workflow": "run-1"})
    ta = gw.get(f"/x/receipts/{a}", bearer(ACME))[1]["trace_id"]
    tg = gw.get(f"/x/receipts/{g}", bearer(GLOBEX))[1]["trace_id"]
    assert ta == workflow_trace_id("run-1", "acme") != tg == workflow_trace_id("run-1", "globex")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("//x/receipts/{rid}", {}),
        ("/x%2freceipts/{rid}", {}),
        ("/x/receipts/{rid}", {"host": "admin.internal", "x-forwarded-for": "127.0.0.1"}),
        ("/x/receipts/{rid}", {"x-forwarded-path": "/healthz", "x-original-url": "/healthz"}),
    ],
)
def test_the_raw_path_decides_never_host_or_forwarded_headers(
    gw: Harness, path: str, headers: dict[str, str]
) -> None:
    rid = call(gw, ACME)
    status, _ = gw.get(path.format(rid=rid), headers)
    assert status == 401
    status, _ = gw.get(path.format(rid=rid), {**headers, **bearer(GLOBEX)})
    assert status == 404


def test_without_keys_the_gateway_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    cfg = tmp_path / "u.yaml"
    cfg.write_text(f"store: sqlite:///{tmp_path / 'r.db'}\n")
    with pytest.raises(ConfigError, match="loopback") as e:
        serve(cfg, host="0.0.0.0", port=0)
    assert e.value.path == "host" and "keys add" in e.value.message


def test_keys_add_prints_the_key_once_and_stores_only_its_digest(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "unhardcoded.cli",
            "keys",
            "add",
            "--tenant",
            "acme",
            "--scope",
            "client",
            "--file",
            str(tmp_path / "keys.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    key = out.stdout.strip()
    text = (tmp_path / "keys.yaml").read_text()
    assert key.startswith("uh_") and key not in text and key_digest(key) in text
    h = Harness.start(tmp_path, config={"auth": {"keys_file": str(tmp_path / "keys.yaml")}})
    try:
        assert h.post("/v1/chat/completions", CHAT, bearer(key))[0] == 200
    finally:
        h.stop()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "unhardcoded.cli",
            "keys",
            "add",
            "--tenant",
            "acme",
            "--scope",
            "root",
            "--file",
            str(tmp_path / "k2.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "--scope" in bad.stderr and not (tmp_path / "k2.yaml").exists()
