"""Fault injection on one small lab (3 devices): things break halfway through apply, disconnect, restore and
TTL expiry (SIGKILL of the client, the service or the timer; sshd or bgpd killed on a device; a refused
commit, a failed write memory or confirm on one device of several; a flapping peer; a window closing; an
orphaned pending commit met by another push), then recovery runs, and every case ends with the same checks
(`FaultLab.consistent`): no device holds a pending commit, nothing is left interrupted, every touched device
is as its record says (sessions up unless an active disconnect shuts them), `tonle drift` is clean, the audit
log verifies and says what happened. `benchmarks/fault_bench.py` runs the same cases and prints the figures.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL, lab_copy, require_root, unique_lab_name, wait_until, write_window
from tonle.change.apply import ApplyOptions, ApplyReport, apply_plan
from tonle.change.plan import Plan, Selection, make_plan
from tonle.change.recover import RecoveryReport, interrupted, recover
from tonle.emergency.disconnect import Outcome, Scope, disconnect, restore
from tonle.emergency.guard import Resolution
from tonle.interfaces.cli import main
from tonle.interfaces.scheduler import run_due
from tonle.lab.builder import Lab
from tonle.lab.node import SSHD, daemon_argv
from tonle.lab.probe import lab_peer_probe
from tonle.source.inventory import load_from_nornir_config
from tonle.state.accounts import Actor, Role
from tonle.state.applied import applied
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import DisconnectStatus, get, records

NOC = Actor("noc-alice", 1_000_020, Role.OPERATOR)
# (device, our session address, the peer's node, the peer's address of that session)
ISP1 = ("rs1", "203.0.113.71", "isp1", "203.0.113.65")
UP1 = ("r2", "198.51.100.1", "up1", "198.51.100.0")
BOTH = f"{ISP1[0]}:{ISP1[1]},{UP1[0]}:{UP1[1]}"
BOGON = "198.51.100.128/25"  # the change the applies make: one more bogon, on every device
CLI = [sys.executable, "-c", "import sys; from tonle.interfaces.cli import main; sys.exit(main(sys.argv[1:]))"]


@dataclass
class Figures:
    """What one fault point gave (printed by benchmarks/fault_bench.py)."""

    fault: str
    touched: int = 0
    consistent: int = 0
    recover_seconds: float = 0.0
    problems: tuple[str, ...] = ()


class FaultLab:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "nornir.yaml"
        self.state = root / "state"
        self.inv_dir = root / "inventory"
        self.lab = Lab(load_from_nornir_config(self.config), self.state)

    # ---- acting ---------------------------------------------------------------------------------------

    def cli(self, *args: str) -> list[str]:
        return [*CLI, "--config", str(self.config), "--state-dir", str(self.state), *args]

    def kill_at(self, argv: list[str], marker: str, delay: float = 0.0, pid: Callable[[], int] | None = None,
                when: Callable[[], bool] | None = None) -> str:
        """Run a command, SIGKILL it (or `pid()`, e.g. the service) `delay` s after it prints `marker`, or, with
        `when`, as soon as `when()` holds after the marker (a state the step reaches, not a guess of its time:
        the warm emergency path finishes a push in well under a second)."""
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                if when is not None:
                    wait_until(when, 30, f"{marker!r} reaching its kill point", interval=0.005)
                time.sleep(delay)
                os.kill(pid() if pid else proc.pid, signal.SIGKILL)
                break
        proc.kill()
        proc.wait(timeout=30)
        assert any(marker in ln for ln in seen), "".join(seen)
        return "".join(seen)

    def bogon(self, add: bool) -> None:
        path = self.inv_dir / "policy.yaml"
        data = yaml.safe_load(path.read_text())
        v4 = data["bogons"]["ipv4"]
        if add and BOGON not in v4:
            v4.append(BOGON)
        if not add and BOGON in v4:
            v4.remove(BOGON)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def plan(self) -> Plan:
        return make_plan(self.config, self.state, Selection(), lab=True, operator=NOC.name)

    def apply(self, plan: Plan, progress: Callable[[str], None] = lambda _m: None, **opts: Any) -> ApplyReport:
        opts.setdefault("settle", 30)
        opts.setdefault("revert_in", 180)
        return apply_plan(self.config, self.state, plan.id, ApplyOptions(**opts), progress=progress,
                          operator=NOC.name)

    def disconnect(self, scope: str, probe: Callable[[Resolution, bool], list[str]] | None = None,
                   ttl: int = 900) -> Outcome:
        return disconnect(self.config, self.state, Scope("session", scope), operator=NOC, reason="fault drill",
                          ticket="F-1", ttl_seconds=ttl, peer_probe=probe or lab_peer_probe(self.config, self.state))

    def recover(self) -> tuple[RecoveryReport, float]:
        t0 = time.monotonic()
        report = recover(self.config, self.state, lab=True, actor="root")
        return report, time.monotonic() - t0

    # ---- reading ----------------------------------------------------------------------------------------

    def peer_state(self, peer: str, ip: str) -> str:
        summary = json.loads(self.lab.vtysh(peer, "show bgp vrf default summary json"))
        return str(summary["ipv4Unicast"]["peers"].get(ip, {}).get("state", "Missing"))

    def pending(self) -> list[Path]:
        return sorted((self.state / "napalm_frr").glob("*/pending.*"))

    def pending_file(self, device: str) -> Path:
        host = str(self.lab.inv.devices[device].mgmt_ip)
        return self.state / "napalm_frr" / f"{host}_22" / "pending.json"

    def actions(self) -> list[str]:
        return [e.action for e in AuditLog(StateDB(self.state)).entries()]

    def consistent(self, fault: str, touched: list[str]) -> Figures:
        """The checks every case ends with; the figures of this fault point."""
        problems = [f"pending commit left: {p.parent.name}" for p in self.pending()]
        problems += [f"left interrupted: {w}" for w in interrupted(self.state)]
        shut = {(o["device"], o["peer_ip"]) for r in records(self.state, DisconnectStatus.ACTIVE)
                for o in r.overrides if o.get("kind") == "session"}
        for dev, ip, peer, peer_ip in (ISP1, UP1):
            want_up = (dev, ip) not in shut

            def as_recorded(p: str = peer, a: str = peer_ip, w: bool = want_up) -> bool:
                return (self.peer_state(p, a) == "Established") == w

            try:
                wait_until(as_recorded, timeout=40, what=f"{peer}'s session {'up' if want_up else 'down'}")
            except AssertionError as exc:
                problems.append(str(exc))
        if main(["--config", str(self.config), "--state-dir", str(self.state), "drift"]) != 0:
            problems.append("tonle drift is not clean")
        problems += [f"audit: {p}" for p in AuditLog(StateDB(self.state)).verify()]
        # A problem naming no device counts against every touched one (fail closed).
        bad = {d for p in problems for d in touched if d in p} or (set(touched) if problems else set())
        return Figures(fault, len(touched), len(touched) - len(bad), problems=tuple(problems))


def make_lab(root: Path) -> FaultLab:
    lab_copy(SMALL, root, unique_lab_name("f"))
    policy = root / "inventory" / "policy.yaml"  # the guard is tested elsewhere: two sessions may go down here
    data = yaml.safe_load(policy.read_text())
    data["guard"].update({"max_site_share": 1.0, "protect_last_site_upstream": False,
                          "protect_last_international_path": False})
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    write_window(root / "inventory", open_now=True)
    return FaultLab(root)


@pytest.fixture(scope="module")
def flab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    require_root()
    lab = make_lab(tmp_path_factory.mktemp("faults"))
    lab.lab.up(timeout=90)
    try:
        yield lab
    finally:
        lab.lab.down()


# ---- the fault points (each returns its figures; the tests assert on them) -----------------------------

def confirm_fails_on_one_device_of_a_disconnect(lab: FaultLab) -> Figures:
    """Issue 14 (a): r2's confirm fails (its pending record lost) after both devices verified."""
    real = lab_peer_probe(lab.config, lab.state)

    def probe(res: Resolution, down: bool) -> list[str]:
        problems = real(res, down)
        if not problems:
            lab.pending_file("r2").unlink(missing_ok=True)  # r2's confirm will find nothing to confirm
        return problems

    out = lab.disconnect(BOTH, probe)
    assert out.status == "failed", out.detail
    assert any("r2: confirm failed" in p for p in out.detail), out.detail
    rec = get(lab.state, out.record.id)  # type: ignore[union-attr]
    assert rec.status == "failed"
    entry = [e for e in AuditLog(StateDB(lab.state)).entries() if e.object == rec.id][-1]
    assert entry.action == "disconnect-failed" and sorted(entry.details["rolled_back"]) == ["r2", "rs1"]
    return lab.consistent("confirm fails on 1 of 2 devices (disconnect)", ["r2", "rs1"])


