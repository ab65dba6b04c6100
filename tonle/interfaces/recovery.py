"""What `tonle serve` does at start, before its scheduler or any request acts on a device: finish the runs a
killed process left interrupted (tonle.change.recover), when there is any sign of one."""

from __future__ import annotations

import logging
from pathlib import Path

from tonle.change.recover import RecoveryReport, needs_recovery, recover
from tonle.errors import TonleError
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB

_log = logging.getLogger(__name__)

SERVICE = "tonle-serve"


def recover_at_start(config_file: Path, state_dir: Path) -> RecoveryReport | None:
    """Recover if something was left interrupted (logged, audited); never stops the service from starting."""
    if not needs_recovery(state_dir):
        return None
    lab = (state_dir / "lab").is_dir()  # a state dir with a lab drives the lab's devices
    try:
        report = recover(config_file, state_dir, lab=lab, actor=SERVICE)
    except TonleError as exc:
        _log.error("recovery at start failed: %s", exc)
        AuditLog(StateDB(state_dir), actor=SERVICE).append("recover-failed", "-", {"error": str(exc)[:500]})
        return None
    for line in report.lines():
        (_log.warning if report.exit_code else _log.info)("%s", line)
    return report
