"""Emergency disconnect: scoped, guarded, audited, reversible, verified, fast.

A disconnect is intent: a record in the state database (scope, reason, ticket, operator, TTL) whose
overrides are merged into the rendered configs, so plans and drift audits know the session is down on
purpose. It is pushed on the emergency fast path: only the targeted devices, no window, commit with a
revert timer, verify, confirm (or roll back every touched device). A blast-radius guard refuses what
would take down too much unless a second, different operator approves in time. Restore removes it;
expiry restores it by itself.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from nornir.core import Nornir

from tonle.change.plan import secret_values
from tonle.compile.intent import (
    BlackholeOverride,
    Intent,
    InterfaceOverride,
    Override,
    SessionOverride,
    device_intent,
    override_from_dict,
    override_to_dict,
    with_md5_keys,
)
from tonle.compile.render import render_intent
from tonle.emergency.applied import applied_device_intents, applied_intent
from tonle.emergency.fields import check_reason, check_ticket, device_message
from tonle.emergency.guard import (
    SCOPES,
    BlastRadius,
    DisconnectError,
    Resolution,
    Scope,
    already_dark,
    blast_radius,
    dark_sessions,
    parse_scope,
    resolve,
)
from tonle.errors import Refused
from tonle.redact import redact
from tonle.state.accounts import Actor, Permission
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import (
    DisconnectRecord,
    DisconnectStatus,
    active_overrides,
    get,
    open_db,
    records,
    save,
    saving,
)
from tonle.state.leases import Holder, Leases
from tonle.targets.nornir import init_nornir
from tonle.targets.nornir import run_on as _run
from tonle.targets.pool import active as warm_sessions
from tonle.targets.target import Target, md5_keys
from tonle.tasks.change import changed_lines, commit_override, confirm_device, left_pending, rollback_device
from tonle.tasks.validate import bgp_snapshot

Progress = Callable[[str], None]


class DisconnectRefused(Refused):
    """A valid request that a rule refuses (already dark, two-person rule, expired approval, wrong state)."""


class OutcomeStatus(StrEnum):
    DRY_RUN = "dry-run"  # nothing changed; the blast radius is in `detail`
    NEEDS_APPROVAL = "needs approval"  # over the guard's limits: stored pending a second operator
    ACTIVE = "active"
    RESTORED = "restored"
    EXPIRED = "expired"
    FAILED = "failed"  # every touched device rolled back
    PARTIAL = "partial"  # failed, and a rollback failed too: kept active (TTL) where it may be in force


@dataclass
class Outcome:
    """What a disconnect, approval or restore did."""

    record: DisconnectRecord | None
    status: OutcomeStatus
    blast: BlastRadius | None = None
    seconds_to_verified: float | None = None
    detail: list[str] = field(default_factory=list)

    def verdict(self) -> tuple[bool, str]:
        """(succeeded, one line for the operator) — the same words from the CLI and from a playbook."""
        rec = self.record
        if self.status == "dry-run" or rec is None:
            return True, "dry run: nothing changed"
        if self.status == "needs approval":
            return False, (f"REFUSED {rec.id}: over the blast-radius limit. A second, different operator may "
                           f"approve within the approval time (until {rec.approval_expires_at}): "
                           f"tonle approve {rec.id}")
        if self.status == OutcomeStatus.FAILED:
            return False, f"FAILED {rec.id}: rolled back, nothing changed on the devices"
        if self.status == OutcomeStatus.PARTIAL:
            return False, (f"FAILED {rec.id}, and a rollback failed: kept active where it may be in force; restores "
                           f"itself at {rec.expires_at} (tonle restore {rec.id} earlier); check the devices")
        when = f" in {self.seconds_to_verified:.2f}s" if self.seconds_to_verified is not None else ""
        extra = (f"; restores itself at {rec.expires_at} (tonle restore {rec.id} earlier)"
                 if self.status == OutcomeStatus.ACTIVE else "")
        return True, f"{self.status.upper()} {rec.id}: verified{when}{extra}"


_DURATION = re.compile(r"([0-9]{1,7})([smh]?)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "": 60}  # a bare number is minutes


def duration_seconds(text: str) -> int:
    """90s, 30m, 2h or a bare number of minutes -> seconds (whole numbers only: no inf, nan, 1e9)."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise DisconnectError(f"{text.strip()[:20]!r} is not a duration (a whole number with s, m or h: 90s, 30m, 2h)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


