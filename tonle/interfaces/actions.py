"""What each request does, and what it prints: one implementation for `tonle serve` and for the CLI acting
locally (root without a service), so both give the same lines and the same exit codes.

Each method names the permission it needs (tonle.state.accounts); the actor comes from the caller's
interface (the service: SO_PEERCRED; the CLI: its real uid) and is passed explicitly into the verbs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tonle.errors import EXIT_FAILED, EXIT_OK
from tonle.interfaces.protocol import (
    PARAMS,
    Answer,
    ApplyParams,
    ApproveParams,
    DisconnectParams,
    IdParams,
    IrrSyncParams,
    ListParams,
    NoParams,
    PasswordParams,
    PlanParams,
    RecoverParams,
    UserNameParams,
    UserParams,
)
from tonle.state.accounts import Actor, Permission

Say = Callable[[str], None]


@dataclass
class Context:
    """One request being served: where, for whom, and how to report progress."""

    config: Path
    state_dir: Path
    actor: Actor
    say: Say = field(default=lambda _m: None)
    # A disconnect became active: the service wakes its scheduler; the CLI acting locally starts the
    # fallback expiry timer (no service runs to restore it).
    on_active: Callable[[], None] = field(default=lambda: None)
    # The service's own state for `status` (None: no service runs; the CLI acts locally).
    service: Callable[[], dict[str, Any]] | None = None


Handler = Callable[[Context, Any], Answer]


@dataclass(frozen=True)
class Method:
    permission: Permission
    what: str  # for a refusal: "<actor> may not <what>"
    run: Handler


def _probe(ctx: Context, target: str) -> Any:
    if target != "lab":
        return None
    from tonle.lab.probe import lab_peer_probe  # noqa: PLC0415 - nornir/napalm start-up only when needed

    return lab_peer_probe(ctx.config, ctx.state_dir)


def _outcome(out: Any) -> Answer:
    lines = [f"  {line}" for line in out.detail]
    ok, verdict = out.verdict()
    rec = out.record
    return Answer(EXIT_OK if ok else EXIT_FAILED, [*lines, verdict],
                  data={"id": rec.id if rec else None, "status": str(out.status)})


# ---- emergency disconnect ----------------------------------------------------------------------------

def disconnect(ctx: Context, p: DisconnectParams) -> Answer:
    from tonle.emergency.disconnect import OutcomeStatus, disconnect, parse_scope  # noqa: PLC0415

    out = disconnect(ctx.config, ctx.state_dir, parse_scope(p.scope_kind, p.scope_value), operator=ctx.actor,
                     reason=p.reason, ticket=p.ticket, ttl_seconds=p.ttl_seconds, graceful=p.graceful,
                     graceful_wait=p.graceful_wait, dry_run=p.dry_run, lab=p.target == "lab",
                     peer_probe=None if p.dry_run else _probe(ctx, p.target), progress=lambda m: ctx.say(f"  .. {m}"))
    if out.status in (OutcomeStatus.ACTIVE, OutcomeStatus.PARTIAL):  # partial: kept active, its TTL runs
        ctx.on_active()
    return _outcome(out)


def approve(ctx: Context, p: ApproveParams) -> Answer:
    """Without `confirm`: what would be approved (blast radius, lines pushed) and its digest; changes nothing.
    With it: approve exactly that (refused when it changed since)."""
    from tonle.emergency.disconnect import OutcomeStatus, approval_preview, approve  # noqa: PLC0415
    from tonle.state.disconnects import get  # noqa: PLC0415

    if p.confirm is None:
        preview = approval_preview(ctx.state_dir, p.id, approver=ctx.actor)
        return Answer(EXIT_OK, preview.lines(), data={"id": p.id, "digest": preview.digest})
    target = get(ctx.state_dir, p.id).target
    out = approve(ctx.config, ctx.state_dir, p.id, approver=ctx.actor, confirm=p.confirm,
                  peer_probe=_probe(ctx, target), progress=lambda m: ctx.say(f"  .. {m}"))
    if out.status in (OutcomeStatus.ACTIVE, OutcomeStatus.PARTIAL):  # partial: kept active, its TTL runs
        ctx.on_active()
    return _outcome(out)


def restore(ctx: Context, p: IdParams) -> Answer:
    from tonle.emergency.disconnect import restore  # noqa: PLC0415
    from tonle.state.disconnects import get  # noqa: PLC0415

    target = get(ctx.state_dir, p.id).target
    return _outcome(restore(ctx.config, ctx.state_dir, p.id, operator=ctx.actor, peer_probe=_probe(ctx, target),
                            progress=lambda m: ctx.say(f"  .. {m}")))


def disconnects(ctx: Context, p: ListParams) -> Answer:
    from tonle.state.disconnects import DisconnectStatus, records  # noqa: PLC0415

    recs = records(ctx.state_dir, None if p.all else DisconnectStatus.ACTIVE)
    recs += [] if p.all else records(ctx.state_dir, DisconnectStatus.PENDING_APPROVAL)
    out = [f"{'id':<22} {'status':<17} {'scope':<34} {'ticket':<10} {'operator':<10} {'expires':<25} reason"]
    for r in recs:
        out.append(f"{r.id:<22} {r.status:<17} {r.scope_kind + ' ' + r.scope_value:<34} {r.ticket:<10} "
                   f"{r.operator:<10} {r.expires_at or r.approval_expires_at or '-':<25} {r.reason}")
        if r.approver:
            out.append(f"{'':<22} approved by {r.approver}")
        if (problem := r.timer_problem()) and r.status == DisconnectStatus.ACTIVE:
            out.append(f"{'':<22} ! {problem}")
    return Answer(EXIT_OK, out, data={"ids": [r.id for r in recs]})


# ---- change pipeline ---------------------------------------------------------------------------------

def plan(ctx: Context, p: PlanParams) -> Answer:
    from tonle.change.plan import Selection, make_plan  # noqa: PLC0415 - nornir start-up only when needed

    made = make_plan(ctx.config, ctx.state_dir, Selection(tuple(p.sites), tuple(p.roles), tuple(p.hosts)),
                     lab=p.target == "lab", operator=ctx.actor.name)
    data = {"id": made.id, "changed": [d.host for d in made.changed]}
    if p.as_json:
        return Answer(EXIT_OK, [json.dumps(made.to_json(), indent=2)], data=data)
    return Answer(EXIT_OK, [made.text(), f"saved; apply with: tonle apply {made.id}"], data=data)


def apply(ctx: Context, p: ApplyParams) -> Answer:
    from tonle.change.apply import ApplyOptions, apply_plan  # noqa: PLC0415

    opts = ApplyOptions(canary=list(p.canary), batch_size=p.batch_size, revert_in=p.revert_in, settle=p.settle,
                        hold=p.hold, on_window_close=p.on_window_close)
    report = apply_plan(ctx.config, ctx.state_dir, p.plan, opts, operator=ctx.actor.name,
                        progress=lambda m: ctx.say(f"[{time.strftime('%H:%M:%S')}] {m}"))
    return Answer(EXIT_OK if report.ok else EXIT_FAILED, report.lines(),
                  data={"plan": report.plan_id, "outcome": str(report.outcome)})


# ---- IRR-built filters -------------------------------------------------------------------------------

def irr_sync(ctx: Context, p: IrrSyncParams) -> Answer:
    """Build and store the ISPs' filters from the IRR; audited as `irr-sync` by who asked. Pushes nothing."""
    from tonle.change.irr_sync import sync  # noqa: PLC0415 - the verb only when asked
    from tonle.compile.irr import split_server  # noqa: PLC0415

    host: str | None = None
    port: int | None = None
    if p.server is not None and (where := split_server(p.server)) is not None:  # checked by the params already
        host, port = where
    result = sync(ctx.config, ctx.state_dir, operator=ctx.actor.name, host=host, port=port,
                  sources=list(p.sources) if p.sources is not None else None)
    data = result.data
    return Answer(EXIT_OK, result.text().splitlines(), data={
        "synced_at": data.synced_at, "source": data.source,
        "isps": {f.peer: {"as_set": f.as_set, "ipv4": len(f.afi(4)), "ipv6": len(f.afi(6)),
                          "origins": list(f.origins)} for f in data.filters}})


