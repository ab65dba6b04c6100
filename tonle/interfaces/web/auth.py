"""Who is calling over HTTPS: a console session (cookie) or a bearer token, never anything the request claims.

Login is rate limited per account and per client address (failures in a sliding window, kept in the state
DB so that a restart of the service does not reset them). Every form POST carries the session's
CSRF token; a login form carries the pre-login cookie's token (login CSRF).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from tonle.state import credentials
from tonle.state.accounts import _NAME as ACCOUNT_NAME
from tonle.state.accounts import Actor
from tonle.state.db import StateDB

SESSION_COOKIE = "__Host-tonle"  # __Host-: Secure, Path=/, no Domain, enforced by the browser
LOGIN_COOKIE = "__Host-tonle-login"
WINDOW = 15 * 60.0  # seconds a failed login counts
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20
MAX_ROWS = 100_000  # failures remembered at once (a flood of made-up names cannot grow the table further)


class HttpError(Exception):
    """An HTTP answer other than success: status, one line, and the request field it is about (if any)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class LoginLimiter:
    """Failed logins in a sliding window, per account and per client address, in the state DB (migration 8):
    a restart of the service does not give a guesser a fresh count. Wall-clock seconds (a monotonic clock does
    not survive a restart); the table is pruned of failures older than the window on every write."""

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.state_dir, self.clock = state_dir, clock
        self._lock = threading.Lock()

    def _count(self, db: sqlite3.Connection, key: str, now: float) -> int:
        return int(db.execute("SELECT count(*) FROM login_failures WHERE key = ? AND at > ?",
                              (key, now - WINDOW)).fetchone()[0])

    def blocked(self, name: str, address: str) -> bool:
        now = self.clock()
        with StateDB(self.state_dir).connect() as db:
            return (self._count(db, f"a:{name.casefold()}", now) >= MAX_PER_ACCOUNT
                    or self._count(db, f"ip:{address}", now) >= MAX_PER_ADDRESS)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock, StateDB(self.state_dir).connect() as db:
            db.execute("DELETE FROM login_failures WHERE at <= ?", (now - WINDOW,))
            if int(db.execute("SELECT count(*) FROM login_failures").fetchone()[0]) >= MAX_ROWS:
                db.execute("DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures "
                           "WHERE key LIKE 'a:%' ORDER BY at LIMIT ?)", (MAX_ROWS // 10,))  # addresses stay
            db.executemany("INSERT INTO login_failures (key, at) VALUES (?, ?)",
                           [(f"a:{name.casefold()[:64]}", now), (f"ip:{address[:64]}", now)])

    def succeeded(self, name: str) -> None:
        with StateDB(self.state_dir).connect() as db:
            db.execute("DELETE FROM login_failures WHERE key = ?", (f"a:{name.casefold()}",))


@dataclass(frozen=True)
class Caller:
    actor: Actor
    csrf: str | None  # the session's CSRF token (None: a bearer token, which no browser sends by itself)


def login_name(text: str) -> str:
    """A login name as the audit log may record it: an account name's grammar, else `?` (free text never)."""
    return text if ACCOUNT_NAME.fullmatch(text) else "?"


def address(request: Request) -> str:
    return request.client.host if request.client else "-"


def from_session(state_dir: Path, request: Request) -> Caller | None:
    sid = request.cookies.get(SESSION_COOKIE, "")
    found = credentials.session(StateDB(state_dir), sid) if sid else None
    return Caller(found.actor, found.csrf) if found else None


def from_bearer(state_dir: Path, request: Request) -> Caller | None:
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HttpError(401, "Authorization: expected `Bearer TOKEN` (tonle users token NAME)", "authorization")
    actor = credentials.by_token(StateDB(state_dir), token.strip())
    if actor is None:
        raise HttpError(401, "invalid or revoked token", "authorization")
    return Caller(actor, None)


def api_caller(state_dir: Path, request: Request) -> Caller:
    """A bearer token, else a console session (whose unsafe requests then need the X-CSRF-Token header)."""
    caller = from_bearer(state_dir, request) or from_session(state_dir, request)
    if caller is None:
        raise HttpError(401, "authentication required: Authorization: Bearer TOKEN", "authorization")
    if caller.csrf is not None and request.method not in ("GET", "HEAD"):
        check_csrf(caller, request.headers.get("x-csrf-token", ""))
    return caller


def check_csrf(caller: Caller, sent: str) -> None:
    if caller.csrf is None:
        return
    if not sent or not credentials.same_secret(sent, caller.csrf):
        raise HttpError(403, "missing or wrong CSRF token (reload the page)", "csrf")
