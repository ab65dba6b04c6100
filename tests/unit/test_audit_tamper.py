"""Every way of rewriting the audit log that an operator with write access to the state dir (but not to
the signing key) could try, and each one detected by `verify`. Also: an append after tampering records
what it found in a signed entry instead of erasing the evidence."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tonle.interfaces.cli import main
from tonle.state.audit import AuditLog
from tonle.state.audit_checks import ANOMALY_ACTION, GENESIS, GENESIS_ACTION, Head, entry_digest
from tonle.state.db import StateDB
from tonle.state.signing import KeyUnusable, SigningKey, entry_message, head_message, public_file

APPROVER = "bob"


def audit_log(state: Path) -> AuditLog:
    return AuditLog(StateDB(state), syslog="")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state dir whose log has a genesis and eight entries, one of them bob's approval."""
    state = tmp_path / "state"
    log = audit_log(state)
    log.append("plan", "P-1", {"target": "lab", "changed": ["r1"]}, actor="alice")
    log.append("apply-start", "P-1", {"stages": [["r1"]]}, actor="alice")
    log.append("commit", "r1", {"plan": "P-1", "revert_in": 300}, actor="alice")
    log.append("confirm", "P-1", {"devices": ["r1"]}, actor="alice")
    log.append("disconnect-refused", "D-1", {"scope": "site-upstreams POI", "reason": "leak"}, actor="alice")
    log.append("approve", "D-1", {"approver": APPROVER, "requester": "alice"}, actor=APPROVER)
    log.append("disconnect", "D-1", {"scope": "site-upstreams POI", "approver": APPROVER}, actor="alice")
    log.append("restore", "D-1", {"expired": False}, actor="alice")
    assert audit_log(state).verify() == []
    return state


def problems(state: Path, **kw: Any) -> list[str]:
    return audit_log(state).verify(**kw)