# ---- recovery ------------------------------------------------------------------------------------------

def recover(ctx: Context, p: RecoverParams) -> Answer:
    """Finish what killed processes left interrupted (tonle.change.recover). In the service, what its own
    threads are doing holds leases (a run's life lease, the devices'), so it is seen as alive and left alone."""
    from tonle.change.recover import recover as run_recovery  # noqa: PLC0415 - nornir start-up only when needed

    ctx.say("  .. looking for interrupted applies, disconnects, restores and pending commits")
    report = run_recovery(ctx.config, ctx.state_dir, lab=p.target == "lab", actor=ctx.actor.name)
    items = [{"kind": i.kind, "ref": i.ref, "outcome": i.outcome, "devices": i.devices} for i in report.items]
    return Answer(report.exit_code, report.lines(), data={
        "items": items, "unreachable": report.unreachable, "seconds": round(report.seconds, 3)})


# ---- accounts ------------------------------------------------------------------------------------------

def users_add(ctx: Context, p: UserParams) -> Answer:
    from tonle.state import accounts  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    acc = accounts.add(StateDB(ctx.state_dir), p.name, p.role, ctx.actor)
    return Answer(EXIT_OK, [f"account {acc.name} (uid {acc.uid}): {acc.role}"])


def users_list(ctx: Context, _p: NoParams) -> Answer:
    from tonle.state import accounts  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    accs = accounts.accounts(StateDB(ctx.state_dir))
    out = [f"{'name':<20} {'uid':>7}  {'role':<9} added"]
    out += [f"{a.name:<20} {a.uid:>7}  {a.role:<9} {a.created_at} by {a.created_by}" for a in accs]
    out.append("(root needs no account: it may do everything)")
    return Answer(EXIT_OK, out, data={"accounts": [{"name": a.name, "uid": a.uid, "role": a.role} for a in accs]})


