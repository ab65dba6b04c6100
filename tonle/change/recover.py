"""Recovery of interrupted runs: `tonle recover`, and `tonle serve` at start.

A process killed halfway (the CLI, the service, the machine) can leave an apply run unfinished, a
disconnect or restore mid-push (`pushing`, `restoring`), and devices holding an unconfirmed commit
whose revert timer may be gone. Recovery finds each and brings every device it touched to a recorded
state, as commit-confirm does when nobody confirms in time: an unconfirmed change is rolled back.

* an apply run with no end: every device it committed (its `commit` audit entries, and any device
  still holding a pending commit) is rolled back, unless the run was confirmed: its `confirm` entry, or
  (killed between the devices' confirm and that entry) no device it committed holds a pending commit
  and each runs the plan's config (the intent unchanged since the plan, the device compliant with it).
  Then the run, the plan (`applied`) and the intent the devices run are recorded as confirmed; else
  the run and its plan are closed as `rolled back (recovered)`;
* a disconnect left `pushing`: every device on which it is in force (its id in the running config) or
  pending is rolled back; the record becomes `failed`;
* a restore left `restoring`: every device it restored or left pending is rolled back; the disconnect is
  `active` again (its TTL timer restores it);
* any other device with a pending commit: rolled back.

What is still held by a living process (its lease) is not interrupted and is left alone. A device that
cannot be reached or rolled back is reported as needing a person. Each action is in the audit log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from nornir.core import Nornir

from tonle.change.plan import load_plan
from tonle.compile.intent import device_intent, load_intent, override_from_dict, with_irr, with_md5_keys
from tonle.compile.irr import SNAPSHOT_FILE as IRR_SNAPSHOT_FILE
from tonle.compile.render import render_intent
from tonle.redact import redact
from tonle.source.inventory import Inventory
from tonle.source.snapshot import IntentSnapshot, capture
from tonle.state.applied import applied_change
from tonle.state.audit import AuditLog, now_iso
from tonle.state.audit_checks import AuditEntry
from tonle.state.db import StateChange, StateDB, plan_status, run_finished, together
from tonle.state.disconnects import DisconnectRecord, DisconnectStatus, active_overrides, records, saving
from tonle.state.irr import latest_irr
from tonle.state.leases import Holder, Leases
from tonle.targets.nornir import init_nornir
from tonle.targets.nornir import run_on as _run
from tonle.targets.target import Target, md5_keys
from tonle.tasks.change import compliance, pending, pending_owner, rollback_device, running_config, sha256

RECOVERER = "tonle-recover"
RUN_LEASE = "apply-run.{}"  # held by an apply for its whole life: a run whose lease is free has died


@dataclass
class Item:
    """One interrupted action and what recovery did to each device it touched."""

    kind: str  # apply | disconnect | restore | commit
    ref: str  # plan id, disconnect id, or the device
    outcome: str  # rolled back | confirmed | needs a person | in use
    devices: dict[str, str] = field(default_factory=dict)  # device -> what happened to it

    def needs_person(self) -> bool:
        return self.outcome == "needs a person"


@dataclass
class RecoveryReport:
    items: list[Item] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0: nothing interrupted or all recovered; 1: some need a person; 2: a device could not be asked."""
        if self.unreachable:
            return 2
        return 1 if any(i.needs_person() for i in self.items) else 0

    def lines(self) -> list[str]:
        if not self.items and not self.unreachable:
            return ["recover: nothing interrupted"]
        out = []
        for i in self.items:
            out.append(f"{i.kind} {i.ref}: {i.outcome.upper()}")
            out += [f"  {d}: {what}" for d, what in sorted(i.devices.items())]
        out += [f"unreachable (not checked): {d}" for d in self.unreachable]
        return [redact(ln) for ln in out]


def _audit_entries(db: StateDB) -> list[AuditEntry]:
    return AuditLog(db).entries()


def _unfinished_runs(db: StateDB) -> list[tuple[int, str, str]]:
    with db.connect() as c:
        rows = c.execute("SELECT id, plan_id, started_at FROM runs WHERE finished_at IS NULL ORDER BY id").fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def _names(entry: AuditEntry, device: str) -> bool:
    """Whether an audit entry records a change of `device` (its object, or one of its devices)."""
    details = entry.details or {}
    return entry.object == device or device in (details.get("devices") or []) or device in (details.get("touched")
                                                                                           or [])


