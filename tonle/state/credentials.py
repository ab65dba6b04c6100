"""The tables of the HTTPS front door (their one owner): passwords, bearer tokens and console sessions.

A password is kept as an argon2id hash (argon2-cffi's defaults, RFC 9106), a token and a session id only as
their SHA-256 (they are 256-bit random values, so a fast hash is enough and a stolen copy of the database
logs nobody in). Each row carries the uid of the account it was made for: an OS user deleted and re-created
under another uid, or an account removed, is logged in by none of them (`identify` re-checks the account).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tonle.errors import BadInput
from tonle.state.accounts import Actor, NotPermitted, authenticate
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB

PASSWORD_MIN, PASSWORD_MAX = 12, 256
TOKEN_PREFIX = "tnl_"  # noqa: S105 - a marker, not a secret
SESSION_HOURS = 12  # a NOC shift
_HASHER = PasswordHasher()
# Verified when the name has no password, so a wrong name costs as long as a wrong password (no user probing).
_DUMMY = _HASHER.hash(secrets.token_hex(16))


class CredentialError(BadInput):
    """A password that does not fit the policy, or an account that does not exist."""


def _now() -> datetime:
    return datetime.now(UTC)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise CredentialError(f"password: {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise CredentialError("password: no control characters")
    return password


def _account_actor(db: StateDB, name: str) -> Actor:
    """The account `name` as an actor, checked against the OS as the kernel would (same uid, still there)."""
    with db.connect() as c:
        row = c.execute("SELECT uid FROM accounts WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise CredentialError(f"no account {name[:40]!r} (see `tonle users list`)")
    return authenticate(db, int(row["uid"]))


def set_password(db: StateDB, name: str, password: str, by: Actor) -> None:
    acc = _account_actor(db, name)
    digest = _HASHER.hash(check_password(password))
    with db.connect() as c:
        c.execute("INSERT OR REPLACE INTO account_passwords (name, uid, hash, set_at, set_by) VALUES (?,?,?,?,?)",
                  (acc.name, acc.uid, digest, _now().isoformat(timespec="seconds"), by.name))
    AuditLog(db, actor=by.name).append("password-set", acc.name, {"uid": acc.uid})


def new_token(db: StateDB, name: str, by: Actor) -> str:
    """A new bearer token for `name` (shown once; only its hash is kept). Earlier tokens stay valid."""
    acc = _account_actor(db, name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.connect() as c:
        c.execute("INSERT INTO account_tokens (token_hash, name, uid, created_at, created_by) VALUES (?,?,?,?,?)",
                  (_sha256(token), acc.name, acc.uid, _now().isoformat(timespec="seconds"), by.name))
    AuditLog(db, actor=by.name).append("token-issued", acc.name, {"uid": acc.uid, "token_id": _sha256(token)[:12]})
    return token


def revoke_tokens(db: StateDB, name: str, by: Actor) -> int:
    with db.connect() as c:
        n = c.execute("DELETE FROM account_tokens WHERE name = ?", (name,)).rowcount
    AuditLog(db, actor=by.name).append("tokens-revoked", name, {"count": n})
    return int(n)


def check_login(db: StateDB, name: str, password: str) -> Actor | None:
    """The actor when `password` is this account's, else None (same work either way)."""
    with db.connect() as c:
        row = c.execute("SELECT uid, hash FROM account_passwords WHERE name = ?", (name,)).fetchone()
    stored = str(row["hash"]) if row else _DUMMY
    try:
        ok: bool = _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None:
        return None
    try:
        actor = authenticate(db, int(row["uid"]))
    except NotPermitted:
        return None
    return actor if actor.name == name else None


def by_token(db: StateDB, token: str) -> Actor | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    with db.connect() as c:
        row = c.execute("SELECT name, uid FROM account_tokens WHERE token_hash = ?", (_sha256(token),)).fetchone()
    return _still(db, row)


@dataclass(frozen=True)
class WebSession:
    actor: Actor
    csrf: str
    expires_at: str


def open_session(db: StateDB, actor: Actor) -> tuple[str, WebSession]:
    """A new console session: (the cookie value, the session). Only the cookie's hash is stored."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = _now()
    expires = (now + timedelta(hours=SESSION_HOURS)).isoformat(timespec="seconds")
    with db.connect() as c:
        c.execute("DELETE FROM web_sessions WHERE expires_at < ?", (now.isoformat(timespec="seconds"),))
        c.execute("INSERT INTO web_sessions (session_hash, name, uid, csrf, created_at, expires_at) "
                  "VALUES (?,?,?,?,?,?)", (_sha256(sid), actor.name, actor.uid, csrf,
                                           now.isoformat(timespec="seconds"), expires))
    return sid, WebSession(actor, csrf, expires)


def session(db: StateDB, sid: str) -> WebSession | None:
    if not sid or len(sid) > 100:
        return None
    with db.connect() as c:
        row = c.execute("SELECT name, uid, csrf, expires_at FROM web_sessions WHERE session_hash = ?",
                        (_sha256(sid),)).fetchone()
    if row is None or datetime.fromisoformat(row["expires_at"]) <= _now():
        return None
    actor = _still(db, row)
    return WebSession(actor, str(row["csrf"]), str(row["expires_at"])) if actor else None


def close_session(db: StateDB, sid: str) -> None:
    with db.connect() as c:
        c.execute("DELETE FROM web_sessions WHERE session_hash = ?", (_sha256(sid),))


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _still(db: StateDB, row: object) -> Actor | None:
    """The account behind a token or session row, if it still exists for the same uid and OS user."""
    if row is None:
        return None
    name, uid = row["name"], int(row["uid"])  # type: ignore[index]
    try:
        actor = authenticate(db, uid)
    except NotPermitted:
        return None
    return actor if actor.name == name else None


def forget(db: StateDB, name: str) -> None:
    """An account removed: its password, tokens and sessions go with it (a re-added account starts clean)."""
    with db.connect() as c:
        for table in ("account_passwords", "account_tokens", "web_sessions"):
            c.execute(f"DELETE FROM {table} WHERE name = ?", (name,))  # noqa: S608 - fixed table names