def users_remove(ctx: Context, p: UserNameParams) -> Answer:
    from tonle.state import accounts, credentials  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    acc = accounts.remove(StateDB(ctx.state_dir), p.name, ctx.actor)
    credentials.forget(StateDB(ctx.state_dir), acc.name)
    return Answer(EXIT_OK, [f"account {acc.name} (uid {acc.uid}, {acc.role}) removed"])


def _own_or_admin(ctx: Context, name: str, what: str) -> None:
    """An account sets its own password or token; an admin (or root) anyone's."""
    if ctx.actor.name != name:
        ctx.actor.require(Permission.MANAGE_USERS, what)


def users_passwd(ctx: Context, p: PasswordParams) -> Answer:
    from tonle.state import credentials  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    _own_or_admin(ctx, p.name, "set another account's password")
    credentials.set_password(StateDB(ctx.state_dir), p.name, p.password, ctx.actor)
    return Answer(EXIT_OK, [f"password of {p.name} set (web console login)"])


def users_token(ctx: Context, p: UserNameParams) -> Answer:
    from tonle.state import credentials  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    _own_or_admin(ctx, p.name, "issue a token for another account")
    token = credentials.new_token(StateDB(ctx.state_dir), p.name, ctx.actor)
    return Answer(EXIT_OK, [token], err=[f"bearer token of {p.name} (shown once; only its hash is kept)"])


# ---- status ----------------------------------------------------------------------------------------------

OVERDUE_GRACE = 60.0  # seconds past due before a timer counts as overdue


