"""Embedded state: one SQLite file (plans, runs, disconnects, approvals, drift history, audit log).

Every writer opens a short transaction; SQLite's own locking serialises concurrent CLI runs. A state change
that the audit log records is a `StateChange`: its owner module's write, run by `AuditLog.append(change=...)`
on the audit's connection, so the change and its entry are one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tonle.errors import Failed

# Ordered migrations: migration N brings a database from schema version N-1 to N (PRAGMA user_version).
# Append only; never edit one that has shipped. Each table has one owner module that alone reads and
# writes it: audit -> state.audit; plans, runs -> state.db; applied_intents, intent_snapshots ->
# state.applied; disconnects ->
# state.disconnects; drift_runs -> drift.audit; accounts -> state.accounts;
# account_passwords, account_tokens, web_sessions -> state.credentials; irr_syncs -> state.irr.
# (IF NOT EXISTS: databases made before versioning.)
MIGRATIONS: tuple[str, ...] = (
    """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    operator TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    plan_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    operator TEXT NOT NULL,
    outcome TEXT,
    data TEXT NOT NULL
);
""",
    """
CREATE TABLE IF NOT EXISTS disconnects (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    ticket TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_value TEXT NOT NULL,
    target TEXT NOT NULL,
    ttl_seconds INTEGER NOT NULL,
    graceful INTEGER NOT NULL,
    status TEXT NOT NULL,
    expires_at TEXT,
    approval_expires_at TEXT,
    approver TEXT,
    restored_at TEXT,
    overrides TEXT NOT NULL,
    devices TEXT NOT NULL,
    blast TEXT NOT NULL
);
""",
    """
CREATE TABLE IF NOT EXISTS drift_runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    seconds REAL NOT NULL,
    operator TEXT NOT NULL,
    target TEXT NOT NULL,
    devices INTEGER NOT NULL,
    drifting INTEGER NOT NULL,
    unreachable INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    exit_code INTEGER NOT NULL,
    data TEXT NOT NULL
);
""",
    """
