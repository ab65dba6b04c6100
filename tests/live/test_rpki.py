"""RPKI origin validation end to end: a real RTR cache (stayrtr) and FRR's RPKI module on every device.

The small topology plus RPKI (its own lab): isp1 (AS65001) announces 198.18.20.0/23 at the DIX, covered by a
VRP (maxLength 23). The Thai carrier up1 then hijacks it (origin 65538) and announces the more-specific
198.18.21.0/24. Both are RPKI-invalid: the border r2 rejects them, and the ISP's route learned at the DIX
stays the best path on every device and at the route server's other client.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL, LabHandle, lab_copy, require_root, unique_lab_name, wait_until
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config

VRPS = Path(__file__).resolve().parents[1] / "fixtures" / "rpki" / "vrps.json"
ISP_PREFIX, MORE_SPECIFIC = "198.18.20.0/23", "198.18.21.0/24"
UP1_ADDR = "198.51.100.1"  # up1's side of r2-up1


@pytest.fixture(scope="module")
def rpki_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    require_root()
    work = tmp_path_factory.mktemp("rpki")
    config = lab_copy(SMALL, work, unique_lab_name("k"))
    inv_dir = work / "inventory"
    lab = yaml.safe_load((inv_dir / "lab.yaml").read_text())
    mgmt = ipaddress.ip_interface(lab["mgmt_gateway"]).network
    (inv_dir / "lab.yaml").write_text(yaml.safe_dump(lab | {"rpki_vrps": "vrps.json"}))
    shutil.copy(VRPS, inv_dir / "vrps.json")
    policy = yaml.safe_load((inv_dir / "policy.yaml").read_text())
    policy["rpki"] = {"caches": [{"address": str(mgmt[250]), "port": 3323, "preference": 1}]}
    (inv_dir / "policy.yaml").write_text(yaml.safe_dump(policy))
    peers = yaml.safe_load((inv_dir / "peers.yaml").read_text())
    next(p for p in peers["peers"] if p["name"] == "isp1")["announces"].append(ISP_PREFIX)
    (inv_dir / "peers.yaml").write_text(yaml.safe_dump(peers))
    inv = load_from_nornir_config(config)
    lab_obj = Lab(inv, work / "state")
    try:
        lab_obj.up(timeout=90)
        yield LabHandle(lab_obj, inv, config, work / "state", {})
    finally:
        lab_obj.down()
    left = [ns for ns in lab_obj.all_namespaces() if Path("/run/netns", ns).exists()]
    assert not left, f"lab down left namespaces behind: {left}"
    assert lab_obj.layout.rpki_ns in lab_obj.all_namespaces()  # the cache's namespace was one of them


def _paths(lab: LabHandle, node: str, prefix: str) -> list[dict[str, Any]]:
    data = json.loads(lab.vtysh(node, f"show bgp ipv4 unicast {prefix} json") or "{}")
    return list(data.get("paths", []))


def _origin(path: dict[str, Any]) -> str:
    return str(path["aspath"]["string"]).split()[-1]


def _hijack(lab: LabHandle) -> None:
    """The foreign carrier originates the ISP's prefix and a more-specific of it (wrong origin)."""
    d = lab.lab.node_dir("up1")
    subprocess.run(lab.lab.in_node("up1", [
        "vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-c", "configure terminal",
        # Originated without a route in its RIB (a simulated network runs no staticd): import-check off.
        "-c", "router bgp 65538", "-c", "no bgp network import-check", "-c", "address-family ipv4 unicast",
        "-c", f"network {ISP_PREFIX}", "-c", f"network {MORE_SPECIFIC}"]), check=True, capture_output=True)


