"""The end of `tonle apply`: the plan's final status (and the run's end) and the audit entry recording them are
one transaction: both are written, or neither."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import SMALL
from tests.unit.test_apply_concurrency import saved_plan
from tonle.change.apply import ApplyOptions, ApplyOutcome, apply_plan
from tonle.errors import Unavailable
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB


def _setup(tmp_path: Path, changed: bool = True) -> tuple[Path, Path, str]:
    shutil.copytree(SMALL, tmp_path / "small")
    state = tmp_path / "state"
    plan = saved_plan(state)
    if not changed:
        with sqlite3.connect(StateDB(state).path) as db:
            db.execute("""UPDATE plans SET data = json_set(data, '$.devices[0].diff', '') WHERE id = 'P-1'""")
    return tmp_path / "small" / "nornir.yaml", state, plan


def test_the_final_status_comes_with_its_audit_entry(tmp_path: Path) -> None:
    config, state, plan = _setup(tmp_path, changed=False)
    report = apply_plan(config, state, plan, ApplyOptions(), operator="root")
    assert report.outcome == ApplyOutcome.NOTHING_TO_DO
    assert StateDB(state).plan(plan)["status"] == "applied"  # type: ignore[index]
    last = AuditLog(StateDB(state)).entries()[-1]
    assert (last.action, last.object, last.details["outcome"]) == ("apply-end", plan, "nothing to do")


def test_no_status_change_without_its_audit_entry(tmp_path: Path) -> None:
    config, state, plan = _setup(tmp_path)
    # The audit log refuses the entry that would record the end (as a full disk or a signing error would).
    with sqlite3.connect(StateDB(state).path) as db:
        db.execute("CREATE TRIGGER refuse_end BEFORE INSERT ON audit WHEN NEW.action = 'apply-end' "
                   "BEGIN SELECT RAISE(ABORT, 'audit refused'); END")
    with pytest.raises(sqlite3.IntegrityError, match="audit refused"):
        apply_plan(config, state, plan, ApplyOptions(emergency=True), operator="root")
    # The run could not start (no lab); the status that would give the plan back was not written either: the
    # plan stays claimed, as after a run that died (`tonle recover` finds it), never changed without a record.
    assert StateDB(state).plan(plan)["status"] == "applying"  # type: ignore[index]
    assert [e.action for e in AuditLog(StateDB(state)).entries()][-1:] != ["apply-end"]


def test_a_run_that_cannot_start_records_its_end(tmp_path: Path) -> None:
    config, state, plan = _setup(tmp_path)
    with pytest.raises(Unavailable, match="is not up"):
        apply_plan(config, state, plan, ApplyOptions(emergency=True), operator="root")
    assert StateDB(state).plan(plan)["status"] == "planned"  # type: ignore[index]
    last = AuditLog(StateDB(state)).entries()[-1]
    assert (last.action, last.details["outcome"]) == ("apply-end", "refused")
