"""Owned sections on a live FRR device: lines added by hand where Tonlé owns nothing survive a plan and an
apply that change the same device, and drift counts them as unmanaged, never as drift.

Runs on the session's small lab and leaves it as it found it (intent, device and change window).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import LabHandle, write_window
from tonle.change.apply import ApplyOptions, apply_plan
from tonle.change.plan import Selection, make_plan
from tonle.interfaces.cli import main

# Unmanaged on FRR: logging, and an access-list whose name is not one of Tonlé's.
HAND = ("log syslog informational", "access-list OPS-NOC seq 5 permit 198.19.254.0/24")
NEW_PREFIX = "198.18.20.0/24"  # isp2 announces one more network: rs1's import prefix-list for isp2 grows


def _drift(lab: LabHandle, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["--config", str(lab.config_file), "--state-dir", str(lab.state_dir), "drift", "--host", "rs1",
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == data["summary"]["exit_code"]
    return next(d for d in data["devices"] if d["host"] == "rs1")  # type: ignore[no-any-return]


def _apply(lab: LabHandle) -> tuple[str, str]:
    """Plan and apply rs1; (the plan's diff for rs1, the outcome)."""
    plan = make_plan(lab.config_file, lab.state_dir, Selection(hosts=("rs1",)), lab=True, operator="tester")
    diff = plan.devices[0].diff
    report = apply_plan(lab.config_file, lab.state_dir, plan.id, ApplyOptions(settle=15, hold=2, revert_in=120),
                        operator="tester")
    return diff, report.outcome if plan.changed else "no change"


def test_hand_added_unmanaged_lines_survive_a_change_of_the_same_device(
        small_lab: LabHandle, capsys: pytest.CaptureFixture[str]) -> None:
    inv_dir = small_lab.config_file.parent / "inventory"
    peers, windows = inv_dir / "peers.yaml", inv_dir / "windows.yaml"
    peers_before = peers.read_text()
    windows_before = windows.read_text() if windows.exists() else None
    baseline = _drift(small_lab, capsys)
    assert baseline["status"] == "clean", baseline
    small_lab.vtysh("rs1", "configure terminal\n" + "\n".join(HAND))
    try:
        write_window(inv_dir, open_now=True)
        data = yaml.safe_load(peers_before)
        next(p for p in data["peers"] if p["name"] == "isp2")["announces"].append(NEW_PREFIX)
        peers.write_text(yaml.safe_dump(data, sort_keys=False))

        diff, outcome = _apply(small_lab)
        changed = [ln for ln in diff.splitlines() if ln.startswith(("+", "-"))]
        assert changed and all(NEW_PREFIX in ln for ln in changed), diff  # the change, and nothing else
        assert outcome == "confirmed"
        running = small_lab.vtysh("rs1", "show running-config")
        assert all(ln in running.splitlines() for ln in HAND), running
        assert NEW_PREFIX in running

        after = _drift(small_lab, capsys)
        assert (after["status"], after["diffs"]) == ("clean", [])
        assert after["unmanaged"] == baseline["unmanaged"] + len(HAND)  # type: ignore[operator]
    finally:
        peers.write_text(peers_before)
        restored = _apply(small_lab)[1]  # the window written above is still open
        if windows_before is None:
            windows.unlink()
        else:
            windows.write_text(windows_before)
        small_lab.vtysh("rs1", "configure terminal\n" + "\n".join(f"no {ln}" for ln in HAND))
    assert restored == "confirmed"
    assert NEW_PREFIX not in small_lab.vtysh("rs1", "show running-config")
    assert _drift(small_lab, capsys)["unmanaged"] == baseline["unmanaged"]

