"""The reference NIG inventory as a lab: up, every session as the inventory says via NAPALM, down."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tonle.tasks.facts import collect_facts

from tests.conftest import ROOT, lab_copy, require_root, unique_lab_name
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config


def test_reference_inventory_lab(tmp_path: Path) -> None:
    require_root()
    # A copy under its own lab name and management network, so a developer's running lab is untouched.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "inventory", src / "inventory")
    shutil.copy(ROOT / "nornir.yaml", src)
    config, state = lab_copy(src, tmp_path / "ref", unique_lab_name("r")), tmp_path / "state"
    inv = load_from_nornir_config(config)
    lab = Lab(inv, state)
    t0 = time.monotonic()
    try:
        status = lab.up(timeout=90)
        print(f"reference lab up in {time.monotonic() - t0:.1f}s")  # a figure for the log, not a pass/fail
        assert len([s for n in status.nodes for s in n.sessions]) == len(inv.sessions()) == 100
        report = collect_facts(config, state, lab=True, hosts=None, save_configs=True)
        assert [d.host for d in report.devices] == sorted(inv.devices)
        assert report.ok, "\n".join(report.lines())
        keys = list(lab.md5_keys().values())
        assert keys, "the reference inventory has a TCP-MD5 peer"
        for d in report.devices:
            assert d.expected == len(inv.device_sessions(d.host)) and d.established == d.expected
            backup = Path(d.config_file).read_text()
            assert backup.count(f"hostname {d.host}\n") == 1
            assert not any(k in backup for k in keys), f"{d.host}: a secret in a backup"
    finally:
        lab.down()
    assert not [ns for ns in lab.all_namespaces() if Path("/run/netns", ns).exists()]
    assert not subprocess.run(["pgrep", "-f", str(lab.run_dir)], capture_output=True, check=False).stdout
