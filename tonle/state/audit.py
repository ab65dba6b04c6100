"""Audit log that no operator can rewrite: every change, disconnect, approval, refusal and restore, signed and chained.

* Chain: each entry's hash covers its content and the previous entry's hash, so editing, removing or
  reordering an entry breaks the chain from there on.
* Signatures: each entry's hash is signed with the log's ed25519 key (`state.signing`); the first signed
  entry, the genesis, records the public key and its fingerprint. Without the private key a rewritten log
  cannot be re-signed; a log rewritten with a new key does not match the key file's public key, nor a key
  the verifier pins (`tonle audit verify --public-key`).
* Head: `<state dir>/audit.head` holds the newest sequence number and hash, signed, so cutting entries
  off the end is detected; so is deleting the log, its head or both while the key remains.
* Copies: each entry, as it is written, goes to syslog as an RFC 5424 message (`state.syslog`,
  `$TONLE_AUDIT_SYSLOG`), and `verify --against FILE` compares the log with what a collector received:
  the one check that also catches a log cut back to an older, validly signed head.
* Appends from several processes serialise on one `BEGIN IMMEDIATE` transaction (WAL mode) that reads
  the last entry and inserts after it, so none is lost. The state change an entry records (a disconnect
  record, a plan, an account...) is written in that same transaction (`append(..., change=...)`): both
  commit or neither does; the syslog copy goes out only after the commit. An append never erases evidence: when it finds
  the head or the log tampered with, it first writes a signed `audit-anomaly` entry saying what it found.

Entries written before signing existed (schema before migration 5) stay readable; they are reported as
unsigned, and are sealed by the chain once a signed genesis follows them (`tonle audit seal`).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import random
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tonle.errors import BadInput, Failed
from tonle.redact import redact, redact_data
from tonle.state.audit_checks import (
    ANOMALY_ACTION,
    GENESIS,
    GENESIS_ACTION,
    AuditEntry,
    Head,
    StoredEntry,
    Trust,
    Verification,
    chain_problems,
    check_log,
    compare_with_collector,
    entry_digest,
    genesis_key,
    head_problems,
)
from tonle.state.db import StateChange, StateDB
from tonle.state.signing import (
    KeyExposed,
    KeyUnusable,
    PublicKey,
    SigningKey,
    default_key_file,
    entry_message,
    head_message,
    public_file,
)
from tonle.state.syslog import AuditRecord, SyslogTarget, audit_record, format_line, parse_line

HEAD_NAME = "audit.head"
BUSY_TIMEOUT = 10.0  # seconds SQLite waits for the write lock per attempt
BUSY_DEADLINE = 120.0  # seconds an append keeps retrying before it gives up

_log = logging.getLogger(__name__)


def process_identity() -> str:
    """Who runs this process, as the kernel says: the user name of the real uid. Never an environment
    variable ($USER, $SUDO_USER, ...: anyone can set those).

    This names the process, not necessarily the operator: who acts is passed explicitly into each verb by
    the interface that established it (`tonle serve` from the caller's SO_PEERCRED uid, the CLI acting
    locally from its own real uid).
    """
    return user_name(os.getuid())


def user_name(uid: int) -> str:
    """The OS user name of a uid (its passwd entry), or `uid N` when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ---- the log ----------------------------------------------------------------------------------------

