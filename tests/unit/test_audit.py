"""The signed audit log: key files, genesis, head, what verification needs, old unsigned logs, no secrets."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tonle.interfaces.cli import main
from tonle.state.audit import AuditLog
from tonle.state.audit_checks import GENESIS, GENESIS_ACTION, Head, entry_digest
from tonle.state.db import MIGRATIONS, SCHEMA_VERSION, StateDB
from tonle.state.signing import KEY_NAME, PublicKey, SigningKey, public_file


def audit_log(state: Path) -> AuditLog:
    return AuditLog(StateDB(state), syslog="")


def test_first_append_makes_the_key_and_a_genesis_recording_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = audit_log(state)
    assert not (state / "keys").exists()  # nothing made before the first entry
    entry = log.append("plan", "P-1", {"changed": ["r1"]}, actor="alice")
    key_file = state / "keys" / KEY_NAME
    assert stat.S_IMODE((state / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_file(key_file).stat().st_mode) == 0o644
    pub = PublicKey.load(public_file(key_file))
    assert SigningKey.load(key_file).public == pub
    raw = serialization.load_pem_public_key(public_file(key_file).read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert pub.fingerprint == "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]
    genesis, plan = log.entries()
    assert (genesis.seq, genesis.action, genesis.object, genesis.prev_hash) == (1, GENESIS_ACTION, pub.fingerprint,
                                                                                GENESIS)
    assert genesis.details == {"algorithm": "ed25519", "public_key": pub.b64, "fingerprint": pub.fingerprint}
    assert plan == entry and (entry.seq, entry.actor, entry.key_id) == (2, "alice", pub.fingerprint)
    assert pub.verify(entry.signature or "", f"tonle-audit/1 entry 2 {entry.hash}".encode())
    head = Head.parse((state / "audit.head").read_text())
    assert (head.seq, head.hash, head.key_id) == (2, entry.hash, pub.fingerprint)
    assert pub.verify(head.signature, f"tonle-audit/1 head 2 {entry.hash} {head.ts}".encode())
    assert not pub.verify(head.signature, f"tonle-audit/1 entry 2 {entry.hash}".encode())  # domains apart


def test_the_public_api_keeps_its_shape(tmp_path: Path) -> None:
    log = audit_log(tmp_path / "state")
    log.append("restore", "D-1", {"expired": True})
    log.append("plan", "P-1")
    assert [e.action for e in log.entries(limit=2)] == ["restore", "plan"]
    records = log.export()
    assert [r["seq"] for r in records] == [1, 2, 3] and {"signature", "key_id", "hash", "prev_hash"} <= set(records[0])
    assert log.verify() == []
    assert log.seal() == []  # signed already


def test_verification_needs_only_the_public_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    audit_log(state).append("plan", "P-1", {}, actor="alice")
    pub = public_file(state / "keys" / KEY_NAME)
    copy = tmp_path / "copy"  # what a regulator gets: the database and the head, no key at all
    copy.mkdir()
    for name in ("tonle.db", "audit.head"):
        shutil.copy(state / name, copy / name)
    with sqlite3.connect(copy / "tonle.db") as db:  # fold the WAL into the copy
        db.execute("PRAGMA wal_checkpoint")
    assert audit_log(copy).verify(public_key=pub) == []
    unpinned = audit_log(copy).verify()
    assert len(unpinned) == 1 and "pin the expected key with --public-key" in unpinned[0]
    (state / "keys" / KEY_NAME).unlink()  # the operator cannot read the service account's key
    assert audit_log(state).verify() == []


def test_open_key_directory_is_not_widened(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "k.pem"
    SigningKey.generate().save(key)
    with pytest.raises(FileExistsError):
        SigningKey.generate().save(key)  # a key file is never overwritten
    assert sorted(p.name for p in key.parent.iterdir()) == ["k.pem", "k.pub"]


def test_nothing_secret_leaves_the_key_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = audit_log(state)
    log.append("plan", "P-1", {}, actor="alice")
    key_file = state / "keys" / KEY_NAME
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,  # type: ignore[union-attr]
                                serialization.NoEncryption())
    pem_body = "".join(key_file.read_text().splitlines()[1:-1])
    everywhere = json.dumps(log.export()) + (state / "audit.head").read_text() + repr(SigningKey.load(key_file))
    everywhere += "".join(r.record().signature for r in log.entries())
    for secret in (pem_body, raw.hex(), raw.hex().upper(), __import__("base64").b64encode(raw).decode()):
        assert secret not in everywhere


def legacy_state(state: Path, n: int = 3) -> None:
    """A state dir as the previous release left it: schema 4, unsigned entries, a `SEQ HASH` head."""
    state.mkdir(parents=True)
    db = sqlite3.connect(state / "tonle.db")
    for sql in MIGRATIONS[:4]:
        db.executescript(sql)
    db.execute("PRAGMA user_version = 4")
    prev = GENESIS
    for seq in range(1, n + 1):
        ts = f"2026-01-0{seq}T10:00:00.000+00:00"
        digest = entry_digest(prev, seq, ts, "alice", "plan", f"P-{seq}", {"n": seq})
        db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
                   (seq, ts, "alice", "plan", f"P-{seq}", json.dumps({"n": seq}), prev, digest))
        prev = digest
    db.commit()
    db.close()
    (state / "audit.head").write_text(f"{n} {prev}\n")


def test_an_old_unsigned_log_stays_readable_and_is_sealed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    legacy_state(state)
    log = audit_log(state)
    with sqlite3.connect(state / "tonle.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [e.object for e in log.entries()] == ["P-1", "P-2", "P-3"]
    assert [e.signature for e in log.entries()] == [None, None, None]
    assert log.verify() == ["entries 1-3 unsigned (written before signing) and no signed entry seals them: "
                            "`tonle audit seal` signs the log from here on"]
    assert main(["--state-dir", str(state), "audit", "seal"]) == 0
    assert "audit log signed from entry 4 by ed25519:" in capsys.readouterr().out
    result = log.check()
    assert result.ok and result.notes == ["entries 1-3 unsigned (written before signing), sealed by the signed "
                                          "genesis entry 4"]
    log.append("plan", "P-5", {}, actor="alice")
    assert log.verify() == []
    with sqlite3.connect(state / "tonle.db") as db:  # the seal covers the old entries through the chain
        db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    assert log.verify() == ["entry 2: content does not match its hash (edited)"]


def test_sealing_a_tampered_old_log_records_what_it_found(tmp_path: Path) -> None:
    state = tmp_path / "state"
    legacy_state(state)
    with sqlite3.connect(state / "tonle.db") as db:
        db.execute("DELETE FROM audit WHERE seq = 2")
    log = audit_log(state)
    log.seal()
    anomaly = log.entries()[-1]
    assert anomaly.action == "audit-anomaly"
    assert anomaly.details["found"][0] == "before signing began: entry 2 missing (removed)"
    assert any("tampered with" in p for p in log.verify())


def test_concurrent_readers_see_a_consistent_log(tmp_path: Path) -> None:
    log = audit_log(tmp_path / "state")
    for n in range(20):
        log.append("plan", f"P-{n}", {}, actor="alice")
        assert log.verify() == []
