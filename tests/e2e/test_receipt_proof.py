"""The client-held proof end to end: the `x-unhardcoded-receipt` header (and, on streams, the SSE comment
before [DONE]) is the stored receipt's place in its tenant's chain; the signed checkpoints are served per
tenant with the public key that checks them; POST /x/verify is for admins; and `unhardcoded verify` proves
against the client's SEQ:HASH that the store was truncated."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from tests.e2e.harness import Harness
from unhardcoded.cli import app
from unhardcoded.gateway.auth import key_digest
from unhardcoded.gateway.signing import Signer, checkpoint_message, load_public_key

ACME, GLOBEX, ADMIN = "uh_acme-client-key-0001", "uh_globex-client-key-0002", "uh_admin-key-0003"
AUTH = {
    "keys": [
        {"hash": key_digest(ACME), "tenant": "acme", "scope": "client"},
        {"hash": key_digest(GLOBEX), "tenant": "globex", "scope": "client"},
        {"hash": key_digest(ADMIN), "tenant": "ops", "scope": "admin"},
    ]
}
MESSAGES = [{"role": "user", "content": "prove it"}]
PROOF = re.compile(rb"\n: x-unhardcoded-receipt (\d+):([0-9a-f]{64})\n\n")


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    s = Signer.new()
    (tmp_path / "signing.pem").write_bytes(s.private_pem())
    return s


@pytest.fixture
def gw(tmp_path: Path, signer: Signer) -> Iterator[Harness]:
    checkpoints = {"signing_key_file": str(tmp_path / "signing.pem"), "every": 1000, "every_s": 3600}
    h = Harness.start(tmp_path, config={"auth": AUTH, "checkpoints": checkpoints})
    yield h
    h.stop()


def stored(tmp_path: Path, request_id: str) -> str:
    with contextlib.closing(sqlite3.connect(tmp_path / "receipts.db")) as db:
        seq, h, tenant = db.execute(
            "SELECT chain_seq, chain_hash, tenant FROM receipts WHERE request_id = ?", (request_id,)
        ).fetchone()
    assert tenant is not None
    return f"{seq}:{h}"


def call(gw: Harness, key: str) -> tuple[str, str]:
    """One call through the openai SDK: (request id, x-unhardcoded-receipt)."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=20) as client:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
        return raw.headers["x-unhardcoded-request-id"], raw.headers["x-unhardcoded-receipt"]


