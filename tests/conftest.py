"""Shared fixtures. The live tier runs real FRR + sshd in network namespaces (needs root)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tonle.lab.builder import Lab
from tonle.source.inventory import Inventory, load_from_nornir_config

ROOT = Path(__file__).resolve().parent.parent


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # pytest then still runs the fixtures' teardown: no lab is left behind


signal.signal(signal.SIGTERM, _interrupted)  # a CI timeout or `kill` stops the run like Ctrl-C
SMALL = Path(__file__).resolve().parent / "fixtures" / "small"


@dataclass(frozen=True)
class DeviceAccess:
    name: str
    mgmt_ip: str
    username: str
    password: str = field(repr=False)
    key_file: str


@dataclass
class LabHandle:
    lab: Lab
    inv: Inventory
    config_file: Path
    state_dir: Path
    devices: dict[str, DeviceAccess]

    def vtysh(self, node: str, command: str) -> str:
        """One vtysh command inside any lab namespace (device or simulated network)."""
        return self.lab.vtysh(node, command)


def wait_until(cond: Callable[[], bool], timeout: float = 30, what: str = "condition",
               interval: float = 0.25) -> None:
    """Poll `cond` (BGP propagation takes a few seconds after sessions come up)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the live tier needs root (network namespaces); run the suite as root like CI does")


def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                         check=True).stdout
    nets = []
    for route in json.loads(out or "[]"):
        if route.get("dst") not in (None, "default"):
            nets.append(ipaddress.ip_network(route["dst"], strict=False))
    return nets


def lab_copy(src: Path, dest: Path, name: str) -> Path:
    """Copy an inventory (dir holding nornir.yaml + inventory/) as lab `name` on a free management /24.

    Test labs get their own name and management network so that they never touch a lab a developer
    (or a concurrent test run) has up.
    """
    shutil.copytree(src, dest, dirs_exist_ok=True)
    used = _used_networks()
    free = next(n for n in ipaddress.ip_network("198.19.128.0/17").subnets(new_prefix=24)
                if not any(n.overlaps(u) for u in used) and n != ipaddress.ip_network("198.19.254.0/24"))
    lab_file = dest / "inventory" / "lab.yaml"
    lab = yaml.safe_load(lab_file.read_text())
    old = ipaddress.ip_interface(lab["mgmt_gateway"]).network
    kept = {k: lab[k] for k in ("rpki_vrps",) if k in lab}  # the lab's RPKI cache, if it has one
    lab_file.write_text(yaml.safe_dump({"name": name, "mgmt_gateway": f"{free[1]}/24", **kept}))
    policy_file = dest / "inventory" / "policy.yaml"
    policy = yaml.safe_load(policy_file.read_text())
    if policy.get("rpki"):  # the lab's cache stands on the management network: move its addresses along
        text = policy_file.read_text()  # edited as text: tests edit this file by its exact wording later
        for cache in policy["rpki"]["caches"]:
            new = free[int(ipaddress.ip_address(cache["address"])) - int(old[0])]
            text = re.sub(rf"(address: ){re.escape(str(cache['address']))}\b", rf"\g<1>{new}", text)
        policy_file.write_text(text)
    hosts_file = dest / "inventory" / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    for host in hosts.values():
        host["hostname"] = str(free[int(ipaddress.ip_address(host["hostname"])) - int(old[0])])
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    return dest / "nornir.yaml"


# A QoS policy for the small topology: r2's port towards the upstream shaped at 20 Mbit/s.
SMALL_QOS: dict[str, Any] = {
    "classes": {"voice": {"dscp": ["ef"]}, "business": {"dscp": ["af31"]}, "best-effort": {"default": True}},
    "policies": {"egress": {"classes": [
        {"class": "voice", "priority": True, "guaranteed_percent": 20, "max_percent": 20},
        {"class": "business", "guaranteed_percent": 25, "max_percent": 25},
        {"class": "best-effort", "guaranteed_percent": 55, "max_percent": 100}]}},
    "attachments": [{"device": "r2", "link": "r2-up1", "policy": "egress", "shape_mbps": 20}],
}


def write_window(inv_dir: Path, *, open_now: bool) -> None:
    """One one-off change window: open now (started an hour ago) or starting tomorrow."""
    now = datetime.now(UTC).replace(tzinfo=None)
    start = now - timedelta(hours=1) if open_now else now + timedelta(days=1)
    windows = [{"name": "test-window", "timezone": "UTC", "start": start.isoformat(timespec="minutes"),
                "end": (start + timedelta(hours=2)).isoformat(timespec="minutes")}]
    (inv_dir / "windows.yaml").write_text(yaml.safe_dump({"windows": windows}))


def unique_lab_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(2)}"


@pytest.fixture(scope="session")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """The small test topology (tests/fixtures/small) up for the whole session, torn down after."""
    require_root()
    work = tmp_path_factory.mktemp("small")
    config = lab_copy(SMALL, work, unique_lab_name("t"))
    inv = load_from_nornir_config(config)
    state = work / "state"
    lab = Lab(inv, state)
    lab.up(timeout=90)
    creds = lab.credentials()
    devices = {n: DeviceAccess(n, str(d.mgmt_ip), creds.username, creds.password, creds.key_file)
               for n, d in inv.devices.items()}
    try:
        yield LabHandle(lab, inv, config, state, devices)
    finally:
        lab.down()
    left = [ns for ns in lab.all_namespaces() if Path("/run/netns", ns).exists()]
    assert not left, f"lab down left namespaces behind: {left}"


@pytest.fixture
def small_applied(tmp_path: Path) -> tuple[Path, Path]:
    """(nornir.yaml, state dir) of a private copy of the small inventory, recorded as applied on every device
    (as `lab up` records its build): what the emergency path needs before it renders anything. No lab."""
    from tonle.source.snapshot import capture  # noqa: PLC0415
    from tonle.state.applied import record_applied  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    shutil.copytree(SMALL, tmp_path / "small")
    config, state = tmp_path / "small" / "nornir.yaml", tmp_path / "state"
    inv = load_from_nornir_config(config)
    record_applied(StateDB(state), list(inv.devices), "lab-up", capture(inv))
    return config, state