def client_killed_while_the_canary_validates(lab: FaultLab) -> Figures:
    lab.bogon(add=True)
    plan = lab.plan()
    lab.kill_at(lab.cli("apply", plan.id, "--canary", "r2", "--batch-size", "1", "--settle", "30"),
                "canary: validating")
    assert any("apply of plan" in w for w in interrupted(lab.state))
    report, seconds = lab.recover()
    assert report.exit_code == 0, report.lines()
    assert [(i.kind, i.ref, i.outcome, i.devices) for i in report.items] == [
        ("apply", plan.id, "rolled back", {"r2": "rolled back"})]
    assert StateDB(lab.state).plan(plan.id)["status"] == "rolled back"  # type: ignore[index]
    lab.bogon(add=False)
    figures = lab.consistent("SIGKILL of the client: apply, canary validating", ["r2"])
    figures.recover_seconds = seconds
    return figures


def client_killed_mid_disconnect_push(lab: FaultLab) -> Figures:
    out = lab.kill_at(lab.cli("disconnect", "--session", BOTH, "--reason", "drill", "--ticket", "F-2",
                              "--ttl", "15m"), "pushing to", when=lambda: bool(lab.pending()))
    assert "pushing to" in out
    assert any(r.status == "pushing" for r in records(lab.state))
    report, seconds = lab.recover()
    assert report.exit_code == 0, report.lines()
    (item,) = report.items
    assert (item.kind, item.outcome) == ("disconnect", "rolled back")
    assert get(lab.state, item.ref).status == "failed"
    figures = lab.consistent("SIGKILL of the client: disconnect, mid-push", ["r2", "rs1"])
    figures.recover_seconds = seconds
    return figures


