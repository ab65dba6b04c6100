"""`tonle lab export`: a containerlab topology with the same nodes, links and configurations as the lab.

Both exports (FRR twins, `--vendor` emulators) are validated against containerlab's own JSON schema
(tests/schemas/containerlab.schema.json), and exported from a state directory where no lab was ever built.
"""

from __future__ import annotations

import json
import logging
import re
import stat
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT
from tonle.compile.intent import device_intent, load_intent, with_md5_keys
from tonle.compile.render import render_intent
from tonle.interfaces.cli import main
from tonle.lab.vendor_nodes import ExportError, on_emulator, startup_config
from tonle.source.inventory import Inventory, load_from_nornir_config

SCHEMA = ROOT / "tests" / "schemas" / "containerlab.schema.json"
MD5_ENV = "TONLE_MD5_GLOBAL_TRANSIT"


@cache
def validator() -> jsonschema.Draft7Validator:
    # containerlab's patterns use \p{N}/\p{L} (Unicode classes Python's re lacks): ASCII classes instead.
    text = SCHEMA.read_text().replace(r"\\p{N}", "0-9").replace(r"\\p{L}", "A-Za-z")
    schema = json.loads(text)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(topo: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(topo)]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_from_nornir_config(ROOT / "nornir.yaml")


def export(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], Path]:
    out = tmp_path / "clab"
    rc = main(["--config", str(ROOT / "nornir.yaml"), "--state-dir", str(tmp_path / "state"),
               "lab", "export", "--output", str(out), *extra])
    topo = yaml.safe_load((out / "nig.clab.yml").read_text()) if rc == 0 else {}
    return rc, topo, out


def test_the_schema_rejects_what_containerlab_rejects() -> None:
    # The validator is real: an unknown kind, an unknown key and a malformed address all fail.
    good = {"name": "x", "topology": {"nodes": {"a": {"kind": "arista_ceos", "mgmt-ipv4": "198.19.254.2"}}}}
    assert schema_errors(good) == []
    assert schema_errors({"name": "x", "topology": {"nodes": {"a": {"kind": "ceos-lab"}}}})
    assert schema_errors({"name": "x", "topology": {"nodes": {"a": {"kind": "linux", "colour": "red"}}}})
    assert schema_errors({"name": "x", "topology": {"nodes": {"a": {"kind": "linux", "mgmt-ipv4": "1.2.3"}}}})


def test_export_matches_the_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inv: Inventory,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(MD5_ENV, "k3y-for-the-test")
    rc, topo, out = export(tmp_path)
    assert rc == 0
    assert "containerlab topology (FRR twins)" in capsys.readouterr().out
    assert schema_errors(topo) == []
    nodes = topo["topology"]["nodes"]
    lans = [ln.name for ln in inv.links.values() if ln.kind == "lan"]
    assert set(nodes) == {*inv.devices, *inv.peers, *lans}
    assert nodes["poi-iig-1"]["mgmt-ipv4"] == "198.19.254.14"
    assert nodes["poi-iig-1"]["kind"] == "linux"  # the default stays the FRR twin
    assert nodes["dix-pnh"] == {"kind": "bridge"}
    ends = [tuple(ln["endpoints"]) for ln in topo["topology"]["links"]]
    assert ("poi-iig-1:eth3", "th-carrier:eth1") in ends
    lan_members = sum(len(ln.endpoints) for ln in inv.links.values() if ln.kind == "lan")
    p2p = sum(1 for ln in inv.links.values() if ln.kind == "p2p")
    assert len(ends) == p2p + lan_members
    for name in nodes:
        if name in lans:
            continue
        conf = (out / "configs" / name / "frr.conf").read_text()
        assert f"hostname {name}\n" in conf
        assert "bgpd=yes" in (out / "configs" / name / "daemons").read_text()
    # Both ends of the TCP-MD5 session carry the same key.
    assert "password k3y-for-the-test" in (out / "configs" / "pnh-iig-1" / "frr.conf").read_text()
    assert "password k3y-for-the-test" in (out / "configs" / "global-transit" / "frr.conf").read_text()
    assert "ip addr add 198.51.100.5/31 dev eth1" in nodes["th-carrier"]["exec"]


