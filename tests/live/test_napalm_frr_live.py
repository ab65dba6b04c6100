"""Live tests of the napalm_frr driver against the small lab (real FRR + sshd in namespaces)."""

from __future__ import annotations

import ast
import gc
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import napalm
import pytest
from napalm.base.exceptions import (
    CommitConfirmException,
    CommitError,
    ConnectAuthError,
    MergeConfigException,
    ReplaceConfigException,
)
from nornir_napalm.plugins.tasks import napalm_get

from napalm_frr import FRRDriver
from tests.conftest import LabHandle, wait_until
from tests.napalm_frr.model_check import check_getter
from tonle.targets.nornir import init_nornir

TEST_PL = "ip prefix-list NAPALM-FRR-TEST seq 5 permit 198.51.100.0/24"


def _driver(lab: LabHandle, name: str, state_dir: Path, **extra: object) -> FRRDriver:
    dev = lab.devices[name]
    args: dict[str, object] = {"state_dir": str(state_dir), **extra}
    driver = napalm.get_network_driver("frr")(dev.mgmt_ip, dev.username, dev.password, optional_args=args)
    assert isinstance(driver, FRRDriver)
    return driver


@pytest.fixture
def r2(small_lab: LabHandle, tmp_path: Path) -> Iterator[FRRDriver]:
    """r2 through the driver; whatever a test changed is put back afterwards."""
    driver = _driver(small_lab, "r2", tmp_path)
    driver.open()
    before = driver.get_config(retrieve="running")["running"]
    try:
        yield driver
    finally:
        if driver.has_pending_commit():
            driver.confirm_commit()
        driver.discard_config()
        if driver.get_config(retrieve="running")["running"] != before:
            driver.load_replace_candidate(config=before)
            driver.commit_config()
        driver.close()


def _running(lab: LabHandle, node: str) -> str:
    """Running config read directly in the namespace (not through the driver)."""
    return lab.vtysh(node, "show running-config")


def _all_established(lab: LabHandle, node: str) -> bool:
    summary = json.loads(lab.vtysh(node, "show bgp vrf default summary json"))
    peers = [p for af in summary.values() if isinstance(af, dict) for p in af.get("peers", {}).values()]
    return bool(peers) and all(p["state"] == "Established" for p in peers)


def test_getters_conform_and_match_topology(small_lab: LabHandle, tmp_path: Path) -> None:
    wait_until(lambda: _all_established(small_lab, "r1"), what="r1 sessions established")
    with _driver(small_lab, "r1", tmp_path) as dev:
        assert dev.is_alive() == {"is_alive": True}
        results = {
            "get_facts": dev.get_facts(),
            "get_interfaces": dev.get_interfaces(),
            "get_interfaces_ip": dev.get_interfaces_ip(),
            "get_bgp_neighbors": dev.get_bgp_neighbors(),
            "get_bgp_neighbors_detail": dev.get_bgp_neighbors_detail(),
            "get_bgp_config": dev.get_bgp_config(),
            "get_config": dev.get_config(),
        }
        cli = dev.cli(["show version"])
    for getter, data in results.items():
        check_getter(getter, data)
    assert results["get_facts"]["hostname"] == "r1"
    assert results["get_facts"]["vendor"] == "FRRouting"
    assert "FRRouting" in cli["show version"]
    addresses = {a for fam in results["get_interfaces_ip"].values() for v in fam.values() for a in v}
    assert small_lab.devices["r1"].mgmt_ip in addresses
    # Every session the lab expects for r1 is there and up, seen through the driver.
    peers = results["get_bgp_neighbors"]["global"]["peers"]
    lab_peers = {
        s.peer_ip for n in small_lab.lab.status().nodes if n.name == "r1" for s in n.sessions
    }
    assert lab_peers and lab_peers <= set(peers)
    assert all(peers[p]["is_up"] and peers[p]["is_enabled"] for p in lab_peers)
    detail = [p for per_as in results["get_bgp_neighbors_detail"]["global"].values() for p in per_as]
    assert {p["remote_address"] for p in detail if p["up"]} >= lab_peers
    configured = {n for g in results["get_bgp_config"].values() for n in g["neighbors"]}
    assert lab_peers <= configured
    assert "hostname r1" in results["get_config"]["running"]


def test_compare_config_is_empty_for_the_running_config(r2: FRRDriver) -> None:
    running = r2.get_config(retrieve="running")["running"]
    r2.load_replace_candidate(config=running)
    assert r2.compare_config() == ""
    r2.load_merge_candidate(config="\n".join(running.splitlines()[:8]) + "\n")
    assert r2.compare_config() == ""