CREATE TABLE IF NOT EXISTS applied_intents (
    device TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    intent TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intent_snapshots (
    sha256 TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
""",
    # Owner: state.audit. The ed25519 signature of each audit entry, keyed by its seq. A table of its own,
    # not ALTER TABLE: CREATE IF NOT EXISTS stays harmless when two processes migrate at once, and
    # entries written before signing keep no signature row (reported as unsigned).
    """
CREATE TABLE IF NOT EXISTS audit_signatures (
    seq INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
""",
    # Owner: state.accounts. Who may use `tonle serve`, in which role: an OS user by name and by the uid it
    # was added with (the kernel names callers by uid). Owner of the new columns: state.disconnects; the
    # uids behind operator and approver (the two-person rule compares accounts, not strings) and the
    # scheduler's record of an expiry that failed and is being retried. ALTER TABLE is safe here:
    # StateDB._migrate holds the write lock, so no two processes run a migration twice.
    """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    uid INTEGER NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
ALTER TABLE disconnects ADD COLUMN operator_uid INTEGER;
ALTER TABLE disconnects ADD COLUMN approver_uid INTEGER;
ALTER TABLE disconnects ADD COLUMN timer_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE disconnects ADD COLUMN timer_error TEXT;
ALTER TABLE disconnects ADD COLUMN timer_retry_at TEXT;
""",
    # Owner: state.credentials. What the HTTPS front door (web console, REST API) checks: one argon2 password
    # hash per account, bearer tokens and console sessions stored only as SHA-256 hashes (a copy of the file
    # logs nobody in), each bound to the account's uid so a re-created OS user does not inherit them.
    """
CREATE TABLE IF NOT EXISTS account_passwords (
    name TEXT PRIMARY KEY,
    uid INTEGER NOT NULL,
    hash TEXT NOT NULL,
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS account_tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uid INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS web_sessions (
    session_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uid INTEGER NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
""",
    # Owner: state.irr. Each `tonle irr sync`: when, from which IRR server and sources, and the filters it
    # built (JSON of compile.irr.IrrData); plans render from the newest row.
    """
CREATE TABLE IF NOT EXISTS irr_syncs (
    id INTEGER PRIMARY KEY,
    synced_at TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    data TEXT NOT NULL
);
""",
    # Owner: interfaces.web.auth. Failed console logins in the rate limit's window (per account `a:NAME`, per
    # client address `ip:ADDR`), kept here so that restarting `tonle serve` does not reset a guesser's count.
    """
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at);
""",
)
SCHEMA_VERSION = len(MIGRATIONS)

# A write to the state, run inside a transaction its caller holds (the audit append's BEGIN IMMEDIATE).
StateChange = Callable[[sqlite3.Connection], None]


class SchemaTooNew(Failed):
    """The state file was written by a newer Tonlé; refusing to touch it."""


class StateDB:
    """The project's SQLite state file (default `<state dir>/tonle.db`)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "tonle.db"
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._migrate()

    def _migrate(self) -> None:
        """Bring the schema up to date under the write lock: one process migrates, the others then see the
        new version (DDL is transactional in SQLite, so a failed migration leaves the old schema)."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
                return  # the common case takes no lock
            db.execute("BEGIN IMMEDIATE")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(f"{self.path}: schema version {version}, this Tonlé knows up to {SCHEMA_VERSION}")
            for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, sql.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level="IMMEDIATE")
        db.row_factory = sqlite3.Row
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    # ---- plans ------------------------------------------------------------------------------------
    def save_plan(self, plan_id: str, created_at: str, operator: str, target: str, data: dict[str, Any]) -> None:
        with self.connect() as db:
            plan_saved(plan_id, created_at, operator, target, data)(db)

    def plan(self, plan_id: str) -> dict[str, Any] | None:
        with self.connect() as db:
            row = db.execute("SELECT data, status FROM plans WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row["data"])
        data["status"] = row["status"]
        return data

    def recent_plans(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest plans (id, when, who, target, status and which devices change), newest first."""
        with self.connect() as db:
            rows = db.execute("SELECT id, created_at, operator, target, status, data FROM plans "
                              "ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        out = []
        for r in rows:
            devices = json.loads(r["data"]).get("devices", [])
            out.append({"id": r["id"], "created_at": r["created_at"], "operator": r["operator"],
                        "target": r["target"], "status": r["status"], "devices": len(devices),
                        "changed": [d["host"] for d in devices if str(d.get("diff", "")).strip()]})
        return out

    def latest_plan_id(self) -> str | None:
        with self.connect() as db:
            row = db.execute("SELECT id FROM plans ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
        return str(row["id"]) if row else None

    def claim_plan(self, plan_id: str, status: str = "applying",
                   never_from: tuple[str, ...] = ("applying", "applied")) -> str | None:
        """Compare-and-set a plan's status, so that one run alone applies a plan.

        Returns:
            The status it had (the claim succeeded), or None: the plan is unknown, or its status is one of
            `never_from`, or another run changed it between our read and our write.
        """
        with self.connect() as db:
            row = db.execute("SELECT status FROM plans WHERE id = ?", (plan_id,)).fetchone()
            if row is None or row["status"] in never_from:
                return None
            cur = db.execute("UPDATE plans SET status = ? WHERE id = ? AND status = ?",
                             (status, plan_id, row["status"]))
            return str(row["status"]) if cur.rowcount == 1 else None

    def set_plan_status(self, plan_id: str, status: str) -> None:
        with self.connect() as db:
            plan_status(plan_id, status)(db)

    # ---- runs -------------------------------------------------------------------------------------
    def start_run(self, plan_id: str, started_at: str, operator: str) -> int:
        with self.connect() as db:
            cur = db.execute("INSERT INTO runs (plan_id, started_at, operator, data) VALUES (?,?,?,?)",
                             (plan_id, started_at, operator, "{}"))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, finished_at: str, outcome: str, data: dict[str, Any]) -> None:
        with self.connect() as db:
            run_finished(run_id, finished_at, outcome, data)(db)


# ---- the same writes as StateChanges (committed together with their audit entry) ---------------------

def plan_saved(plan_id: str, created_at: str, operator: str, target: str, data: dict[str, Any]) -> StateChange:
    def write(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO plans (id, created_at, operator, target, status, data) VALUES (?,?,?,?,?,?)",
                   (plan_id, created_at, operator, target, "planned", json.dumps(data)))
    return write


def plan_status(plan_id: str, status: str) -> StateChange:
    def write(db: sqlite3.Connection) -> None:
        db.execute("UPDATE plans SET status = ? WHERE id = ?", (status, plan_id))
    return write


def run_finished(run_id: int, finished_at: str, outcome: str, data: dict[str, Any]) -> StateChange:
    def write(db: sqlite3.Connection) -> None:
        db.execute("UPDATE runs SET finished_at = ?, outcome = ?, data = ? WHERE id = ?",
                   (finished_at, outcome, json.dumps(data), run_id))
    return write


def together(*changes: StateChange) -> StateChange:
    """Several changes as one (in order, in the same transaction)."""
    def write(db: sqlite3.Connection) -> None:
        for change in changes:
            change(db)
    return write
