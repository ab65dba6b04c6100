"""Apply a plan safely: refuse stale plans and closed windows, canary then batches, commit with a revert
timer, validate, then confirm everything or roll back every device the run touched.

Nothing is left unconfirmed on purpose: on a failed gate, a closing window, Ctrl-C or an error, every
touched device is rolled back (their revert timers are the safety net if this process dies).
"""

from __future__ import annotations

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

from tonle.change.gates import Snapshot, check, snapshot_diff, validation_source
from tonle.change.plan import Plan, PlanError, load_plan, secret_values
from tonle.compile.intent import DeviceIntent, Intent, device_intent, load_intent, override_from_dict, windows_open
from tonle.compile.render import render_intent
from tonle.redact import redact
from tonle.source.snapshot import capture
from tonle.state.applied import record_applied
from tonle.state.audit import AuditLog, now_iso
from tonle.state.db import StateDB
from tonle.targets.nornir import init_nornir
from tonle.targets.nornir import run_on as _run
from tonle.tasks.change import commit_device, compliance, confirm_device, fingerprint, rollback_device, sha256
from tonle.tasks.validate import bgp_snapshot, compliance_report

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


class ApplyOutcome(StrEnum):
    CONFIRMED = "confirmed"  # every device committed, validated and confirmed
    PARTIAL = "confirmed (partial)"  # the window closed: validated devices confirmed, the rest not started
    ROLLED_BACK = "rolled back"  # a gate, commit or confirm failed, or the window closed: every touched device back
    REFUSED = "refused"  # nothing touched (stale plan, closed window, applied already, no snapshot)
    NOTHING_TO_DO = "nothing to do"
    ABORTED = "aborted"  # Ctrl-C: every touched device rolled back


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


