"""A wheel built from the repository holds what the code finds at run time (templates, playbooks, the host
program list), so Tonlé works from any directory once installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_carries_templates_playbooks_and_host_requirements(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("tonle-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {str(p.relative_to(REPO / "templates")) for p in (REPO / "templates").rglob("*.j2")}
    assert {f"tonle/templates/{t}" for t in templates} <= names
    textfsm = {p.name for p in (REPO / "templates" / "textfsm").glob("*.textfsm")}
    assert textfsm and {f"tonle/templates/textfsm/{t}" for t in textfsm} <= names  # tonle.targets.vendor_state
    playbooks = {p.name for p in (REPO / "playbooks").glob("*.yml")}
    assert {f"tonle/playbooks/{p}" for p in playbooks} <= names
    assert {"tonle/playbooks/ansible.cfg", "tonle/playbooks/inventory/tonle_inventory.py"} <= names
    assert "tonle/targets/host-requirements.txt" in names
    assert "tonle/tasks/change.py" in names and "napalm_frr/frr.py" in names
    assert not any(n.startswith(("tasks/", "templates/", "playbooks/")) for n in names)  # never top-level
    layers = {"source", "compile", "state", "targets", "change", "emergency", "drift", "interfaces", "lab"}
    assert {f"tonle/{layer}/__init__.py" for layer in layers} <= names