def test_replace_changes_device_and_rollback_restores(small_lab: LabHandle, r2: FRRDriver, tmp_path: Path) -> None:
    before = _running(small_lab, "r2")
    running = r2.get_config(retrieve="running")["running"]
    r2.load_replace_candidate(config=running + TEST_PL + "\n")
    assert r2.compare_config() == f"+{TEST_PL}"
    r2.commit_config()
    assert TEST_PL in _running(small_lab, "r2")
    r2.load_replace_candidate(config=running + TEST_PL + "\n")
    assert r2.compare_config() == ""
    r2.discard_config()
    # Rollback works from another driver instance (the rollback point is on disk).
    with _driver(small_lab, "r2", tmp_path) as other:
        other.rollback()
    assert _running(small_lab, "r2") == before
    wait_until(lambda: _all_established(small_lab, "r1"), what="sessions after rollback")


def test_rollback_restores_only_what_the_commit_changed(small_lab: LabHandle, r2: FRRDriver) -> None:
    before = _running(small_lab, "r2")
    running = r2.get_config(retrieve="running")["running"]
    r2.load_replace_candidate(config=running + TEST_PL + "\n")
    r2.commit_config(revert_in=60)
    small_lab.vtysh("r2", "configure terminal\nlog syslog informational")  # by hand, while the commit is pending
    r2.rollback()
    now = _running(small_lab, "r2")
    assert TEST_PL not in now and "log syslog informational" in now.splitlines()
    assert now.replace("log syslog informational\n", "") == before
    assert not r2.has_pending_commit()


def test_revert_in_without_confirm_reverts_by_itself(small_lab: LabHandle, r2: FRRDriver) -> None:
    before = _running(small_lab, "r2")
    r2.load_merge_candidate(config=TEST_PL + "\n")
    r2.commit_config(revert_in=5)
    assert r2.has_pending_commit()
    assert TEST_PL in _running(small_lab, "r2")
    with pytest.raises(CommitError):
        r2.load_merge_candidate(config=TEST_PL + "\n")
        r2.commit_config()
    r2.discard_config()
    wait_until(lambda: not r2.has_pending_commit(), timeout=60, what="automatic revert")
    assert _running(small_lab, "r2") == before


def test_confirm_commit_keeps_the_change(small_lab: LabHandle, r2: FRRDriver) -> None:
    r2.load_merge_candidate(config=TEST_PL + "\n")
    r2.commit_config(revert_in=5)
    r2.confirm_commit()
    assert not r2.has_pending_commit()
    with pytest.raises(CommitConfirmException):
        r2.confirm_commit()
    time.sleep(7)
    assert TEST_PL in _running(small_lab, "r2")


def test_refused_line_raises_and_leaves_device_unchanged(small_lab: LabHandle, r2: FRRDriver) -> None:
    before = _running(small_lab, "r2")
    # Valid syntax, refused by bgpd at commit time after a first line was already applied.
    r2.load_merge_candidate(config=f"{TEST_PL}\nrouter bgp 64599\n neighbor 192.0.2.1 remote-as 1\n")
    with pytest.raises(CommitError, match="BGP is already running"):
        r2.commit_config()
    assert _running(small_lab, "r2") == before


def test_bad_syntax_is_refused_at_load(r2: FRRDriver) -> None:
    with pytest.raises(MergeConfigException, match="Unknown command"):
        r2.load_merge_candidate(config="router bgp 64500\n neighbour 192.0.2.1 remote-as 1\n")
    with pytest.raises(ReplaceConfigException, match="Command incomplete"):
        r2.load_replace_candidate(config="router bgp 64500\n neighbor 192.0.2.1 remote-as\n")


def test_key_auth_and_wrong_password(small_lab: LabHandle, tmp_path: Path) -> None:
    dev = small_lab.devices["rs1"]
    with FRRDriver(dev.mgmt_ip, dev.username, "", optional_args={"key_file": dev.key_file,
                                                                   "state_dir": str(tmp_path)}) as d:
        assert d.get_facts()["hostname"] == "rs1"
    with pytest.raises(ConnectAuthError):
        FRRDriver(dev.mgmt_ip, dev.username, dev.password + "x").open()


def test_nornir_napalm_get(small_lab: LabHandle) -> None:
    nr, _ = init_nornir(small_lab.config_file, small_lab.state_dir, lab=True)
    result = nr.filter(name="r1").run(task=napalm_get, getters=["facts", "bgp_neighbors"])
    assert not result.failed
    data = result["r1"].result
    check_getter("get_facts", data["facts"])
    check_getter("get_bgp_neighbors", data["bgp_neighbors"])
    assert data["facts"]["hostname"] == "r1"