class _Recovery:
    def __init__(self, config_file: Path, state_dir: Path, lab: bool, actor: str) -> None:
        self.state_dir = state_dir
        self.db = StateDB(state_dir)
        self.audit = AuditLog(self.db, actor=actor)
        self.lab = lab
        self.nr: Nornir
        self.inv: Inventory
        self.nr, self.inv = init_nornir(config_file, state_dir, lab=lab)
        self.leases = Leases(state_dir, Holder("recover", RECOVERER))
        self.report = RecoveryReport()
        self.done: set[str] = set()  # devices already brought to a recorded state

    # ---- the pieces ----------------------------------------------------------------------------

    def _free(self, devices: list[str]) -> tuple[list[str], dict[str, str]]:
        """Lease the devices no living process holds: (ours, {device: who holds it})."""
        busy = {}
        for d in devices:
            holder = self.leases.try_take(d)
            if holder is not None:
                busy[d] = str(holder)
        return [d for d in devices if d not in busy], busy

    def _roll_back(self, item: Item, devices: list[str]) -> None:
        if not devices:
            return
        _, bad = _run(self.nr, devices, rollback_device)
        for d in devices:
            item.devices[d] = f"ROLLBACK FAILED: {bad[d]}" if d in bad else "rolled back"
        self.done.update(d for d in devices if d not in bad)
        if bad:
            item.outcome = "needs a person"

    def _pending(self, devices: list[str]) -> tuple[set[str], dict[str, str]]:
        ok, bad = _run(self.nr, devices, pending)
        return {d for d, v in ok.items() if v}, bad

    def _unreachable(self, item: Item, bad: dict[str, str]) -> None:
        for d, why in bad.items():
            item.devices[d] = f"cannot be asked: {why}"
            item.outcome = "needs a person"
            if d not in self.report.unreachable:
                self.report.unreachable.append(d)

    # ---- apply runs --------------------------------------------------------------------------------

    def runs(self) -> None:
        entries = _audit_entries(self.db)
        life = Leases(self.state_dir, Holder("recover", RECOVERER))
        try:
            for run_id, plan_id, started in _unfinished_runs(self.db):
                if life.try_take(RUN_LEASE.format(run_id)) is not None:
                    continue  # its process lives: not interrupted
                mine = [e for e in entries if e.ts >= started]
                if any(e.action == "confirm" and e.object == plan_id for e in mine):
                    item = Item("apply", plan_id, "confirmed")
                    self._close_run(run_id, plan_id, "confirmed", "applied", item)
                    continue
                commits = {e.object: e.seq for e in mine if e.action == "commit"
                           and (e.details or {}).get("plan") == plan_id}
                item = Item("apply", plan_id, "rolled back")
                # A device another action changed since (a later entry names it) is not rolled back to a point
                # that is no longer its last: what it runs now was confirmed after this run died.
                later = {d: e for d, seq in commits.items() for e in mine if e.seq > seq and _names(e, d)}
                if commits and not later and self._confirmed_already(run_id, plan_id, sorted(commits)):
                    continue
                for d, e in later.items():
                    item.devices[d] = f"changed since ({e.action} {e.object}): left as it is"
                ours, busy = self._free(sorted(d for d in commits if d not in later))
                for d, who in busy.items():
                    item.devices[d] = f"held by {who}: left to it"
                self._roll_back(item, ours)
                self._close_run(run_id, plan_id, "rolled back (recovered)", "rolled back", item)
        finally:
            life.release()

    def _confirmed_already(self, run_id: int, plan_id: str, devices: list[str]) -> bool:
        """The run died after its devices confirmed but before it recorded so: record the truth (confirmed,
        the plan applied, the devices running its intent) and say so. False (nothing recorded) unless every
        device it committed is free, holds no pending commit and runs the plan's config."""
        ours, busy = self._free(devices)
        if busy:
            return False
        waiting, bad = self._pending(ours)
        if waiting or bad:
            return False
        snap = self._runs_the_plan(plan_id, ours)
        if snap is None:
            return False
        item = Item("apply", plan_id, "confirmed", {d: "confirmed (by the interrupted run): runs the plan's config"
                                                    for d in ours})
        self._close_run(run_id, plan_id, "confirmed (recovered)", "applied", item,
                        applied_change(ours, plan_id, snap))
        self.done.update(ours)
        return True

    def _runs_the_plan(self, plan_id: str, devices: list[str]) -> IntentSnapshot | None:
        """The intent snapshot the devices now run, if each runs its plan's config (the working tree's intent
        still renders the planned config, and the device complies with it and the disconnects in force)."""
        plan = load_plan(self.state_dir, plan_id)
        by_host = {d.host: d for d in plan.devices}
        irr = latest_irr(self.db)  # as apply renders: the IRR-built filters of the last sync are intent too
        intent = with_irr(with_md5_keys(load_intent(self.inv), md5_keys(self.inv, self.state_dir,
                                                                         Target.of(self.lab))), irr)
        planned = [override_from_dict(o) for o in plan.overrides]
        now = active_overrides(self.state_dir)
        configs = {}
        for d in devices:
            dp = by_host.get(d)
            if dp is None or sha256(render_intent(device_intent(intent, d, planned), dp.platform)) \
                    != dp.intended_sha256:
                return None  # the intent changed since the plan: what the plan pushed cannot be told
            configs[d] = render_intent(device_intent(intent, d, now), dp.platform)
        drift, bad = _run(self.nr, devices, compliance, configs=configs)
        if bad or any(drift.get(d) for d in devices):
            return None
        snap = capture(self.inv)
        return snap.with_file(IRR_SNAPSHOT_FILE, irr.to_json()) if irr is not None else snap

    def _close_run(self, run_id: int, plan_id: str, outcome: str, plan_status_value: str, item: Item,
                   applied: StateChange | None = None) -> None:
        # The run's end, the plan's status, what the devices run and the audit entry: one transaction.
        closing = together(run_finished(run_id, now_iso(), outcome, {"reason": "interrupted; closed by recovery",
                                                                     "devices": item.devices}),
                           plan_status(plan_id, plan_status_value), *([applied] if applied else []))
        self.audit.append("recovered", plan_id, {"kind": "apply", "outcome": item.outcome, "devices": item.devices},
                          change=closing)
        self.report.items.append(item)

    # ---- disconnects and restores mid-push -------------------------------------------------------

    def disconnects(self) -> None:
        for rec in records(self.state_dir):
            if rec.status not in (DisconnectStatus.PUSHING, DisconnectStatus.RESTORING):
                continue
            if (rec.target == Target.LAB) != self.lab:
                continue
            ours, busy = self._free(rec.devices)
            if busy:  # a living process is pushing it
                continue
            self._disconnect(rec, ours)

    def _disconnect(self, rec: DisconnectRecord, devices: list[str]) -> None:
        restoring = rec.status == DisconnectStatus.RESTORING
        item = Item("restore" if restoring else "disconnect", rec.id, "rolled back")
        waiting, bad = self._pending(devices)
        configs, bad2 = _run(self.nr, [d for d in devices if d not in bad], running_config)
        self._unreachable(item, {**bad, **bad2})
        # On a device, the disconnect is in force when its id is in the running config (the message its
        # overrides carry). Pushing: undo it where it is; restoring: undo the restore where it is not.
        changed = [d for d in configs if (rec.id in configs[d]) != restoring]
        self._roll_back(item, sorted(waiting | set(changed)))
        for d in configs:
            item.devices.setdefault(d, "untouched")
        closed = item.outcome == "rolled back"
        if closed:
            rec.status = DisconnectStatus.ACTIVE if restoring else DisconnectStatus.FAILED
        self.audit.append("recovered", rec.id, {"kind": item.kind, "outcome": item.outcome, "devices": item.devices,
                                                "status": rec.status}, change=saving(rec) if closed else None)
        self.report.items.append(item)

    # ---- any other pending commit -------------------------------------------------------------------

    def commits(self) -> None:
        hosts = sorted(self.nr.inventory.hosts)
        ours, _ = self._free([h for h in hosts if h not in self.done])
        if not ours:
            return
        owners, bad = _run(self.nr, ours, pending_owner)
        for d in sorted(d for d, owner in owners.items() if owner is not None):
            item = Item("commit", d, "rolled back")
            self._roll_back(item, [d])
            # Who armed it (its commit message: an apply run's or a disconnect's token), as the driver recorded it.
            self.audit.append("recovered", d, {"kind": "commit", "outcome": item.outcome, "devices": item.devices,
                                               "armed_by": redact(str(owners[d]))[:200]})
            self.report.items.append(item)
        for d, why in bad.items():
            self.report.unreachable.append(d)
            self.audit.append("recover-unreachable", d, {"why": why})

    def close(self) -> None:
        self.leases.release()
        self.nr.close_connections()


