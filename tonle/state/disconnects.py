"""The `disconnects` table (its one owner): records of emergency disconnects and their overrides.

Plan, apply and drift read the active overrides from here, so that no later push undoes a disconnect.
A record's change and the audit entry that says so are one transaction: `saving(rec)` and `timer_failure`
are StateChanges for `AuditLog.append(change=...)`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tonle.compile.intent import Override, override_from_dict
from tonle.errors import BadInput
from tonle.state.db import StateChange, StateDB


class DisconnectStatus(StrEnum):
    PENDING_APPROVAL = "pending-approval"  # refused by the guard, waiting for a second operator
    ACTIVE = "active"  # pushed, verified and confirmed; restores at expires_at
    RESTORED = "restored"  # undone by `tonle restore`
    EXPIRED = "expired"  # undone by its TTL
    FAILED = "failed"  # could not be pushed or verified; every touched device rolled back
    ENDED = "ended"  # the lab it was on was taken down: nothing left to restore
    # Mid-transition: a push (or a restore's push) is under way. Left so by a process that died, it is what
    # `tonle recover` (and the service at start) finds and finishes: every device of it rolled back.
    PUSHING = "pushing"
    RESTORING = "restoring"  # still in force until the restore is confirmed


class UnknownDisconnect(BadInput):
    """No disconnect with this id."""


@dataclass
class DisconnectRecord:
    id: str
    created_at: str
    operator: str
    reason: str
    ticket: str
    scope_kind: str
    scope_value: str
    target: str
    ttl_seconds: int
    graceful: bool
    status: str  # a DisconnectStatus
    expires_at: str | None
    approval_expires_at: str | None
    approver: str | None
    restored_at: str | None
    overrides: list[dict[str, Any]]
    devices: list[str]
    blast: dict[str, Any]
    operator_uid: int | None = None  # the kernel's uid behind `operator` (None: written before accounts existed)
    approver_uid: int | None = None
    # The scheduler's record of a timer action (TTL expiry) that failed: retried at timer_retry_at.
    timer_attempts: int = 0
    timer_error: str | None = None
    timer_retry_at: str | None = None

    def timer_problem(self) -> str | None:
        """One line when the TTL expiry failed and is being retried, else None."""
        if not self.timer_error:
            return None
        return (f"expiry failed {self.timer_attempts} time(s), retrying at {self.timer_retry_at or 'once due'}: "
                f"{self.timer_error}")


def open_db(state_dir: Path) -> StateDB:
    return StateDB(state_dir)


def _row(r: Any) -> DisconnectRecord:
    d = dict(r)
    for k in ("overrides", "devices", "blast"):
        d[k] = json.loads(d[k])
    d["graceful"] = bool(d["graceful"])
    return DisconnectRecord(**d)


def saving(rec: DisconnectRecord) -> StateChange:
    """The write of `rec` as it is now (insert or update), for `AuditLog.append(change=...)`."""
    d = asdict(rec)
    for k in ("overrides", "devices", "blast"):
        d[k] = json.dumps(d[k])
    d["graceful"] = int(d["graceful"])
    cols = ", ".join(d)

    # An upsert, not INSERT OR REPLACE: a replace deletes the row and gives it a new rowid, and the rowid is
    # what orders two records created in the same second (created_at has seconds).
    updates = ", ".join(f"{k} = excluded.{k}" for k in d if k != "id")

    def write(c: sqlite3.Connection) -> None:
        c.execute(f"INSERT INTO disconnects ({cols}) VALUES ({', '.join('?' * len(d))}) "  # noqa: S608
                  f"ON CONFLICT(id) DO UPDATE SET {updates}", tuple(d.values()))
    return write


def save(db: StateDB, rec: DisconnectRecord) -> None:
    """Save `rec` alone (a change the audit log records goes through `saving` instead)."""
    with db.connect() as c:
        saving(rec)(c)


def records(state_dir: Path, status: str | None = None) -> list[DisconnectRecord]:
    """Disconnect records, newest first (optionally of one status)."""
    db = open_db(state_dir)
    with db.connect() as c:
        rows = c.execute("SELECT * FROM disconnects ORDER BY created_at DESC, rowid DESC").fetchall()
    recs = [_row(r) for r in rows]
    return [r for r in recs if status is None or r.status == status]


def get(state_dir: Path, disconnect_id: str) -> DisconnectRecord:
    for r in records(state_dir):
        if r.id == disconnect_id:
            return r
    raise UnknownDisconnect(f"no disconnect {disconnect_id!r} (see `tonle disconnects`)")


def active_overrides(state_dir: Path, *, still_at: datetime | None = None) -> list[Override]:
    """Overrides of every active disconnect: merged into rendered configs by plan, apply and drift.

    Args:
        still_at: only those still in force at this time (a due one is about to be restored).
    """
    recs = [r for r in records(state_dir) if r.status in (DisconnectStatus.ACTIVE, DisconnectStatus.RESTORING)]
    if still_at is not None:
        recs = [r for r in recs if not (r.expires_at and datetime.fromisoformat(r.expires_at) <= still_at)]
    return [override_from_dict(o) for r in recs for o in r.overrides]


def timer_failure(disconnect_id: str, error: str, retry_at: str) -> StateChange:
    """That a timer action on this disconnect failed and when it is tried again (a StateChange)."""
    def write(c: sqlite3.Connection) -> None:
        c.execute("UPDATE disconnects SET timer_attempts = timer_attempts + 1, timer_error = ?, timer_retry_at = ? "
                  "WHERE id = ?", (error[:500], retry_at, disconnect_id))
    return write


def note_timer_failure(db: StateDB, disconnect_id: str, error: str, retry_at: str) -> None:
    """Record that a timer action on this disconnect failed and when it is tried again."""
    with db.connect() as c:
        timer_failure(disconnect_id, error, retry_at)(c)
