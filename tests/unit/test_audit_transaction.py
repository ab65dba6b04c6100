"""A state change and the audit entry that records it are one transaction: both are written, or neither.

Failures are injected between the two writes (the record is written first, then the entry is signed and
inserted): an exception from the audit insert, a signing failure, a key that is not the log's. After each,
neither the record nor the entry is there, the head still matches the log, and nothing went to syslog.
"""

from __future__ import annotations

import multiprocessing
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tonle.emergency.disconnect import lapse_approvals
from tonle.errors import TonleError
from tonle.state import accounts
from tonle.state.accounts import Actor, Role
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import DisconnectRecord, DisconnectStatus, open_db, records, save, saving
from tonle.state.signing import KEY_NAME, KeyUnusable, SigningKey


def record(rec_id: str = "D-1", status: str = DisconnectStatus.ACTIVE, **kw: Any) -> DisconnectRecord:
    base: dict[str, Any] = dict(
        id=rec_id, created_at="2024-01-01T00:00:00+00:00", operator="alice", reason="ddos", ticket="T-0",
        scope_kind="session", scope_value="r1:198.51.100.5", target="lab", ttl_seconds=600, graceful=False,
        status=status, expires_at="2999-01-01T00:00:00+00:00", approval_expires_at=None, approver=None,
        restored_at=None, overrides=[], devices=["r1"], blast={})
    base.update(kw)
    return DisconnectRecord(**base)


class Collector:
    """A UDP syslog collector on loopback: what was sent, by the time we look."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.3)

    @property
    def target(self) -> str:
        return f"udp://127.0.0.1:{self.sock.getsockname()[1]}"

    def received(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(65536))
            except TimeoutError:
                return out


def test_the_record_and_its_entry_commit_together(tmp_path: Path) -> None:
    state = tmp_path / "state"
    collector = Collector()
    log = AuditLog(StateDB(state), syslog=collector.target, actor="alice")
    seen: list[tuple[int, int]] = []
    ship = log._ship

    def ship_after_commit(written: Any) -> None:  # what another process sees when the copy goes out
        with sqlite3.connect(state / "tonle.db") as other:
            seen.append((other.execute("SELECT count(*) FROM disconnects").fetchone()[0],
                         other.execute("SELECT count(*) FROM audit WHERE action = 'disconnect'").fetchone()[0]))
        ship(written)

    log._ship = ship_after_commit  # type: ignore[method-assign]
    log.append("disconnect", "D-1", {"ticket": "T-0"}, change=saving(record()))
    assert [r.id for r in records(state)] == ["D-1"]
    assert [e.action for e in log.entries()][-1] == "disconnect"
    assert seen == [(1, 1)]  # both committed before the syslog copy was sent
    assert len(collector.received()) == 2  # the genesis and the entry
    assert log.verify() == []


@pytest.mark.parametrize("where", ["insert", "sign", "head"])
def test_a_failure_after_the_record_write_leaves_neither(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         where: str) -> None:
    state = tmp_path / "state"
    collector = Collector()
    log = AuditLog(StateDB(state), syslog=collector.target, actor="alice")
    log.append("plan", "P-0")  # a signed log with a head already
    collector.received()
    head_before = (state / "audit.head").read_bytes()
    wrote: list[str] = []
    change = saving(record())

    def record_first(c: sqlite3.Connection) -> None:
        change(c)
        wrote.append("record")

    def boom(*_a: object, **_k: object) -> Any:
        raise RuntimeError(f"injected failure in {where}")

    target = {"insert": (AuditLog, "_insert"), "sign": (SigningKey, "sign"), "head": (AuditLog, "_write_head")}
    monkeypatch.setattr(*target[where], boom)
    with pytest.raises(RuntimeError, match="injected"):
        log.append("disconnect", "D-1", {"ticket": "T-0"}, change=record_first)
    monkeypatch.undo()
    assert wrote == ["record"]  # the record was written inside the transaction...
    assert records(state) == []  # ...and rolled back with the entry
    assert [e.action for e in log.entries()] == ["audit-genesis", "plan"]
    assert (state / "audit.head").read_bytes() == head_before
    assert collector.received() == []
    assert log.verify() == []


def test_a_key_that_is_not_the_logs_saves_no_record(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = AuditLog(StateDB(state), syslog="", actor="alice")
    log.append("plan", "P-0")
    key = state / "keys" / KEY_NAME
    key.unlink()
    SigningKey.generate().save(key)  # another key: signing with it would hide a rewrite
    with pytest.raises(KeyUnusable):
        log.append("disconnect", "D-1", {}, change=saving(record()))
    assert records(state) == []


def test_a_failing_state_change_writes_no_entry(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = AuditLog(StateDB(state), syslog="", actor="alice")
    log.append("plan", "P-0")

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(sqlite3.OperationalError):
        log.append("disconnect", "D-1", {}, change=bad)
    assert [e.action for e in log.entries()] == ["audit-genesis", "plan"]


def test_a_lapse_that_cannot_be_audited_leaves_the_approval_open(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    save(open_db(state), record(status=DisconnectStatus.PENDING_APPROVAL, expires_at=None, approval_expires_at=past))
    monkeypatch.setattr(SigningKey, "sign", lambda *_a: (_ for _ in ()).throw(RuntimeError("injected")))
    with pytest.raises(RuntimeError, match="injected"):
        lapse_approvals(state)
    monkeypatch.undo()
    assert records(state)[0].status == DisconnectStatus.PENDING_APPROVAL  # not closed without its entry
    assert [r.status for r in lapse_approvals(state)] == [DisconnectStatus.EXPIRED]  # the next run does it
    assert records(state)[0].status == DisconnectStatus.EXPIRED
    assert [e.action for e in AuditLog(StateDB(state), syslog="").entries()][-1] == "approval-expired"


def test_an_account_that_cannot_be_audited_is_not_added(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    db = StateDB(state)
    monkeypatch.setattr(AuditLog, "_insert", lambda *_a: (_ for _ in ()).throw(RuntimeError("injected")))
    with pytest.raises(RuntimeError, match="injected"):
        accounts.add(db, "nobody", Role.VIEWER, Actor("root", 0, Role.ADMIN))
    monkeypatch.undo()
    assert accounts.accounts(db) == []
    assert accounts.add(db, "nobody", Role.VIEWER, Actor("root", 0, Role.ADMIN)).name == "nobody"
    with pytest.raises(TonleError, match="has an account already"):  # the constraint, inside the transaction
        accounts.add(db, "nobody", Role.VIEWER, Actor("root", 0, Role.ADMIN))
    assert [e.action for e in AuditLog(db, syslog="").entries()].count("account-add") == 1


PROCESSES, EACH = 4, 50


def writer(state: str, worker: int, start: Any) -> None:
    start.wait()
    log = AuditLog(StateDB(Path(state)), syslog="", actor=f"op{worker}")
    for n in range(EACH):
        log.append("disconnect", f"D-{worker}-{n}", {"n": n}, change=saving(record(f"D-{worker}-{n}")))


def test_four_processes_write_records_and_entries_at_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=writer, args=(str(state), w, start)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    log = AuditLog(StateDB(state), syslog="")
    entries = [e for e in log.entries() if e.action == "disconnect"]
    assert sorted(e.object for e in entries) == sorted(r.id for r in records(state))
    assert len(entries) == PROCESSES * EACH
    assert log.verify() == []