# ---- storage ---------------------------------------------------------------------------------------

@contextmanager
def _serialized(state_dir: Path) -> Iterator[None]:
    """One disruptive action at a time per state directory: the guard must see every other action."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "disconnect.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# ---- the fast path ------------------------------------------------------------------------------------

@dataclass
class _Push:
    nr: Nornir
    intent: Intent  # the latest applied intent: scope resolution and the guard
    device_intents: dict[str, Intent]  # each touched device's own last applied intent: what is rendered
    target: Target
    close: Callable[[], None]  # closes the connections, or gives warm sessions back to the service's pool


def _open(config_file: Path, state_dir: Path, lab: bool, devices: list[str]) -> _Push:
    # The service's warm sessions, checked and held for this thread alone; else new connections.
    pool = warm_sessions(state_dir, lab)
    lent = pool.lend(devices) if pool is not None else None
    if lent is not None:
        nr, inv, close = lent.nr, lent.inv, lent.release
    else:
        nr, inv = init_nornir(config_file, state_dir, lab=lab)  # connections only: not the working tree's intent
        close = nr.close_connections
    try:
        keys = md5_keys(inv, state_dir, Target.of(lab))
        intents = {d: with_md5_keys(i, keys) for d, i in applied_device_intents(state_dir, devices).items()}
        return _Push(nr, applied_intent(state_dir), intents, Target.of(lab), close)
    except BaseException:
        close()
        raise


def _rendered(intent: Intent, target: Target, device: str, overrides: list[Override]) -> str:
    """A device's config from its own last applied intent with these overrides, for the target's driver."""
    di = device_intent(intent, device, overrides)
    return render_intent(di, target.driver(di.device))


def _push(p: _Push, ref: str, devices: list[str], before: list[Override], after: list[Override],
          verify: Callable[[], list[str]], timeout: float, say: Progress) -> tuple[list[str], list[str]]:
    """Move the devices from the overrides `before` to `after`, verify, confirm; on any failure roll back
    every touched device (confirmed ones too: one outcome for all).

    Each device is rendered from its own last applied intent; the commit is refused on a device whose
    candidate diff holds any line besides those the overrides change (see `tasks.change.commit_override`).

    Returns:
        (problems, stuck): no problem when every device was confirmed; else what failed, and the devices
        whose rollback failed too (the change may be in force there: the caller records it).
    """
    def render(d: str, overrides: list[Override]) -> str:
        return _rendered(p.device_intents[d], p.target, d, overrides)

    configs = {d: render(d, after) for d in devices}
    allowed = {d: changed_lines(render(d, before), configs[d]) for d in devices}
    token = f"tonle {ref} {secrets.token_hex(4)}"  # who armed the pending commits: this push alone
    _, bad = _run(p.nr, devices, commit_override, configs=configs, allowed=allowed, revert_in=120, token=token)
    # A failed commit that left this push's change pending (e.g. write memory) is rolled back with the rest;
    # another's pending commit (what made the commit fail) is reported and left to its owner or `tonle recover`.
    left, foreign = left_pending(p.nr, list(bad), token)
    touched = [d for d in devices if d not in bad or d in left]
    problems = [f"{d}: commit failed: {r}" + (f" ({foreign[d]}: left as it is)" if d in foreign else "")
                for d, r in bad.items()]
    if not problems:
        deadline = time.monotonic() + timeout
        while True:
            problems = verify()
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # a shutdown shows on both sides within milliseconds: look again soon
    if not problems:
        _, bad = _run(p.nr, touched, confirm_device)
        problems = [f"{d}: confirm failed: {r}" for d, r in bad.items()]
        if not problems:
            return [], []
    say(f"{problems[0]}: rolling back " + (", ".join(touched) or "nothing"))
    _, stuck = _run(p.nr, touched, rollback_device)
    return problems + [f"{d}: ROLLBACK FAILED: {r}" for d, r in stuck.items()], sorted(stuck)


def _verifier(p: _Push, res: Resolution, down: bool, peer_probe: PeerProbe | None) -> Callable[[], list[str]]:
    """Checks that the action took effect: our side (NAPALM), and the peer's side when a probe is given."""
    def check() -> list[str]:
        # The peer's side is looked at while ours is read (two round trips at once, not one after the other).
        with ThreadPoolExecutor(max_workers=1) as pool:
            peer = pool.submit(peer_probe, res, down) if peer_probe is not None else None
            return ours() + (peer.result() if peer is not None else [])

    def ours() -> list[str]:
        problems = []
        targets: dict[str, set[str]] = {}
        for s in res.sessions:
            targets.setdefault(s.node, set()).add(str(s.peer_ip))
        if targets:
            snaps, bad = _run(p.nr, list(targets), bgp_snapshot)
            problems += [f"{d}: {r}" for d, r in bad.items()]
            for d, ips in targets.items():
                for ip in ips:
                    st = snaps.get(d, {}).get(ip)
                    if st is None:
                        problems.append(f"{d} {ip}: not configured")
                    elif down and (st["enabled"] or st["up"]):
                        problems.append(f"{d} {ip}: still {'up' if st['up'] else 'enabled'}")
                    elif not down and not st["up"]:
                        problems.append(f"{d} {ip}: not Established yet")
        return problems
    return check


