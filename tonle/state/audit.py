"""Tamper-evident audit log: every change, disconnect, approval, refusal and restore, hash-chained.

Each entry's hash covers its content and the previous entry's hash, so editing, removing or
reordering any entry breaks the chain from there on. The newest sequence number and hash are also
written to a head file beside the database, so cutting entries off the end is detected too.

What is written is redacted first (tonle.redact: every platform's secret forms, and the known values
a caller passes): details often carry device errors, which quote configuration lines.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tonle.redact import redact, redact_data
from tonle.state.db import StateDB

GENESIS = "0" * 64


def operator_identity() -> str:
    """Who is acting: $TONLE_OPERATOR, else the login behind sudo, else the current user."""
    return os.environ.get("TONLE_OPERATOR") or os.environ.get("SUDO_USER") or getpass.getuser()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    object: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def _digest(prev_hash: str, seq: int, ts: str, actor: str, action: str, obj: str, details: dict[str, Any]) -> str:
    body = json.dumps({"seq": seq, "ts": ts, "actor": actor, "action": action, "object": obj, "details": details},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


class AuditLog:
    """The audit log in the state database."""

    def __init__(self, db: StateDB, secrets: Iterable[str] = ()) -> None:
        self.db = db
        self.head_file = db.dir / "audit.head"
        self.secrets = list(secrets)  # known secret values, masked in every entry written

    def append(self, action: str, obj: str, details: dict[str, Any] | None = None,
               actor: str | None = None) -> AuditEntry:
        """Append one entry, redacted (atomically with respect to other writers)."""
        details = redact_data(details or {}, self.secrets)
        obj = redact(obj, self.secrets)
        actor = actor or operator_identity()
        ts = now_iso()
        with self.db.connect() as db:
            last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (int(last["seq"]) + 1, str(last["hash"])) if last else (1, GENESIS)
            digest = _digest(prev, seq, ts, actor, action, obj, details)
            db.execute("INSERT INTO audit (seq, ts, actor, action, object, details, prev_hash, hash) "
                       "VALUES (?,?,?,?,?,?,?,?)", (seq, ts, actor, action, obj, json.dumps(details), prev, digest))
            tmp = self.head_file.with_suffix(".tmp")
            tmp.write_text(f"{seq} {digest}\n")
            tmp.replace(self.head_file)
        return AuditEntry(seq, ts, actor, action, obj, details, prev, digest)

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        """Entries in order (the newest `limit` if given)."""
        sql = "SELECT * FROM audit ORDER BY seq"
        with self.db.connect() as db:
            rows = db.execute(sql).fetchall()
        out = [AuditEntry(int(r["seq"]), r["ts"], r["actor"], r["action"], r["object"], json.loads(r["details"]),
                          r["prev_hash"], r["hash"]) for r in rows]
        return out[-limit:] if limit else out

    def verify(self) -> list[str]:
        """Problems found in the chain, one line each; empty when the log is intact."""
        problems: list[str] = []
        prev, expected_seq = GENESIS, 1
        with self.db.connect() as db:
            rows = db.execute("SELECT * FROM audit ORDER BY rowid").fetchall()
        for r in rows:
            seq = int(r["seq"])
            if seq != expected_seq:
                problems.append(f"entry {seq}: expected sequence number {expected_seq} (entry removed or reordered)")
            if r["prev_hash"] != prev:
                problems.append(f"entry {seq}: does not follow the previous entry's hash (removed or reordered)")
            try:
                details = json.loads(r["details"])
            except json.JSONDecodeError:
                details = None
            if details is None or _digest(r["prev_hash"], seq, r["ts"], r["actor"], r["action"], r["object"],
                                          details) != r["hash"]:
                problems.append(f"entry {seq}: content does not match its hash (edited)")
            prev, expected_seq = r["hash"], seq + 1
        try:
            head_seq, head_hash = self.head_file.read_text().split()
        except (FileNotFoundError, ValueError):
            if rows:
                problems.append(f"{self.head_file}: missing or unreadable head record")
            return problems
        if not rows or int(head_seq) != int(rows[-1]["seq"]) or head_hash != rows[-1]["hash"]:
            problems.append(f"log ends at entry {rows[-1]['seq'] if rows else 0} but the head record says "
                            f"{head_seq} (entries removed from the end)")
        return problems

    def export(self) -> list[dict[str, Any]]:
        """All entries as plain records (for the regulator / NOC review), chain hashes included."""
        return [asdict(e) for e in self.entries()]
