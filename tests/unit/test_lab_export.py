"""`tonle lab export`: a containerlab topology with the same nodes, links and configurations as the lab."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tonle.interfaces.cli import main
from tonle.source.inventory import load_from_nornir_config


def test_export_matches_the_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TONLE_MD5_GLOBAL_TRANSIT", "k3y-for-the-test")
    out = tmp_path / "clab"
    assert main(["--config", str(ROOT / "nornir.yaml"), "--state-dir", str(tmp_path / "state"),
                 "lab", "export", "--output", str(out)]) == 0
    assert "containerlab topology" in capsys.readouterr().out
    inv = load_from_nornir_config(ROOT / "nornir.yaml")
    topo = yaml.safe_load((out / "nig.clab.yml").read_text())
    nodes = topo["topology"]["nodes"]
    lans = [ln.name for ln in inv.links.values() if ln.kind == "lan"]
    assert set(nodes) == {*inv.devices, *inv.peers, *lans}
    assert nodes["poi-iig-1"]["mgmt-ipv4"] == "198.19.254.14"
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
