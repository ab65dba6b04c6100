"""The `irr_syncs` table (its one owner): the IRR-built filters of each `tonle irr sync`, newest used.

A sync only stores; the filters reach devices through a plan and its apply like any other intent change.
"""

from __future__ import annotations

import hashlib
import sqlite3

from tonle.compile.irr import IrrData
from tonle.state.db import StateChange, StateDB


def irr_saved(data: IrrData) -> StateChange:
    """Store a sync (committed with the audit entry that records it)."""
    text = data.to_json()

    def write(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO irr_syncs (synced_at, source, sha256, data) VALUES (?, ?, ?, ?)",
                  (data.synced_at, data.source, hashlib.sha256(text.encode()).hexdigest(), text))
    return write


def latest_irr(db: StateDB) -> IrrData | None:
    """The newest sync, or None before the first."""
    with db.connect() as c:
        row = c.execute("SELECT data FROM irr_syncs ORDER BY id DESC LIMIT 1").fetchone()
    return IrrData.from_json(row["data"]) if row else None