def write_memory_fails_during_an_apply(lab: FaultLab) -> Figures:
    """Issue 14 (b): r2 cannot save its config; its change is pending with the timer armed, and rolled back."""
    lab.bogon(add=True)
    plan = lab.plan()
    node_dir = lab.lab.node_dir("r2")
    saved = [(f, f.stat().st_mode) for f in (node_dir, node_dir / "frr.conf")]
    def writable(message: str = "rolling back") -> None:
        if message.startswith("rolling back"):  # the fault lasts until the rollback
            for f, mode in saved:
                f.chmod(mode)

    for f, _ in saved:
        f.chmod(0o555 if f.is_dir() else 0o444)
    try:
        report = lab.apply(plan, writable, canary=["r2"])
    finally:
        writable()
    assert report.outcome == "rolled back", report.lines()
    assert report.devices == {"r2": "rolled back"}, report.lines()
    assert "write memory" in report.problems["r2"][0]
    lab.bogon(add=False)
    return lab.consistent("failed write memory (apply canary)", ["r2"])


def window_closes_after_the_canary(lab: FaultLab) -> Figures:
    lab.bogon(add=True)
    plan = lab.plan()
    calls = [0]

    def clock() -> Any:
        from datetime import UTC, datetime, timedelta  # noqa: PLC0415

        calls[0] += 1  # the first stage starts inside the window; the second finds it closed
        return datetime.now(UTC) + (timedelta(days=2) if calls[0] > 2 else timedelta())

    report = lab.apply(plan, canary=["r2"], batch_size=2, now=clock)
    assert report.outcome == "rolled back", report.lines()
    assert report.devices == {"r2": "rolled back"}
    lab.bogon(add=False)
    return lab.consistent("window closes mid-run (rollback policy)", ["r2"])


def sshd_pids(lab: FaultLab, device: str) -> list[int]:
    """The device's sshd: its listener and every session (the lab's namespace, by PID)."""
    out = subprocess.run(["ip", "netns", "pids", lab.lab.layout.ns(device)], capture_output=True, text=True,
                         check=True).stdout.split()
    return [int(p) for p in out if Path(f"/proc/{p}/comm").exists()
            and Path(f"/proc/{p}/comm").read_text().strip() == "sshd"]


def ssh_dropped_mid_validation(lab: FaultLab) -> Figures:
    """r2's sshd (listener and sessions) stopped while its commit validates: the gates cannot read it, the
    rollback cannot reach it (reported), its revert timer stays armed; sshd back, `tonle recover` rolls it back."""
    lab.bogon(add=True)
    plan = lab.plan()

    def drop(message: str) -> None:
        if message.startswith("canary: validating"):
            for pid in sshd_pids(lab, "r2"):
                os.kill(pid, signal.SIGKILL)

    sock = lab.state / "tonle.sock"
    service = serve(lab)  # it runs through the fault: `tonle recover` below is a request to it
    try:
        report = lab.apply(plan, drop, canary=["r2"], settle=5, hold=2)
        assert report.outcome == "rolled back", report.lines()
        assert report.devices["r2"].startswith("ROLLBACK FAILED"), report.lines()
        d = lab.lab.node_dir("r2")
        subprocess.run(lab.lab.in_node("r2", [str(SSHD), "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")]),
                       check=True)
        wait_until(lambda: bool(sshd_pids(lab, "r2")), what="r2's sshd back")
        assert lab.pending(), "the commit is still pending"
        t0 = time.monotonic()
        out = subprocess.run(lab.cli("--socket", str(sock), "recover"), capture_output=True, text=True,
                             timeout=120, check=False)
        seconds = time.monotonic() - t0
    finally:
        stop(service)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "commit r2: ROLLED BACK" in out.stdout, out.stdout
    assert re.search(r"root \(uid 0, pid \d+\): recover$", service_log(lab).read_text(), re.M), "not served"
    entry = [e for e in AuditLog(StateDB(lab.state)).entries() if e.action == "recovered"][-1]
    assert (entry.object, entry.actor, entry.details["kind"]) == ("r2", "root", "commit")
    assert entry.details["armed_by"].startswith(f"tonle apply {plan.id} run "), entry.details
    lab.bogon(add=False)
    figures = lab.consistent("SSH to the device dropped mid-validation (sshd killed)", ["r2"])
    figures.recover_seconds = seconds
    return figures


