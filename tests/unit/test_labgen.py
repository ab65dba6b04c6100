"""The benchmarks' generated gateway: up to its maximum, every address unique and in the benchmark ranges,
a management network clear of the machine's own, and 250 devices valid as `tonle inventory check` sees them."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.labgen import MAX_DEVICES, MGMT_RANGE, RESERVED_MGMT, inventory, pick_mgmt, synthesize
from tonle.interfaces.cli import main

V4 = ipaddress.IPv4Network("198.18.0.0/15")
V6 = ipaddress.IPv6Network("2001:db8::/32")
MACHINE = [ipaddress.IPv4Network("192.0.2.0/24")]  # this machine's eth0


def addresses(files: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(every interface address, every announced prefix) of a generated inventory."""
    ifaces = [files["lab.yaml"]["mgmt_gateway"]]
    for h in files["hosts.yaml"].values():
        ifaces += [h["hostname"] + "/32", h["data"]["loopback_ipv4"], h["data"]["loopback_ipv6"]]
    for link in files["links.yaml"]["links"]:
        ifaces += [e[af] for e in link["endpoints"] for af in ("ipv4", "ipv6")]
    announced = [p for peer in files["peers.yaml"]["peers"] for p in peer["announces"]]
    return ifaces, announced


@pytest.mark.parametrize("n", [1, 250, MAX_DEVICES])
def test_addresses_are_unique_and_in_the_benchmark_ranges(n: int) -> None:
    files = inventory(n, "sg", pick_mgmt(MACHINE))
    ifaces, announced = addresses(files)
    assert len(files["hosts.yaml"]) == n and len(files["peers.yaml"]["peers"]) == n
    assert len(files["links.yaml"]["links"]) == 2 * n - 1
    ips = [ipaddress.ip_interface(a) for a in ifaces]
    assert not [a for a, c in Counter(ip.ip for ip in ips).items() if c > 1]
    assert all(ip.ip in (V4 if ip.version == 4 else V6) for ip in ips)
    nets = [ipaddress.ip_network(p) for p in announced]
    assert len(set(nets)) == len(nets) == 2 * n
    assert all(net.subnet_of(V4 if net.version == 4 else V6) for net in nets)  # type: ignore[arg-type]
    # No announced prefix (each a /24 or a /48) holds an interface address (routed over two paths).
    assert {net.prefixlen for net in nets} == {24, 48}
    covering = {ipaddress.ip_network(f"{ip.ip}/{24 if ip.version == 4 else 48}", strict=False): ip for ip in ips}
    assert not set(covering) & set(nets)
    links = [ipaddress.ip_interface(e["ipv4"]).network for ln in files["links.yaml"]["links"] for e in ln["endpoints"]]
    assert set(Counter(links).values()) == {2}  # each /31 joins the two ends of one link only


def test_the_management_network_avoids_the_machines_networks_and_the_project_inventories() -> None:
    first = pick_mgmt(MACHINE)
    assert first == ipaddress.IPv4Network("198.19.128.0/23")
    assert pick_mgmt([*MACHINE, ipaddress.IPv4Network("198.19.129.0/24")]) == ipaddress.IPv4Network("198.19.130.0/23")
    all_but_last = [net for net in MGMT_RANGE.subnets(new_prefix=23) if not net.overlaps(RESERVED_MGMT)][:-1]
    assert not pick_mgmt(all_but_last).overlaps(RESERVED_MGMT)
    with pytest.raises(RuntimeError, match="no management /23 free"):
        pick_mgmt([MGMT_RANGE])


def test_outside_the_address_plan_is_refused() -> None:
    for n in (0, MAX_DEVICES + 1):
        with pytest.raises(ValueError, match=f"1 <= N <= {MAX_DEVICES}"):
            inventory(n, "sg", pick_mgmt(MACHINE))


def test_250_devices_pass_inventory_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = synthesize(tmp_path, 250, "sg", used=MACHINE)
    assert main(["--config", str(config), "inventory", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("inventory OK: 4 sites, 250 devices, 250 external networks, 499 links, ")
    # Per device: two chain neighbours (ends: one), IPv4 + IPv6; one upstream, IPv4 + IPv6.
    assert f"{2 * 2 * 249 + 2 * 250} BGP sessions on managed devices" in out