def test_the_rpki_and_role_lines_round_trip_without_drift(rpki_lab: LabHandle,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The running configs (rpki block, match rpki, local-role) are exactly the intent: drift is clean."""
    rc = main(["--config", str(rpki_lab.config_file), "--state-dir", str(rpki_lab.state_dir), "drift"])
    out = capsys.readouterr().out
    assert rc == 0, out
    running = rpki_lab.vtysh("r2", "show running-config")
    assert "rpki cache " in running and "match rpki invalid" in running and "local-role customer" in running


def test_every_border_rejects_the_hijack_and_the_valid_route_wins(rpki_lab: LabHandle) -> None:
    lab = rpki_lab
    for node in ("r1", "r2", "rs1"):  # every device polls the lab's cache and holds its VRPs
        wait_until(lambda n=node: "(connected)" in lab.vtysh(n, "show rpki cache-connection"), 20,
                   f"{node}'s RTR session")
        table = json.loads(lab.vtysh(node, "show rpki prefix-table json"))
        assert {(p["prefix"], p["prefixLenMax"], p["asn"]) for p in table["prefixes"]} >= {("198.18.20.0", 23, 65001)}
    wait_until(lambda: any(_origin(p) == "65001" for p in _paths(lab, "r2", ISP_PREFIX)), 30, "the ISP's route at r2")
    _hijack(lab)
    # up1 really sends both to r2 (they are in what it advertises) ...
    def advertised() -> dict[str, Any]:
        out = json.loads(lab.vtysh("up1", "show bgp ipv4 unicast neighbors 198.51.100.0 advertised-routes json"))
        return dict(out.get("advertisedRoutes", {}))
    wait_until(lambda: {ISP_PREFIX, MORE_SPECIFIC} <= set(advertised()), 30, "up1 advertising the hijack")
    # ... and r2 still takes up1's other routes: the session and its ordinary filter let them through.
    wait_until(lambda: bool(_paths(lab, "r2", "198.19.4.0/24")), 10, "up1's own prefix at r2")
    for node in ("r2", "r1", "rs1", "isp2"):
        paths = _paths(lab, node, ISP_PREFIX)
        assert paths, f"{node}: no route to the ISP's prefix"
        assert all(_origin(p) == "65001" for p in paths), f"{node}: a path with the hijacker's origin: {paths}"
        best = [p for p in paths if p.get("bestpath", {}).get("overall")]
        assert best and _origin(best[0]) == "65001"
        assert not _paths(lab, node, MORE_SPECIFIC), f"{node}: the hijacker's more-specific got through"
    assert not any(p.get("peer", {}).get("peerId") == UP1_ADDR for p in _paths(lab, "r2", ISP_PREFIX))
    # the domestic ISP's route still reaches the foreign carrier through the border (exported as domestic)
    assert "64500 65001" in [str(p["aspath"]["string"]) for p in _paths(lab, "up1", ISP_PREFIX)]
    if (valid := [p for p in _paths(lab, "r2", ISP_PREFIX) if "rpkiValidationState" in p]):
        assert valid[0]["rpkiValidationState"] == "valid"


def test_facts_show_the_rpki_state_per_prefix(rpki_lab: LabHandle, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--config", str(rpki_lab.config_file), "--state-dir", str(rpki_lab.state_dir), "facts", "--host", "r2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rpki_line = next(x for x in out.splitlines() if "RPKI:" in x)
    assert f"{ISP_PREFIX} valid" in rpki_line  # the ISP's route, covered by its VRP
    assert "198.19.4.0/24 not-found" in rpki_line  # the carrier's own space has no VRP
    assert MORE_SPECIFIC not in rpki_line


def test_bgp_roles_on_external_sessions_only(rpki_lab: LabHandle) -> None:
    """RFC 9234: rs1 is the rs-server of the ISPs, r2 the customer of its carrier (which announces no role);
    between our own border r1 and our route server rs1 there is none (OTC would keep domestic routes from
    the upstreams: the hijack test sees the ISP's route reach the carrier)."""
    rs1 = json.loads(rpki_lab.vtysh("rs1", "show bgp neighbors 203.0.113.71 json"))["203.0.113.71"]
    assert rs1["bgpState"] == "Established" and rs1["localRole"] == "rs-server"
    up = json.loads(rpki_lab.vtysh("r2", "show bgp neighbors 198.51.100.1 json"))["198.51.100.1"]
    assert up["bgpState"] == "Established" and up["localRole"] == "customer"
    r1 = json.loads(rpki_lab.vtysh("r1", "show bgp neighbors 203.0.113.65 json"))["203.0.113.65"]
    assert r1["bgpState"] == "Established" and r1.get("localRole", "undefined") == "undefined", r1.get("localRole")


def test_route_server_honours_the_clients_large_communities(rpki_lab: LabHandle) -> None:
    """isp1 asks the route server (AS64501): 198.18.16.0/24 not to AS65002 (64501:0:65002) and
    198.18.20.0/23 prepended twice towards AS65002 (64501:102:65002); r1 (AS64500) gets both unchanged."""
    lab = rpki_lab
    d = lab.lab.node_dir("isp1")
    vtysh = ["vtysh", "--vty_socket", str(d), "--config_dir", str(d)]
    subprocess.run(lab.lab.in_node("isp1", [
        *vtysh, "-c", "configure terminal",
        "-c", "ip prefix-list TAG-NOANN seq 5 permit 198.18.16.0/24",
        "-c", f"ip prefix-list TAG-PREPEND seq 5 permit {ISP_PREFIX}",
        "-c", "route-map TAG permit 10", "-c", "match ip address prefix-list TAG-NOANN",
        "-c", "set large-community 64501:0:65002", "-c", "exit",
        "-c", "route-map TAG permit 20", "-c", "match ip address prefix-list TAG-PREPEND",
        "-c", "set large-community 64501:102:65002", "-c", "exit",
        "-c", "route-map TAG permit 30", "-c", "exit",
        "-c", "router bgp 65001", "-c", "address-family ipv4 unicast",
        "-c", "neighbor 203.0.113.65 route-map TAG out", "-c", "end",
        "-c", "clear bgp ipv4 unicast 203.0.113.65 soft out"]), check=True, capture_output=True)

    def isp2_paths(prefix: str) -> list[str]:
        return [str(p["aspath"]["string"]) for p in _paths(lab, "isp2", prefix)]
    wait_until(lambda: not isp2_paths("198.18.16.0/24"), 30, "198.18.16.0/24 withdrawn from AS65002")
    wait_until(lambda: "64501 65001 65001 65001" in isp2_paths(ISP_PREFIX) or "65001 65001 65001" in
               isp2_paths(ISP_PREFIX), 30, f"{ISP_PREFIX} prepended twice towards AS65002")
    assert all(p.count("65001") == 3 for p in isp2_paths(ISP_PREFIX)), isp2_paths(ISP_PREFIX)
    # the other client of the route server still gets both, as announced
    assert [_origin(p) for p in _paths(lab, "r1", "198.18.16.0/24")] == ["65001"]
    assert any(str(p["aspath"]["string"]) == "65001" for p in _paths(lab, "r1", ISP_PREFIX))
    # and the valid route still wins at isp2 with RPKI in force (the hijacker's more-specific never shows)
    assert not _paths(lab, "isp2", MORE_SPECIFIC)
