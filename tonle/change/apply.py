"""Apply a plan safely: refuse stale plans and closed windows, canary then batches, commit with a revert
timer, validate, then confirm everything or roll back every device the run touched.

Nothing is left unconfirmed on purpose: on a failed gate, a closing window, Ctrl-C or an error, every
touched device is rolled back (their revert timers are the safety net if this process dies).

An apply never undoes an emergency disconnect, and runs once:

* the plan is claimed by a compare-and-set of its status (`applying`): a second run of it is refused;
* each stage leases its devices (`tonle.state.leases`) from its commit until the run confirms or rolls
  back, and only then reads the disconnects in force, renders with them and re-checks each device against
  the plan (unchanged, or changed by nothing but those overrides' lines);
* an emergency action that needs a leased device pre-empts the run: at its next safe point (between
  device operations, at least once a second while validating) it rolls back every touched device and
  yields. A device leased by an emergency action is waited for (seconds); one leased by another apply is
  refused.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from nornir.core import Nornir

from tonle.change.gates import Snapshot, bfd_check, check, poll, snapshot_diff, validation_source
from tonle.change.plan import DevicePlan, Plan, PlanError, load_plan, secret_values
from tonle.change.recover import RUN_LEASE
from tonle.compile.intent import (
    DeviceIntent,
    Intent,
    Override,
    device_intent,
    load_intent,
    override_from_dict,
    override_to_dict,
    windows_open,
    with_irr,
    with_md5_keys,
)
from tonle.compile.irr import SNAPSHOT_FILE as IRR_SNAPSHOT_FILE
from tonle.compile.render import render_intent
from tonle.redact import redact
from tonle.source.snapshot import capture
from tonle.state.applied import applied_change, record_applied
from tonle.state.audit import AuditLog, now_iso
from tonle.state.db import StateDB, plan_status, run_finished, together
from tonle.state.disconnects import active_overrides
from tonle.state.irr import latest_irr
from tonle.state.leases import Holder, Leases
from tonle.targets.nornir import init_nornir
from tonle.targets.nornir import run_on as _run
from tonle.targets.target import Target, md5_keys
from tonle.tasks.change import (
    changed_lines,
    commit_device,
    compliance,
    confirm_device,
    fingerprint,
    left_pending,
    plan_device,
    rollback_device,
    sha256,
)
from tonle.tasks.validate import bfd_sessions, bgp_snapshot, compliance_report

Progress = Callable[[str], None]


@dataclass
class ApplyOptions:
    canary: list[str] = field(default_factory=list)  # default: the changed device with the fewest external sessions
    batch_size: int = 5
    revert_in: int = 300  # seconds before an unconfirmed device reverts by itself
    settle: float = 60.0  # seconds to wait for the validation gates to pass after each stage
    # The gates must hold this long in a row: policy changes take effect seconds after a commit
    # (FRR's route-map delay timer is 5 s), so an instant pass proves nothing.
    hold: float = 7.0
    emergency: bool = False  # no change window needed (emergency disconnect path)
    on_window_close: str = "rollback"  # or "confirm" (keep what is already validated)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lease_wait: float = 300.0  # seconds a stage waits for an emergency action holding one of its devices


class ApplyOutcome(StrEnum):
    CONFIRMED = "confirmed"  # every device committed, validated and confirmed
    PARTIAL = "confirmed (partial)"  # the window closed: validated devices confirmed, the rest not started
    ROLLED_BACK = "rolled back"  # a gate, commit or confirm failed, or the window closed: every touched device back
    REFUSED = "refused"  # nothing touched (stale plan, closed window, applied already, no snapshot)
    NOTHING_TO_DO = "nothing to do"
    ABORTED = "aborted"  # Ctrl-C: every touched device rolled back
    PREEMPTED = "pre-empted"  # an emergency action needed a device: every touched device rolled back


# The plan's status once a run ends; a refused run gives the plan back as it was (e.g. to retry in a window).
_PLAN_STATUS = {ApplyOutcome.CONFIRMED: "applied", ApplyOutcome.NOTHING_TO_DO: "applied",
                ApplyOutcome.PARTIAL: "partially applied", ApplyOutcome.ROLLED_BACK: "rolled back",
                ApplyOutcome.ABORTED: "aborted", ApplyOutcome.PREEMPTED: "pre-empted"}


@dataclass
class ApplyReport:
    plan_id: str
    outcome: ApplyOutcome
    reason: str = ""
    stages: list[list[str]] = field(default_factory=list)
    devices: dict[str, str] = field(default_factory=dict)  # host -> final status
    problems: dict[str, list[str]] = field(default_factory=dict)
    state_changes: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in (ApplyOutcome.CONFIRMED, ApplyOutcome.NOTHING_TO_DO)

    def lines(self) -> list[str]:
        """The report as printed (redacted: problems quote device output)."""
        out = [f"apply {self.plan_id}: {self.outcome.upper()}" + (f" - {self.reason}" if self.reason else "")]
        for host, status in self.devices.items():
            out.append(f"  {host}: {status}")
            out += [f"      ! {p}" for p in self.problems.get(host, [])]
            out += [f"      {c}" for c in self.state_changes.get(host, [])]
        out.append(f"  ({self.seconds:.1f}s)")
        return [redact(ln) for ln in out]


class _Refused(Exception):
    pass


class _GateFailed(Exception):
    pass


class _Preempted(Exception):
    def __init__(self, asked: dict[str, Holder]) -> None:
        self.asked = asked
        first = sorted(asked)[0]
        super().__init__(f"pre-empted by {asked[first]} on {', '.join(sorted(asked))}")


def _halt(touched: list[str], reason: str) -> Exception:
    """Stop the run: refused while nothing is touched, else a failure that rolls back what is."""
    return _GateFailed(reason) if touched else _Refused(reason)


class _Abort:
    """Ctrl-C, or an emergency action asking for a leased device: remembered, acted on between steps
    (never mid-command on a device)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.leases: Leases | None = None
        self._old: Any = None

    def __enter__(self) -> _Abort:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, lambda *_: self.requested.set())
        return self

    def __exit__(self, *_: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def check(self) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        if self.leases is not None and (asked := self.leases.yield_requests()):
            raise _Preempted(asked)


def _stages(plan: Plan, intent: Intent, opts: ApplyOptions) -> list[list[str]]:
    changed = [d.host for d in plan.changed]
    for c in opts.canary:
        if c not in changed:
            raise _Refused(f"--canary {c}: not a changed device of this plan ({', '.join(changed)})")

    def externals(h: str) -> int:
        return sum(1 for s in intent.inv.device_sessions(h) if s.neighbor in intent.inv.peers)

    canary = opts.canary or [min(changed, key=lambda h: (externals(h), h))]
    rest = [h for h in changed if h not in canary]
    size = max(1, opts.batch_size)
    return [canary] + [rest[i:i + size] for i in range(0, len(rest), size)]


def apply_plan(config_file: Path, state_dir: Path, plan_id: str, opts: ApplyOptions,
               progress: Progress | None = None, *, operator: str) -> ApplyReport:
    """Apply a saved plan for `operator` (who the interface says acts). Never raises for a device problem."""
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    plan = load_plan(state_dir, plan_id)
    db = StateDB(state_dir)
    report = ApplyReport(plan.id, ApplyOutcome.REFUSED)
    was = db.claim_plan(plan.id)  # compare-and-set: one run per plan
    if was is None:
        now = load_plan(state_dir, plan.id).status
        report.reason = ("this plan was applied already; make a new plan" if now == "applied" else
                         f"this plan is being applied by another run (status {now}); if that run died, make a "
                         "new plan")
        AuditLog(db, actor=operator).append("apply-refused", plan.id, {"reason": report.reason})
        return report
    run: _Run | None = None
    try:
        if not plan.changed:
            report.outcome = ApplyOutcome.NOTHING_TO_DO
        else:
            run = _Run(config_file, state_dir, plan, opts, report, say, operator, was)
            run.run()
    finally:
        report.seconds = time.monotonic() - t0
        if run is None or not run.ended:  # no run recorded its end (nothing to do, or it could not start)
            AuditLog(db, actor=operator).append("apply-end", plan.id, _end_details(report), change=plan_status(
                plan.id, _PLAN_STATUS.get(report.outcome, was)))
    return report


def _end_details(report: ApplyReport) -> dict[str, Any]:
    return {"outcome": str(report.outcome), "reason": report.reason, "devices": report.devices}


class _Run:
    """One run of a plan: the orchestration of `apply_plan` and the state it shares between stages."""

    def __init__(self, config_file: Path, state_dir: Path, plan: Plan, opts: ApplyOptions, report: ApplyReport,
                 say: Progress, operator: str, was: str) -> None:
        self.state_dir, self.plan, self.opts, self.report, self.say = state_dir, plan, opts, report, say
        self.operator = operator
        self.was = was  # the plan's status before this run claimed it (what a refusal gives back)
        self.ended = False  # the run's end, the plan's status and their audit entry are written
        self.db = StateDB(state_dir)
        self.audit = AuditLog(self.db, actor=operator)
        self.nr, self.inv = init_nornir(config_file, state_dir, lab=plan.target == "lab")
        target = Target.of(plan.target == "lab")
        self.intent = with_md5_keys(load_intent(self.inv), md5_keys(self.inv, state_dir, target))
        self.irr = latest_irr(self.db)  # what the plan rendered with, unless a sync came since (then: stale)
        self.intent = with_irr(self.intent, self.irr)
        self.secrets = secret_values(self.intent)
        self.audit.secrets = self.secrets
        self.by_host: dict[str, DevicePlan] = {d.host: d for d in plan.devices}
        self.platform = Target.of(plan.target == "lab").platform_override()
        self.planned: dict[str, str] = {}  # host -> config rendered with the plan's own overrides
        self.configs: dict[str, str] = {}  # host -> config committed (the overrides in force at its stage)
        self.intents: dict[str, DeviceIntent] = {}
        self.pre: dict[str, Snapshot] = {}
        self.sources: dict[str, Any] = {}
        self.touched: list[str] = []
        self.token = ""  # set when the run starts (its run id)

    def run(self) -> None:
        plan, report, audit, say = self.plan, self.report, self.audit, self.say
        run_id = self.db.start_run(plan.id, now_iso(), self.operator)
        # Who armed a pending commit (its commit message on the device): a failed commit whose device holds a
        # pending one that is not this run's is reported, never rolled back as this run's own.
        self.token = f"tonle apply {plan.id} run {run_id} {secrets.token_hex(4)}"
        with _Abort() as abort, Leases(self.state_dir, Holder("apply", plan.id)) as leases, \
                Leases(self.state_dir, Holder("apply", plan.id)) as life:
            life.try_take(RUN_LEASE.format(run_id))  # for the run's life: `tonle recover` tells a dead run by it
            abort.leases = leases
            try:
                report.stages = _stages(plan, self.intent, self.opts)
                hosts = [h for st in report.stages for h in st]
                close_at = _check_window(self.intent, hosts, self.opts)
                self._check_intent(hosts)
                # Every device checked before the first commit, under its lease (no emergency half-done), and
                # again under each stage's lease: the others stay free for emergencies meanwhile.
                self._lease(hosts, leases, abort)
                self._check_devices(hosts, active_overrides(self.state_dir))
                leases.release()
                applied_snapshot = capture(self.inv)  # what the devices run once confirmed (emergencies start here)
                if self.irr is not None:
                    applied_snapshot = applied_snapshot.with_file(IRR_SNAPSHOT_FILE, self.irr.to_json())
                audit.append("apply-start", plan.id, {"stages": report.stages, "emergency": self.opts.emergency,
                                                      "revert_in": self.opts.revert_in})
                for n, stage in enumerate(report.stages):
                    abort.check()
                    label = "canary" if n == 0 else f"batch {n}"
                    self._lease(stage, leases, abort)  # may wait: the window is checked after it
                    if close_at is not None and self.opts.now() >= close_at:
                        _window_closed(report, self.nr, self.touched, self.opts, audit, say)
                        confirmed = [h for h in self.touched if report.devices.get(h) == "confirmed"]
                        record_applied(self.db, confirmed, plan.id, applied_snapshot)
                        return
                    self._stage(label, stage, abort)
                abort.check()
                _, bad = _run(self.nr, self.touched, confirm_device)
                for h in self.touched:
                    report.devices[h] = f"confirm failed: {bad[h]}" if h in bad else "confirmed"
                report.outcome = ApplyOutcome.CONFIRMED if not bad else ApplyOutcome.ROLLED_BACK
                if bad:  # keep the fleet consistent: every touched device back, the unconfirmed ones too
                    report.reason = "confirmation failed on " + ", ".join(bad)
                    _rollback(self.nr, self.touched, report, audit, say)
                    for h in bad:
                        report.devices[h] = f"confirm failed: {bad[h]}; " + report.devices[h]
                else:
                    # Before the leases go: an emergency waiting for them renders from this. One transaction:
                    # the confirm entry, what the devices now run and the plan's status.
                    audit.append("confirm", plan.id, {"devices": self.touched}, change=together(
                        applied_change(self.touched, plan.id, applied_snapshot),
                        plan_status(plan.id, _PLAN_STATUS[ApplyOutcome.CONFIRMED])))
            except _Refused as exc:
                report.outcome, report.reason = ApplyOutcome.REFUSED, str(exc)
                audit.append("apply-refused", plan.id, {"reason": str(exc)})
            except _GateFailed as exc:
                report.outcome, report.reason = ApplyOutcome.ROLLED_BACK, str(exc)
                audit.append("validation-failed", plan.id, {"reason": str(exc), "problems": report.problems})
                _rollback(self.nr, self.touched, report, audit, say)
            except _Preempted as exc:
                report.outcome = ApplyOutcome.PREEMPTED
                report.reason = (f"{exc}: every touched device rolled back; apply the plan again (it is "
                                 "re-checked against the disconnects then in force) or make a new one")
                audit.append("apply-preempted", plan.id, {"by": {d: str(h) for d, h in exc.asked.items()},
                                                          "touched": self.touched})
                say(f"{exc}: rolling back and yielding")
                _rollback(self.nr, self.touched, report, audit, say)
            except KeyboardInterrupt:
                report.outcome = ApplyOutcome.ABORTED
                report.reason = "interrupted (Ctrl-C); every touched device rolled back"
                _rollback(self.nr, self.touched, report, audit, say)
            except Exception:
                report.outcome = ApplyOutcome.ROLLED_BACK
                report.reason = "an unexpected error; every touched device rolled back"
                _rollback(self.nr, self.touched, report, audit, say)
                raise
            finally:  # rolled back or confirmed before the leases are released (in this order)
                self.nr.close_connections()
                # One transaction: the run's end, the plan's final status and the entry that records them.
                audit.append("apply-end", plan.id, {**_end_details(report), "run": run_id}, change=together(
                    run_finished(run_id, now_iso(), report.outcome, {"reason": report.reason,
                                                                     "devices": report.devices}),
                    plan_status(plan.id, _PLAN_STATUS.get(report.outcome, self.was))))
                self.ended = True

    def _stage(self, label: str, stage: list[str], abort: _Abort) -> None:
        """One leased stage: render with the disconnects in force, re-check, commit, validate."""
        report, say = self.report, self.say
        overrides = active_overrides(self.state_dir)  # read under the lease: none can change meanwhile
        self._check_devices(stage, overrides)
        if moved := [h for h in stage if self.configs[h] != self.planned[h]]:
            say(f"{label}: {', '.join(moved)} rendered with the emergency disconnects now in force")
        pre, bad = _run(self.nr, stage, bgp_snapshot)  # the state right before this stage's commit
        if bad:
            raise _halt(self.touched, "cannot take the pre-change snapshot: "
                        + "; ".join(f"{h}: {r}" for h, r in bad.items()))
        self.pre.update(pre)
        self.sources.update({h: validation_source(self.intents[h], self.inv.directory) for h in stage})
        abort.check()
        say(f"{label}: committing {', '.join(stage)} (reverts in {self.opts.revert_in}s unless confirmed)")
        _, bad = _run(self.nr, stage, commit_device, configs=self.configs, revert_in=self.opts.revert_in,
                      token=self.token)
        # A failed commit that left this run's change pending is rolled back too; another's pending commit
        # (what made the commit fail) is not this run's to undo: reported, left to its owner or `tonle recover`.
        left, foreign = left_pending(self.nr, list(bad), self.token)
        self.touched += [h for h in stage if h not in bad or h in left]
        for h in stage:
            report.devices[h] = ("committed" if h not in bad else "commit failed, change pending" if h in left
                                 else "commit refused: another's pending commit holds it (see `tonle recover`)"
                                 if h in foreign else "commit refused, device restored")
            if h not in bad:
                details: dict[str, Any] = {"plan": self.plan.id, "revert_in": self.opts.revert_in}
                if h in moved:
                    details["overrides"] = [override_to_dict(o) for o in overrides]
                self.audit.append("commit", h, details)
        if bad:
            report.problems.update({h: [r] + ([f"{foreign[h]}: left as it is"] if h in foreign else [])
                                    for h, r in bad.items()})
            raise _GateFailed(f"commit failed on {', '.join(bad)}")
        abort.check()
        say(f"{label}: validating (up to {self.opts.settle:.0f}s)")
        problems = _validate(self.nr, stage, self.intents, self.pre, self.configs, self.sources, self.opts, report,
                             abort)
        if problems:
            report.problems.update(problems)
            raise _GateFailed(f"validation failed on {', '.join(problems)}")
        say(f"{label}: healthy")

    def _lease(self, stage: list[str], leases: Leases, abort: _Abort) -> None:
        """The stage's leases: wait while an emergency action holds one; refuse one another apply holds."""
        told: set[str] = set()

        def on_wait(busy: dict[str, Holder]) -> None:
            abort.check()  # Ctrl-C, or an emergency asking for a device we already hold
            for d, h in sorted(busy.items()):
                if h.kind == "apply":
                    raise _halt(self.touched, f"{d} is being changed by {h}; apply this plan after it ends "
                                              "(or make a new plan)")
                if d not in told:
                    told.add(d)
                    self.say(f"waiting for {h} to finish on {d}")

        busy = leases.take_all(stage, timeout=self.opts.lease_wait, on_wait=on_wait)
        if busy:
            raise _halt(self.touched, "; ".join(f"{d} still held by {h} after {self.opts.lease_wait:.0f}s"
                                                for d, h in sorted(busy.items())))

    def _check_intent(self, hosts: list[str]) -> None:
        """The intent (rendered with the plan's own overrides) is the one planned."""
        plan_overrides = [override_from_dict(o) for o in self.plan.overrides]
        self.planned = {h: render_intent(device_intent(self.intent, h, plan_overrides), self.by_host[h].platform)
                        for h in hosts}
        stale = [h for h in hosts if sha256(self.planned[h]) != self.by_host[h].intended_sha256]
        if stale:
            raise _Refused(f"the intent changed since the plan for {', '.join(stale)}; make a new plan")

    def _check_devices(self, hosts: list[str], overrides: list[Override]) -> None:
        """Render `hosts` with `overrides` (the disconnects in force) and check each device against the plan.

        A device whose rendering the overrides leave as planned must be exactly as it was when planned. One
        whose rendering they change (a disconnect made or restored since) must differ from the plan, in its
        diff, by nothing but the lines those overrides change.
        """
        for h in hosts:
            self.intents[h] = device_intent(self.intent, h, overrides)
            self.configs[h] = render_intent(self.intents[h], self.by_host[h].platform)
        same = [h for h in hosts if self.configs[h] == self.planned[h]]
        moved = [h for h in hosts if h not in same]
        problems = []
        if same:
            prints, bad = _run(self.nr, same, fingerprint, configs=self.configs)
            problems += [f"cannot read {h}: {r}" for h, r in bad.items()]
            problems += [f"{h} changed since the plan was made; make a new plan" for h in same
                         if h in prints and prints[h] != self.by_host[h].running_sha256]
        if moved:
            now, bad = _run(self.nr, moved, plan_device, intent=self.intent, platform=self.platform,
                            overrides=overrides)
            problems += [f"cannot read {h}: {r}" for h, r in bad.items()]
            for h in (h for h in moved if h in now):
                dp = self.by_host[h]
                allowed = {redact(ln, self.secrets, dp.platform)
                           for ln in changed_lines(self.planned[h], self.configs[h])}
                extra = dp.moved_beyond(redact(now[h]["diff"], self.secrets, dp.platform), allowed)
                if extra:
                    problems.append(f"{h} changed since the plan was made beyond the disconnects in force "
                                    f"({len(extra)} line(s), first: {' '.join(extra[0].split()[:2])} …); "
                                    "make a new plan")
        if problems:
            raise _halt(self.touched, "; ".join(problems))


def _check_window(intent: Intent, hosts: list[str], opts: ApplyOptions) -> datetime | None:
    if opts.emergency:
        return None
    close_at, uncovered = windows_open(intent, hosts, opts.now())
    if uncovered:
        names = ", ".join(w.name for w in intent.windows) or "none defined"
        raise _Refused(f"outside a change window for {', '.join(uncovered)} (windows: {names})")
    return close_at


def _validate(nr: Nornir, stage: list[str], intents: dict[str, DeviceIntent], pre: dict[str, Snapshot],
              configs: dict[str, str], sources: dict[str, Any], opts: ApplyOptions,
              report: ApplyReport, abort: _Abort) -> dict[str, list[str]]:
    """Poll the gates until they hold for `opts.hold` seconds or `opts.settle` runs out; problems left by host."""
    def step() -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        post, bad = _run(nr, stage, bgp_snapshot)
        drift, bad2 = _run(nr, stage, compliance, configs=configs)
        napalm_report, bad3 = _run(nr, stage, compliance_report, sources=sources)
        bfd, bad4 = _run(nr, stage, bfd_sessions)  # vendor devices only (None on FRR)
        for h in stage:
            p = [f"cannot read state: {r}" for r in (bad.get(h), bad2.get(h), bad3.get(h), bad4.get(h)) if r]
            if h in post:
                p += check(intents[h], pre[h], post[h])
                report.state_changes[h] = snapshot_diff(pre[h], post[h])
            if bfd.get(h) is not None:
                p += bfd_check(intents[h], bfd[h])
            if drift.get(h):
                p.append("running config differs from the intended one: " + drift[h].strip().splitlines()[0])
            rep = napalm_report.get(h)
            if rep is not None and not rep.get("complies", False):
                failing = [g for g, v in rep.items() if isinstance(v, dict) and not v.get("complies", True)]
                p.append(f"NAPALM validate (role file + intent) does not comply: {', '.join(failing)}")
            if p:
                problems[h] = p
        return problems

    return poll(stage, step, settle=opts.settle, hold=opts.hold, clock=time.monotonic, sleep=time.sleep,
                between=abort.check)


def _rollback(nr: Nornir, touched: list[str], report: ApplyReport, audit: AuditLog, say: Progress) -> None:
    if not touched:
        return
    say(f"rolling back {', '.join(touched)}")
    _, bad = _run(nr, touched, rollback_device)
    for h in touched:
        report.devices[h] = f"ROLLBACK FAILED: {bad[h]}" if h in bad else "rolled back"
    audit.append("rollback", report.plan_id, {"devices": touched, "failed": bad})


def _window_closed(report: ApplyReport, nr: Nornir, touched: list[str], opts: ApplyOptions, audit: AuditLog,
                   say: Progress) -> None:
    say("the change window closed: no new device is started")
    audit.append("window-closed", report.plan_id, {"touched": touched, "policy": opts.on_window_close})
    if opts.on_window_close == "confirm" and touched:
        _, bad = _run(nr, touched, confirm_device)
        # A device whose confirm failed is rolled back now (never left to its timer unsaid).
        failed = [h for h in touched if h in bad]
        _, stuck = _run(nr, failed, rollback_device) if failed else ({}, {})
        if failed:
            audit.append("rollback", report.plan_id, {"devices": failed, "failed": stuck})
        window_confirm_verdict(report, touched, bad, stuck)
    else:
        report.outcome = ApplyOutcome.ROLLED_BACK
        report.reason = "the change window closed before the run finished; every touched device rolled back"
        _rollback(nr, touched, report, audit, say)


def window_confirm_verdict(report: ApplyReport, touched: list[str], confirm_bad: dict[str, str],
                           rollback_bad: dict[str, str]) -> None:
    """What `on_window_close=confirm` did, as it is: confirmed devices stay (partial), a device whose confirm
    failed was rolled back (or its rollback failed too: a person must look)."""
    kept = [h for h in touched if h not in confirm_bad]
    for h in touched:
        if h not in confirm_bad:
            report.devices[h] = "confirmed"
        elif h in rollback_bad:
            report.devices[h] = f"confirm failed: {confirm_bad[h]}; ROLLBACK FAILED: {rollback_bad[h]}"
        else:
            report.devices[h] = f"confirm failed: {confirm_bad[h]}; rolled back"
    report.outcome = ApplyOutcome.PARTIAL if kept else ApplyOutcome.ROLLED_BACK
    report.reason = "the change window closed; " + (
        "the validated devices were confirmed, the rest not started" if not confirm_bad else
        f"confirmed {', '.join(kept) or 'none'}; confirm failed on {', '.join(confirm_bad)}, "
        + ("rolled back" if not rollback_bad else f"rollback FAILED on {', '.join(rollback_bad)}: check them"))


__all__ = ["ApplyOptions", "ApplyReport", "PlanError", "apply_plan"]