def stream(gw: Harness, key: str) -> tuple[dict[str, str], bytes]:
    body = b'{"model": "auto", "stream": true, "messages": [{"role": "user", "content": "a stream"}]}'
    req = urllib.request.Request(
        gw.url + "/v1/chat/completions",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(req, timeout=20) as r:
        return dict(r.headers), r.read()


def test_the_header_and_the_stream_comment_are_the_stored_chain_position(gw: Harness, tmp_path: Path) -> None:
    for n in range(3):
        rid, proof = call(gw, ACME)
        assert proof == stored(tmp_path, rid)
        assert proof.startswith(f"{n + 1}:")  # acme's chain: 1, 2, 3
    assert call(gw, GLOBEX)[1].startswith("1:")  # globex has its own chain

    headers, body = stream(gw, ACME)
    assert headers["x-unhardcoded-receipt"] == "pending"  # the headers leave before the receipt is written
    found = PROOF.search(body)
    assert found is not None, body[-300:]
    assert body.endswith(b"data: [DONE]\n\n") and body.index(found.group(0)) < body.index(b"data: [DONE]")
    proof = f"{found.group(1).decode()}:{found.group(2).decode()}"
    assert proof == stored(tmp_path, headers["x-unhardcoded-request-id"]) and proof.startswith("4:")


def test_fast_durability_says_the_proof_is_pending(tmp_path: Path) -> None:
    h = Harness.start(tmp_path, durability="fast")
    try:
        assert call(h, "unused")[1] == "pending"
    finally:
        h.stop()


def test_checkpoints_are_signed_per_tenant_and_served_with_their_key(gw: Harness, signer: Signer) -> None:
    for key in (ACME, ACME, GLOBEX):
        call(gw, key)
    made = gw.run(gw.gateway.checkpoints.run_once(force=True))
    assert sorted((c.tenant, c.seq) for c in made) == [("acme", 2), ("globex", 1)]

    status, pub = gw.get("/x/checkpoints/pubkey", {"authorization": f"Bearer {GLOBEX}"})
    assert status == 200 and pub["public_key_pem"] == signer.public.pem()
    key = load_public_key(pub["public_key_pem"], "served")
    status, listed = gw.get("/x/checkpoints", {"authorization": f"Bearer {ACME}"})
    assert status == 200 and [(c["tenant"], c["seq"]) for c in listed["checkpoints"]] == [("acme", 2)]
    [cp] = listed["checkpoints"]
    assert key.verifies(checkpoint_message("acme", cp["seq"], cp["hash"], cp["time"]), cp["signature"])
    status, everyone = gw.get("/x/checkpoints", {"authorization": f"Bearer {ADMIN}"})
    assert [c["tenant"] for c in everyone["checkpoints"]] == ["acme", "globex"]
    status, err = gw.get("/x/checkpoints?tenant=globex", {"authorization": f"Bearer {ACME}"})
    assert status == 400 and err["error"]["param"] == "tenant"
    status, err = gw.get("/x/checkpoints?nope=1", {"authorization": f"Bearer {ADMIN}"})
    assert status == 400 and err["error"]["param"] == "nope"


def test_verify_over_http_is_for_admins(gw: Harness) -> None:
    held = call(gw, ACME)[1]
    status, _, err = gw.post("/x/verify", {}, {"authorization": f"Bearer {ACME}"})
    assert status == 403 and err["error"]["type"] == "permission_error" and "admin" in err["error"]["message"]
    status, _, report = gw.post(
        "/x/verify", {"tenant": "acme", "receipts": [held]}, {"authorization": f"Bearer {ADMIN}"}
    )
    assert status == 200 and report["verdict"] == "intact" and report["entries"] == 1
    wrong = held.split(":")[0] + ":" + "0" * 64
    status, _, report = gw.post(
        "/x/verify", {"tenant": "acme", "receipts": [wrong]}, {"authorization": f"Bearer {ADMIN}"}
    )
    assert status == 200 and report["verdict"] == "tampered" and report["problems"][0]["seq"] == 1
    status, _, err = gw.post("/x/verify", {"receipts": ["7"]}, {"authorization": f"Bearer {ADMIN}"})
    assert status == 400 and err["error"]["param"] == "receipt"


def test_a_client_held_header_proves_a_truncated_store(tmp_path: Path, signer: Signer) -> None:
    h = Harness.start(tmp_path)  # no signing key: the client's header is the only proof beyond the store
    try:
        held = [call(h, "unused")[1] for _ in range(4)]
    finally:
        h.stop()
    db = tmp_path / "receipts.db"
    cli = CliRunner()
    args = ["verify", "--store", str(db), *(f"--receipt={p}" for p in held)]
    intact = cli.invoke(app, args)
    assert intact.exit_code == 0, intact.output
    assert "4 receipts intact" in intact.output
    with contextlib.closing(sqlite3.connect(db)) as conn:  # drop the last two, and hide it in the head
        conn.execute("DELETE FROM receipts WHERE chain_seq >= 3")
        conn.execute("UPDATE chain_heads SET seq = 2, hash = ?", (held[1].split(":")[1],))
        conn.commit()
    assert cli.invoke(app, ["verify", "--store", str(db)]).exit_code == 0  # the store alone cannot tell
    cut = cli.invoke(app, [*args[:3], f"--receipt={held[3]}"])
    assert cut.exit_code == 1, cut.output
    assert (
        "TAMPERED at sequence number 3" in cut.output
        and "client-held receipt vouches for entry 4" in cut.output
    )