PeerProbe = Callable[[Resolution, bool], list[str]]


# ---- the verbs ------------------------------------------------------------------------------------------
#
# Who acts is passed in (`operator`, `approver`: an Actor the interface established from the kernel's uid),
# never read from the environment. Timer actions (TTL expiry, a lapsed approval) act as SCHEDULER.

SCHEDULER = "tonle-scheduler"


def disconnect(config_file: Path, state_dir: Path, scope: Scope, *, operator: Actor, **kw: Any) -> Outcome:
    """Disconnect what `scope` names (see the module docstring for the rules); serialized per state dir."""
    with _serialized(state_dir):
        return _disconnect(config_file, state_dir, scope, operator=operator, **kw)


def _disconnect(config_file: Path, state_dir: Path, scope: Scope, *, operator: Actor, reason: str, ticket: str,
                ttl_seconds: int | None, graceful: bool = False, graceful_wait: float = 30.0,
                dry_run: bool = False, lab: bool = True, peer_probe: PeerProbe | None = None,
                progress: Progress | None = None, verify_timeout: float = 20.0) -> Outcome:
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    operator.require(Permission.OPERATE, "disconnect")
    reason, ticket = check_reason(reason), check_ticket(ticket)
    intent = applied_intent(state_dir)  # never the working tree: see tonle.source.snapshot
    guard = intent.policy.guard
    ttl = guard.default_ttl_minutes * 60 if ttl_seconds is None else ttl_seconds
    if not 1 <= ttl <= guard.max_ttl_minutes * 60:
        raise DisconnectError(f"--ttl {ttl}s: between 1 second and {guard.max_ttl_minutes} minutes")
    if dry_run:  # changes nothing anywhere: due disconnects count as restored, none is pushed
        active = active_overrides(state_dir, still_at=datetime.now(UTC))
    else:
        _expire_due(config_file, state_dir, lab=lab, progress=say, peer_probe=peer_probe)
        active = active_overrides(state_dir)
    res = resolve(intent, scope)
    if already_dark(intent, res, active):
        raise DisconnectRefused(f"{scope}: already disconnected (see `tonle disconnects`)")
    blast = blast_radius(intent, res, active)
    if dry_run:
        return Outcome(None, OutcomeStatus.DRY_RUN, blast, detail=blast.lines())
    now = datetime.now(UTC)
    rec_id = f"D{now:%Y%m%d%H%M%S}{secrets.token_hex(2)}"
    # The device sees a safe identifier only; the reason and the operator stay in the state and the audit log.
    overrides = [_with_message(o, device_message(rec_id, ticket)) for o in res.overrides]
    rec = DisconnectRecord(
        id=rec_id, created_at=now.isoformat(timespec="seconds"),
        operator=operator.name, reason=reason, ticket=ticket, scope_kind=scope.kind, scope_value=scope.value,
        target=Target.of(lab), ttl_seconds=ttl, graceful=graceful, status=DisconnectStatus.PENDING_APPROVAL,
        expires_at=None, approval_expires_at=None, approver=None, restored_at=None,
        overrides=[override_to_dict(o) for o in overrides], devices=res.devices, blast=asdict(blast),
        operator_uid=operator.uid)
    db = open_db(state_dir)
    audit = AuditLog(db, actor=operator.name)
    if blast.violations:
        rec.approval_expires_at = (now + timedelta(minutes=guard.approval_minutes)).isoformat(timespec="seconds")
        audit.append("disconnect-refused", rec.id, {"scope": str(scope), "reason": reason, "ticket": ticket,
                                                    "violations": blast.violations, "needs": "second operator"},
                     change=saving(rec))
        return Outcome(rec, OutcomeStatus.NEEDS_APPROVAL, blast, detail=blast.lines())
    return _activate(config_file, state_dir, rec, res, blast, graceful_wait, peer_probe, say, t0, verify_timeout,
                     operator.name)