def serve(lab: FaultLab) -> subprocess.Popen[bytes]:
    """`tonle serve` on the lab's state dir (it recovers what is interrupted, then serves); its log (one line
    per request, naming who asked for what) goes to `service_log(lab)`."""
    sock = lab.state / "tonle.sock"
    sock.unlink(missing_ok=True)  # a killed service leaves its socket file
    with service_log(lab).open("ab") as log:
        proc = subprocess.Popen(lab.cli("serve", "--socket", str(sock)), stdout=subprocess.DEVNULL, stderr=log)
    wait_until(sock.exists, timeout=60, what="the service's socket")
    return proc


def service_log(lab: FaultLab) -> Path:
    return lab.root / "service.log"


def stop(service: subprocess.Popen[bytes]) -> None:
    service.send_signal(signal.SIGTERM)
    service.wait(timeout=30)


def service_killed_while_the_canary_validates(lab: FaultLab) -> Figures:
    """The service dies during an apply it runs for a client; started again, it rolls the canary back."""
    sock = lab.state / "tonle.sock"
    lab.bogon(add=True)
    plan = lab.plan()
    service = serve(lab)
    try:
        lab.kill_at(lab.cli("--socket", str(sock), "apply", plan.id, "--canary", "r2", "--batch-size", "1",
                            "--settle", "30"), "canary: validating", pid=lambda: service.pid)
        service.wait(timeout=10)
        t0 = time.monotonic()
        service = serve(lab)
        wait_until(lambda: not interrupted(lab.state), timeout=60, what="the service to recover")
        seconds = time.monotonic() - t0
    finally:
        stop(service)
    assert StateDB(lab.state).plan(plan.id)["status"] == "rolled back"  # type: ignore[index]
    lab.bogon(add=False)
    figures = lab.consistent("SIGKILL of the service: apply, canary validating", ["r2"])
    figures.recover_seconds = seconds
    return figures


