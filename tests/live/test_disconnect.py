"""Emergency disconnect against a lab of the reference inventory: scope, guard, approval, TTL, RTBH, audit."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, lab_copy, require_root, unique_lab_name, wait_until
from tonle.change.plan import Selection, make_plan
from tonle.emergency.disconnect import DisconnectRefused, Scope, approve, disconnect, restore
from tonle.interfaces import labctl, service
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab
from tonle.lab.probe import lab_peer_probe
from tonle.source.inventory import load_from_nornir_config
from tonle.state.accounts import Actor, NotPermitted, Role
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import active_overrides, records

# Two accounts as `tonle serve` establishes them from two OS users' uids (tests/live/test_service.py runs
# real OS accounts through the service; here the verbs are called with who acts, as the service calls them).
ALICE = Actor("alice", 1_000_001, Role.APPROVER)
BOB = Actor("bob", 1_000_002, Role.APPROVER)


class Ref:
    def __init__(self, root: Path) -> None:
        self.config = root / "nornir.yaml"
        self.state = root / "state"
        self.lab = Lab(load_from_nornir_config(self.config), self.state)

    def disconnect(self, kind: str, value: str, **kw: Any) -> Any:
        kw.setdefault("operator", ALICE)
        kw.setdefault("reason", "test")
        kw.setdefault("ticket", "T-1")
        kw.setdefault("ttl_seconds", 600)
        return disconnect(self.config, self.state, Scope(kind, value),
                          peer_probe=lab_peer_probe(self.config, self.state), **kw)

    def restore(self, rid: str) -> Any:
        return restore(self.config, self.state, rid, operator=ALICE, peer_probe=lab_peer_probe(self.config, self.state))

    def state_of(self, node: str, peer_ip: str) -> str:
        summary = json.loads(self.lab.vtysh(node, "show bgp vrf default summary json"))
        fam = summary["ipv6Unicast" if ":" in peer_ip else "ipv4Unicast"]
        return str(fam["peers"][peer_ip]["state"])

    def routes(self, node: str) -> dict[str, Any]:
        return json.loads(self.lab.vtysh(node, "show ip bgp json")).get("routes", {})  # type: ignore[no-any-return]

    def running(self, node: str) -> str:
        return self.lab.vtysh(node, "show running-config")

    def fib(self, node: str, ip: str) -> str:
        return subprocess.run(self.lab.in_node(node, ["ip", "route", "get", ip]), capture_output=True, text=True,
                              check=True).stdout


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ref]:
    require_root()
    src = tmp_path_factory.mktemp("refsrc")
    shutil.copytree(ROOT / "inventory", src / "inventory")
    shutil.copy(ROOT / "nornir.yaml", src)
    r = Ref(lab_copy(src, tmp_path_factory.mktemp("dis"), unique_lab_name("d")).parent)
    labctl.up(r.lab, r.config, r.state, timeout=90)  # with its `tonle serve`: the timers are the service's
    wait_until(lambda: "198.18.0.0/22" in r.routes("th-carrier"), what="routes at the Thai carrier")
    try:
        yield r
    finally:
        labctl.down(r.lab, r.state)


def test_bad_input_is_refused_and_changes_nothing(ref: Ref, capsys: pytest.CaptureFixture[str]) -> None:
    before = ref.running("poi-iig-1")
    args = ["--config", str(ref.config), "--state-dir", str(ref.state), "disconnect"]
    cases = [
        (["--peer-as", "65549", "--reason", "r", "--ticket", "t"], "--peer-as 65549: no session with this AS"),
        (["--session", "203.0.113.65", "--reason", "r", "--ticket", "t"],
         "--session 203.0.113.65: ambiguous, on pnh-iig-1, pnh-iig-2"),
        (["--session", "poi-iig-1:198.51.100.5", "--ticket", "t"], "--reason is required"),
        (["--session", "poi-iig-1:198.51.100.5", "--reason", "r"], "--ticket is required"),
        (["--reason", "r", "--ticket", "t"], "name exactly one scope"),
        (["--prefix", "198.19.4.0/24", "--reason", "r", "--ticket", "t"], "not inside the operator's"),
        (["--link", "dix-pnh", "--reason", "r", "--ticket", "t"], "a shared fabric; name one port"),
    ]
    for extra, message in cases:
        assert main([*args, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert ref.running("poi-iig-1") == before
    assert records(ref.state) == []


INJECTION = "fibre cut\nexit\nip route 192.0.2.0/24 blackhole\nrouter bgp 64500"


def test_injected_reason_is_refused_before_any_device(ref: Ref, capsys: pytest.CaptureFixture[str]) -> None:
    before = ref.running("poi-iig-1")
    args = ["--config", str(ref.config), "--state-dir", str(ref.state), "disconnect", "--session",
            "poi-iig-1:198.51.100.5"]
    for extra in (["--reason", INJECTION, "--ticket", "INC-1"], ["--reason", "fibre cut", "--ticket", "INC-1\nexit"],
                  ["--reason", "fibre cut", "--ticket", "INC-1 */"]):
        assert main([*args, *extra]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    after = ref.running("poi-iig-1")
    assert after == before and "192.0.2.0/24" not in after
    assert records(ref.state) == []


def test_dry_run_shows_what_goes_dark_and_changes_nothing(ref: Ref) -> None:
    out = ref.disconnect("site-upstreams", "POI", dry_run=True)
    assert out.status == "dry-run" and out.record is None
    assert out.blast.sessions == ["poi-iig-1:198.51.100.13", "poi-iig-1:198.51.100.5",
                                  "poi-iig-1:2001:db8:0:2::5", "poi-iig-1:2001:db8:0:2::d"]
    assert "the last upstream of POI goes dark" in out.blast.violations
    assert "198.19.4.0/24" in out.blast.prefixes and "198.19.9.0/24" in out.blast.prefixes
    assert ref.state_of("th-carrier", "198.51.100.4") == "Established"
    assert records(ref.state) == []


def test_one_upstream_session_at_poipet_goes_down_and_restores_by_itself(ref: Ref) -> None:
    assert "198.18.0.0/22" in ref.routes("th-carrier")
    # A line added by hand where Tonlé owns nothing is neither in the way of the emergency nor removed by it.
    ref.lab.vtysh("poi-iig-1", "configure terminal\nlog syslog informational")
    try:
        _disconnect_and_expire(ref)
        assert "log syslog informational" in ref.running("poi-iig-1").splitlines()
    finally:
        ref.lab.vtysh("poi-iig-1", "configure terminal\nno log syslog informational")


def _disconnect_and_expire(ref: Ref) -> None:
    """The session goes down (verified from the carrier), a plan leaves it down, the service restores it at its TTL."""
    out = ref.disconnect("session", "poi-iig-1:198.51.100.5", reason="route leak from the Thai carrier",
                         ticket="INC-1", ttl_seconds=8)
    assert out.status == "active", out.detail
    print(f"time to verified effect: {out.seconds_to_verified:.2f}s")
    # Verified from the carrier's own namespace: session down, our routes withdrawn over IPv4.
    assert ref.state_of("th-carrier", "198.51.100.4") != "Established"
    assert "198.18.0.0/22" not in ref.routes("th-carrier")
    assert ref.state_of("th-carrier", "2001:db8:0:2::4") == "Established"  # the IPv6 session is out of scope
    # A plan knows the session is down on purpose: nothing to change (it does not undo the disconnect).
    overrides = [o for r in records(ref.state, "active") for o in r.overrides]
    assert overrides[0]["kind"] == "session" and "INC-1" in overrides[0]["message"]
    plan = make_plan(ref.config, ref.state, Selection(hosts=("poi-iig-1",)), lab=True, operator="alice")
    assert plan.changed == [], plan.text()
    assert plan.overrides == [overrides[0]] and active_overrides(ref.state)
    wait_until(lambda: records(ref.state)[0].status == "expired", timeout=40, what="the service to restore it")
    wait_until(lambda: "198.18.0.0/22" in ref.routes("th-carrier"), what="our routes back at the carrier")
    assert ref.state_of("th-carrier", "198.51.100.4") == "Established"
    assert [e.action for e in AuditLog(StateDB(ref.state)).entries()][-3:] == ["disconnect", "plan", "expiry"]


def test_site_upstreams_need_a_second_operator(ref: Ref) -> None:
    out = ref.disconnect("site-upstreams", "BVT", reason="attack over the Vietnamese border link", ticket="INC-2")
    assert out.status == "needs approval"
    assert "the last upstream of BVT goes dark" in out.blast.violations
    assert ref.state_of("vn-carrier", "198.51.100.6") == "Established"  # nothing changed
    rid = out.record.id
    # The same account: the same uid under another name, or the same name in other letter case.
    for same in (ALICE, Actor("alice-again", ALICE.uid, Role.APPROVER), Actor("Alice", 1_000_003, Role.APPROVER)):
        with pytest.raises(DisconnectRefused, match="requested it and cannot approve it"):
            approve(ref.config, ref.state, rid, approver=same)
    with pytest.raises(NotPermitted, match="carol \\(role operator\\) may not approve a disconnect"):
        approve(ref.config, ref.state, rid, approver=Actor("carol", 1_000_004, Role.OPERATOR))
    done = approve(ref.config, ref.state, rid, approver=BOB, peer_probe=lab_peer_probe(ref.config, ref.state))
    assert done.status == "active" and done.record.approver == "bob", done.detail
    assert ref.state_of("vn-carrier", "198.51.100.6") != "Established"
    assert ref.state_of("vn-carrier", "198.51.100.10") == "Established"  # its PNH session is another site
    assert ref.restore(rid).status == "restored"
    assert ref.state_of("vn-carrier", "198.51.100.6") == "Established"
    actions = [(e.action, e.actor) for e in AuditLog(StateDB(ref.state)).entries()][-8:]
    assert actions == [("disconnect-refused", "alice"), ("approval-refused", "alice"),
                       ("approval-refused", "alice-again"), ("approval-refused", "Alice"),
                       ("approval-refused", "carol"), ("approve", "bob"), ("disconnect", "bob"), ("restore", "alice")]


def test_every_international_session_is_refused_without_approval(ref: Ref) -> None:
    ups = sorted({f"{s.node}:{s.peer_ip}" for s in ref.lab.inv.sessions() if s.kind == "upstream"})
    out = ref.disconnect("session", ",".join(ups), dry_run=False, reason="national emergency drill", ticket="DR-1")
    assert out.status == "needs approval"
    assert "the country's last international path goes dark" in out.blast.violations
    assert out.blast.national["upstream_left"] == 0
    # An approval that comes too late is refused, and nothing changes.
    db = sqlite3.connect(ref.state / "tonle.db")
    db.execute("UPDATE disconnects SET approval_expires_at = '2000-01-01T00:00:00+00:00' WHERE id = ?",
               (out.record.id,))
    db.commit()
    db.close()
    with pytest.raises(DisconnectRefused, match="the approval request expired"):
        approve(ref.config, ref.state, out.record.id, approver=BOB)
    assert ref.state_of("th-carrier", "198.51.100.4") == "Established"


def test_graceful_disconnect_signals_graceful_shutdown_first(ref: Ref) -> None:
    seen: list[str] = []

    def watch() -> None:  # from the carrier's side, while the disconnect waits before shutting
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not seen:
            route = json.loads(ref.lab.vtysh("th-carrier-b", "show ip bgp 198.18.0.0/22 json"))
            for path in route.get("paths", []):
                if "graceful-shutdown" in path.get("community", {}).get("string", ""):
                    seen.append(path["community"]["string"])
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    # FRR applies a changed route-map after its 5 s delay timer: the wait must be longer than that.
    out = ref.disconnect("session", "poi-iig-1:198.51.100.13", graceful=True, graceful_wait=8,
                         reason="planned carrier maintenance", ticket="CHG-7")
    watcher.join()
    assert out.status == "active", out.detail
    assert seen, "the carrier never saw GRACEFUL_SHUTDOWN on our routes before the session went down"
    assert ref.state_of("th-carrier-b", "198.51.100.12") != "Established"
    assert ref.restore(out.record.id).status == "restored"


def test_blackhole_drops_only_that_prefix(ref: Ref) -> None:
    assert "dev rtbh0" not in ref.fib("th-carrier", "198.18.16.1")
    out = ref.disconnect("prefix", "198.18.16.1/32", reason="DDoS against an ISP customer", ticket="INC-3")
    assert out.status == "active", out.detail
    assert out.blast.prefixes == ["198.18.16.1/32"] and out.blast.sessions == []
    for carrier in ("th-carrier", "th-carrier-b", "vn-carrier", "sg-carrier", "hk-carrier", "global-transit"):
        assert "dev rtbh0" in ref.fib(carrier, "198.18.16.1"), carrier
        assert "dev rtbh0" not in ref.fib(carrier, "198.18.16.2"), carrier  # the rest of the /24 flows
    assert "198.18.16.1/32" not in ref.routes("isp-mekong")  # never towards the DIX
    assert ref.restore(out.record.id).status == "restored"
    assert "dev rtbh0" not in ref.fib("th-carrier", "198.18.16.1")


def test_audit_log_verifies_and_detects_an_edit(ref: Ref, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(ref.config), "--state-dir", str(ref.state), "audit"]
    assert main([*args, "verify"]) == 0
    assert "signatures, chain and head intact" in capsys.readouterr().out
    db_file = ref.state / "tonle.db"
    backup = ref.state.parent / "tonle.db.backup"

    def copy(src: Path, dst: Path) -> None:  # the database is in WAL mode: copy through SQLite, not its file
        with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
            a.backup(b)

    copy(db_file, backup)
    db = sqlite3.connect(db_file)
    seq = db.execute("SELECT seq FROM audit WHERE action = 'disconnect' LIMIT 1").fetchone()[0]
    db.execute("UPDATE audit SET details = replace(details, 'INC-1', 'INC-9') WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    assert main([*args, "verify"]) == 1
    assert f"entry {seq}: content does not match its hash (edited)" in capsys.readouterr().err
    copy(backup, db_file)
    db = sqlite3.connect(db_file)
    db.execute("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
    db.commit()
    db.close()
    assert main([*args, "verify"]) == 1
    assert "entries removed from the end" in capsys.readouterr().err
    copy(backup, db_file)
    assert main([*args, "verify"]) == 0


def test_an_unreviewed_edit_never_rides_on_a_disconnect(ref: Ref) -> None:
    policy = ref.config.parent / "inventory" / "policy.yaml"
    original = policy.read_text()
    policy.write_text(original.replace("240.0.0.0/4]", "240.0.0.0/4, 198.51.100.128/25]"))
    try:
        before = ref.running("poi-iig-1")
        out = ref.disconnect("session", "poi-iig-1:198.51.100.5", reason="drill: an edit is pending", ticket="INC-7")
        assert out.status == "active", out.detail
        during = ref.running("poi-iig-1")
        added = [ln.strip() for ln in during.splitlines() if ln not in before.splitlines()]
        removed = [ln.strip() for ln in before.splitlines() if ln not in during.splitlines()]
        # The device shows the shutdown and nothing else: the reason and the edit stay off it.
        assert added == [f"neighbor 198.51.100.5 shutdown message tonle {out.record.id} INC-7"], added
        assert removed == [] and "198.51.100.128/25" not in during and "drill" not in during
        back = ref.restore(out.record.id)
        assert back.status == "restored", back.detail
        assert ref.running("poi-iig-1") == before
        # The edit reaches the device only through plan (and apply): the plan shows it.
        plan = make_plan(ref.config, ref.state, Selection(hosts=("poi-iig-1",)), lab=True, operator="alice")
        assert "198.51.100.128/25" in plan.text()
    finally:
        policy.write_text(original)


def test_a_drifted_device_refuses_an_emergency_change(ref: Ref) -> None:
    ref.lab.vtysh("poi-iig-1", "configure terminal\nip route 192.0.2.128/25 Null0")
    try:
        before = ref.running("poi-iig-1")
        assert "ip route 192.0.2.128/25 Null0" in before
        out = ref.disconnect("session", "poi-iig-1:198.51.100.5", ticket="INC-8")
        assert out.status == "failed"
        assert any("differs from its last applied config" in p for p in out.detail), out.detail
        assert ref.running("poi-iig-1") == before  # nothing committed, the out-of-band line left alone
        assert ref.state_of("th-carrier", "198.51.100.4") == "Established"
    finally:
        ref.lab.vtysh("poi-iig-1", "configure terminal\nno ip route 192.0.2.128/25 Null0")


def test_lab_down_ends_active_disconnects_and_its_service(ref: Ref) -> None:
    # Last test of the module: it takes the lab down.
    out = ref.disconnect("session", "poi-iig-1:198.51.100.5", reason="left active on purpose", ticket="T-9")
    assert out.status == "active"
    assert service.running_pid(ref.state) is not None, "the lab's service holds the timer"
    labctl.down(ref.lab, ref.state)
    assert service.running_pid(ref.state) is None
    left = subprocess.run(["pgrep", "-f", f"tonle.*{ref.state}"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", "nothing keeps running after the lab"
    assert records(ref.state)[0].status == "ended"
    assert [e.action for e in AuditLog(StateDB(ref.state)).entries()][-2:] == ["service-stop", "disconnect-ended"]