def _with_message(o: Override, msg: str) -> Override:
    if isinstance(o, SessionOverride):
        return SessionOverride(o.device, o.peer_ip, o.shutdown, msg, o.graceful)
    if isinstance(o, InterfaceOverride):
        return InterfaceOverride(o.device, o.link, msg)
    return BlackholeOverride(o.prefix, msg)


def _activate(config_file: Path, state_dir: Path, rec: DisconnectRecord, res: Resolution, blast: BlastRadius,
              graceful_wait: float, peer_probe: PeerProbe | None, say: Progress, t0: float,
              verify_timeout: float, actor: str) -> Outcome:
    """Lease the devices (an apply holding one rolls back and yields), then push, verify and record."""
    with Leases(state_dir, Holder("emergency", rec.id)) as leases:
        busy = _take_leases(leases, res.devices, say)
        if busy:
            db = open_db(state_dir)
            return _failed(db, AuditLog(db, actor=actor), rec, blast, busy)
        return _activate_leased(config_file, state_dir, rec, res, blast, graceful_wait, peer_probe, say, t0,
                                verify_timeout, actor)


def _activate_leased(config_file: Path, state_dir: Path, rec: DisconnectRecord, res: Resolution,
                     blast: BlastRadius, graceful_wait: float, peer_probe: PeerProbe | None, say: Progress,
                     t0: float, verify_timeout: float, actor: str) -> Outcome:
    db = open_db(state_dir)
    audit = AuditLog(db, actor=actor)
    # Opened once the leases are held: an apply that held one has recorded what it confirmed by then.
    p = _open(config_file, state_dir, rec.target == Target.LAB, res.devices)
    try:
        mine = [override_from_dict(o) for o in rec.overrides]
        others = active_overrides(state_dir)
        now_on = others
        rec.status = DisconnectStatus.PUSHING  # what a recovery finds if this process dies from here on
        save(db, rec)
        if rec.graceful and res.sessions:  # RFC 8326: ask the peers to move traffic away first
            soft: list[Override] = [SessionOverride(o.device, o.peer_ip, graceful=True)
                                    for o in mine if isinstance(o, SessionOverride)]
            say(f"graceful shutdown: announcing GRACEFUL_SHUTDOWN, waiting {graceful_wait:.0f}s")
            problems, stuck = _push(p, rec.id, res.devices, others, others + soft, lambda: [], verify_timeout, say)
            if problems:
                return _failed(db, audit, rec, blast, problems, stuck)
            now_on = others + soft
            time.sleep(graceful_wait)
        say(f"pushing to {', '.join(res.devices)}")
        problems, stuck = _push(p, rec.id, res.devices, now_on, others + mine, _verifier(p, res, True, peer_probe),
                                verify_timeout, say)
        if problems:
            return _failed(db, audit, rec, blast, problems, stuck)
        elapsed = time.monotonic() - t0
        rec.status = DisconnectStatus.ACTIVE
        rec.expires_at = (datetime.now(UTC) + timedelta(seconds=rec.ttl_seconds)).isoformat(timespec="seconds")
        audit.append("disconnect", rec.id, {"scope": f"{rec.scope_kind} {rec.scope_value}", "reason": rec.reason,
                                            "ticket": rec.ticket, "requester": rec.operator, "approver": rec.approver,
                                            "expires_at": rec.expires_at, "devices": rec.devices,
                                            "sessions": blast.sessions, "prefixes": blast.prefixes,
                                            "seconds_to_verified": round(elapsed, 3)}, change=saving(rec))
        # Its expiry is a timer of `tonle serve` (the record holds expires_at); without a service the
        # interface that acted starts the fallback timer (tonle.interfaces.expiry).
        return Outcome(rec, OutcomeStatus.ACTIVE, blast, elapsed, blast.lines())
    finally:
        p.close()