class _Abort:
    """Ctrl-C during an apply: remembered, acted on between steps (never mid-command on a device)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
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


class _GateFailed(Exception):
    pass


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
    audit = AuditLog(db, actor=operator)
    report = ApplyReport(plan.id, ApplyOutcome.REFUSED)
    if plan.status == "applied":
        report.reason = "this plan was applied already; make a new plan"
        return report
    if not plan.changed:
        report.outcome = ApplyOutcome.NOTHING_TO_DO
        db.set_plan_status(plan.id, "applied")
        return report
    nr, inv = init_nornir(config_file, state_dir, lab=plan.target == "lab")
    intent = load_intent(inv)
    audit.secrets = secret_values(intent)
    overrides = [override_from_dict(o) for o in plan.overrides]
    run_id = db.start_run(plan.id, now_iso(), operator)
    touched: list[str] = []
    with _Abort() as abort:
        try:
            report.stages = _stages(plan, intent, opts)
            hosts = [h for st in report.stages for h in st]
            close_at = _check_window(intent, hosts, opts)
            intents = {h: device_intent(intent, h, overrides) for h in hosts}
            configs = _verify_fresh(plan, intents, nr, hosts)
            applied_snapshot = capture(inv)  # what the devices will run once confirmed (emergencies start from it)
            audit.append("apply-start", plan.id, {"stages": report.stages, "emergency": opts.emergency,
                                                  "revert_in": opts.revert_in})
            say(f"pre-change snapshot of {len(hosts)} device(s)")
            pre, bad = _run(nr, hosts, bgp_snapshot)
            if bad:
                raise _Refused("cannot take the pre-change snapshot: " + "; ".join(f"{h}: {r}" for h, r in bad.items()))
            sources = {h: validation_source(intents[h], inv.directory) for h in hosts}
            for n, stage in enumerate(report.stages):
                abort.check()
                label = "canary" if n == 0 else f"batch {n}"
                if close_at is not None and opts.now() >= close_at:
                    _window_closed(report, nr, touched, opts, audit, say)
                    confirmed = [h for h in touched if report.devices.get(h) == "confirmed"]
                    record_applied(db, confirmed, plan.id, applied_snapshot)
                    return report
                say(f"{label}: committing {', '.join(stage)} (reverts in {opts.revert_in}s unless confirmed)")
                _, bad = _run(nr, stage, commit_device, configs=configs, revert_in=opts.revert_in)
                touched += [h for h in stage if h not in bad]
                for h in stage:
                    report.devices[h] = "commit refused, device restored" if h in bad else "committed"
                    if h not in bad:
                        audit.append("commit", h, {"plan": plan.id, "revert_in": opts.revert_in})
                if bad:
                    report.problems.update({h: [r] for h, r in bad.items()})
                    raise _GateFailed(f"commit failed on {', '.join(bad)}")
                abort.check()
                say(f"{label}: validating (up to {opts.settle:.0f}s)")
                problems = _validate(nr, stage, intents, pre, configs, sources, opts, report, abort)
                if problems:
                    report.problems.update(problems)
                    raise _GateFailed(f"validation failed on {', '.join(problems)}")
                say(f"{label}: healthy")
            abort.check()
            _, bad = _run(nr, touched, confirm_device)
            for h in touched:
                report.devices[h] = f"confirm failed: {bad[h]}" if h in bad else "confirmed"
            report.outcome = ApplyOutcome.CONFIRMED if not bad else ApplyOutcome.ROLLED_BACK
            if bad:  # a device reverted by itself (run slower than revert_in): keep the fleet consistent
                report.reason = "confirmation failed on " + ", ".join(bad)
                _rollback(nr, [h for h in touched if h not in bad], report, audit, say)
            else:
                audit.append("confirm", plan.id, {"devices": touched})
                record_applied(db, touched, plan.id, applied_snapshot)
                db.set_plan_status(plan.id, "applied")
        except _Refused as exc:
            report.outcome, report.reason = ApplyOutcome.REFUSED, str(exc)
            audit.append("apply-refused", plan.id, {"reason": str(exc)})
        except _GateFailed as exc:
            report.outcome, report.reason = ApplyOutcome.ROLLED_BACK, str(exc)
            audit.append("validation-failed", plan.id, {"reason": str(exc), "problems": report.problems})
            _rollback(nr, touched, report, audit, say)
            db.set_plan_status(plan.id, "rolled back")
        except KeyboardInterrupt:
            report.outcome = ApplyOutcome.ABORTED
            report.reason = "interrupted (Ctrl-C); every touched device rolled back"
            _rollback(nr, touched, report, audit, say)
            db.set_plan_status(plan.id, "aborted")
        finally:
            nr.close_connections()
            report.seconds = time.monotonic() - t0
            db.finish_run(run_id, now_iso(), report.outcome, {"reason": report.reason, "devices": report.devices})
    return report


def _check_window(intent: Intent, hosts: list[str], opts: ApplyOptions) -> datetime | None:
    if opts.emergency:
        return None
    close_at, uncovered = windows_open(intent, hosts, opts.now())
    if uncovered:
        names = ", ".join(w.name for w in intent.windows) or "none defined"
        raise _Refused(f"outside a change window for {', '.join(uncovered)} (windows: {names})")
    return close_at


def _verify_fresh(plan: Plan, intents: dict[str, DeviceIntent], nr: Nornir, hosts: list[str]) -> dict[str, str]:
    """The intended configs, if neither the intent nor the devices changed since planning."""
    by_host = {d.host: d for d in plan.devices}
    configs = {h: render_intent(intents[h], by_host[h].platform) for h in hosts}
    stale = [h for h in hosts if sha256(configs[h]) != by_host[h].intended_sha256]
    if stale:
        raise _Refused(f"the intent changed since the plan for {', '.join(stale)}; make a new plan")
    prints, bad = _run(nr, hosts, fingerprint)
    if bad:
        raise _Refused("cannot read " + "; ".join(f"{h}: {r}" for h, r in bad.items()))
    moved = [h for h in hosts if prints[h] != by_host[h].running_sha256]
    if moved:
        raise _Refused(f"{', '.join(moved)} changed since the plan was made; make a new plan")
    return configs


def _validate(nr: Nornir, stage: list[str], intents: dict[str, DeviceIntent], pre: dict[str, Snapshot],
              configs: dict[str, str], sources: dict[str, Any], opts: ApplyOptions,
              report: ApplyReport, abort: _Abort) -> dict[str, list[str]]:
    """Poll the gates until they hold for `opts.hold` seconds or `opts.settle` runs out; problems left by host."""
    start = time.monotonic()
    deadline, passing_since = start + max(opts.settle, opts.hold), None
    while True:
        problems: dict[str, list[str]] = {}
        post, bad = _run(nr, stage, bgp_snapshot)
        drift, bad2 = _run(nr, stage, compliance, configs=configs)
        napalm_report, bad3 = _run(nr, stage, compliance_report, sources=sources)
        for h in stage:
            p = [f"cannot read state: {r}" for r in (bad.get(h), bad2.get(h), bad3.get(h)) if r]
            if h in post:
                p += check(intents[h], pre[h], post[h])
                report.state_changes[h] = snapshot_diff(pre[h], post[h])
            if drift.get(h):
                p.append("running config differs from the intended one: " + drift[h].strip().splitlines()[0])
            rep = napalm_report.get(h)
            if rep is not None and not rep.get("complies", False):
                failing = [g for g, v in rep.items() if isinstance(v, dict) and not v.get("complies", True)]
                p.append(f"NAPALM validate (role file + intent) does not comply: {', '.join(failing)}")
            if p:
                problems[h] = p
        now = time.monotonic()
        if problems:
            passing_since = None
        elif passing_since is None:
            passing_since = now
        if (passing_since is not None and now - passing_since >= opts.hold) or now >= deadline:
            return problems
        abort.check()
        time.sleep(1)


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
        report.outcome = ApplyOutcome.PARTIAL if not bad else ApplyOutcome.ROLLED_BACK
        report.reason = "the change window closed; the validated devices were confirmed, the rest not started"
        for h in touched:
            report.devices[h] = "confirmed" if h not in bad else f"confirm failed: {bad[h]}"
    else:
        report.outcome = ApplyOutcome.ROLLED_BACK
        report.reason = "the change window closed before the run finished; every touched device rolled back"
        _rollback(nr, touched, report, audit, say)


__all__ = ["ApplyOptions", "ApplyReport", "PlanError", "apply_plan"]
