"""Shared fixtures. The live tier runs real FRR + sshd in network namespaces (needs root)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tonle.inventory import Inventory, load_from_nornir_config
from tonle.lab import Lab

ROOT = Path(__file__).resolve().parent.parent
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


def wait_until(cond: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Poll `cond` (BGP propagation takes a few seconds after sessions come up)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the live tier needs root (network namespaces); run the suite as root like CI does")


@pytest.fixture(scope="session")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """The small test topology (tests/fixtures/small) up for the whole session, torn down after."""
    require_root()
    work = tmp_path_factory.mktemp("small")
    shutil.copytree(SMALL, work, dirs_exist_ok=True)
    config = work / "nornir.yaml"
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
