"""`unhardcoded verify` exit codes on both stores (0 intact, 1 tampered, 2 cannot verify), and
`unhardcoded keys signing` (a new key written once, mode 0600; the public key printed and exported)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest
from typer.testing import CliRunner

from tests.store.test_tamper import SIGNER, build, raw
from unhardcoded.cli import app
from unhardcoded.gateway.signing import load_public_key

if TYPE_CHECKING:
    from tests.store.conftest import Backend

cli = CliRunner()


def pubkey(tmp_path: Path) -> str:
    path = tmp_path / "pub.pem"
    path.write_text(SIGNER.public.pem())
    return f"--pubkey={path}"


def test_verify_exits_0_intact_1_tampered(backend: Backend, tmp_path: Path) -> None:
    asyncio.run(build(backend))
    ok = cli.invoke(app, ["verify", "--store", backend.url, pubkey(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "tenant 'acme': 12 receipts intact" in ok.output and "(3 signed checkpoints)" in ok.output
    with raw(backend) as db:
        db("UPDATE receipts SET latency_ms = 1 WHERE tenant = 'acme' AND chain_seq = 7")
    bad = cli.invoke(app, ["verify", "--store", backend.url, pubkey(tmp_path)])
    assert bad.exit_code == 1, bad.output
    assert "tenant 'acme': TAMPERED at sequence number 7: receipt req-00007 was altered" in bad.output
    assert "tenant 'beta': 3 receipts intact" in bad.output
    js = cli.invoke(app, ["verify", "--store", backend.url, pubkey(tmp_path), "--tenant", "acme", "--json"])
    doc = orjson.loads(js.stdout)
    assert js.exit_code == 1 and doc["verdict"] == "tampered" and doc["problems"][0]["seq"] == 7


def test_verify_exits_2_when_it_cannot(backend: Backend, tmp_path: Path) -> None:
    asyncio.run(build(backend))
    nokey = cli.invoke(app, ["verify", "--store", backend.url], env={"UNHARDCODED_SIGNING_KEY": ""})
    assert nokey.exit_code == 2 and "no public key was given" in nokey.output
    several = cli.invoke(
        app, ["verify", "--store", backend.url, pubkey(tmp_path), "--receipt", f"1:{'a' * 64}"]
    )
    assert several.exit_code == 2 and "name one with --tenant" in several.output
    malformed = cli.invoke(app, ["verify", "--store", backend.url, "--receipt", "12"])
    assert malformed.exit_code == 2 and "--receipt: expected SEQ:HASH" in malformed.output


def test_verify_exits_2_on_a_store_it_cannot_read(tmp_path: Path) -> None:
    missing = cli.invoke(app, ["verify", "--store", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "no SQLite file" in missing.output
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    junk = cli.invoke(app, ["verify", "--store", str(tmp_path / "junk.db")])
    assert junk.exit_code == 2 and "cannot read the store" in junk.output
    down = cli.invoke(app, ["verify", "--store", "postgresql://u:secret-pw@127.0.0.1:1/db"])
    assert down.exit_code == 2 and "cannot read the store 127.0.0.1:1/db" in down.output
    assert "secret-pw" not in down.output


def test_keys_signing_new_then_export(tmp_path: Path) -> None:
    key, pub = tmp_path / "signing.pem", tmp_path / "pub.pem"
    made = cli.invoke(app, ["keys", "signing", "--new", "--out", str(key), "--public-out", str(pub)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    printed = made.stdout[made.stdout.index("-----BEGIN PUBLIC KEY-----") :]
    assert printed.strip() == pub.read_text().strip()
    again = cli.invoke(app, ["keys", "signing", "--new", "--out", str(key)])
    assert again.exit_code == 2 and "never overwritten" in again.output
    config = tmp_path / "u.yaml"
    config.write_text(f"checkpoints: {{signing_key_file: {key}}}\n")
    shown = cli.invoke(app, ["keys", "signing", "--config", str(config)])
    assert shown.exit_code == 0 and shown.stdout.strip() == pub.read_text().strip()
    assert load_public_key(shown.stdout, "printed").pem() == pub.read_text()
    assert "PRIVATE" not in shown.output
    none = cli.invoke(app, ["keys", "signing"], env={"UNHARDCODED_SIGNING_KEY": ""})
    assert none.exit_code == 2 and "no signing key is configured" in none.output


def test_a_long_store_shows_a_progress_bar(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unhardcoded.cli_verify

    asyncio.run(build(backend))
    monkeypatch.setattr(unhardcoded.cli_verify, "_PROGRESS_FROM", 10)  # 15 receipts count as long here
    ok = cli.invoke(app, ["verify", "--store", backend.url, pubkey(tmp_path)], env={"COLUMNS": "100"})
    assert ok.exit_code == 0, ok.output
    assert "tenant 'acme': 12 receipts intact" in ok.output