LEASE_WAIT = 120.0  # seconds an emergency waits for an apply to roll back and yield a device


def _take_leases(leases: Leases, devices: list[str], say: Progress, timeout: float = LEASE_WAIT) -> list[str]:
    """Every device's lease, or one problem line per device still held at the timeout (nothing changed).

    An emergency pre-empts a change: an apply holding a device is asked to roll back what it touched and
    yield (it does at its next safe point, seconds). Waiting instead could take the whole apply (minutes),
    with every other emergency queued behind this one (`_serialized`); a change can be planned again.
    """
    told: set[str] = set()

    def on_wait(busy: dict[str, Holder]) -> None:
        for d, h in busy.items():
            if h.kind != "emergency":
                leases.request_yield(d)
            if d not in told:
                told.add(d)
                say(f"{d} is being changed by {h}: asking it to roll back and yield")

    busy = leases.take_all(devices, timeout=timeout, on_wait=on_wait)
    return [f"{d}: still held by {h} after {timeout:.0f}s; nothing changed" for d, h in sorted(busy.items())]


def _failed(db: StateDB, audit: AuditLog, rec: DisconnectRecord, blast: BlastRadius,
            problems: list[str], stuck: list[str] | None = None) -> Outcome:
    """A push that failed, recorded as it ended: every device rolled back, or (a rollback failed too) the
    disconnect kept ACTIVE with its TTL, so the timer or `tonle restore` undoes it where it stays in force."""
    if stuck:
        rec.status = DisconnectStatus.ACTIVE
        rec.expires_at = (datetime.now(UTC) + timedelta(seconds=rec.ttl_seconds)).isoformat(timespec="seconds")
        audit.append("disconnect-partial", rec.id, {
            "problems": problems, "rolled_back": [d for d in rec.devices if d not in stuck], "in_force": stuck,
            "expires_at": rec.expires_at}, change=saving(rec))
        return Outcome(rec, OutcomeStatus.PARTIAL, blast, detail=problems)
    rec.status = DisconnectStatus.FAILED
    audit.append("disconnect-failed", rec.id, {"problems": problems, "rolled_back": rec.devices}, change=saving(rec))
    return Outcome(rec, OutcomeStatus.FAILED, blast, detail=problems)


# ---- the two-person rule --------------------------------------------------------------------------------

@dataclass
class ApprovalPreview:
    """What an approver is shown before confirming: the blast radius now and the lines each device gets."""

    record: DisconnectRecord
    blast: BlastRadius
    pushes: dict[str, list[str]]  # device -> changed lines (+ added, - removed), redacted
    digest: str  # of all of the above: an approval confirms exactly what was shown

    def lines(self) -> list[str]:
        rec = self.record
        out = [f"{rec.id}: {rec.scope_kind} {rec.scope_value}, requested by {rec.operator} at {rec.created_at} "
               f"(ticket {rec.ticket}): {rec.reason}",
               f"approval open until {rec.approval_expires_at}; restores itself {rec.ttl_seconds}s after it runs"
               + ("; graceful shutdown first" if rec.graceful else "")]
        out += [f"  {ln}" for ln in self.blast.lines()]
        for device, changed in self.pushes.items():
            out.append(f"  pushed to {device}:")
            out += [f"    {ln}" for ln in changed]
        return out