class AuditLog:
    """The audit log in the state database, its signed head record and its signing key.

    `key_file` defaults to `$TONLE_AUDIT_KEY` or `<state dir>/keys/audit-ed25519.pem`; `syslog` (a target as
    `$TONLE_AUDIT_SYSLOG` names one) to `$TONLE_AUDIT_SYSLOG`; unset, no copies are sent. `actor` is who the
    entries name when `append` is given none: the operator a verb acts for, else this process's own user.
    """

    def __init__(self, db: StateDB, secrets: Iterable[str] = (), *, key_file: Path | None = None,
                 syslog: str | None = None, actor: str | None = None) -> None:
        self.db = db
        self.actor = actor or process_identity()
        self.secrets = list(secrets)  # known secret values, masked in every entry written
        self.head_file = db.dir / HEAD_NAME
        self.key_file = key_file or default_key_file(db.dir)
        spec = syslog if syslog is not None else os.environ.get("TONLE_AUDIT_SYSLOG", "")
        self.syslog = SyslogTarget.parse(spec) if spec.strip() else None

    # ---- writing -------------------------------------------------------------------------------------
    def append(self, action: str, obj: str, details: dict[str, Any] | None = None,
               actor: str | None = None, *, change: StateChange | None = None) -> AuditEntry:
        """Append one signed entry (after the genesis and any anomaly entry it needs) and send it to syslog.

        What is written is redacted first (tonle.redact: every platform's secret forms, and the known values
        the caller gave): details often carry device errors, which quote configuration lines.

        `change` writes the state change this entry records, on the same connection and in the same
        transaction: the change and the entry commit together, or (any failure, a signing error included)
        neither is written. The syslog copy is sent after the commit.
        """
        clean = redact_data(details or {}, self.secrets)
        return self._write([(action, redact(obj, self.secrets), clean, actor or self.actor)], change)[-1]

    def seal(self) -> list[AuditEntry]:
        """Sign the log from here on: write its genesis if it has none. The entries written ([] if signed already)."""
        return self._write([])

    def _write(self, wanted: list[tuple[str, str, dict[str, Any], str]],
               change: StateChange | None = None) -> list[AuditEntry]:
        conn = self._begin_immediate()
        head_before: bytes | None = None
        created = wrote_head = False
        try:
            if change is not None:
                change(conn)  # rolled back below if anything after it fails
            head_before = self._read_head_bytes()
            last, signed_by = self._tail(conn)
            key, created, found = self._signing_key(signed_by)
            found += self._anomalies(conn, last, signed_by, head_before, key)
            pending: list[tuple[str, str, dict[str, Any], str]] = []
            if signed_by is None:
                pending.append((GENESIS_ACTION, key.public.fingerprint, {
                    "algorithm": "ed25519", "public_key": key.public.b64, "fingerprint": key.public.fingerprint},
                    self.actor))
            if found:
                pending.append((ANOMALY_ACTION, "audit-log", {"found": found}, self.actor))
            written = self._insert(conn, last, key, pending + wanted)
            if written:
                wrote_head = True
                self._write_head(written[-1], key)
            conn.execute("COMMIT")
        except BaseException:
            # Still holding the write lock: nobody else has touched the head or the key since.
            if wrote_head:
                self._restore_head(head_before)
            if created:
                self.key_file.unlink(missing_ok=True)
                public_file(self.key_file).unlink(missing_ok=True)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
        self._ship(written)
        return written

    def _begin_immediate(self) -> sqlite3.Connection:
        """A connection holding the database's write lock (`BEGIN IMMEDIATE`), retried while another writer has it."""
        deadline, pause = time.monotonic() + BUSY_DEADLINE, 0.01
        while True:
            conn = sqlite3.connect(self.db.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent; readers go on while one process writes
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise Failed(f"{self.db.path}: the audit log stayed locked for {BUSY_DEADLINE:.0f}s") from exc
                time.sleep(pause * (1 + random.random()))  # noqa: S311 - jitter, not a secret
                pause = min(pause * 2, 0.5)
            else:
                return conn

    @staticmethod
    def _tail(conn: sqlite3.Connection) -> tuple[StoredEntry | None, str | None]:
        """The last entry, and the key that signed the newest signed entry (None: the log was never signed)."""
        rows = _select(conn, "ORDER BY a.seq DESC LIMIT 1")
        signed = conn.execute("SELECT s.key_id FROM audit_signatures s JOIN audit a ON a.seq = s.seq "
                              "ORDER BY s.seq DESC LIMIT 1").fetchone()
        return (rows[0] if rows else None), (str(signed["key_id"]) if signed else None)

    def _signing_key(self, signed_by: str | None) -> tuple[SigningKey, bool, list[str]]:
        """The key to sign with, whether it was made now, and anomalies about the key files. KeyUnusable when
        the log is signed and its key is missing or another one (a new key would hide a rewrite)."""
        pub = public_file(self.key_file)
        if signed_by is not None:
            if not self.key_file.exists():
                raise KeyUnusable(f"{self.key_file}: missing, but the log is signed by {signed_by}; refusing to "
                                  "sign with a new key")
            key = SigningKey.load(self.key_file)
            if key.public.fingerprint != signed_by:
                raise KeyUnusable(f"{self.key_file} is key {key.public.fingerprint}, but the log is signed by "
                                  f"{signed_by}; refusing to sign with another key")
            return key, False, []
        if self.key_file.exists():
            key = SigningKey.load(self.key_file)
            return key, False, [f"the signing key {key.public.fingerprint} existed but the log had no signed "
                                "entry (the log was deleted or replaced)"]
        found: list[str] = []
        if pub.exists():
            try:
                old = PublicKey.load(pub).fingerprint
            except BadInput:
                old = "(unreadable)"
            found.append(f"a public key {old} was at {pub} without its private key (the key was deleted)")
        key = SigningKey.generate()
        key.save(self.key_file)
        return key, True, found

    def _anomalies(self, conn: sqlite3.Connection, last: StoredEntry | None, signed_by: str | None,
                   head_bytes: bytes | None, key: SigningKey) -> list[str]:
        """What is wrong with the log as found, so that writing after it does not erase the evidence."""
        head, head_error = _parse_head(head_bytes)
        if last is None:
            if head is not None or head_error:
                return [f"the log was empty but its head record said {f'entry {head.seq}' if head else head_error} "
                        "(the log was deleted)"]
            return []
        if signed_by is not None:
            return head_problems(head, head_error, last, key.public)
        # The first signed entry seals the unsigned ones before it: check them first.
        found = chain_problems(_select(conn, "ORDER BY a.seq"))
        if head is not None and head.signed:
            found.append("a signed head record but no signed entry (signatures removed)")
        return [f"before signing began: {p}" for p in found + head_problems(head, head_error, last, None)]

    def _insert(self, conn: sqlite3.Connection, last: StoredEntry | None, key: SigningKey,
                pending: Iterable[tuple[str, str, dict[str, Any], str]]) -> list[AuditEntry]:
        seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
        out: list[AuditEntry] = []
        for action, obj, details, actor in pending:
            seq, ts = seq + 1, now_iso()
            digest = entry_digest(prev, seq, ts, actor, action, obj, details)
            signature = key.sign(entry_message(seq, digest))
            conn.execute("INSERT INTO audit (seq, ts, actor, action, object, details, prev_hash, hash) "
                         "VALUES (?,?,?,?,?,?,?,?)", (seq, ts, actor, action, obj, json.dumps(details), prev, digest))
            conn.execute("INSERT OR REPLACE INTO audit_signatures (seq, key_id, signature) VALUES (?,?,?)",
                         (seq, key.public.fingerprint, signature))
            out.append(AuditEntry(seq, ts, actor, action, obj, details, prev, digest, signature,
                                  key.public.fingerprint))
            prev = digest
        return out

    def _write_head(self, last: AuditEntry, key: SigningKey) -> None:
        ts = now_iso()
        head = Head(last.seq, last.hash, ts, key.public.fingerprint, key.sign(head_message(last.seq, last.hash, ts)))
        self._replace_head(head.line().encode())

    def _replace_head(self, data: bytes) -> None:
        tmp = self.head_file.with_name(f".{HEAD_NAME}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.head_file)

    def _restore_head(self, data: bytes | None) -> None:
        if data is None:
            self.head_file.unlink(missing_ok=True)
        else:
            self._replace_head(data)

    def _read_head_bytes(self) -> bytes | None:
        try:
            return self.head_file.read_bytes()
        except FileNotFoundError:
            return None

    def _ship(self, written: Sequence[AuditEntry]) -> None:
        """Send the entries to syslog. A collector that is down does not stop the action (the entry is in the
        log); it is logged, and `verify --against` shows the gap."""
        if self.syslog is None:
            return
        host, pid = socket.gethostname(), str(os.getpid())
        for e in written:
            try:
                self.syslog.send(format_line(e.record(), host, pid))
            except OSError as exc:
                _log.warning("audit entry %d not sent to syslog %s: %s", e.seq, self.syslog, exc.strerror or exc)

    # ---- reading -------------------------------------------------------------------------------------
    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        """Entries in order (the newest `limit` if given)."""
        with self.db.connect() as db:
            rows = _select(db, "ORDER BY a.seq DESC LIMIT ?", (limit,)) if limit else _select(db, "ORDER BY a.seq")
        return [r.entry() for r in sorted(rows, key=lambda r: r.seq)]

    def export(self) -> list[dict[str, Any]]:
        """All entries as plain records (for the regulator / NOC review), chain hashes and signatures included."""
        return [asdict(e) for e in self.entries()]

    def verify(self, public_key: Path | None = None, against: Path | None = None) -> list[str]:
        """Problems found, one line each; empty when the log is intact (see `check`)."""
        return self.check(public_key, against).problems

    def check(self, public_key: Path | None = None, against: Path | None = None) -> Verification:
        """Check signatures, chain and head against the trusted key: `public_key` if given (pinned), else the
        key file's public half; with `against`, also compare with a collector's file of RFC 5424 lines."""
        trust = self.trust(public_key)
        rows, head, head_error = self._snapshot()
        result = check_log(rows, head, head_error, trust)
        if against is not None:
            collected, ignored, broken = read_collector_file(against)
            result.problems += broken
            key = trust.key or next((k for r in rows if r.action == GENESIS_ACTION
                                     and (k := genesis_key(r)) is not None), None)
            problems, notes = compare_with_collector(rows, collected, key)
            result.problems += problems
            result.notes += notes
            result.notes.append(f"compared with {against}: {len(collected)} audit message"
                                + ("" if len(collected) == 1 else "s")
                                + (f", {ignored} other lines ignored" if ignored else ""))
        return result

    def trust(self, pinned: Path | None = None) -> Trust:
        """The key to verify against: the pinned file, else the public key beside the signing key."""
        pub = public_file(self.key_file)
        present = pub.exists() or self.key_file.exists()
        problems: list[str] = []
        from_file: PublicKey | None = None
        if pub.exists():
            try:
                from_file = PublicKey.load(pub)
            except BadInput as exc:
                problems.append(str(exc))
        try:
            private = SigningKey.load(self.key_file).public if self.key_file.exists() else None
        except KeyExposed as exc:
            private = None
            problems.append(str(exc))
        except KeyUnusable:
            private = None  # in production only the service account reads it: the public half is enough
        if private is not None and from_file is not None and private != from_file:
            problems.append(f"{pub} ({from_file.fingerprint}) is not the public half of {self.key_file} "
                            f"({private.fingerprint}): a key file was replaced")
        if pinned is not None:
            key = PublicKey.load(pinned)
            if from_file is not None and from_file != key:
                problems.append(f"the key file {pub} holds {from_file.fingerprint}, not the pinned "
                                f"{key.fingerprint}: the key was replaced")
            return Trust(key, f"pinned {pinned}", True, present, tuple(problems))
        if from_file is not None:
            return Trust(from_file, f"key file {pub}", False, present, tuple(problems))
        if private is not None:
            problems.append(f"{pub}: missing (the public half of {self.key_file})")
            return Trust(private, f"key file {self.key_file}", False, present, tuple(problems))
        return Trust(None, f"no public key at {pub}", False, present, tuple(problems))

    def _snapshot(self) -> tuple[list[StoredEntry], Head | None, str | None]:
        """Entries and head read together: a writer writes the head just before it commits, so a head that
        does not match is read again after a moment before it counts."""
        for attempt in range(3):
            before = self._read_head_bytes()
            with self.db.connect() as db:
                rows = _select(db, "ORDER BY a.seq")
            after = self._read_head_bytes()
            head, error = _parse_head(after)
            settled = before == after and (head is None or (bool(rows) and head.seq == rows[-1].seq))
            if settled or attempt == 2:
                break
            time.sleep(0.05)
        return rows, head, error


def _select(db: sqlite3.Connection, tail: str, params: tuple[Any, ...] = ()) -> list[StoredEntry]:
    """Entries with their signatures; `tail` is one of this module's ORDER BY clauses, values go in `params`."""
    sql = ("SELECT a.seq, a.ts, a.actor, a.action, a.object, a.details, a.prev_hash, a.hash, s.signature, s.key_id "
           "FROM audit a LEFT JOIN audit_signatures s ON s.seq = a.seq " + tail)
    rows = db.execute(sql, params).fetchall()
    return [StoredEntry(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]), str(r[7]),
                        None if r[8] is None else str(r[8]), None if r[9] is None else str(r[9])) for r in rows]


def _parse_head(data: bytes | None) -> tuple[Head | None, str | None]:
    if data is None:
        return None, None
    try:
        return Head.parse(data.decode()), None
    except (UnicodeDecodeError, ValueError):
        return None, "not a head record"


def read_collector_file(path: Path) -> tuple[list[tuple[int, AuditRecord]], int, list[str]]:
    """The audit records in a collector's file of RFC 5424 lines: (line number, record), how many lines carry
    none (other programs' messages, blank lines), and one problem per line whose audit record is broken."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the collector's copy: {exc.strerror}") from exc
    collected: list[tuple[int, AuditRecord]] = []
    broken: list[str] = []
    ignored = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        msg = parse_line(line)
        try:
            rec = audit_record(msg) if msg is not None else None
        except ValueError as exc:
            broken.append(f"{path}:{lineno}: {exc}")
            continue
        if rec is None:
            ignored += 1
        else:
            collected.append((lineno, rec))
    return collected, ignored, broken