def status(ctx: Context, _p: NoParams) -> Answer:
    """The service and its scheduler, and every timer of the state: exit 0 healthy, 1 something to look at."""
    from tonle.state.disconnects import DisconnectStatus, records  # noqa: PLC0415

    out, problems = [], []
    svc = ctx.service() if ctx.service else None
    if svc is None:
        problems.append("no `tonle serve` runs: nothing runs the timers but a fallback expiry process (if any)")
    else:
        out.append(f"service: pid {svc['pid']}, up since {svc['started_at']}, socket {svc['socket']}, "
                   f"{svc['requests']} request(s) served")
        sched = svc["scheduler"]
        out.append(f"scheduler: {'running' if sched['alive'] else 'NOT RUNNING'}, last run {sched['last_run'] or '-'}, "
                   f"{sched['restarts']} restart(s)" + (f", last error: {sched['last_error']}"
                                                         if sched["last_error"] else ""))
        if not sched["alive"]:
            problems.append("the scheduler thread is not running")
        if pool := svc.get("sessions"):  # warm device sessions of the emergency path
            out.append(f"device sessions ({pool['target']}): " + (
                f"{len(pool['devices'])} device(s) kept warm, {pool['opened']} opened, {pool['reopened']} "
                f"reopened after a failure" if pool["ready"] else "opening")
                + (f"; last error: {pool['last_error']}" if pool["last_error"] else ""))
    now = datetime.now(UTC)
    active = records(ctx.state_dir, DisconnectStatus.ACTIVE)
    pending = records(ctx.state_dir, DisconnectStatus.PENDING_APPROVAL)
    out.append(f"timers: {len(active)} active disconnect(s) to expire, {len(pending)} approval(s) to lapse")
    for r in active:
        due = datetime.fromisoformat(r.expires_at) if r.expires_at else None
        late = (now - due).total_seconds() if due else 0.0
        line = f"  {r.id} expires {r.expires_at}" + (f" (overdue by {late:.0f}s)" if late > OVERDUE_GRACE else "")
        out.append(line)
        if problem := r.timer_problem():
            out.append(f"    ! {problem}")
            problems.append(f"{r.id}: {problem}")
        elif late > OVERDUE_GRACE:
            problems.append(f"{r.id}: past its TTL by {late:.0f}s and not restored")
    for r in pending:
        out.append(f"  {r.id} approval open until {r.approval_expires_at}")
        lapse = datetime.fromisoformat(r.approval_expires_at) if r.approval_expires_at else None
        if lapse and (now - lapse).total_seconds() > OVERDUE_GRACE:
            problems.append(f"{r.id}: its approval time ran out at {r.approval_expires_at} and it is still open")
    out += [f"PROBLEM: {p}" for p in problems]
    out.append("status: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return Answer(EXIT_FAILED if problems else EXIT_OK, out,
                  data={"service": svc, "problems": problems, "active": [r.id for r in active],
                        "pending": [r.id for r in pending]})


METHODS: dict[str, Method] = {
    "disconnect": Method(Permission.OPERATE, "disconnect", disconnect),
    "approve": Method(Permission.APPROVE, "approve a disconnect", approve),
    "restore": Method(Permission.OPERATE, "restore", restore),
    "disconnects": Method(Permission.READ, "list disconnects", disconnects),
    "plan": Method(Permission.OPERATE, "plan", plan),
    "apply": Method(Permission.OPERATE, "apply", apply),
    "users.add": Method(Permission.MANAGE_USERS, "manage accounts", users_add),
    "users.list": Method(Permission.MANAGE_USERS, "list accounts", users_list),
    "users.remove": Method(Permission.MANAGE_USERS, "manage accounts", users_remove),
    # READ: an account may set its own; another's needs the admin role (checked inside).
    "users.passwd": Method(Permission.READ, "set a password", users_passwd),
    "users.token": Method(Permission.READ, "issue a token", users_token),
    "status": Method(Permission.READ, "read the status", status),
    "irr.sync": Method(Permission.OPERATE, "sync the IRR filters", irr_sync),
    # OPERATE: recovery only brings devices back to a recorded state (rolls back unconfirmed changes), the
    # same kind of network action as apply and restore; admin manages accounts and touches no device.
    "recover": Method(Permission.OPERATE, "recover interrupted runs", recover),
}
assert set(METHODS) == set(PARAMS), "every protocol method has an action"


def perform(method: str, ctx: Context, params: Any) -> Answer:
    """Run one method for ctx.actor after checking its permission (NotPermitted when the role does not allow)."""
    m = METHODS[method]
    ctx.actor.require(m.permission, m.what)
    return m.run(ctx, params)
