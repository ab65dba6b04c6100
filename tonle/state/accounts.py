"""The `accounts` table (its one owner): who may use `tonle serve`, and in which role.

Identity comes from the kernel, never from an environment variable: `tonle serve` learns the uid of each
caller from its Unix socket (SO_PEERCRED), and the CLI acting locally uses its own real uid. An account
names an OS user and records the uid it was added with, so a user deleted and re-created under another
uid is not the old account. Roles:

| role     | may                                                                 |
|----------|---------------------------------------------------------------------|
| viewer   | read (disconnects, status)                                          |
| operator | read; plan, apply, disconnect (dry run included), restore, recover  |
| approver | what an operator may; approve another account's refused disconnect  |
| admin    | read; list, add and remove accounts (and nothing on the network)    |

Root (uid 0) needs no account and may do everything: it owns the machine, the state and the key anyway.
"""

from __future__ import annotations

import pwd
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from tonle.errors import BadInput, Refused
from tonle.state.audit import AuditLog, user_name
from tonle.state.db import StateDB


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    OPERATE = "operate"  # plan, apply, disconnect, restore, recover
    APPROVE = "approve"
    MANAGE_USERS = "manage users"


ROOT = "root"  # the role of uid 0: every permission, no account needed
GRANTS: dict[str, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.OPERATE}),
    Role.APPROVER: frozenset({Permission.READ, Permission.OPERATE, Permission.APPROVE}),
    Role.ADMIN: frozenset({Permission.READ, Permission.MANAGE_USERS}),
    ROOT: frozenset(Permission),
}
_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")  # what Debian's useradd accepts by default


class AccountError(BadInput):
    """A bad account request (unknown OS user, unknown role, no such account)."""


class NotPermitted(Refused):
    """The caller has no account, or its role does not allow the request."""


@dataclass(frozen=True)
class Actor:
    """Who acts, as the kernel or an authenticated session says: OS user name, uid and role."""

    name: str
    uid: int
    role: str  # a Role, or ROOT

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS.get(self.role, frozenset())

    def require(self, permission: Permission, what: str) -> None:
        if not self.can(permission):
            raise NotPermitted(f"{self.name} (role {self.role}) may not {what}: it needs a role that may "
                               f"{permission} ({', '.join(r for r, g in GRANTS.items() if permission in g)})")

    def is_same_account(self, name: str, uid: int | None) -> bool:
        """The same person as `name`/`uid`: the same uid, or a name that differs only in letter case."""
        return (uid is not None and uid == self.uid) or name.casefold() == self.name.casefold()


def root_actor() -> Actor:
    return Actor(user_name(0), 0, ROOT)


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    role: str
    created_at: str
    created_by: str


def authenticate(db: StateDB, uid: int) -> Actor:
    """The actor behind a uid the kernel gave us (SO_PEERCRED, or the real uid). Refused without an account."""
    if uid == 0:
        return root_actor()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        raise NotPermitted(f"uid {uid} has no OS user; refused") from None
    acc = _one(db, "uid = ?", uid)
    if acc is None:
        raise NotPermitted(f"{name} (uid {uid}) has no Tonlé account; an admin adds one: "
                           f"tonle users add {name} --role ROLE")
    if acc.name != name:
        raise NotPermitted(f"the account {acc.name!r} was made for uid {uid}, which is now {name!r}; refused "
                           "(an admin removes and re-adds it)")
    return Actor(name, uid, acc.role)


def accounts(db: StateDB) -> list[Account]:
    with db.connect() as c:
        rows = c.execute("SELECT * FROM accounts ORDER BY name").fetchall()
    return [Account(**dict(r)) for r in rows]


def add(db: StateDB, name: str, role: str, by: Actor) -> Account:
    """Give an existing OS user an account with one role (recorded in the audit log)."""
    if not _NAME.fullmatch(name):
        raise AccountError(f"{name[:40]!r} is not an OS user name")
    if role not in Role.__members__.values():
        raise AccountError(f"role {role[:20]!r}: one of {', '.join(Role)}")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise AccountError(f"{name}: no such OS user (accounts name existing OS users; create it first)") from None
    if entry.pw_uid == 0:
        raise AccountError(f"{name} is uid 0 (root): root needs no account")
    acc = Account(name, entry.pw_uid, role, datetime.now(UTC).isoformat(timespec="seconds"), by.name)
    def insert(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO accounts (name, uid, role, created_at, created_by) VALUES (?,?,?,?,?)",
                  (acc.name, acc.uid, acc.role, acc.created_at, acc.created_by))
    try:
        AuditLog(db, actor=by.name).append("account-add", name, {"uid": acc.uid, "role": role}, change=insert)
    except sqlite3.IntegrityError:
        raise AccountError(f"{name} (uid {entry.pw_uid}) has an account already; remove it first to change "
                           "its role") from None
    return acc


def remove(db: StateDB, name: str, by: Actor) -> Account:
    acc = _one(db, "name = ?", name)
    if acc is None:
        raise AccountError(f"no account {name[:40]!r} (see `tonle users list`)")
    def delete(c: sqlite3.Connection) -> None:
        c.execute("DELETE FROM accounts WHERE name = ?", (name,))
    AuditLog(db, actor=by.name).append("account-remove", name, {"uid": acc.uid, "role": acc.role}, change=delete)
    return acc


def _one(db: StateDB, where: str, value: object) -> Account | None:
    with db.connect() as c:
        row = c.execute(f"SELECT * FROM accounts WHERE {where}", (value,)).fetchone()  # noqa: S608 - fixed SQL
    return Account(**dict(row)) if row else None