def sql(state: Path, statement: str, params: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(state / "tonle.db") as db:
        db.execute(statement, params)


def rewrite(state: Path, edit: Callable[[dict[str, Any]], None], key: SigningKey | None = None) -> None:
    """What a forger does: edit entries, recompute every hash down the chain, rewrite the head; with `key`
    (a key of their own) re-sign every entry, the genesis's recorded key and the head too."""
    db = sqlite3.connect(state / "tonle.db")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM audit ORDER BY seq")]
    prev = GENESIS
    for r in rows:
        edit(r)
        details = json.loads(r["details"])
        if key and r["action"] == GENESIS_ACTION:
            details = {"algorithm": "ed25519", "public_key": key.public.b64, "fingerprint": key.public.fingerprint}
            r["object"] = key.public.fingerprint
        digest = entry_digest(prev, r["seq"], r["ts"], r["actor"], r["action"], r["object"], details)
        db.execute("UPDATE audit SET actor=?, object=?, details=?, prev_hash=?, hash=? WHERE seq=?",
                   (r["actor"], r["object"], json.dumps(details), prev, digest, r["seq"]))
        if key:
            db.execute("UPDATE audit_signatures SET key_id=?, signature=? WHERE seq=?",
                       (key.public.fingerprint, key.sign(entry_message(r["seq"], digest)), r["seq"]))
        prev = digest
    db.commit()
    db.close()
    old = Head.parse((state / "audit.head").read_text())
    if key:
        head = Head(old.seq, prev, old.ts, key.public.fingerprint, key.sign(head_message(old.seq, prev, old.ts)))
    else:
        head = Head(old.seq, prev, old.ts, old.key_id, old.signature)  # cannot re-sign: keeps the old signature
    (state / "audit.head").write_text(head.line())


def rename_approver(r: dict[str, Any]) -> None:
    if APPROVER in r["details"]:
        r["details"] = r["details"].replace(APPROVER, "mallory")
    if r["actor"] == APPROVER:
        r["actor"] = "mallory"


# ---- one kind of tampering each ---------------------------------------------------------------------

def test_single_field_edit(state: Path) -> None:
    sql(state, "UPDATE audit SET actor = 'mallory' WHERE action = 'approve'")
    assert problems(state) == ["entry 7: content does not match its hash (edited)"]


def test_edit_of_details(state: Path) -> None:
    sql(state, "UPDATE audit SET details = replace(details, 'bob', 'carol') WHERE seq = 8")
    assert problems(state) == ["entry 8: content does not match its hash (edited)"]


def test_deletion_of_one_entry(state: Path) -> None:
    sql(state, "DELETE FROM audit WHERE seq = 4")
    assert problems(state) == [
        "entry 4 missing (removed)",
        "entry 5: does not follow the previous entry's hash (an entry before it removed or reordered)",
    ]


def test_reordering(state: Path) -> None:
    db = sqlite3.connect(state / "tonle.db")
    a, b = (db.execute("SELECT ts, actor, action, object, details, prev_hash, hash FROM audit WHERE seq = ?",
                       (n,)).fetchone() for n in (3, 4))
    sa, sb = (db.execute("SELECT key_id, signature FROM audit_signatures WHERE seq = ?", (n,)).fetchone()
              for n in (3, 4))
    for seq, row, sig in ((3, b, sb), (4, a, sa)):
        db.execute("UPDATE audit SET ts=?, actor=?, action=?, object=?, details=?, prev_hash=?, hash=? WHERE seq=?",
                   (*row, seq))
        db.execute("UPDATE audit_signatures SET key_id=?, signature=? WHERE seq=?", (*sig, seq))
    db.commit()
    db.close()
    found = problems(state)
    assert "entries 3-4: content does not match its hash (edited)" in found
    assert "entries 3-5: does not follow the previous entry's hash (an entry before it removed or reordered)" in found
    assert any("signature does not verify" in p for p in found)


def test_truncation_at_the_end(state: Path) -> None:
    sql(state, "DELETE FROM audit WHERE seq > 7")
    assert problems(state) == ["the head record says entry 9 but the log ends at entry 7: entries removed from the end"]


def test_full_rewrite_without_the_private_key(state: Path) -> None:
    rewrite(state, rename_approver)
    found = problems(state)
    assert any(p.startswith("entries 7-9: signature does not verify against") for p in found)  # the chain is fine
    assert not any("hash" in p and "head" not in p for p in found)
    assert any("head record's signature does not verify" in p for p in found)


def test_full_rewrite_that_strips_the_signatures(state: Path) -> None:
    rewrite(state, rename_approver)
    sql(state, "DELETE FROM audit_signatures")
    (state / "audit.head").write_text(f"9 {audit_log(state).entries()[-1].hash}\n")  # a legacy-style head
    found = problems(state)
    assert any("no entry is signed, but a signing key" in p and "the signatures were removed" in p for p in found)
    assert not any("seal" in p for p in found)  # no advice to bless it


def test_full_rewrite_with_a_new_key_and_the_key_file_untouched(state: Path) -> None:
    forger = SigningKey.generate()
    rewrite(state, rename_approver, key=forger)
    found = problems(state)
    assert any(f"the genesis records key {forger.public.fingerprint}" in p and "re-created with another key" in p
               for p in found)
    assert any(p.startswith("entries 1-9: signed by " + forger.public.fingerprint) for p in found)
    assert any("head record's signature does not verify" in p for p in found)


def test_full_rewrite_with_a_new_key_in_the_key_files_is_caught_by_pinning(state: Path, tmp_path: Path) -> None:
    key_file = state / "keys" / "audit-ed25519.pem"
    pinned = tmp_path / "pinned.pub"
    shutil.copy(public_file(key_file), pinned)  # the verifier's copy, taken when the log was set up
    original = SigningKey.load(key_file).public.fingerprint
    forger = SigningKey.generate()
    rewrite(state, rename_approver, key=forger)
    key_file.unlink()
    forger.save(key_file)  # the forger could write the key directory too
    unpinned = audit_log(state).check()
    assert unpinned.ok and unpinned.fingerprint == forger.public.fingerprint != original  # says whom it trusted
    found = problems(state, public_key=pinned)
    assert any(f"holds {forger.public.fingerprint}, not the pinned {original}" in p for p in found)
    assert any("re-created with another key" in p for p in found)
    assert any(p.startswith("entries 1-9: signed by") for p in found)


def test_pinned_key_accepts_the_genuine_log(state: Path, tmp_path: Path) -> None:
    pub = public_file(state / "keys" / "audit-ed25519.pem")
    assert problems(state, public_key=pub) == []
    raw = tmp_path / "raw.b64"  # the form the genesis records
    raw.write_text(audit_log(state).entries()[0].details["public_key"] + "\n")
    assert problems(state, public_key=raw) == []


def test_deletion_of_db_and_head(state: Path) -> None:
    for name in ("tonle.db", "tonle.db-wal", "tonle.db-shm", "audit.head"):
        (state / name).unlink(missing_ok=True)
    found = problems(state)
    assert len(found) == 1 and "the log is empty but its signing key exists" in found[0]


def test_deletion_of_the_head_only(state: Path) -> None:
    (state / "audit.head").unlink()
    assert problems(state) == ["head record missing (deleted)"]


def test_head_replaced_by_an_older_signed_head(state: Path) -> None:
    log = audit_log(state)
    older = (state / "audit.head").read_bytes()
    log.append("plan", "P-2", {}, actor="alice")
    log.append("plan", "P-3", {}, actor="alice")
    (state / "audit.head").write_bytes(older)
    assert problems(state) == ["the log goes on to entry 11 past its head record (entry 9): entries appended "
                               "without the head, or the head replaced by an older one"]


def test_forged_head(state: Path) -> None:
    head = Head.parse((state / "audit.head").read_text())
    (state / "audit.head").write_text(Head(head.seq, head.hash, "2030-01-01T00:00:00.000+00:00", head.key_id,
                                           head.signature).line())
    assert [p for p in problems(state) if "head record's signature does not verify" in p]


def test_entry_inserted_without_signature(state: Path) -> None:
    log = audit_log(state)
    last = log.entries()[-1]
    ts = "2030-01-01T00:00:00.000+00:00"
    digest = entry_digest(last.hash, 10, ts, "mallory", "approve", "D-9", {})
    sql(state, "INSERT INTO audit VALUES (10, ?, 'mallory', 'approve', 'D-9', '{}', ?, ?)", (ts, last.hash, digest))
    found = problems(state)
    assert "entry 10: unsigned after signing began (inserted, or its signature removed)" in found


def test_everything_deleted_is_never_used_unless_pinned(state: Path, tmp_path: Path) -> None:
    pinned = tmp_path / "pinned.pub"
    shutil.copy(public_file(state / "keys" / "audit-ed25519.pem"), pinned)
    shutil.rmtree(state)
    result = audit_log(state).check()
    assert result.ok and result.notes[0].startswith("no audit log yet: this state dir was never used")
    found = problems(state, public_key=pinned)
    assert len(found) == 1 and "the log is empty but a key was pinned" in found[0]


# ---- an append after tampering keeps the evidence ---------------------------------------------------

def anomalies(state: Path) -> list[str]:
    return [p for e in audit_log(state).entries() if e.action == ANOMALY_ACTION for p in e.details["found"]]


def test_append_after_deleting_the_log_records_it(state: Path) -> None:
    for name in ("tonle.db", "tonle.db-wal", "tonle.db-shm", "audit.head"):
        (state / name).unlink(missing_ok=True)
    audit_log(state).append("plan", "P-9", {}, actor="alice")
    assert [e.action for e in audit_log(state).entries()] == [GENESIS_ACTION, ANOMALY_ACTION, "plan"]
    assert any("existed but the log had no signed entry" in a for a in anomalies(state))
    found = problems(state)
    assert len(found) == 1 and "the log was found tampered with when this entry was written" in found[0]


def test_append_after_truncation_records_it(state: Path) -> None:
    sql(state, "DELETE FROM audit WHERE seq > 7")
    audit_log(state).append("plan", "P-9", {}, actor="alice")
    assert anomalies(state) == ["the head record says entry 9 but the log ends at entry 7: entries removed from "
                                "the end"]
    assert [p for p in problems(state) if "entry 8 (" in p and "tampered with" in p]


def test_append_after_deleting_the_head_records_it(state: Path) -> None:
    (state / "audit.head").unlink()
    audit_log(state).append("plan", "P-9", {}, actor="alice")
    assert anomalies(state) == ["head record missing (deleted)"]
    assert len(problems(state)) == 1


def test_append_after_an_older_head_records_it(state: Path) -> None:
    log = audit_log(state)
    older = (state / "audit.head").read_bytes()
    log.append("plan", "P-2", {}, actor="alice")
    (state / "audit.head").write_bytes(older)
    log.append("plan", "P-3", {}, actor="alice")
    assert anomalies(state) and "past its head record" in anomalies(state)[0]


def test_append_refuses_a_missing_or_other_key(state: Path) -> None:
    key_file = state / "keys" / "audit-ed25519.pem"
    saved, saved_pub = key_file.read_bytes(), public_file(key_file).read_bytes()
    key_file.unlink()
    with pytest.raises(KeyUnusable, match="missing, but the log is signed by"):
        audit_log(state).append("plan", "P-9", {}, actor="alice")
    SigningKey.generate().save(key_file)
    with pytest.raises(KeyUnusable, match="refusing to sign with another key"):
        audit_log(state).append("plan", "P-9", {}, actor="alice")
    key_file.unlink()
    key_file.write_bytes(saved)
    public_file(key_file).write_bytes(saved_pub)
    key_file.chmod(0o640)
    with pytest.raises(KeyUnusable, match="open to others"):
        audit_log(state).append("plan", "P-9", {}, actor="alice")
    key_file.chmod(0o600)
    audit_log(state).append("plan", "P-9", {}, actor="alice")
    assert problems(state) == []  # refused appends wrote nothing


# ---- through the command line -----------------------------------------------------------------------

def run(state: Path, *argv: str) -> int:
    return main(["--config", str(state / "nornir.yaml"), "--state-dir", str(state), "audit", *argv])


def test_cli_exit_codes(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fingerprint = audit_log(state).entries()[0].key_id
    assert run(state, "verify") == 0
    out = capsys.readouterr().out
    assert f"9 entries, signed by {fingerprint} (trusted: key file " in out and "intact" in out
    sql(state, "UPDATE audit SET actor = 'mallory' WHERE action = 'approve'")
    assert run(state, "verify") == 1
    captured = capsys.readouterr()
    assert "audit: entry 7: content does not match its hash (edited)" in captured.err
    assert "1 problem(s)" in captured.out
    assert run(state, "verify", "--public-key", str(tmp_path / "nope.pub")) == 2  # bad input
    assert run(state, "verify", "--against", str(tmp_path / "nope.log")) == 2
    empty = tmp_path / "empty"
    assert run(empty, "verify") == 0
    assert "never used" in capsys.readouterr().out
    for name in ("tonle.db", "tonle.db-wal", "tonle.db-shm", "audit.head"):
        (state / name).unlink(missing_ok=True)
    assert run(state, "verify") == 1
    assert "0 entries" in capsys.readouterr().out


def test_append_after_emptying_the_table_starts_a_signed_record_of_it(state: Path) -> None:
    sql(state, "DELETE FROM audit")  # the signature rows stay behind, orphaned
    audit_log(state).append("plan", "P-9", {}, actor="alice")
    assert [e.action for e in audit_log(state).entries()] == [GENESIS_ACTION, ANOMALY_ACTION, "plan"]
    assert anomalies(state)[0].startswith("the signing key ed25519:")
    assert anomalies(state)[1] == "the log was empty but its head record said entry 9 (the log was deleted)"


def test_a_key_file_open_to_others_is_reported(state: Path) -> None:
    (state / "keys" / "audit-ed25519.pem").chmod(0o644)
    found = problems(state)
    assert len(found) == 1 and "open to others (mode 0644)" in found[0]