def _check_approval(db: StateDB, rec: DisconnectRecord, approver: Actor) -> None:
    """Refuse (and record why) unless `approver` may approve `rec` now."""
    audit = AuditLog(db, actor=approver.name)
    if rec.status != DisconnectStatus.PENDING_APPROVAL:
        raise DisconnectRefused(f"{rec.id} is {rec.status}, not waiting for approval")
    if not approver.can(Permission.APPROVE):
        audit.append("approval-refused", rec.id, {"approver": approver.name, "why": f"role {approver.role}"})
        approver.require(Permission.APPROVE, "approve a disconnect")
    if approver.is_same_account(rec.operator, rec.operator_uid):
        audit.append("approval-refused", rec.id, {"approver": approver.name, "approver_uid": approver.uid,
                                                  "why": "same account as the requester"})
        raise DisconnectRefused(f"{rec.id}: {approver.name} requested it and cannot approve it; another account "
                                "with the approver role must")
    if rec.approval_expires_at and datetime.fromisoformat(rec.approval_expires_at) <= datetime.now(UTC):
        rec.status = DisconnectStatus.EXPIRED
        audit.append("approval-refused", rec.id, {"approver": approver.name, "why": "the approval request expired"},
                     change=saving(rec))
        raise DisconnectRefused(f"{rec.id}: the approval request expired at {rec.approval_expires_at}; "
                                "request the disconnect again")


def _preview(state_dir: Path, rec: DisconnectRecord) -> tuple[ApprovalPreview, Resolution]:
    intent = applied_intent(state_dir)
    res = resolve(intent, Scope(rec.scope_kind, rec.scope_value))
    res.overrides = [override_from_dict(o) for o in rec.overrides]
    active = active_overrides(state_dir)
    blast = blast_radius(intent, res, active)
    target = Target.of(rec.target == Target.LAB)
    keys = md5_keys(intent.inv, state_dir, target)  # rendered with the keys, as pushed (and redacted when shown)
    intents = {d: with_md5_keys(i, keys) for d, i in applied_device_intents(state_dir, rec.devices).items()}
    pushes = {}
    for d in rec.devices:
        before = _rendered(intents[d], target, d, active).splitlines()
        after = _rendered(intents[d], target, d, active + res.overrides).splitlines()
        changed = [ln for ln in difflib.unified_diff(before, after, lineterm="", n=0)
                   if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))]
        pushes[d] = [redact(ln, secret_values(intents[d]), target.driver(intents[d].inv.devices[d])) for ln in changed]
    shown = {"id": rec.id, "blast": blast.lines(), "pushes": pushes, "graceful": rec.graceful,
             "ttl": rec.ttl_seconds}
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()
    return ApprovalPreview(rec, blast, pushes, digest), res


def approval_preview(state_dir: Path, disconnect_id: str, *, approver: Actor) -> ApprovalPreview:
    """What `approver` would approve (refused as `approve` would be: wrong state, same account, expired)."""
    with _serialized(state_dir):
        rec = get(state_dir, disconnect_id)
        _check_approval(open_db(state_dir), rec, approver)
        return _preview(state_dir, rec)[0]


def approve(config_file: Path, state_dir: Path, disconnect_id: str, *, approver: Actor, **kw: Any) -> Outcome:
    """Another account with the approver role approves a refused disconnect within the approval time; it runs.

    With `confirm` (the digest of the ApprovalPreview the approver was shown), the approval is refused
    when what would be pushed changed since (another disconnect became active or was restored).
    """
    with _serialized(state_dir):
        return _approve(config_file, state_dir, disconnect_id, approver=approver, **kw)