def service_killed_mid_restore(lab: FaultLab) -> Figures:
    """The service dies while it restores a disconnect; started again, it recovers by itself."""
    sock = lab.state / "tonle.sock"
    start = partial(serve, lab)
    service = start()
    try:
        out = subprocess.run(lab.cli("--socket", str(sock), "disconnect", "--session", BOTH, "--reason", "drill",
                                     "--ticket", "F-3", "--ttl", "15m"),
                             capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        (rec,) = records(lab.state, DisconnectStatus.ACTIVE)
        lab.kill_at(lab.cli("--socket", str(sock), "restore", rec.id), "restoring",
                    when=lambda: bool(lab.pending()), pid=lambda: service.pid)
        service.wait(timeout=10)
        assert get(lab.state, rec.id).status == "restoring"
        t0 = time.monotonic()
        service = start()  # it recovers before it serves: a request meanwhile waits
        wait_until(lambda: get(lab.state, rec.id).status != "restoring", timeout=60, what="the service to recover")
        seconds = time.monotonic() - t0
        assert get(lab.state, rec.id).status == "active"
        assert "recovered" in lab.actions()
        figures = lab.consistent("SIGKILL of the service: restore, mid-push", ["r2", "rs1"])
        figures.recover_seconds = seconds
        done = subprocess.run(lab.cli("--socket", str(sock), "restore", rec.id), capture_output=True, text=True,
                              check=False, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return figures
    finally:
        stop(service)


def service_killed_mid_disconnect_push(lab: FaultLab) -> Figures:
    """The service dies while it pushes a disconnect for a client (a device's commit pending); started again,
    it rolls the push back before it serves: the record `failed`, nothing in force, the audit log says so."""
    sock = lab.state / "tonle.sock"
    service = serve(lab)
    try:
        lab.kill_at(lab.cli("--socket", str(sock), "disconnect", "--session", BOTH, "--reason", "drill", "--ticket",
                            "F-4", "--ttl", "15m"), "pushing to", when=lambda: bool(lab.pending()),
                    pid=lambda: service.pid)
        service.wait(timeout=10)
        (rec,) = [r for r in records(lab.state) if r.status == "pushing"]
        t0 = time.monotonic()
        service = serve(lab)  # it recovers before it serves
        wait_until(lambda: get(lab.state, rec.id).status != "pushing", timeout=60, what="the service to recover")
        seconds = time.monotonic() - t0
        assert get(lab.state, rec.id).status == "failed"
        entry = [e for e in AuditLog(StateDB(lab.state)).entries() if e.object == rec.id][-1]
        assert (entry.action, entry.actor) == ("recovered", "tonle-serve"), entry
        assert (entry.details["kind"], entry.details["outcome"]) == ("disconnect", "rolled back"), entry.details
        figures = lab.consistent("SIGKILL of the service: disconnect, mid-push", ["r2", "rs1"])
        figures.recover_seconds = seconds
        return figures
    finally:
        stop(service)


def service_killed_mid_expiry(lab: FaultLab) -> Figures:
    """The service dies while its scheduler restores an expired disconnect (a device's commit pending); started
    again, it first rolls the restore back (the disconnect active again, its TTL run out), then its scheduler's
    first pass restores it: `expired`, every session up."""
    sock = lab.state / "tonle.sock"
    service = serve(lab)
    try:
        made = subprocess.run(lab.cli("--socket", str(sock), "disconnect", "--session", BOTH, "--reason", "drill",
                                      "--ticket", "F-5", "--ttl", "3s"),
                              capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stdout + made.stderr
        rec = records(lab.state)[0]  # the newest (its 3 s may have run out already)
        assert rec.ticket == "F-5" and rec.status in ("active", "restoring"), rec
        # mid-push: the scheduler's restore has committed on a device (pending its confirm)
        wait_until(lambda: get(lab.state, rec.id).status == "restoring" and bool(lab.pending()), timeout=60,
                   what="the scheduler's restore mid-push", interval=0.005)
        os.kill(service.pid, signal.SIGKILL)
        service.wait(timeout=10)
        assert get(lab.state, rec.id).status == "restoring"
        t0 = time.monotonic()
        service = serve(lab)
        wait_status(lab, rec.id, "expired")
        seconds = time.monotonic() - t0
        mine = [e for e in AuditLog(StateDB(lab.state)).entries() if e.object == rec.id]
        recovered = [e for e in mine if e.action == "recovered"][-1]
        assert (recovered.details["kind"], recovered.details["outcome"], recovered.details["status"]) == (
            "restore", "rolled back", "active"), recovered.details
        assert mine[-1].action == "expiry" and mine[-1].seq > recovered.seq, [e.action for e in mine]
        figures = lab.consistent("SIGKILL of the service: TTL expiry, mid-restore", ["r2", "rs1"])
        figures.recover_seconds = seconds
        return figures
    finally:
        stop(service)


def bgpd_pid(lab: FaultLab, device: str) -> int:
    return int((lab.lab.node_dir(device) / "bgpd.pid").read_text().strip())


def kill_bgpd(lab: FaultLab, device: str) -> None:
    pid = bgpd_pid(lab, device)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(),
               timeout=10, what=f"{device}'s bgpd gone")


def start_bgpd(lab: FaultLab, device: str) -> None:
    """What watchfrr does for a dead bgpd: start it again and boot it from the saved config (frr.conf)."""
    d = lab.lab.node_dir(device)
    (d / "bgpd.vty").unlink(missing_ok=True)  # the dead daemon's socket
    subprocess.run(lab.lab.in_node(device, daemon_argv(lab.lab.layout, device, "bgpd")), check=True)
    wait_until((d / "bgpd.vty").exists, timeout=10, what=f"{device}'s bgpd back")
    subprocess.run(lab.lab.in_node(device, ["vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-b", "-d",
                                            "bgpd"]), capture_output=True, check=True)


def bgpd_killed_mid_apply(lab: FaultLab) -> Figures:
    """r2's bgpd dies as its commit validates and stays down through the gates; restarted as watchfrr would
    (booting the saved config: the change, pending), the rollback puts the old config back, saved too."""
    lab.bogon(add=True)
    plan = lab.plan()
    conf = lab.lab.node_dir("r2") / "frr.conf"
    booted: list[bool] = []

    def fault(message: str) -> None:
        if message.startswith("canary: validating"):
            kill_bgpd(lab, "r2")
        elif message.startswith("rolling back") and not booted:
            booted.append(BOGON in conf.read_text())
            start_bgpd(lab, "r2")

    try:
        report = lab.apply(plan, fault, canary=["r2"], settle=5, hold=2)
    finally:
        if not booted:
            booted.append(False)
            start_bgpd(lab, "r2")
    assert report.outcome == "rolled back", report.lines()
    assert report.devices == {"r2": "rolled back"}, report.lines()
    assert any("cannot read state" in p for p in report.problems["r2"]), report.problems
    assert booted == [True], "the restarted bgpd booted the pending change (saved before the timer ran out)"
    assert BOGON not in conf.read_text(), "the rollback is saved: a later restart boots the old config"
    lab.bogon(add=False)
    return lab.consistent("bgpd killed mid-apply (canary validating), restarted", ["r2"])


def bgpd_killed_mid_disconnect(lab: FaultLab) -> Figures:
    """r2's bgpd dies while the disconnect it has just committed is being verified (its commit pending, not
    confirmed), and is started again as watchfrr would: it boots the saved config, which holds the disconnect
    (saved before verification). The verification sees the session down from both sides only then and
    confirms; the restore afterwards works against the restarted daemon."""
    real = lab_peer_probe(lab.config, lab.state)
    conf = lab.lab.node_dir("r2") / "frr.conf"
    seen: list[bool] = []  # at the kill: r2's commit pending, the disconnect in its saved config

    def probe(res: Resolution, down: bool) -> list[str]:
        if not seen:
            seen.append(lab.pending_file("r2").exists() and "shutdown message tonle D" in conf.read_text())
            kill_bgpd(lab, "r2")
            start_bgpd(lab, "r2")  # booted from frr.conf
        return real(res, down)

    out = lab.disconnect(BOTH, probe)
    assert seen == [True], "killed while r2's commit was pending, its change saved"
    assert out.status == "active", out.detail
    rec_id = out.record.id  # type: ignore[union-attr]
    # r2's sessions the disconnect leaves alone come back with the restarted daemon (the iBGP with r1, both
    # families): what `tonle drift` then checks (the common checks wait only for the sessions of ISP1 and UP1).
    def ibgp_up() -> bool:
        summary = json.loads(lab.lab.vtysh("r1", "show bgp vrf default summary json"))
        return all(summary[f]["peers"].get(ip, {}).get("state") == "Established"
                   for f, ip in (("ipv4Unicast", "203.0.113.1"), ("ipv6Unicast", "2001:db8:0:1::1")))

    wait_until(ibgp_up, timeout=60, what="r1's iBGP sessions with r2 (both families)")
    figures = lab.consistent("bgpd killed mid-disconnect (verifying), restarted", ["r2", "rs1"])
    done = restore(lab.config, lab.state, rec_id, operator=NOC, peer_probe=real)
    assert done.status == "restored", done.detail
    assert "shutdown message tonle" not in conf.read_text(), "the restore is saved: a restart boots it"
    return figures


def commit_refused_on_one_device_of_a_batch(lab: FaultLab) -> Figures:
    """A two-device disconnect: rs1 refuses its commit (a hand change there: the emergency path commits
    nothing but the override's lines), r2 had committed: r2 is rolled back, the record says so."""
    route = "ip route 192.0.2.128/25 Null0"
    lab.lab.vtysh("rs1", f"configure terminal\n{route}")
    try:
        out = lab.disconnect(BOTH)
    finally:
        lab.lab.vtysh("rs1", f"configure terminal\nno {route}")
    assert out.status == "failed", out.detail
    assert any(p.startswith("rs1: commit failed") and "differs from its last applied config" in p
               for p in out.detail), out.detail
    rec = get(lab.state, out.record.id)  # type: ignore[union-attr]
    assert rec.status == "failed"
    entry = [e for e in AuditLog(StateDB(lab.state)).entries() if e.object == rec.id][-1]
    assert entry.action == "disconnect-failed" and sorted(entry.details["rolled_back"]) == ["r2", "rs1"]
    assert any("rs1: commit failed" in p for p in entry.details["problems"])
    return lab.consistent("commit refused on 1 of 2 devices (disconnect)", ["r2", "rs1"])


def peer_flaps_during_the_gates(lab: FaultLab) -> Figures:
    """up1 flaps its session with r2 while r2's change validates (shut 2 s, up 1 s, again): the session is
    seen up now and then, never for the hold time; the change is rolled back and the report names the session."""
    lab.bogon(add=True)
    plan = lab.plan()
    peer, ip = UP1[2], UP1[3]  # up1 and its neighbour r2
    asn = json.loads(lab.lab.vtysh(peer, "show bgp vrf default summary json"))["ipv4Unicast"]["as"]
    stop = threading.Event()
    flaps: list[str] = []

    def neighbor(shut: bool) -> None:
        lab.lab.vtysh(peer, f"configure terminal\nrouter bgp {asn}\n{'' if shut else 'no '}neighbor {ip} shutdown")

    def flap() -> None:
        try:
            while not stop.is_set():
                neighbor(shut=True)
                flaps.append("down")
                stop.wait(2.0)
                neighbor(shut=False)
                flaps.append("up")
                stop.wait(1.0)
        except Exception as exc:  # shown by the assertion below
            flaps.append(repr(exc))
        finally:
            neighbor(shut=False)

    flapper = threading.Thread(target=flap, daemon=True)

    def fault(message: str) -> None:
        if message.startswith("canary: validating"):
            flapper.start()
        elif message.startswith("rolling back"):
            stop.set()

    try:
        report = lab.apply(plan, fault, canary=["r2"], settle=8, hold=4)
    finally:
        stop.set()
        if flapper.is_alive():
            flapper.join(timeout=10)
    assert flaps.count("down") >= 2, flaps
    assert report.outcome == "rolled back", report.lines()
    assert report.devices == {"r2": "rolled back"}, report.lines()
    assert any(UP1[1] in p or "healthy for only" in p for p in report.problems["r2"]), report.problems
    lab.bogon(add=False)
    return lab.consistent("peer flapping during the gates (apply canary)", ["r2"])


def wait_status(lab: FaultLab, rec_id: str, status: str, timeout: float = 60) -> None:
    wait_until(lambda: get(lab.state, rec_id).status == status, timeout=timeout, what=f"{rec_id} {status}",
               interval=0.01)


def timer_killed_mid_expiry(lab: FaultLab) -> Figures:
    """The TTL timer (the fallback process when no service runs) dies while it restores an expired
    disconnect: recovery rolls the restore back (the disconnect active again, its TTL run out), and the next
    timer pass restores it."""
    out = lab.disconnect(BOTH, ttl=3)
    assert out.status == "active", out.detail
    rec_id = out.record.id  # type: ignore[union-attr]
    timer = subprocess.Popen([sys.executable, "-m", "tonle.interfaces.expiry", "--config", str(lab.config),
                              "--state-dir", str(lab.state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_status(lab, rec_id, "restoring")
        # mid-push: a device committed (pending its confirm), the sessions coming back
        wait_until(lambda: bool(lab.pending()), 30, "the restore's commit", interval=0.005)
        timer.send_signal(signal.SIGKILL)
    finally:
        timer.kill()
        timer.wait(timeout=10)
    assert get(lab.state, rec_id).status == "restoring"
    report, seconds = lab.recover()
    assert report.exit_code == 0, report.lines()
    assert [(i.kind, i.ref, i.outcome) for i in report.items] == [("restore", rec_id, "rolled back")]
    assert get(lab.state, rec_id).status == "active"
    figures = lab.consistent("SIGKILL of the TTL timer: expiry, mid-restore", ["r2", "rs1"])
    figures.recover_seconds = seconds
    run = run_due(lab.config, lab.state)  # the timer's next pass: the TTL has run out, it restores
    assert run.done == [f"{rec_id}: expired"], (run.done, run.failed)
    assert get(lab.state, rec_id).status == "expired"
    return figures


def client_killed_mid_restore(lab: FaultLab) -> Figures:
    """`tonle restore` (root, no service: it acts itself) killed mid-push: recovery rolls the restore back,
    the disconnect is active again; a restore afterwards succeeds."""
    out = lab.disconnect(BOTH)
    assert out.status == "active", out.detail
    rec_id = out.record.id  # type: ignore[union-attr]
    lab.kill_at(lab.cli("restore", rec_id), "restoring", when=lambda: bool(lab.pending()))
    assert get(lab.state, rec_id).status == "restoring"
    report, seconds = lab.recover()
    assert report.exit_code == 0, report.lines()
    assert [(i.kind, i.ref, i.outcome) for i in report.items] == [("restore", rec_id, "rolled back")]
    assert get(lab.state, rec_id).status == "active"
    figures = lab.consistent("SIGKILL of the client: restore, mid-push", ["r2", "rs1"])
    figures.recover_seconds = seconds
    done = restore(lab.config, lab.state, rec_id, operator=NOC, peer_probe=lab_peer_probe(lab.config, lab.state))
    assert done.status == "restored", done.detail
    return figures


def another_push_finds_an_orphaned_commit(lab: FaultLab) -> Figures:
    """A disconnect killed mid-push, its revert watchdog on r2 killed too, leaves an orphaned pending commit on
    r2 (nothing will revert it). Another push needing r2 fails there, says whose pending commit it found and
    leaves it alone: it is not that push's own to roll back (before, any pending commit on a device whose commit
    failed was taken for the push's own). `tonle recover` then rolls the orphan back."""
    def armed() -> dict[str, Any] | None:
        try:
            rec = json.loads(lab.pending_file("r2").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return rec if isinstance(rec.get("watchdog_pid"), int) else None

    lab.kill_at(lab.cli("disconnect", "--session", BOTH, "--reason", "drill", "--ticket", "F-6", "--ttl", "15m"),
                "pushing to", when=lambda: armed() is not None)
    orphan = armed()
    assert orphan is not None
    os.kill(orphan["watchdog_pid"], signal.SIGKILL)
    (dead,) = [r for r in records(lab.state) if r.status == "pushing"]
    assert orphan["message"].startswith(f"tonle {dead.id} "), orphan
    out = lab.disconnect(BOTH)
    assert out.status == "failed", out.detail
    assert any(p.startswith("r2: commit failed") and f"armed by 'tonle {dead.id} " in p and "left as it is" in p
               for p in out.detail), out.detail
    assert json.loads(lab.pending_file("r2").read_text())["message"] == orphan["message"], "the orphan left alone"
    report, seconds = lab.recover()
    assert report.exit_code == 0, report.lines()
    assert ("disconnect", dead.id, "rolled back") in [(i.kind, i.ref, i.outcome) for i in report.items]
    assert get(lab.state, dead.id).status == "failed"
    figures = lab.consistent("orphaned commit met by another push (left to recover)",
                             ["r2", "rs1"])
    figures.recover_seconds = seconds
    return figures


# An apply whose process dies right after every device confirmed, before the run records it (the confirm
# entry, the plan's status and the intent the devices run are one transaction that never happens).
DIES_AFTER_CONFIRM = ("import os, signal, sys; import tonle.change.apply as a; "
                      "a.applied_change = lambda *_a, **_k: os.kill(os.getpid(), signal.SIGKILL); "
                      "from tonle.interfaces.cli import main; sys.exit(main(sys.argv[1:]))")


def client_killed_after_the_devices_confirmed(lab: FaultLab) -> Figures:
    """Recovery finds the devices confirmed with the plan's config and records that truth (the plan applied,
    the intent they run), never rolling back a confirmed change. Leaves the change applied: the last case."""
    lab.bogon(add=True)
    plan = lab.plan()
    changed = sorted(d.host for d in plan.changed)
    argv = [sys.executable, "-c", DIES_AFTER_CONFIRM, *lab.cli("apply", plan.id, "--canary", "r2", "--batch-size",
                                                              "5", "--settle", "30", "--hold", "2")[3:]]
    died = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert died.returncode == -signal.SIGKILL, died.stdout + died.stderr
    assert not lab.pending(), "every device confirmed before the kill"
    assert StateDB(lab.state).plan(plan.id)["status"] == "applying"  # type: ignore[index]
    report, seconds = lab.recover()
    assert report.exit_code == 0, report.lines()
    (item,) = report.items
    assert (item.kind, item.ref, item.outcome, sorted(item.devices)) == ("apply", plan.id, "confirmed", changed)
    assert StateDB(lab.state).plan(plan.id)["status"] == "applied"  # type: ignore[index]
    db = StateDB(lab.state)
    assert all((applied(db, d) or ("", None))[0] == plan.id for d in changed)
    entry = [e for e in AuditLog(db).entries() if e.action == "recovered"][-1]
    assert (entry.object, entry.details["outcome"]) == (plan.id, "confirmed")
    figures = lab.consistent("SIGKILL of the client: apply, after the confirm", changed)
    figures.recover_seconds = seconds
    return figures


CASES: list[Callable[[FaultLab], Figures]] = [
    confirm_fails_on_one_device_of_a_disconnect,
    client_killed_while_the_canary_validates,
    client_killed_mid_disconnect_push,
    write_memory_fails_during_an_apply,
    window_closes_after_the_canary,
    ssh_dropped_mid_validation,
    service_killed_while_the_canary_validates,
    service_killed_mid_restore,
    service_killed_mid_disconnect_push,
    service_killed_mid_expiry,
    bgpd_killed_mid_apply,
    bgpd_killed_mid_disconnect,
    commit_refused_on_one_device_of_a_batch,
    peer_flaps_during_the_gates,
    timer_killed_mid_expiry,
    client_killed_mid_restore,
    another_push_finds_an_orphaned_commit,
    client_killed_after_the_devices_confirmed,  # last: it leaves its change applied
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_fault_point_ends_consistent(flab: FaultLab, case: Callable[[FaultLab], Figures]) -> None:
    figures = case(flab)
    assert figures.problems == (), figures.problems
    assert figures.consistent == figures.touched
