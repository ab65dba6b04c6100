"""The `applied_intents` and `intent_snapshots` tables (their one owner): which intent each device runs.

Recorded when a change is confirmed (apply) or a device is built (lab up); read by the emergency path,
which renders only from this, never from the working tree.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from tonle.source.snapshot import IntentSnapshot
from tonle.state.db import StateChange, StateDB


def record_applied(db: StateDB, devices: list[str], plan_id: str, snap: IntentSnapshot) -> None:
    """These devices now run the intent of `snap` (confirmed by `plan_id`, or `lab-up`)."""
    with db.connect() as c:
        applied_change(devices, plan_id, snap)(c)


def applied_change(devices: list[str], plan_id: str, snap: IntentSnapshot) -> StateChange:
    """`record_applied` as a StateChange: committed with the audit entry that records it (`confirm`)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")

    def write(c: sqlite3.Connection) -> None:
        c.execute("INSERT OR IGNORE INTO intent_snapshots (sha256, data) VALUES (?, ?)", (snap.sha256, snap.to_json()))
        c.executemany("INSERT OR REPLACE INTO applied_intents (device, plan_id, applied_at, intent) VALUES (?,?,?,?)",
                      [(d, plan_id, now, snap.sha256) for d in devices])
    return write


def applied(db: StateDB, device: str) -> tuple[str, IntentSnapshot] | None:
    """(plan id, intent snapshot) of the device's last confirmed change, or None if none is recorded."""
    with db.connect() as c:
        row = c.execute("SELECT a.plan_id, s.data FROM applied_intents a JOIN intent_snapshots s "
                        "ON s.sha256 = a.intent WHERE a.device = ?", (device,)).fetchone()
    return (str(row["plan_id"]), IntentSnapshot.from_json(row["data"])) if row else None


def latest(db: StateDB) -> tuple[str, IntentSnapshot] | None:
    """The most recently applied intent of any device (what the guard counts against), or None."""
    with db.connect() as c:
        row = c.execute("SELECT a.plan_id, s.data FROM applied_intents a JOIN intent_snapshots s "
                        "ON s.sha256 = a.intent ORDER BY a.applied_at DESC, a.rowid DESC LIMIT 1").fetchone()
    return (str(row["plan_id"]), IntentSnapshot.from_json(row["data"])) if row else None


def devices_without(db: StateDB, devices: list[str]) -> list[str]:
    """Those of `devices` with no applied intent recorded."""
    with db.connect() as c:
        have = {str(r["device"]) for r in c.execute("SELECT device FROM applied_intents")}
    return [d for d in devices if d not in have]


def forget(db: StateDB, devices: list[str]) -> None:
    """These devices no longer exist (the lab was taken down)."""
    with db.connect() as c:
        c.executemany("DELETE FROM applied_intents WHERE device = ?", [(d,) for d in devices])