def _approve(config_file: Path, state_dir: Path, disconnect_id: str, *, approver: Actor, confirm: str | None = None,
             peer_probe: PeerProbe | None = None, progress: Progress | None = None,
             verify_timeout: float = 20.0) -> Outcome:
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    rec = get(state_dir, disconnect_id)
    db = open_db(state_dir)
    _check_approval(db, rec, approver)
    preview, res = _preview(state_dir, rec)
    audit = AuditLog(db, actor=approver.name)
    if confirm is not None and not hmac.compare_digest(confirm, preview.digest):
        audit.append("approval-refused", rec.id, {"approver": approver.name, "why": "changed since shown"})
        raise DisconnectRefused(f"{rec.id}: what would be pushed changed since it was shown (another disconnect "
                                f"started or ended); look again: tonle approve {rec.id}")
    rec.approver, rec.approver_uid = approver.name, approver.uid
    audit.append("approve", rec.id, {"approver": approver.name, "approver_uid": approver.uid,
                                     "requester": rec.operator, "requester_uid": rec.operator_uid,
                                     "shown": preview.digest})
    return _activate(config_file, state_dir, rec, res, preview.blast, 30.0, peer_probe, say, t0, verify_timeout,
                     approver.name)


def lapse_approvals(state_dir: Path, now: datetime | None = None) -> list[DisconnectRecord]:
    """Close every refused disconnect whose approval time ran out (a scheduler timer); the ones closed."""
    now = now or datetime.now(UTC)
    with _serialized(state_dir):
        db = open_db(state_dir)
        out = []
        for rec in records(state_dir, DisconnectStatus.PENDING_APPROVAL):
            if rec.approval_expires_at and datetime.fromisoformat(rec.approval_expires_at) <= now:
                rec.status = DisconnectStatus.EXPIRED
                AuditLog(db, actor=SCHEDULER).append("approval-expired", rec.id, {
                    "requester": rec.operator, "approval_expires_at": rec.approval_expires_at,
                    "late_seconds": round((now - datetime.fromisoformat(rec.approval_expires_at)).total_seconds())},
                    change=saving(rec))
                out.append(rec)
        return out


# ---- restore and expiry ---------------------------------------------------------------------------------

def restore(config_file: Path, state_dir: Path, disconnect_id: str, *, operator: Actor, **kw: Any) -> Outcome:
    """Undo an active disconnect: push the devices without it and verify the sessions come back."""
    operator.require(Permission.OPERATE, "restore")
    with _serialized(state_dir):
        return _restore(config_file, state_dir, disconnect_id, actor=operator.name, **kw)


def _restore(config_file: Path, state_dir: Path, disconnect_id: str, *, actor: str, expired: bool = False,
             peer_probe: PeerProbe | None = None, progress: Progress | None = None,
             verify_timeout: float = 60.0) -> Outcome:
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    rec = get(state_dir, disconnect_id)
    if rec.status != DisconnectStatus.ACTIVE:
        raise DisconnectRefused(f"{rec.id} is {rec.status}, not active")
    db = open_db(state_dir)
    audit = AuditLog(db, actor=actor)
    with Leases(state_dir, Holder("emergency", rec.id)) as leases:
        busy = _take_leases(leases, rec.devices, say)
        if busy:
            audit.append("restore-failed", rec.id, {"problems": busy, "expired": expired})
            return Outcome(rec, OutcomeStatus.FAILED, detail=busy)
        return _restore_leased(config_file, state_dir, rec, expired, peer_probe, say, t0, verify_timeout, actor)