def test_napalm_command_line(small_lab: LabHandle) -> None:
    dev = small_lab.devices["r1"]
    napalm_cli = Path(sys.executable).with_name("napalm")
    out = subprocess.run(
        [str(napalm_cli), "--vendor", "frr", "--user", dev.username, "--password", dev.password,
         dev.mgmt_ip, "call", "get_bgp_neighbors"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    data = json.loads(out)
    check_getter("get_bgp_neighbors", data)
    # The sessions are the inventory's, all up.
    expected = {str(s.peer_ip) for s in small_lab.inv.device_sessions("r1")}
    assert set(data["global"]["peers"]) == expected
    assert all(p["is_up"] for p in data["global"]["peers"].values())


def test_failed_write_memory_leaves_the_revert_timer_armed(small_lab: LabHandle, r2: FRRDriver) -> None:
    """A `write memory` that fails after the change went live: the change is pending with its timer armed
    (never live with no timer), and a rollback undoes it."""
    before = _running(small_lab, "r2")
    node_dir = small_lab.lab.node_dir("r2")
    saved = [(f, f.stat().st_mode) for f in (node_dir, node_dir / "frr.conf")]
    r2.load_merge_candidate(config=TEST_PL + "\n")
    for f, _ in saved:  # vtysh (the login user, not root) can no longer write the config file
        f.chmod(0o555 if f.is_dir() else 0o444)
    try:
        with pytest.raises(CommitError, match="'write memory' failed; the change is pending"):
            r2.commit_config(revert_in=60)
    finally:
        for f, mode in saved:
            f.chmod(mode)
    assert r2.has_pending_commit()
    record = r2.state.read_pending()
    assert record is not None and Path(f"/proc/{record['watchdog_pid']}").exists()  # its timer runs
    assert TEST_PL in _running(small_lab, "r2")
    r2.rollback()
    assert not r2.has_pending_commit() and _running(small_lab, "r2") == before


def test_a_pending_record_without_watchdog_is_found_and_rolled_back(small_lab: LabHandle, r2: FRRDriver) -> None:
    """The controller killed between the pending record and its watchdog: the record is orphaned (nothing
    will revert it), commits are refused naming the way out, and a rollback clears it."""
    before = _running(small_lab, "r2")
    r2.state.save_rollback(before)
    r2.state.write_pending({"deadline": time.time() + 60, "message": "", "watchdog_pid": None})
    assert r2._pending_orphaned()
    r2.load_merge_candidate(config=TEST_PL + "\n")
    with pytest.raises(CommitError, match="no revert timer runs for it"):
        r2.commit_config(revert_in=60)
    r2.discard_config()
    r2.rollback()
    assert not r2.has_pending_commit() and _running(small_lab, "r2") == before
    # A claim left by a confirm or revert that died midway is cleared by a rollback too.
    r2.state.write_pending({"deadline": time.time() + 60, "message": "", "watchdog_pid": None})
    assert r2.state.claim_pending() is not None and r2.has_pending_commit()
    assert r2._pending_orphaned()
    r2.rollback()
    assert not r2.has_pending_commit() and _running(small_lab, "r2") == before


def test_a_dead_session_is_dropped_quietly_by_the_garbage_collector(
        small_lab: LabHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """NAPALM's finaliser probed the session; on a dead transport Netmiko logged a traceback from inside the
    collector, which broke an ast.parse running at that moment on Python 3.11 (seen as a failed CI run)."""
    driver = _driver(small_lab, "r2", tmp_path)
    driver.open()
    assert driver.device is not None
    driver.device.remote_conn.get_transport().close()  # the SSH connection dies under the driver
    assert driver.is_alive() == {"is_alive": False}
    cycle: list[object] = [driver]
    cycle.append(cycle)  # only the collector frees it, as a Nornir host's connections are freed
    del driver, cycle
    with caplog.at_level("DEBUG"):
        gc.collect()
        ast.parse("x = 1")
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "WARNING")] == []


def test_the_session_starts_in_step_with_vtysh(small_lab: LabHandle, tmp_path: Path) -> None:
    """Netmiko's IOS preparation sent `terminal width 511` (unknown to vtysh) and read only to its echo; at 200
    lab devices vtysh's late "% Unknown command" answer landed inside a running-config read. Now nothing vtysh
    refuses is sent, and every session's first command answers with its own output only."""
    logs = [tmp_path / f"session-{i}.log" for i in range(6)]
    drivers = [_driver(small_lab, "r1", tmp_path / f"s{i}", session_log=str(log)) for i, log in enumerate(logs)]
    for d in drivers:  # six logins at once: vtysh starts slowly while the others do
        d.open()
    try:
        for d in drivers:
            out = d.cli(["show version"])["show version"]
            assert out.lstrip().startswith("FRRouting"), out[:200]
    finally:
        for d in drivers:
            d.close()
    for log in logs:
        text = log.read_text()
        assert "show version" in text  # the log is the session's
        assert "terminal width" not in text and "Unknown command" not in text and "deprecated" not in text
