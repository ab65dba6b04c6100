"""A synthetic gateway of N FRR border routers, numbered from the benchmark range only (for the benchmarks).

Topology: a chain of iBGP links between the devices (dual stack), one upstream network per device (an eBGP
session per address family) announcing one IPv4 /24 and one IPv6 /48. Addresses come from
198.18.0.0/15 (RFC 2544) and 2001:db8::/32 (RFC 3849) only:

    198.18.0.0/22     loopbacks and router ids        2001:db8:0:ff::/64     loopbacks
    198.18.4.0/22     chain links, /31 each           2001:db8:1:N::/127     chain links
    198.18.8.0/22     upstream links, /31 each        2001:db8:2:N::/127     upstream links
    198.18.16.0/24 +  one /24 announced per upstream  2001:db8:1000+N::/48   announced per upstream
    198.19.128.0/17   one /23 for the management network (the first one that overlaps none of the
                      machine's routes; 198.19.252.0/22 is left to the project's own inventories)

so up to MAX_DEVICES devices (the announced /24s stop below the management range).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SMALL = REPO / "tests" / "fixtures" / "small"
SITES = ("PNH", "KOS", "POI", "BVT")
ASN = 64500

LOOPBACKS = ipaddress.IPv4Network("198.18.0.0/22")
CHAIN = ipaddress.IPv4Network("198.18.4.0/22")
TRANSIT = ipaddress.IPv4Network("198.18.8.0/22")
ANNOUNCED = ipaddress.IPv4Network("198.18.16.0/24")  # the first; the n-th upstream's is n /24s further
MGMT_RANGE = ipaddress.IPv4Network("198.19.128.0/17")
RESERVED_MGMT = ipaddress.IPv4Network("198.19.252.0/22")  # tests/fixtures/small and inventory/ live here
MGMT_PREFIX = 23
MGMT_FIRST_HOST = 10
MAX_DEVICES = (int(MGMT_RANGE.network_address) - int(ANNOUNCED.network_address)) // 256  # 368


def names(n: int) -> tuple[list[str], list[str]]:
    """Device and upstream names: r000.. and up000.. (one width for every N, so names stay sortable)."""
    return [f"r{i:03d}" for i in range(n)], [f"up{i:03d}" for i in range(n)]


def used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination routed in this machine's root namespace (all tables)."""
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                         check=True).stdout
    return [ipaddress.IPv4Network(r["dst"], strict=False) for r in json.loads(out or "[]")
            if r.get("dst") not in (None, "default")]


def pick_mgmt(used: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first management /23 of 198.19.128.0/17 that overlaps none of `used` (the machine's networks)."""
    taken = list(used)
    for net in MGMT_RANGE.subnets(new_prefix=MGMT_PREFIX):
        if not net.overlaps(RESERVED_MGMT) and not any(net.overlaps(u) for u in taken):
            return net
    raise RuntimeError(f"no management /{MGMT_PREFIX} free in {MGMT_RANGE} on this machine")


def inventory(n: int, name: str, mgmt: ipaddress.IPv4Network) -> dict[str, Any]:
    """The generated files (lab.yaml, hosts.yaml, links.yaml, peers.yaml) as data."""
    if not 1 <= n <= MAX_DEVICES:
        raise ValueError(f"1 <= N <= {MAX_DEVICES} (the benchmark address plan)")
    devices, ups = names(n)
    hosts = {d: {"hostname": str(mgmt[MGMT_FIRST_HOST + i]),
                 "groups": [f"site-{SITES[i % len(SITES)].lower()}", "role-iig-border", "platform-frr"],
                 "data": {"asn": ASN, "router_id": str(LOOPBACKS[i + 1]), "loopback_ipv4": f"{LOOPBACKS[i + 1]}/32",
                          "loopback_ipv6": f"2001:db8:0:ff::{i + 1:x}/128"}} for i, d in enumerate(devices)}
    ports = dict.fromkeys(devices, 0)

    def port(d: str) -> str:
        ports[d] += 1
        return f"eth{ports[d]}"

    def end(node: str, v4: ipaddress.IPv4Address, v6: str, *, managed: bool = True) -> dict[str, Any]:
        e: dict[str, Any] = {"node": node}
        if managed:
            e["interface"] = port(node)
        return {**e, "ipv4": f"{v4}/31", "ipv6": f"{v6}/127"}

    links: list[dict[str, Any]] = []
    chain = CHAIN.subnets(new_prefix=31)
    for i, (a, b) in enumerate(itertools.pairwise(devices)):
        net = next(chain)
        links.append({"name": f"{a}-{b}", "capacity_mbps": 10000, "endpoints": [
            end(a, net[0], f"2001:db8:1:{i:x}::"), end(b, net[1], f"2001:db8:1:{i:x}::1")]})
    peers: list[dict[str, Any]] = []
    transit = TRANSIT.subnets(new_prefix=31)
    for i, (d, up) in enumerate(zip(devices, ups, strict=True)):
        net = next(transit)
        links.append({"name": f"{d}-up", "capacity_mbps": 10000, "endpoints": [
            end(d, net[0], f"2001:db8:2:{i:x}::"), end(up, net[1], f"2001:db8:2:{i:x}::1", managed=False)]})
        peers.append({"name": up, "asn": 65000 + i, "type": "upstream", "country": "TH",
                      "announces": [str(ipaddress.IPv4Network((int(ANNOUNCED.network_address) + 256 * i, 24))),
                                    f"2001:db8:{0x1000 + i:x}::/48"],
                      "sessions": [{"device": d, "link": f"{d}-up"}]})
    return {"lab.yaml": {"name": name, "mgmt_gateway": f"{mgmt[1]}/{mgmt.prefixlen}"},
            "hosts.yaml": hosts, "links.yaml": {"links": links}, "peers.yaml": {"peers": peers}}


def synthesize(root: Path, n: int, name: str,
               used: Iterable[ipaddress.IPv4Network] | None = None) -> Path:
    """nornir.yaml + inventory/ for `n` devices under `root` (the small fixture's policy, sites, groups);
    returns nornir.yaml. `used`: the machine's networks (default: read from its routing table)."""
    inv = root / "inventory"
    inv.mkdir(parents=True)
    for f in ("defaults.yaml", "groups.yaml", "sites.yaml", "policy.yaml"):
        shutil.copy(SMALL / "inventory" / f, inv / f)
    shutil.copy(SMALL / "nornir.yaml", root / "nornir.yaml")
    mgmt = pick_mgmt(used_networks() if used is None else used)
    for file, data in inventory(n, name, mgmt).items():
        (inv / file).write_text(yaml.safe_dump(data, sort_keys=False))
    return root / "nornir.yaml"