def test_vendor_export_runs_each_vendor_emulator_with_its_rendering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inv: Inventory, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(MD5_ENV, "k3y-for-the-test")
    rc, topo, out = export(tmp_path, "--vendor", "--image", "eos=ceos:4.33.1F")
    assert rc == 0
    assert "vendor emulators" in capsys.readouterr().out
    assert schema_errors(topo) == []
    nodes = topo["topology"]["nodes"]
    kinds = {"ios": "cisco_c8000v", "eos": "arista_ceos", "junos": "juniper_vjunosrouter", "frr": "linux"}
    intent = with_md5_keys(load_intent(inv), {MD5_ENV: "k3y-for-the-test"})
    for name, dev in inv.devices.items():
        node = nodes[name]
        assert node["kind"] == kinds[dev.platform], name
        assert node["mgmt-ipv4"] == str(dev.mgmt_ip)
        if dev.platform == "frr":
            assert "startup-config" not in node
            continue
        conf = (out / node["startup-config"]).read_text()
        # No login is written (containerlab's default admin/admin would be a known secret on every node).
        assert not re.search(r"^\s*(username|user-account|login)\b", conf, re.M), name
        # The owned rendering of `tonle render`, on the emulator's ports, is all there.
        di = device_intent(intent, name)
        assert render_intent(on_emulator(di), dev.platform) in conf
        # No production port name is configured as a port (descriptions keep it, for the operator).
        renamed = [i for i, e in zip(di.interfaces, on_emulator(di).interfaces, strict=True) if i.name != e.name]
        assert renamed or dev.platform == "eos"  # cEOS's EthernetN is the reference EOS devices' own name
        for i in renamed:
            assert not re.search(rf"^(interface )?\s*{re.escape(i.name)}( \{{)?$", conf, re.M), (name, i.name)
    assert nodes["poi-iig-1"]["image"] == "ceos:4.33.1F"
    assert nodes["pnh-iig-1"]["image"] == "vrnetlab/vr-c8000v:17.11.01a"
    # Emulator port names by position: eth1 is Ethernet1 (cEOS), ge-0/0/0 (vJunos), GigabitEthernet2 (c8000v).
    assert "interface Ethernet3\n" in (out / "configs/poi-iig-1/startup-config.cfg").read_text()
    junos = (out / "configs/kos-iig-1/startup-config.cfg").read_text()
    assert "    ge-0/0/0 {\n        description \"pnh1-kos et-0/0/0\";" in junos
    assert junos.startswith("system {\n    host-name kos-iig-1;\n}\n")
    ios = (out / "configs/pnh-iig-1/startup-config.cfg").read_text()
    assert "interface GigabitEthernet2\n no shutdown\n" in ios
    assert ios.index("no shutdown") < ios.index("\nend")  # IOS reads nothing after `end`
    ceos = (out / "configs/poi-iig-1/startup-config.cfg").read_text()
    assert "interface {{ .MgmtIntf }}" in ceos and "management api http-commands" in ceos
    # Peers and the DIX LAN as before: FRR containers and bridges, the same links.
    assert nodes["th-carrier"]["kind"] == "linux" and nodes["dix-pnh"] == {"kind": "bridge"}
    assert ("pnh-iig-1:eth1", "pnh-iig-2:eth1") in [tuple(ln["endpoints"]) for ln in topo["topology"]["links"]]
    # The carrier's FRR and the vendor router carry the same key (IOS `neighbor … password`).
    assert "neighbor 198.51.100.9 password k3y-for-the-test" in ios
    assert "password k3y-for-the-test" in (out / "configs/global-transit/frr.conf").read_text()


def test_exports_where_no_lab_was_ever_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capfd: pytest.CaptureFixture[str],
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A fresh state dir, no TCP-MD5 variable: keys are generated as `lab up` does, and none is printed."""
    monkeypatch.delenv(MD5_ENV, raising=False)
    assert not (tmp_path / "state").exists()
    with caplog.at_level(logging.DEBUG):
        for flags in ((), ("--vendor",)):
            rc, topo, out = export(tmp_path, *flags)
            assert rc == 0, capfd.readouterr().err
            assert schema_errors(topo) == []
            carrier = (out / "configs/global-transit/frr.conf").read_text()
            key = re.search(r"neighbor 198\.51\.100\.8 password (\S+)", carrier)
            assert key is not None and re.fullmatch(r"[0-9a-f]{24}", key[1])
            device = out / "configs/pnh-iig-1" / ("startup-config.cfg" if flags else "frr.conf")
            assert f"neighbor 198.51.100.9 password {key[1]}" in device.read_text()
            printed = capfd.readouterr()
            assert key[1] not in printed.out + printed.err
            assert key[1] not in caplog.text
            assert stat.S_IMODE((out / "configs").stat().st_mode) == 0o700
    # Only sessions with an md5_key_env get a key: a domestic ISP's configs carry none.
    assert " password " not in (out / "configs/isp-angkor/frr.conf").read_text()
    # Nothing of a lab was made in the state dir.
    assert not (tmp_path / "state" / "lab").exists()


@pytest.mark.parametrize("value", ["eos", "vyos=ceos:1", "eos=Bad Image", "eos=ceos:1;rm", "ios=-x"])
def test_bad_image_option_exits_2(tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, out = export(tmp_path, "--vendor", "--image", value)
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--image" in err
    assert not (out / "nig.clab.yml").exists()


def test_go_template_braces_in_a_rendering_are_refused(inv: Inventory) -> None:
    # containerlab reads a cEOS startup config as a Go template: `{{` from a value would run there.
    di = device_intent(with_md5_keys(load_intent(inv), {MD5_ENV: "k"}), "poi-iig-1")
    first = di.interfaces[0]
    hostile = type(di.interfaces[0])(**{**first.__dict__, "description": "x {{ .Env.HOME }}"})
    with pytest.raises(ExportError, match="template"):
        startup_config(type(di)(**{**di.__dict__, "interfaces": (hostile, *di.interfaces[1:])}))