def recover(config_file: Path, state_dir: Path, *, lab: bool, actor: str = RECOVERER) -> RecoveryReport:
    """Find and finish every interrupted apply, disconnect, restore and commit (see the module docstring)."""
    t0 = time.monotonic()
    r = _Recovery(config_file, state_dir, lab, actor)
    try:
        r.runs()
        r.disconnects()
        r.commits()
    finally:
        r.close()
    r.report.seconds = time.monotonic() - t0
    if r.report.items or r.report.unreachable:
        r.audit.append("recover", "-", {"items": len(r.report.items), "unreachable": r.report.unreachable,
                                        "exit": r.report.exit_code, "seconds": round(r.report.seconds, 3)})
    return r.report


def needs_recovery(state_dir: Path) -> bool:
    """Any sign of an interrupted action, read from the state alone (no device is asked)."""
    driver = state_dir / "napalm_frr"  # the FRR driver's per-device records (tonle.targets.nornir)
    return bool(interrupted(state_dir)) or any(driver.glob("*/pending.*"))


def interrupted(state_dir: Path) -> list[str]:
    """What a recovery would look at, without touching a device (for `tonle status` and the service's log)."""
    db = StateDB(state_dir)
    out = [f"apply of plan {p} (run {i}, started {s})" for i, p, s in _unfinished_runs(db)]
    out += [f"{r.status} disconnect {r.id}" for r in records(state_dir)
            if r.status in (DisconnectStatus.PUSHING, DisconnectStatus.RESTORING)]
    return out


__all__ = ["Item", "RecoveryReport", "interrupted", "needs_recovery", "recover"]
