"""RPKI origin validation end to end: a real RTR cache (stayrtr) and FRR's RPKI module on every device.

The small topology plus RPKI (its own lab): isp1 (AS65001) announces 198.18.20.0/23 at the DIX, covered by a
VRP (maxLength 23). The Thai carrier up1 then hijacks it (origin 65538) and announces the more-specific
198.18.21.0/24. Both are RPKI-invalid: the border r2 rejects them, and the ISP's route learned at the DIX
stays the best path on every device and at the route server's other client.
"""

from __future__ import annotations

import ipaddress
import json
import pwd
import re
import shutil
import subprocess
import time
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
    """The lab is built with RPKI in the policy but no cache (lab.yaml without `rpki_vrps`, as when the
    policy gained RPKI after the lab was built); `lab up` with `rpki_vrps` added then adds the cache to the
    running lab, and the devices connect to it at once."""
    require_root()
    work = tmp_path_factory.mktemp("rpki")
    config = lab_copy(SMALL, work, unique_lab_name("k"))
    inv_dir = work / "inventory"
    lab = yaml.safe_load((inv_dir / "lab.yaml").read_text())
    mgmt = ipaddress.ip_interface(lab["mgmt_gateway"]).network
    shutil.copy(VRPS, inv_dir / "vrps.json")
    policy = yaml.safe_load((inv_dir / "policy.yaml").read_text())
    policy["rpki"] = {"caches": [{"address": str(mgmt[250]), "port": 3323, "preference": 1}]}
    (inv_dir / "policy.yaml").write_text(yaml.safe_dump(policy))
    peers = yaml.safe_load((inv_dir / "peers.yaml").read_text())
    next(p for p in peers["peers"] if p["name"] == "isp1")["announces"].append(ISP_PREFIX)
    (inv_dir / "peers.yaml").write_text(yaml.safe_dump(peers))
    built = Lab(load_from_nornir_config(config), work / "state")  # its inventory never names the cache
    try:
        built.up(timeout=90)
        assert built.layout.rpki_ns not in _namespaces()
        (inv_dir / "lab.yaml").write_text(yaml.safe_dump(lab | {"rpki_vrps": "vrps.json"}))
        inv = load_from_nornir_config(config)
        with_cache, said = Lab(inv, work / "state"), []
        with_cache.up(timeout=60, progress=said.append)
        assert any("adding the RPKI cache (stayrtr)" in m for m in said), said
        assert with_cache.layout.rpki_ns in _namespaces()
        t0 = time.monotonic()
        for node in ("r1", "r2", "rs1"):  # reset by lab up: no 10-minute retry interval to wait out
            wait_until(lambda n=node: "(connected)" in with_cache.vtysh(n, "show rpki cache-connection"), 20,
                       f"{node}'s RTR session to the added cache")
        print(f"every device connected to the added cache {time.monotonic() - t0:.1f} s after lab up")
        said.clear()
        with_cache.up(timeout=60, progress=said.append)  # again: the cache runs, nothing to add
        assert any("already up" in m for m in said) and not any("RPKI" in m for m in said), said
        yield LabHandle(with_cache, inv, config, work / "state", {})
    finally:
        built.down()  # the record names the cache's namespace: down removes it though this inventory does not
    left = [ns for ns in [*built.all_namespaces(), built.layout.rpki_ns] if Path("/run/netns", ns).exists()]
    assert not left, f"lab down left namespaces behind: {left}"
    stayrtr = subprocess.run(["pgrep", "-f", str(built.layout.node_dir(built.layout.RPKI_NODE))],
                             capture_output=True, text=True, check=False)
    assert not stayrtr.stdout.strip(), f"stayrtr left running: {stayrtr.stdout}"


def _namespaces() -> set[str]:
    return {ns.name for ns in Path("/run/netns").iterdir()} if Path("/run/netns").exists() else set()


