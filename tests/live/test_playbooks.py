"""NOC playbooks through ansible-runner against a live lab: `tonle playbook run` end to end.

One small lab for the module; the tests run in order (the sshd of r1 is stopped by the last one).
Every run goes through the CLI, as a NOC engineer would run it; ~2 s of ansible-runner per run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL, lab_copy, require_root, unique_lab_name, write_window
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog, process_identity
from tonle.state.db import StateDB
from tonle.state.disconnects import records

ME = process_identity()  # who runs the playbooks, as the kernel says (root)
FAST_APPLY = ["-e", "settle=20", "-e", "hold=3", "-e", "revert_in=120"]


class Noc:
    def __init__(self, root: Path) -> None:
        self.config = root / "nornir.yaml"
        self.state = root / "state"
        self.inv_dir = root / "inventory"
        self.lab = Lab(load_from_nornir_config(self.config), self.state)
        self.marker = root / "started"  # files under ~/.ansible newer than this were made by these tests

    def run(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        """`tonle playbook run ...`: exit code and everything printed."""
        rc = main(["--config", str(self.config), "--state-dir", str(self.state), "playbook", "run", *args])
        out = capsys.readouterr()
        print(out.out, out.err)  # shown by pytest when a test fails
        return rc, out.out + out.err

    def running(self, node: str) -> str:
        return self.lab.vtysh(node, "show running-config")

    def up1_state(self) -> str:
        summary = json.loads(self.lab.vtysh("r2", "show bgp vrf default summary json"))
        return str(summary["ipv4Unicast"]["peers"]["198.51.100.1"]["state"])

    def window(self, open_now: bool) -> None:
        write_window(self.inv_dir, open_now=open_now)

    def prepend(self, n: int) -> None:
        path = self.inv_dir / "peers.yaml"
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        next(p for p in data["peers"] if p["name"] == "up1")["export"] = {"prepend": n}
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def audit(self) -> list[Any]:
        return AuditLog(StateDB(self.state)).entries()


@pytest.fixture(scope="module")
def noc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Noc]:
    require_root()
    root = tmp_path_factory.mktemp("noc")
    lab_copy(SMALL, root, unique_lab_name("n"))
    n = Noc(root)
    n.marker.touch()
    time.sleep(0.01)
    n.lab.up(timeout=90)
    try:
        yield n
    finally:
        n.lab.down()


@pytest.fixture(autouse=True)
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TONLE_OPERATOR", "noc-alice")  # claimed, and ignored: the kernel says who runs the playbook
    return ME


def test_unknown_playbook_is_bad_input(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = noc.run(capsys, "no-such-book")
    assert rc == 2
    assert out.strip().splitlines()[-1].startswith("tonle: error: unknown playbook 'no-such-book' (one of backup, ")


def test_health_check_and_clean_drift_audit(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = noc.run(capsys, "health-check")
    assert rc == 0, out
    for host in ("r1", "r2", "rs1"):  # streamed per host as it happens
        assert re.search(rf"ok: {host} - 1 device\(s\) healthy: {host}", out), out
    assert "playbook health-check: successful (rc 0)" in out
    rc, out = noc.run(capsys, "drift-audit")
    assert rc == 0, out
    assert "no drift on 3 device(s)" in out and "3 clean" in out


def test_change_window_outside_a_window_is_refused(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    noc.window(open_now=False)
    noc.prepend(2)
    before = noc.running("r2")
    rc, out = noc.run(capsys, "change-window", "-e", "auto_approve=true", *FAST_APPLY)
    assert rc == 1, out
    assert "+ set as-path prepend 64500 64500" in out  # the plan was shown
    assert re.search(r"FAILED: r2: Apply .*: apply \S+: REFUSED - outside a change window for r2 "
                     r"\(windows: test-window\)", out), out
    assert noc.running("r2") == before
    assert [e.action for e in noc.audit()][-3:] == ["apply-refused", "apply-end", "playbook-run"]


def test_change_window_without_approval_applies_nothing(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    noc.window(open_now=True)
    before = noc.running("r2")
    rc, out = noc.run(capsys, "change-window", *FAST_APPLY)  # no terminal to ask, no auto_approve
    assert rc == 1, out
    assert re.search(r"FAILED: r2: Approved: plan \S+ not approved: no terminal to ask", out), out
    assert noc.running("r2") == before
    approval = [e for e in noc.audit() if e.action == "playbook-approval"][-1]
    assert approval.details["approved"] is False and approval.actor == ME


def test_change_window_plans_applies_and_post_checks(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = noc.run(capsys, "change-window", "-e", "auto_approve=true", *FAST_APPLY)
    assert rc == 0, out
    order = [out.index(s) for s in ("TASK Pre-check", "TASK Plan", "TASK Apply", ": CONFIRMED", "TASK Post-check")]
    assert order == sorted(order), out
    assert "set as-path prepend 64500 64500" in noc.running("r2")
    actions = [e.action for e in noc.audit()]
    assert actions[-6:] == ["plan", "apply-start", "commit", "confirm", "apply-end", "playbook-run"]
    rc, out = noc.run(capsys, "drift-audit")  # the device is its intent again
    assert rc == 0, out


def test_drift_audit_fails_on_drift(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    intended = next(ln.strip() for ln in noc.running("r2").splitlines() if "198.51.100.1 description" in ln)
    noc.lab.vtysh("r2", "configure terminal\nrouter bgp 64500\nneighbor 198.51.100.1 description out-of-band")
    rc, out = noc.run(capsys, "drift-audit")
    assert rc == 1, out
    assert re.search(r"FAILED: \S+: Drift audit: drift found on r2 \(", out), out
    rc, out = noc.run(capsys, "drift-audit", "-e", "fail_on_drift=false")
    assert rc == 0, out
    assert "drift found on r2" in out
    # Put the intended line back (FRR keeps one description per neighbour): later tests start from a clean device.
    noc.lab.vtysh("r2", f"configure terminal\nrouter bgp 64500\n{intended}")
    rc, out = noc.run(capsys, "drift-audit")
    assert rc == 0, out


def test_disconnect_over_the_limit_is_refused_like_the_cli(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    before = noc.running("r2")
    rc, out = noc.run(capsys, "disconnect", "-e", "scope_kind=site-upstreams", "-e", "scope_value=POI",
                      "-e", "reason=attack drill", "-e", "ticket=INC-7", "-e", "ttl=10m")
    assert rc == 1, out
    assert "OVER LIMIT: the last upstream of POI goes dark" in out
    book = re.search(r"FAILED: localhost: .*?: (REFUSED .*)", out)
    assert book, out
    cli_rc = main(["--config", str(noc.config), "--state-dir", str(noc.state), "disconnect", "--site-upstreams",
                   "POI", "--reason", "attack drill", "--ticket", "INC-7", "--ttl", "10m"])
    cli = re.search(r"^(REFUSED .*)$", capsys.readouterr().out, re.MULTILINE)
    assert cli_rc == 1 and cli

    def same(line: str) -> str:  # ids and approval deadlines differ between the two requests
        return re.sub(r"D\d{14}[0-9a-f]{4}", "ID", re.sub(r"until [0-9T:+-]+\)", "until T)", line))
    assert same(book.group(1)) == same(cli.group(1))
    assert noc.running("r2") == before and noc.up1_state() == "Established"
    assert records(noc.state, "active") == []
    refused = [e for e in noc.audit() if e.action == "disconnect-refused"]
    assert [e.actor for e in refused[-2:]] == [ME, ME]


def test_backup_then_blackhole_and_restore(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = noc.run(capsys, "backup")
    assert rc == 0, out
    saved = re.search(r"3 running config\(s\) saved in (\S+)", out)
    assert saved, out
    assert sorted(p.name for p in Path(saved.group(1)).iterdir()) == ["r1.conf", "r2.conf", "rs1.conf"]
    assert "router bgp 64500" in (Path(saved.group(1)) / "r2.conf").read_text()
    # Within the guard's limits (no session goes dark): it runs, verified from the upstream's side.
    rc, out = noc.run(capsys, "disconnect", "-e", "scope_kind=prefix", "-e", "scope_value=198.18.16.1/32",
                      "-e", "reason=DDoS against an ISP customer", "-e", "ticket=INC-8", "-e", "ttl=10m")
    assert rc == 0, out
    active = records(noc.state, "active")
    assert [(r.scope_value, r.operator) for r in active] == [("198.18.16.1/32", ME)]
    assert f"ACTIVE {active[0].id}: verified" in out
    rc, out = noc.run(capsys, "restore", "-e", f"disconnect_id={active[0].id}")
    assert rc == 0, out
    assert f"RESTORED {active[0].id}: verified" in out
    assert records(noc.state, "active") == []


def test_missing_disconnect_variables_are_named(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = noc.run(capsys, "disconnect", "-e", "scope_kind=session", "-e", "ttl=5m")
    assert rc == 1, out
    assert "missing -e scope_value=VALUE; missing -e reason=VALUE; missing -e ticket=VALUE" in out


def test_failing_step_ends_non_zero_with_a_readable_reason(noc: Noc, capsys: pytest.CaptureFixture[str]) -> None:
    pid = int((noc.lab.node_dir("r1") / "sshd.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    rc, out = noc.run(capsys, "health-check")
    assert rc == 1, out
    assert re.search(r"^FAILED: r1: Reachable, every intended session Established: r1: unreachable: "
                     r"ConnectionException: .*TCP connection to device failed", out, re.MULTILINE), out
    assert "ok: r2" in out and "ok: rs1" in out  # the others are still checked and reported


def test_runs_are_audited_and_leave_no_secret_and_nothing_in_home(noc: Noc) -> None:
    runs = [e for e in noc.audit() if e.action == "playbook-run"]
    assert len(runs) >= 10
    assert {e.actor for e in runs} == {ME} and {e.details["operator"] for e in runs} == {ME}
    last = runs[-1].details
    assert (last["playbook"], last["status"], last["rc"]) == ("health-check", "failed", 2)
    assert last["failed_tasks"][0]["host"] == "r1"
    assert AuditLog(StateDB(noc.state)).verify() == []
    password = noc.lab.credentials().password
    artifacts = [p for p in (noc.state / "ansible").rglob("*") if p.is_file()]
    assert len(artifacts) > 50
    assert [p for p in artifacts if password.encode() in p.read_bytes()] == []
    home = Path.home() / ".ansible"
    newer = [p for p in home.rglob("*") if p.stat().st_mtime > noc.marker.stat().st_mtime] if home.exists() else []
    assert newer == []
