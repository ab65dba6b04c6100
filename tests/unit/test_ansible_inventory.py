"""The Ansible inventory is the Nornir inventory: same hosts, groups by site/role/platform, same variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SMALL
from tonle.interfaces.ansible_inventory import DEVICES_GROUP, group_name, main, to_ansible
from tonle.source.inventory import load_from_nornir_config

SCRIPT = ROOT / "playbooks" / "inventory" / "tonle_inventory.py"


def test_group_names_are_valid_ansible_names() -> None:
    assert group_name("site", "PNH") == "site_pnh"
    assert group_name("role", "iig-border") == "role_iig_border"
    assert group_name("platform", "junos") == "platform_junos"


def test_reference_inventory_hosts_groups_and_vars() -> None:
    inv = load_from_nornir_config(ROOT / "nornir.yaml")
    data = to_ansible(inv, "/venv/bin/python")
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(inv.devices)
    for name, dev in inv.devices.items():
        v = hostvars[name]
        assert v["ansible_host"] == str(dev.mgmt_ip)
        assert (v["asn"], v["router_id"], v["site"], v["role"], v["platform"]) == \
            (dev.asn, str(dev.router_id), dev.site, dev.role, dev.platform)
        assert v["loopback_ipv4"] == str(dev.loopback_ipv4)
        assert name in data[group_name("site", dev.site)]["hosts"]
        assert name in data[group_name("role", dev.role)]["hosts"]
        assert name in data[group_name("platform", dev.platform)]["hosts"]
    assert data["site_pnh"]["hosts"] == sorted(n for n, d in inv.devices.items() if d.site == "PNH")
    assert set(data[DEVICES_GROUP]["children"]) == {g for g in data if g.startswith(("site_", "role_", "platform_"))}
    assert data["all"]["vars"] == {"ansible_python_interpreter": "/venv/bin/python"}
    json.dumps(data)  # plain JSON values only


def test_no_secret_and_no_copy_of_the_data(tmp_path: Path) -> None:
    """The script holds no data: it follows $TONLE_CONFIG (here the small fixture)."""
    env = {**os.environ, "TONLE_CONFIG": str(SMALL / "nornir.yaml"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run([str(SCRIPT), "--list"], capture_output=True, text=True, env=env, check=True).stdout
    data = json.loads(out)
    assert sorted(data["_meta"]["hostvars"]) == ["r1", "r2", "rs1"]
    assert data["site_poi"]["hosts"] == ["r2"] and data["platform_eos"]["hosts"] == ["r2"]
    assert "password" not in out.lower()
    one = subprocess.run([str(SCRIPT), "--host", "r2"], capture_output=True, text=True, env=env, check=True).stdout
    assert json.loads(one)["ansible_host"] == "198.19.253.12"


def test_invalid_inventory_fails_with_the_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nornir.yaml").write_text("inventory: {plugin: SimpleInventory, options: {}}\n")
    monkeypatch.setenv("TONLE_CONFIG", str(tmp_path / "nornir.yaml"))
    assert main(["--list"]) == 1
    assert "host_file" in capsys.readouterr().err


def test_ansible_reads_it(tmp_path: Path) -> None:
    """ansible-inventory (the real parser) sees the same groups and hosts."""
    exe = Path(sys.executable).parent / "ansible-inventory"
    env = {**os.environ, "TONLE_CONFIG": str(SMALL / "nornir.yaml"), "ANSIBLE_HOME": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run([str(exe), "-i", str(SCRIPT), "--list"], capture_output=True, text=True, env=env,
                         check=True)
    data = json.loads(out.stdout)
    assert data["role_iig_border"]["hosts"] == ["r1", "r2"]
    assert data["_meta"]["hostvars"]["rs1"]["asn"] == 64501
    assert "WARNING" not in out.stderr, out.stderr
