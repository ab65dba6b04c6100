"""`tonle drift` against a live lab of its own: out-of-band changes made directly on a device are found
in the right feature with their remediation, the remediation plan applied through the pipeline makes
the fleet clean again, an active disconnect is not drift, an unreachable device is never clean.

The tests share one lab and run in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL, SMALL_QOS, lab_copy, require_root, unique_lab_name
from tonle.change.apply import ApplyOptions, apply_plan
from tonle.change.plan import Selection, load_plan
from tonle.drift.audit import EXTRA, MISSING, DriftReport, run_drift
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config

QOS = SMALL_QOS
BUSINESS = "class replace dev eth2 parent 1:1 classid 1:20 htb rate {r}kbit ceil {r}kbit prio 1"
NEIGHBOR = "neighbor 192.0.2.99 remote-as 65999"
PREFIX_LINE = "ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32"


class DriftLab:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "nornir.yaml"
        self.state = root / "state"
        self.lab = Lab(load_from_nornir_config(self.config), self.state)

    def cli(self, *args: str) -> int:
        return main(["--config", str(self.config), "--state-dir", str(self.state), "drift", *args])

    def audit(self) -> DriftReport:
        return run_drift(self.config, self.state, Selection(), lab=True)


@pytest.fixture(scope="module")
def dl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriftLab]:
    require_root()
    root = tmp_path_factory.mktemp("drift")
    lab_copy(SMALL, root, unique_lab_name("d"))
    inv = root / "inventory"
    # QoS on r2 from the start (the lab boots with its intended tc state), an open change window for
    # the remediation, and a blast-radius guard loose enough for a one-session disconnect in this tiny lab.
    (inv / "qos.yaml").write_text(yaml.safe_dump(QOS, sort_keys=False))
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    (inv / "windows.yaml").write_text(yaml.safe_dump({"windows": [{
        "name": "drift-test", "timezone": "UTC", "start": start.isoformat(timespec="minutes"),
        "end": (start + timedelta(hours=3)).isoformat(timespec="minutes")}]}))
    policy = yaml.safe_load((inv / "policy.yaml").read_text())
    policy["guard"] = {"max_site_share": 1, "protect_last_site_upstream": False,
                       "protect_last_international_path": False}
    (inv / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    d = DriftLab(root)
    d.lab.up(timeout=90)
    try:
        yield d
    finally:
        d.lab.down()


def test_fresh_lab_is_clean(dl: DriftLab, capsys: pytest.CaptureFixture[str]) -> None:
    assert dl.cli("--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["clean"] == 3 and data["summary"]["exit_code"] == 0
    assert [d["status"] for d in data["devices"]] == ["clean"] * 3


def test_out_of_band_changes_are_reported_by_feature(dl: DriftLab, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dl.lab.vtysh("r2", f"configure terminal\nrouter bgp 64500\n{NEIGHBOR}\nexit\nno {PREFIX_LINE}")
    subprocess.run(dl.lab.in_node("r2", ["tc", *BUSINESS.format(r=3000).replace("replace", "change").split()]),
                   check=True)
    junit, html = tmp_path / "drift.xml", tmp_path / "drift.html"
    assert dl.cli("--junit", str(junit), "--html", str(html)) == 1
    out = capsys.readouterr().out
    assert "r2             POI   DRIFT" in out and "remediation:" in out

    report = dl.audit()
    assert {d.host: d.status for d in report.devices} == {"r1": "clean", "r2": "drift", "rs1": "clean"}
    r2 = next(d for d in report.devices if d.host == "r2")
    got = {(x.kind, x.line): x for x in r2.diffs}
    nb = got[(EXTRA, NEIGHBOR)]
    assert (nb.feature, nb.section) == ("bgp-neighbors", ("router bgp 64500",))
    assert nb.remediation == ("router bgp 64500", f"no {NEIGHBOR}")
    pl = got[(MISSING, PREFIX_LINE)]
    assert (pl.feature, pl.remediation) == ("policies", (PREFIX_LINE,))
    qos_new, qos_old = got[(MISSING, BUSINESS.format(r=5000))], got[(EXTRA, BUSINESS.format(r=3000))]
    assert qos_new.feature == qos_old.feature == "qos" and qos_new.section == ("tc dev eth2",)
    assert qos_new.remediation == (f"tc {BUSINESS.format(r=5000)}",)
    assert set(r2.features) == {"bgp-neighbors", "policies", "qos"}
    assert any("192.0.2.99" in s.message for s in r2.warnings)  # a session the intent does not have

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["r2"].find("failure") is not None and cases["r1"].find("failure") is None
    page = html.read_text()
    assert 'class="tile drift" data-host="r2"' in page and 'id="dev-r2"' in page


def test_remediation_plan_applied_makes_the_fleet_clean(dl: DriftLab, capsys: pytest.CaptureFixture[str]) -> None:
    assert dl.cli("--remediate") == 1
    out = capsys.readouterr().out
    plan = load_plan(dl.state, "latest")
    assert f"remediation plan {plan.id} saved (not applied)" in out
    assert [d.host for d in plan.changed] == ["r2"] and plan.status == "planned"
    assert f"- {NEIGHBOR}" in plan.changed[0].diff and f"+{PREFIX_LINE}" in plan.changed[0].diff
    report = apply_plan(dl.config, dl.state, plan.id, ApplyOptions(settle=15, hold=2, revert_in=120),
                        operator="tester")
    assert report.outcome == "confirmed", report.lines()
    assert dl.cli() == 0
    assert [d.status for d in dl.audit().devices] == ["clean"] * 3


def test_active_disconnect_is_not_drift(dl: DriftLab, capsys: pytest.CaptureFixture[str]) -> None:
    # rs1's session to isp1 shut by an emergency disconnect: intended, so neither config nor state drift.
    assert main(["--config", str(dl.config), "--state-dir", str(dl.state), "disconnect", "--session",
                 "rs1:203.0.113.71", "--reason", "drift test", "--ticket", "T-1"]) == 0, capsys.readouterr().out
    report = dl.audit()
    assert [d.status for d in report.devices] == ["clean"] * 3, [d.diffs or d.state for d in report.devices]
    assert any(o.get("peer_ip") == "203.0.113.71" for o in report.overrides)


def test_unreachable_device_is_never_clean(dl: DriftLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pid = int((dl.lab.node_dir("r1") / "sshd.pid").read_text().split()[0])
    os.kill(pid, signal.SIGTERM)
    junit = tmp_path / "drift.xml"
    assert dl.cli("--json", "--junit", str(junit)) == 2
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    r1 = next(d for d in data["devices"] if d["host"] == "r1")
    assert r1["status"] == "unreachable" and r1["error"]
    assert data["summary"]["unreachable"] == 1 and data["summary"]["clean"] == 2
    err = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "r1").find("error")
    assert err is not None and err.get("type") == "unreachable"