def _restore_leased(config_file: Path, state_dir: Path, rec: DisconnectRecord, expired: bool,
                    peer_probe: PeerProbe | None, say: Progress, t0: float, verify_timeout: float,
                    actor: str) -> Outcome:
    db = open_db(state_dir)
    audit = AuditLog(db, actor=actor)
    p = _open(config_file, state_dir, rec.target == Target.LAB, rec.devices)
    try:
        res = resolve(p.intent, Scope(rec.scope_kind, rec.scope_value))
        rest = [override_from_dict(o) for r in records(state_dir, DisconnectStatus.ACTIVE) if r.id != rec.id
                for o in r.overrides]
        still_dark = dark_sessions(p.intent, rest)
        res.sessions = [s for s in res.sessions if f"{s.node}:{s.peer_ip}" not in still_dark]
        say(f"restoring {', '.join(rec.devices)}")
        mine = [override_from_dict(o) for o in rec.overrides]
        rec.status = DisconnectStatus.RESTORING  # what a recovery finds if this process dies from here on
        save(db, rec)
        problems, stuck = _push(p, rec.id, rec.devices, rest + mine, rest, _verifier(p, res, False, peer_probe),
                                verify_timeout, say)
        if problems:
            rec.status = DisconnectStatus.ACTIVE  # rolled back: still in force (restored where `stuck`)
            audit.append("restore-failed", rec.id, {"problems": problems, "expired": expired,
                                                    "rolled_back": [d for d in rec.devices if d not in stuck],
                                                    "restored_unconfirmed": stuck}, change=saving(rec))
            return Outcome(rec, OutcomeStatus.FAILED, detail=problems)
        rec.status = DisconnectStatus.EXPIRED if expired else DisconnectStatus.RESTORED
        rec.restored_at = datetime.now(UTC).isoformat(timespec="seconds")
        rec.timer_error = rec.timer_retry_at = None
        details: dict[str, Any] = {"scope": f"{rec.scope_kind} {rec.scope_value}", "ticket": rec.ticket,
                                   "seconds_to_verified": round(time.monotonic() - t0, 3)}
        if expired and rec.expires_at:
            details["late_seconds"] = round((datetime.now(UTC) - datetime.fromisoformat(rec.expires_at))
                                            .total_seconds())
            details["attempts"] = rec.timer_attempts + 1
        audit.append("expiry" if expired else "restore", rec.id, details, change=saving(rec))
        return Outcome(rec, OutcomeStatus(rec.status), seconds_to_verified=time.monotonic() - t0)
    finally:
        p.close()


def expire(config_file: Path, state_dir: Path, disconnect_id: str, *, peer_probe: PeerProbe | None = None,
           progress: Progress | None = None) -> Outcome:
    """Restore one disconnect whose TTL ran out (a scheduler timer; the audit entry is `expiry`)."""
    with _serialized(state_dir):
        return _restore(config_file, state_dir, disconnect_id, actor=SCHEDULER, expired=True, peer_probe=peer_probe,
                        progress=progress)


def expire_due(config_file: Path, state_dir: Path, *, lab: bool, progress: Progress | None = None,
               peer_probe: PeerProbe | None = None) -> list[Outcome]:
    """Restore every active disconnect whose TTL has run out."""
    with _serialized(state_dir):
        return _expire_due(config_file, state_dir, lab=lab, progress=progress, peer_probe=peer_probe)


def _expire_due(config_file: Path, state_dir: Path, *, lab: bool, progress: Progress | None = None,
                peer_probe: PeerProbe | None = None) -> list[Outcome]:
    now = datetime.now(UTC)
    out = []
    for rec in records(state_dir, DisconnectStatus.ACTIVE):
        if rec.expires_at and datetime.fromisoformat(rec.expires_at) <= now and (rec.target == Target.LAB) == lab:
            out.append(_restore(config_file, state_dir, rec.id, actor=SCHEDULER, expired=True, peer_probe=peer_probe,
                                progress=progress))
    return out


def end_with_lab(state_dir: Path, recs: list[DisconnectRecord]) -> None:
    """The lab these disconnects were on is gone: nothing left to restore; close them in the record."""
    with _serialized(state_dir):
        db = open_db(state_dir)
        for rec in recs:
            rec.status = DisconnectStatus.ENDED
            rec.restored_at = datetime.now(UTC).isoformat(timespec="seconds")
            AuditLog(db, actor=SCHEDULER).append("disconnect-ended", rec.id, {"why": "the lab was taken down"},
                                                 change=saving(rec))


# The scope and guard live in tonle.emergency.guard; they are exported from here too (one entry point).
__all__ = ["SCOPES", "BlastRadius", "DisconnectError", "DisconnectRefused", "Outcome", "OutcomeStatus", "PeerProbe",
           "Resolution", "Scope", "approve", "disconnect", "duration_seconds", "end_with_lab", "expire_due",
           "parse_scope", "restore"]
