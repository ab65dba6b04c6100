"""The timers of the state: TTL expiry of active disconnects and the lapse of unanswered approvals.

The timers are not processes of their own: they are the records (`expires_at`, `approval_expires_at`),
and `run_due` does whatever has fallen due. `tonle serve` runs it in its scheduler thread (supervised:
restarted if it dies, shown by `tonle status`); when no service runs, the CLI's fallback process
(tonle.interfaces.expiry) runs the same function. After a restart, whatever fell due while nothing ran is
done at once; each expiry's audit entry says how late it was. A timer action that fails (a device
unreachable, a drifted device refusing the restore) is recorded in the disconnect record and the audit
log (`expiry-failed`) and retried after `retry` seconds, for as long as it takes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tonle.emergency.disconnect import (
    SCHEDULER,
    DisconnectRefused,
    OutcomeStatus,
    end_with_lab,
    expire,
    lapse_approvals,
)
from tonle.errors import TonleError
from tonle.lab.builder import Lab
from tonle.source.inventory import InventoryError, load_from_nornir_config
from tonle.state.audit import AuditLog, now_iso
from tonle.state.disconnects import DisconnectRecord, DisconnectStatus, open_db, records, timer_failure

RETRY = 30.0  # seconds before a failed timer action is tried again
IDLE = 5.0  # longest sleep: records may change under the scheduler (a CLI acting locally as root)

_log = logging.getLogger(__name__)


@dataclass
class Run:
    """What one pass did."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def overdue(state_dir: Path, now: datetime | None = None) -> list[str]:
    """Ids of the timers already due (what a starting service will do first)."""
    now = now or datetime.now(UTC)
    recs = records(state_dir)
    return [r.id for r in recs if (r.status == DisconnectStatus.ACTIVE and (t := _at(r.expires_at)) and t <= now)
            or (r.status == DisconnectStatus.PENDING_APPROVAL and (a := _at(r.approval_expires_at)) and a <= now)]


def run_due(config_file: Path, state_dir: Path, *, retry: float = RETRY, now: datetime | None = None) -> Run:
    """Do every timer action that is due; record and schedule a retry for each one that fails."""
    now = now or datetime.now(UTC)
    run = Run()
    run.done += [f"{r.id}: approval expired" for r in lapse_approvals(state_dir, now)]
    active = records(state_dir, DisconnectStatus.ACTIVE)
    on_lab = [r for r in active if r.target == "lab"]
    if on_lab and not lab_is_up(config_file, state_dir):
        end_with_lab(state_dir, on_lab)  # the lab is gone: nothing left to restore
        run.done += [f"{r.id}: ended with the lab" for r in on_lab]
        active = [r for r in active if r.target != "lab"]
    for rec in active:
        due, retry_at = _at(rec.expires_at), _at(rec.timer_retry_at)
        if due is None or due > now or (retry_at is not None and retry_at > now):
            continue
        error = _expire(config_file, state_dir, rec)
        if error is None:
            run.done.append(f"{rec.id}: expired")
        else:
            _failed(state_dir, rec, error, now + timedelta(seconds=retry))
            run.failed.append(f"{rec.id}: {error}")
    return run


def _expire(config_file: Path, state_dir: Path, rec: DisconnectRecord) -> str | None:
    """Restore one due disconnect; the error as one line, or None when done (or no longer active)."""
    probe = None
    try:
        if rec.target == "lab":
            from tonle.lab.probe import lab_peer_probe  # noqa: PLC0415

            probe = lab_peer_probe(config_file, state_dir)
        out = expire(config_file, state_dir, rec.id, peer_probe=probe)
    except DisconnectRefused:
        return None  # restored or ended meanwhile: nothing to do
    except TonleError as exc:
        return str(exc)
    except Exception as exc:  # a timer must never stop: record it, log it, retry it
        _log.exception("expiry of %s failed", rec.id)
        return f"{type(exc).__name__}: {exc}"
    if out.status == OutcomeStatus.FAILED:
        return "; ".join(out.detail) or "the restore failed"
    return None


def _failed(state_dir: Path, rec: DisconnectRecord, error: str, retry_at: datetime) -> None:
    when = retry_at.isoformat(timespec="seconds")
    db = open_db(state_dir)
    AuditLog(db, actor=SCHEDULER).append("expiry-failed", rec.id, {
        "error": error, "attempt": rec.timer_attempts + 1, "retry_at": when},
        change=timer_failure(rec.id, error, when))
    _log.warning("expiry of %s failed (attempt %d), retrying at %s: %s", rec.id, rec.timer_attempts + 1, when, error)


def next_due(state_dir: Path) -> datetime | None:
    """When the next timer falls due (a retry counts from its retry time)."""
    times = []
    for r in records(state_dir):
        if r.status == DisconnectStatus.ACTIVE and (t := _at(r.expires_at)):
            times.append(max(t, _at(r.timer_retry_at) or t))
        elif r.status == DisconnectStatus.PENDING_APPROVAL and (a := _at(r.approval_expires_at)):
            times.append(a)
    return min(times, default=None)


def lab_is_up(config_file: Path, state_dir: Path) -> bool:
    try:
        lab = Lab(load_from_nornir_config(config_file), state_dir)
    except InventoryError:
        return False  # the inventory (a test's temporary copy, say) is gone
    return lab.state_file.exists()


class Scheduler:
    """The service's timer thread; `tonle serve` restarts it if it ever dies."""

    def __init__(self, config_file: Path, state_dir: Path, *, retry: float = RETRY) -> None:
        self.config_file, self.state_dir, self.retry = config_file, state_dir, retry
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_run: str | None = None
        self.last_error: str | None = None
        self.restarts = -1  # the first start is not a restart

    def start(self) -> None:
        self.restarts += 1
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tonle-scheduler", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """A record changed (a disconnect became active): look again now."""
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Stop after the action in progress (a restore is never cut off in the middle)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run = run_due(self.config_file, self.state_dir, retry=self.retry)
                self.last_error = run.failed[-1] if run.failed else None
                for line in run.done:
                    _log.info("timer: %s", line)
            except Exception as exc:  # the database unreadable, say: say so in `status`, try again
                _log.exception("scheduler pass failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
            self.last_run = now_iso()
            self._wake.wait(self._sleep())
            self._wake.clear()

    def _sleep(self) -> float:
        try:
            due = next_due(self.state_dir)
        except Exception:  # the next pass reports it
            return IDLE
        if due is None:
            return IDLE
        return min(IDLE, max(0.05, (due - datetime.now(UTC)).total_seconds()))
