"""`tonle serve` on a real lab with real OS accounts: who acts is what the kernel says, the two-person rule
binds, and the timers live in the service (they survive a restart, and a failing one is retried and shown).

The accounts are made here with useradd (tnlt-<random>, removed with userdel -r at the end); each CLI run is
that user's own process (`runuser -u USER -- tonle ...`) talking to a real `tonle serve` on a socket of
this test (group of the test's accounts, mode 0660). Whatever the environment claims (TONLE_OPERATOR, USER,
SUDO_USER, LOGNAME), it is not who acts.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tonle.tasks.validate import bgp_snapshot

from tests.conftest import SMALL, lab_copy, require_root, unique_lab_name, wait_until
from tonle.interfaces import labctl, service
from tonle.interfaces.runas import tonle_argv
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import get, records
from tonle.targets.nornir import run_on
from tonle.targets.pool import SessionPool, active, healthy

UPSTREAM = ("up1", "198.51.100.0")  # the carrier's side of r2's only upstream session (POI)
POI = ["disconnect", "--site-upstreams", "POI", "--ticket", "INC-1"]
CLAIMS = ("TONLE_OPERATOR", "USER", "SUDO_USER", "LOGNAME")


@dataclass
class Site:
    config: Path
    state: Path
    sock: Path
    group: str
    users: dict[str, str]  # role in this test -> OS user name
    lab: Lab

    def run(self, who: str, *argv: str, claim: str | None = None) -> subprocess.CompletedProcess[str]:
        """`tonle ARGV` as the OS user `who` (requester, approver, viewer, stranger), optionally claiming in its
        environment to be someone else."""
        user = self.users[who]
        env = [f"{var}={claim}" for var in CLAIMS] if claim else []
        return subprocess.run(["runuser", "-u", user, "--", "env", *env, *tonle_argv(user), "--socket",
                               str(self.sock), *argv], capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL, check=False, cwd="/")

    def audit(self) -> list[Any]:
        return AuditLog(StateDB(self.state)).entries()

    def session(self) -> str:
        summary = json.loads(self.lab.vtysh(UPSTREAM[0], "show bgp vrf default summary json"))
        return str(summary["ipv4Unicast"]["peers"].get(UPSTREAM[1], {}).get("state", "Missing"))

    def request(self, reason: str, *extra: str) -> str:
        """The requester asks for every upstream of POI (over the guard's limit); the record's id."""
        done = self.run("requester", *POI, "--reason", reason, *extra)
        assert done.returncode == 1, done.stdout + done.stderr
        found = re.search(r"REFUSED (D\w+):", done.stdout)
        assert found, done.stdout
        return found.group(1)

    def approve(self, rid: str) -> None:
        done = self.run("approver", "approve", rid, "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"ACTIVE {rid}: verified" in done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_root()
    tag = secrets.token_hex(3)
    group = f"tnlt-{tag}g"
    users = {who: f"tnlt-{tag}{who[0]}" for who in ("requester", "approver", "viewer", "stranger")}
    made: list[str] = []
    run = Path(tempfile.mkdtemp(prefix="tnlt-sock-"))
    lab = None
    try:
        subprocess.run(["groupadd", group], check=True, capture_output=True)
        for name in users.values():
            subprocess.run(["useradd", "--create-home", "--groups", group, "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            made.append(name)
        shutil.chown(run, "root", group)
        run.chmod(0o750)
        config = lab_copy(SMALL, tmp_path_factory.mktemp("svc"), unique_lab_name("s"))
        state = config.parent / "state"
        lab = Lab(load_from_nornir_config(config), state)
        sock = run / "tonle.sock"
        labctl.up(lab, config, state, timeout=90, socket_path=sock, group=group, retry=2)
        s = Site(config, state, sock, group, users, lab)
        for who, role in (("requester", "approver"), ("approver", "approver"), ("viewer", "viewer")):
            done = subprocess.run([*tonle_argv("root"), "--socket", str(sock), "users", "add", users[who], "--role",
                                   role], capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
        yield s
    finally:
        if lab is not None:
            labctl.down(lab, lab.top_state_dir)
        for name in made:
            subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)
        shutil.rmtree(run, ignore_errors=True)
    left = [n for db, n in [*(("passwd", u) for u in users.values()), ("group", group)]
            if subprocess.run(["getent", db, n], capture_output=True, check=False).returncode == 0]
    assert not left, f"OS accounts left behind: {left}"


def test_a_user_without_an_account_is_refused(site: Site) -> None:
    for argv in (["disconnects"], [*POI, "--reason", "mine"], ["users", "add", site.users["stranger"], "--role",
                                                               "admin"]):
        done = site.run("stranger", *argv, claim="root")
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == [f"tonle: error: {site.users['stranger']} (uid "
                                                    f"{_uid(site.users['stranger'])}) has no Tonlé account; an admin "
                                                    f"adds one: tonle users add {site.users['stranger']} --role ROLE"]
    assert records(site.state) == []


def test_a_viewer_reads_but_cannot_disconnect(site: Site) -> None:
    done = site.run("viewer", *POI, "--reason", "viewer tries", claim=site.users["requester"])
    assert done.returncode == 1
    assert f"{site.users['viewer']} (role viewer) may not disconnect" in done.stderr
    assert site.run("viewer", "disconnects").returncode == 0
    assert records(site.state) == [] and site.session() == "Established"


def test_the_requester_cannot_approve_its_own_disconnect(site: Site) -> None:
    rid = site.request("carrier under attack")
    requester, approver = site.users["requester"], site.users["approver"]
    # Claiming the approver's name, root's, or its own in another letter case changes nothing: the uid decides.
    for claim in (approver, "root", requester.upper(), None):
        done = site.run("requester", "approve", rid, "--yes", claim=claim)
        assert done.returncode == 1, (claim, done.stdout, done.stderr)
        assert f"{rid}: {requester} requested it and cannot approve it" in done.stderr, (claim, done.stderr)
    rec = get(site.state, rid)
    assert rec.status == "pending-approval" and rec.operator == requester and rec.operator_uid == _uid(requester)
    assert site.session() == "Established"
    refusals = [(e.actor, e.details.get("why")) for e in site.audit() if e.action == "approval-refused"]
    assert refusals == [(requester, "same account as the requester")] * 4


def test_an_approver_sees_what_it_approves_and_then_it_runs(site: Site) -> None:
    (rec,) = records(site.state, "pending-approval")
    asked = site.run("approver", "approve", rec.id)  # no terminal, no --yes: shown, not approved
    assert asked.returncode == 1 and "no terminal to confirm on" in asked.stderr
    assert "OVER LIMIT: the last upstream of POI goes dark" in asked.stdout
    assert "  pushed to r2:" in asked.stdout
    pushed = [ln.strip() for ln in asked.stdout.splitlines() if ln.strip().startswith(("+", "-"))]
    assert any(ln.startswith("+") and ln.endswith(f"neighbor {_r2_peer(site)} shutdown message tonle {rec.id} INC-1")
               for ln in pushed), asked.stdout
    assert get(site.state, rec.id).status == "pending-approval" and site.session() == "Established"
    site.approve(rec.id)
    done = get(site.state, rec.id)
    assert done.status == "active" and done.approver == site.users["approver"]
    assert done.approver_uid == _uid(site.users["approver"])
    assert site.session() != "Established"  # seen from the carrier's own namespace
    last = [(e.action, e.actor) for e in site.audit()][-2:]
    assert last == [("approve", site.users["approver"]), ("disconnect", site.users["approver"])]
    back = site.run("requester", "restore", rec.id)
    assert back.returncode == 0 and f"RESTORED {rec.id}" in back.stdout, back.stdout + back.stderr
    assert site.session() == "Established"


def test_a_ttl_that_runs_out_while_the_service_is_down_is_done_when_it_is_back(site: Site) -> None:
    rid = site.request("short drill", "--ttl", "6s")
    site.approve(rid)
    assert service.stop(site.state) is not None
    try:
        expires = datetime.fromisoformat(get(site.state, rid).expires_at or "")
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 3)
        assert get(site.state, rid).status == "active" and site.session() != "Established"  # nothing ran it
    finally:
        service.start(site.config, site.state, site.sock, group=site.group, retry=2)
    wait_until(lambda: get(site.state, rid).status == "expired", 60, "the restarted service to expire it")
    wait_until(lambda: site.session() == "Established", 30, "the session back")
    log = site.audit()
    start = [e for e in log if e.action == "service-start"][-1]
    assert start.details["overdue"] == [rid]
    expiry = next(e for e in log if e.action == "expiry" and e.object == rid)
    assert expiry.actor == "tonle-scheduler" and expiry.details["late_seconds"] >= 3
    assert log.index(start) < log.index(expiry)


def test_a_failing_expiry_is_retried_recorded_and_shown(site: Site) -> None:
    rid = site.request("drill on a device that drifts", "--ttl", "4s")
    site.approve(rid)
    site.lab.vtysh("r2", "configure terminal\nip route 192.0.2.128/25 Null0")  # out of band: restores refuse
    try:
        wait_until(lambda: get(site.state, rid).timer_attempts >= 2, 60, "the expiry to fail and be retried")
        assert get(site.state, rid).status == "active" and site.session() != "Established"
        listed = site.run("viewer", "disconnects")
        assert listed.returncode == 0 and "! expiry failed" in listed.stdout, listed.stdout
        status = site.run("viewer", "status")
        assert status.returncode == 1 and f"PROBLEM: {rid}: expiry failed" in status.stdout, status.stdout
        assert "differs from its last applied config" in (get(site.state, rid).timer_error or "")
    finally:
        site.lab.vtysh("r2", "configure terminal\nno ip route 192.0.2.128/25 Null0")
    wait_until(lambda: get(site.state, rid).status == "expired", 60, "the retry to succeed")
    wait_until(lambda: site.session() == "Established", 30, "the session back")
    failures = [e for e in site.audit() if e.action == "expiry-failed" and e.object == rid]
    assert len(failures) >= 2 and all(e.actor == "tonle-scheduler" for e in failures)
    status = site.run("viewer", "status")
    assert status.returncode == 0 and status.stdout.strip().endswith("status: OK"), status.stdout


def test_an_unanswered_approval_lapses(site: Site) -> None:
    rid = site.request("nobody answers")
    db = sqlite3.connect(site.state / "tonle.db")
    db.execute("UPDATE disconnects SET approval_expires_at = ? WHERE id = ?",
               ((datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds"), rid))
    db.commit()
    db.close()
    wait_until(lambda: get(site.state, rid).status == "expired", 20, "the scheduler to close the request")
    lapsed = [e for e in site.audit() if e.action == "approval-expired" and e.object == rid]
    assert [e.actor for e in lapsed] == ["tonle-scheduler"]
    late = site.run("approver", "approve", rid, "--yes")
    assert late.returncode == 1 and f"{rid} is expired, not waiting for approval" in late.stderr


def test_without_a_service_a_non_root_user_is_refused(site: Site) -> None:
    user = site.users["approver"]
    done = subprocess.run(["runuser", "-u", user, "--", *tonle_argv(user), "--socket", "/nonexistent/tonle.sock",
                           "disconnects"], capture_output=True, text=True, check=False, cwd="/")
    assert done.returncode == 2
    assert "no tonle service answers at /nonexistent/tonle.sock; without one only root may act" in done.stderr


def test_a_warm_session_is_lent_checked_and_to_one_thread_at_a_time(site: Site) -> None:
    pool = SessionPool(site.config, site.state, lab=True)  # the service's pool code, in this process
    pool.start()
    try:
        wait_until(lambda: bool(pool.info()["ready"]), timeout=60, what="the pool's sessions")
        assert pool.info()["devices"] == ["r2", "rs1"] and active(site.state, lab=True) is pool
        first = pool.lend(["r2"])
        assert first is not None
        snap, bad = run_on(first.nr, ["r2"], bgp_snapshot)  # a real task on the warm session
        assert not bad and _r2_peer(site) in snap["r2"]
        driver = first.nr.inventory.hosts["r2"].connections["napalm"].connection
        assert healthy(driver)
        got: list[float] = []

        def second() -> None:
            lent = pool.lend(["r2", "rs1"])
            got.append(time.monotonic())
            assert lent is not None
            lent.release()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        assert got == []  # r2's session is lent: the second thread waits for it
        driver.close()  # the session dies while lent
        assert not healthy(driver)
        released = time.monotonic()
        first.release()
        waiter.join(30)
        assert got and got[0] >= released
        assert pool.info()["reopened"] >= 1  # the second lender found it dead and got a new one
        again = pool.lend(["r2"])
        assert again is not None
        try:
            assert healthy(again.nr.inventory.hosts["r2"].connections["napalm"].connection)
        finally:
            again.release()
        assert pool.lend(["r1-not-kept"]) is None  # a device the pool does not keep: the caller opens its own
    finally:
        pool.stop()
    assert active(site.state, lab=True) is None


def test_a_warm_session_survives_the_devices_sshd_restart(site: Site) -> None:
    """The service keeps a session to r2 (it carries an upstream); sshd is restarted there (its sessions die
    with it); the next disconnect finds the dead session, opens a new one, and is verified from the carrier."""
    def pool() -> dict[str, Any]:
        done = site.run("viewer", "status")
        found = re.search(r"device sessions \(lab\): (\d+) device\(s\) kept warm, (\d+) opened, (\d+) reopened",
                          done.stdout)
        return {"kept": int(found[1]), "opened": int(found[2]), "reopened": int(found[3])} if found else {}

    wait_until(lambda: bool(pool()), timeout=60, what="the service's warm sessions")
    before = pool()
    assert before["kept"] == 2 and before["opened"] >= 2  # r2 (upstream) and rs1 (the DIX's route server)
    ns, d = site.lab.ns("r2"), site.lab.node_dir("r2")
    sshd = [pid for pid in map(int, subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                                  check=True).stdout.split())
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd"]
    assert len(sshd) >= 2  # the listener and the service's session
    for pid in sshd:  # the lab's own sshd processes, in the lab's namespace
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: all(not Path(f"/proc/{pid}").exists() for pid in sshd), timeout=10, what="sshd to stop")
    subprocess.run(site.lab.in_node("r2", ["/usr/sbin/sshd", "-f", str(d / "sshd_config"), "-E",
                                           str(d / "sshd.log")]), check=True)
    rid = site.request("after an sshd restart")
    site.approve(rid)  # verified from up1's side
    assert site.session() != "Established"
    after = pool()
    assert after["reopened"] >= before["reopened"] + 1 and after["opened"] > before["opened"]
    back = site.run("requester", "restore", rid)
    assert back.returncode == 0 and f"RESTORED {rid}" in back.stdout, back.stdout + back.stderr
    assert site.session() == "Established"


def test_the_lab_takes_its_service_down_with_it(site: Site) -> None:
    # Last test of the module: it takes the lab down.
    pid = service.running_pid(site.state)
    assert pid is not None and site.run("viewer", "status").returncode == 0
    removed = labctl.down(site.lab, site.state)
    assert f"service pid {pid}" in removed
    assert service.running_pid(site.state) is None and not site.sock.exists()
    running = subprocess.run(["pgrep", "-f", f"tonle.*{site.state}"], capture_output=True, text=True, check=False)
    assert running.stdout.strip() == "", running.stdout
    assert site.audit()[-1].action == "service-stop"


def _uid(name: str) -> int:
    import pwd  # noqa: PLC0415

    return pwd.getpwnam(name).pw_uid


def _r2_peer(site: Site) -> str:
    inv = site.lab.inv
    (s,) = [s for s in inv.sessions() if s.node == "r2" and s.kind == "upstream" and s.afi == 4]
    return str(s.peer_ip)