def test_lab_up_added_the_cache_to_the_running_lab(rpki_lab: LabHandle) -> None:
    """The fixture's second `lab up` recorded the cache's namespace (so `down` removes it whatever lab.yaml
    says then) and runs stayrtr there as nobody, listening on the cache address every device is connected to."""
    lay = rpki_lab.lab.layout
    assert lay.rpki_ns in json.loads(lay.state_file.read_text())["namespaces"]
    pids = subprocess.run(["ip", "netns", "pids", lay.rpki_ns], capture_output=True, text=True, check=True).stdout
    procs = [(Path(f"/proc/{p}/comm").read_text().strip(), Path(f"/proc/{p}").stat().st_uid) for p in pids.split()]
    assert procs == [("stayrtr", pwd.getpwnam("nobody").pw_uid)], procs
    for node in ("r1", "r2", "rs1"):
        conn = json.loads(rpki_lab.vtysh(node, "show rpki cache-connection json"))
        assert [c["state"] for c in conn["connections"]] == ["connected"], conn


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
    for node in ("r1", "r2", "rs1"):  # each device's origin validation, read from it: nothing invalid yet
        assert re.search(rf"^  {node}\s+caches 1/1 connected; invalid 0 rejected, 0 accepted$", out, re.M), out
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


def _drift(lab: LabHandle, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    rc = main(["--config", str(lab.config_file), "--state-dir", str(lab.state_dir), "drift", "--json", *args])
    out = capsys.readouterr().out
    return rc, {d["host"]: d for d in json.loads(out)["devices"]}


def test_drift_shows_the_hijack_rejected_as_invalid_and_nothing_accepted(rpki_lab: LabHandle, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """After the hijack, drift reads each device's origin validation: the border rejected both invalid
    announcements and nobody holds an invalid route. With r2's RPKI term removed by hand (and the session
    refreshed) r2 accepts the hijack, and drift says so as drift naming route and peer; the term put back
    takes it away again."""
    lab = rpki_lab
    html = tmp_path / "drift.html"
    rc, devices = _drift(lab, capsys, "--html", str(html))
    assert rc == 0, devices
    rp = {host: d["rpki"] for host, d in devices.items()}
    assert all(r["error"] == "" and r["connected"] == 1 and r["accepted"] == 0 for r in rp.values()), rp
    assert rp["r2"]["rejected"] >= 2, rp["r2"]  # the hijacked prefix and its more-specific, by the RPKI term
    assert f"{rp['r2']['rejected']} rejected, 0 accepted; cache 1/1" in html.read_text()

    term = ["route-map RM-UP1-IN-V4 deny 21", "description RPKI invalid origin (RFC 6811)", "match rpki invalid"]
    try:
        _vtysh(lab, "r2", "configure terminal", f"no {term[0]}", "end", f"clear bgp ipv4 unicast {UP1_ADDR} soft in")
        wait_until(lambda: bool(_paths(lab, "r2", MORE_SPECIFIC)), 30, "r2 accepting the hijack without its term")
        rc, devices = _drift(lab, capsys, "--host", "r2")
        r2 = devices["r2"]
        assert rc == 1 and r2["rpki"]["accepted"] >= 1 and r2["rpki"]["against_intent"] >= 1, r2
        assert any(s["severity"] == "error" and f"accepted the RPKI-invalid {MORE_SPECIFIC} (origin AS65538) from "
                   f"{UP1_ADDR} (up1, AS65538)" in s["message"] for s in r2["state"]), r2["state"]
    finally:
        _vtysh(lab, "r2", "configure terminal", *term, "end", f"clear bgp ipv4 unicast {UP1_ADDR} soft in")
    for node in ("r2", "r1", "rs1", "isp2"):
        wait_until(lambda n=node: not _paths(lab, n, MORE_SPECIFIC), 30, f"the hijack gone from {node} again")
    rc, devices = _drift(lab, capsys, "--host", "r2")
    assert rc == 0 and devices["r2"]["rpki"]["accepted"] == 0, devices["r2"]


def _vtysh(lab: LabHandle, node: str, *commands: str) -> None:
    d = lab.lab.node_dir(node)
    argv = ["vtysh", "--vty_socket", str(d), "--config_dir", str(d)]
    for c in commands:
        argv += ["-c", c]
    subprocess.run(lab.lab.in_node(node, argv), check=True, capture_output=True)


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
