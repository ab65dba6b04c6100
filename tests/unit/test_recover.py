"""Recovery and failed pushes without a lab: what counts as interrupted, how a failed disconnect is recorded
(rolled back everywhere, or kept active with its TTL where a rollback failed), and the exit codes."""

from __future__ import annotations

from pathlib import Path

from tonle.change.recover import Item, RecoveryReport, _names, interrupted, needs_recovery
from tonle.emergency.disconnect import OutcomeStatus, _failed
from tonle.emergency.guard import BlastRadius
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import DisconnectRecord, active_overrides, get, open_db, save


def record(status: str, rid: str = "D1") -> DisconnectRecord:
    return DisconnectRecord(
        id=rid, created_at="2024-01-01T00:00:00+00:00", operator="alice", reason="drill", ticket="T-1",
        scope_kind="session", scope_value="r1:192.0.2.1,r2:192.0.2.2", target="lab", ttl_seconds=600,
        graceful=False, status=status, expires_at=None, approval_expires_at=None, approver=None, restored_at=None,
        overrides=[{"kind": "session", "device": "r1", "peer_ip": "192.0.2.1", "shutdown": True,
                    "message": "tonle D1 T-1", "graceful": False}],
        devices=["r1", "r2"], blast={})


def blast() -> BlastRadius:
    return BlastRadius(sessions=[], prefixes=[], sites={}, national={}, violations=[])


def test_nothing_interrupted_in_a_fresh_state(tmp_path: Path) -> None:
    StateDB(tmp_path)
    assert interrupted(tmp_path) == [] and not needs_recovery(tmp_path)
    assert RecoveryReport().exit_code == 0 and RecoveryReport().lines() == ["recover: nothing interrupted"]


def test_an_unfinished_run_a_push_in_flight_and_a_pending_commit_are_found(tmp_path: Path) -> None:
    db = StateDB(tmp_path)
    run = db.start_run("P1", "2024-01-01T00:00:00+00:00", "alice")
    save(db, record("pushing"))
    save(db, record("restoring", "D2"))
    save(db, record("active", "D3"))
    assert interrupted(tmp_path) == ["apply of plan P1 (run 1, started 2024-01-01T00:00:00+00:00)",
                                     "restoring disconnect D2", "pushing disconnect D1"]  # newest first
    db.finish_run(run, "2024-01-01T00:01:00+00:00", "confirmed", {})
    save(db, record("failed"))
    save(db, record("active", "D2"))
    assert interrupted(tmp_path) == [] and not needs_recovery(tmp_path)
    pending = tmp_path / "napalm_frr" / "192.0.2.1_22" / "pending.json"
    pending.parent.mkdir(parents=True)
    pending.write_text("{}")
    assert needs_recovery(tmp_path)


def test_restoring_counts_as_active_for_the_overrides(tmp_path: Path) -> None:
    # Until its restore is confirmed, plans and drift keep rendering it; a push in flight is not in force yet.
    db = StateDB(tmp_path)
    save(db, record("restoring"))
    assert len(active_overrides(tmp_path)) == 1
    save(db, record("pushing"))
    assert active_overrides(tmp_path) == []


def test_a_failed_push_rolled_back_everywhere_is_failed(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    rec = record("pushing")
    out = _failed(db, AuditLog(db, actor="alice"), rec, blast(), ["r2: confirm failed: gone"], [])
    assert out.status == OutcomeStatus.FAILED and get(tmp_path, "D1").status == "failed"
    entry = AuditLog(db).entries()[-1]
    assert (entry.action, entry.details["rolled_back"]) == ("disconnect-failed", ["r1", "r2"])
    assert out.verdict() == (False, "FAILED D1: rolled back, nothing changed on the devices")


def test_a_failed_push_whose_rollback_failed_stays_active_with_its_ttl(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    out = _failed(db, AuditLog(db, actor="alice"), record("pushing"), blast(),
                  ["r2: confirm failed: gone", "r1: ROLLBACK FAILED: unreachable"], ["r1"])
    rec = get(tmp_path, "D1")
    assert out.status == OutcomeStatus.PARTIAL and rec.status == "active" and rec.expires_at
    entry = AuditLog(db).entries()[-1]
    assert entry.action == "disconnect-partial"
    assert (entry.details["in_force"], entry.details["rolled_back"]) == (["r1"], ["r2"])
    ok, line = out.verdict()
    assert not ok and "kept active where it may be in force" in line and "tonle restore D1" in line


def test_exit_codes() -> None:
    done = Item("apply", "P1", "rolled back", {"r1": "rolled back"})
    assert RecoveryReport([done]).exit_code == 0
    assert RecoveryReport([done]).lines() == ["apply P1: ROLLED BACK", "  r1: rolled back"]
    stuck = Item("commit", "r2", "needs a person", {"r2": "ROLLBACK FAILED: refused"})
    assert RecoveryReport([done, stuck]).exit_code == 1
    assert RecoveryReport([done], unreachable=["r3"]).exit_code == 2


def test_a_device_changed_since_is_named_by_a_later_entry(tmp_path: Path) -> None:
    db = StateDB(tmp_path)
    log = AuditLog(db, actor="alice")
    commit = log.append("commit", "r1", {"plan": "P1"})
    dis = log.append("disconnect", "D9", {"devices": ["r1", "r2"]})
    other = log.append("confirm", "P2", {"devices": ["r3"]})
    assert _names(commit, "r1") and _names(dis, "r1") and _names(dis, "r2")
    assert not _names(other, "r1") and not _names(dis, "r3")


def test_records_created_in_the_same_second_stay_newest_first_after_an_update(tmp_path: Path) -> None:
    from tonle.state.disconnects import records  # noqa: PLC0415

    # The CI's case: a disconnect fails, the next (same second) is pushed and becomes active.
    db = StateDB(tmp_path / "a")
    save(db, record("pushing", "D-old"))
    save(db, record("failed", "D-old"))
    save(db, record("pushing", "D-new"))  # same created_at (seconds) as D-old
    save(db, record("active", "D-new"))
    assert [(r.id, r.status) for r in records(tmp_path / "a")] == [("D-new", "active"), ("D-old", "failed")]
    # The older one's outcome written after the newer one exists.
    db = StateDB(tmp_path / "b")
    save(db, record("pushing", "D-old"))
    save(db, record("active", "D-new"))
    save(db, record("failed", "D-old"))
    assert [(r.id, r.status) for r in records(tmp_path / "b")] == [("D-new", "active"), ("D-old", "failed")]
