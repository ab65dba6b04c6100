"""Live tests of the embedded lab: real FRR and sshd in network namespaces."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException

from tests.conftest import SMALL, LabHandle, lab_copy, require_root, unique_lab_name, wait_until
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab, LabError
from tonle.source.inventory import load_from_nornir_config


def test_every_session_of_the_inventory_is_established(small_lab: LabHandle) -> None:
    st = small_lab.lab.status()
    assert st.up
    expected = small_lab.inv.sessions()
    seen = [s for n in st.nodes for s in n.sessions]
    assert len(seen) == len(expected) == 12
    assert all(s.state == "Established" for s in seen), st.down_sessions()
    # Devices are reachable at their inventory management address, externals have none.
    mgmt = {n.name: n.mgmt_ip for n in st.nodes}
    assert mgmt["r1"] == str(small_lab.inv.devices["r1"].mgmt_ip) and mgmt["up1"] is None


def test_routes_flow_between_upstream_and_domestic_isps(small_lab: LabHandle) -> None:
    def routes(node: str) -> dict[str, Any]:
        return json.loads(small_lab.vtysh(node, "show ip bgp json"))["routes"]  # type: ignore[no-any-return]

    wait_until(lambda: {"198.19.4.0/24", "198.18.17.0/24"} <= set(routes("isp1")), what="routes at isp1")
    isp1 = routes("isp1")
    assert "198.19.4.0/24" in isp1  # upstream's prefix via r2 -> r1 (reflector) -> DIX route server
    assert "198.18.17.0/24" in isp1  # the other ISP via the route server
    wait_until(lambda: "198.18.16.0/24" in routes("up1"), what="routes at up1")
    up1 = routes("up1")
    assert "198.18.0.0/22" in up1  # the operator's aggregate
    assert "198.18.16.0/24" in up1  # domestic ISP prefixes are exported to the upstream
    # The route server is transparent: the ISP sees the other ISP's AS first.
    path = isp1["198.18.17.0/24"][0]["path"]
    assert path.split()[0] == "65002"


def test_ssh_login_drops_into_vtysh(small_lab: LabHandle) -> None:
    dev = small_lab.devices["r2"]
    out = subprocess.run(
        ["ssh", "-i", dev.key_file, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", f"{dev.username}@{dev.mgmt_ip}", "show running-config"],
        capture_output=True, text=True, timeout=30, check=True).stdout
    assert "hostname r2" in out and "router bgp 64500" in out
    # Password login, interactive: the prompt is the device's, config mode works.
    conn = ConnectHandler(device_type="cisco_ios", host=dev.mgmt_ip, username=dev.username,
                          password=dev.password, use_keys=False, allow_agent=False)
    try:
        assert conn.find_prompt() == "r2#"
        assert "FRRouting" in conn.send_command("show version")
    finally:
        conn.disconnect()


def test_wrong_password_is_refused(small_lab: LabHandle) -> None:
    dev = small_lab.devices["r1"]
    with pytest.raises(NetmikoAuthenticationException):
        ConnectHandler(device_type="cisco_ios", host=dev.mgmt_ip, username=dev.username,
                       password=dev.password + "x", use_keys=False, allow_agent=False)


def test_up_is_idempotent(small_lab: LabHandle) -> None:
    pidfile = small_lab.lab.node_dir("r1") / "bgpd.pid"
    before = pidfile.read_text()
    small_lab.lab.up(timeout=30)
    assert pidfile.read_text() == before  # nothing rebuilt or restarted


def test_status_cli(small_lab: LabHandle, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(small_lab.config_file), "--state-dir", str(small_lab.state_dir)]
    assert main([*args, "lab", "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {n["name"] for n in data["nodes"]} == {"r1", "r2", "rs1", "up1", "isp1", "isp2"}
    assert main([*args, "lab", "status"]) == 0
    out = capsys.readouterr().out
    rs1 = re.escape(str(small_lab.inv.devices["rs1"].mgmt_ip))
    assert re.search(rf"^rs1\s+device\s+{rs1}\s+zebra\+ staticd\+ bfdd\+ bgpd\+ sshd\+\s+3/3 ", out, re.M), out


def test_management_network_overlap_is_refused(small_lab: LabHandle, tmp_path: Path) -> None:
    # Same management network as the running small lab: building it would break that lab.
    shutil.copytree(small_lab.config_file.parent, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("state"))
    lab_file = tmp_path / "inventory" / "lab.yaml"
    lab_file.write_text(lab_file.read_text().replace(f"name: {small_lab.lab.name}", "name: ovl"))
    inv = load_from_nornir_config(tmp_path / "nornir.yaml")
    net = small_lab.inv.lab.mgmt_gateway.network
    with pytest.raises(LabError, match=f"mgmt_gateway: {re.escape(str(net))} overlaps"):
        Lab(inv, tmp_path / "state").up(timeout=5)
    assert not any(Path("/run/netns", ns).exists() for ns in Lab(inv, tmp_path / "state").all_namespaces())


def _lab_pids(run_dir: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def test_down_after_crashed_up_leaves_nothing(tmp_path: Path) -> None:
    require_root()
    config = lab_copy(SMALL, tmp_path, unique_lab_name("c"))
    lab = Lab(load_from_nornir_config(config), tmp_path / "state")
    env = {**os.environ, "TONLE_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen([sys.executable, "-m", "tonle", "--config", str(config), "lab", "up"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (lab.node_dir("r1") / "bgpd.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # a crash mid-build: no cleanup code runs
    proc.wait()
    assert _lab_pids(lab.run_dir), "the crash should have left daemons behind for this test to mean anything"
    assert main(["--config", str(config), "--state-dir", str(tmp_path / "state"), "lab", "down"]) == 0
    assert not any(Path("/run/netns", ns).exists() for ns in lab.all_namespaces())
    assert not _lab_pids(lab.run_dir)
    assert subprocess.run(["ip", "link", "show", lab.bridge], capture_output=True, check=False).returncode != 0
    assert subprocess.run(["getent", "passwd", lab.username], capture_output=True, check=False).returncode != 0
    assert not lab.run_dir.exists()


def test_up_reports_sessions_that_do_not_come_up(small_lab: LabHandle) -> None:
    # The upstream shuts its side: `up` must say exactly which session is down, then recover.
    small_lab.vtysh("up1", "configure terminal\nrouter bgp 65538\nneighbor 198.51.100.0 shutdown")
    try:
        expected = (r"2 BGP session\(s\) not Established after 2s: r2->up1 198\.51\.100\.1 \(\w+\), "
                    r"up1->r2 198\.51\.100\.0 \(Idle \(Admin\)\)$")
        with pytest.raises(LabError, match=expected):
            small_lab.lab.up(timeout=2)
    finally:
        small_lab.vtysh("up1", "configure terminal\nrouter bgp 65538\nno neighbor 198.51.100.0 shutdown")
    small_lab.lab.up(timeout=60)


def test_device_host_keys_are_pinned(small_lab: LabHandle, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Tonlé connects only to the host keys the lab recorded: a changed or unknown key is refused."""
    known = small_lab.state_dir / "lab" / small_lab.inv.lab.name / "known_hosts"
    pinned = known.read_text()
    r1 = small_lab.devices["r1"].mgmt_ip
    assert sorted(ln.split()[0] for ln in pinned.splitlines()) == sorted(d.mgmt_ip for d in small_lab.devices.values())
    args = ["--config", str(small_lab.config_file), "--state-dir", str(small_lab.state_dir), "facts", "--host", "r1"]
    assert main(args) == 0
    capsys.readouterr()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().split()[:2]
    try:
        known.write_text("".join(f"{r1} {' '.join(other)}\n" if ln.startswith(f"{r1} ") else f"{ln}\n"
                                 for ln in pinned.splitlines()))
        assert main(args) == 1
        assert "SSH host key CHANGED" in capsys.readouterr().out
        known.write_text("".join(f"{ln}\n" for ln in pinned.splitlines() if not ln.startswith(f"{r1} ")))
        assert main(args) == 1
        assert "SSH host key unknown" in capsys.readouterr().out
    finally:
        known.write_text(pinned)
    assert main(args) == 0
