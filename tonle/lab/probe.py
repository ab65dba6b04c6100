"""The lab's view from the other side: peers' sessions and upstreams' forwarding, for disconnect checks."""

from __future__ import annotations

import functools
import ipaddress
import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tonle.emergency.disconnect import PeerProbe, Resolution
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config


def lab_peer_probe(config_file: Path, state_dir: Path) -> PeerProbe:
    """In the lab, look from the other side: the peer's session and, for a blackhole, the upstreams' FIB."""

    lab = Lab(load_from_nornir_config(config_file), state_dir)
    inv = lab.inv

    def session_problems(peer: str, ips: set[str], down: bool) -> list[str]:
        problems = []
        summary = json.loads(lab.vtysh(peer, "show bgp vrf default summary json") or "{}")
        for ip in sorted(ips):
            fam = summary.get("ipv6Unicast" if ":" in ip else "ipv4Unicast", {})
            state = fam.get("peers", {}).get(ip, {}).get("state", "Missing")
            if down and state == "Established":
                problems.append(f"{peer} still has its session to {ip} Established")
            if not down and state != "Established":
                problems.append(f"{peer}: session to {ip} is {state}")
        return problems

    def forwarding_problems(up: str, host: str, down: bool) -> list[str]:
        out = subprocess.run(lab.in_node(up, ["ip", "route", "get", host]), capture_output=True, text=True,
                             check=False).stdout
        discarded = " dev rtbh0 " in out
        return [f"{up}: traffic to {host} is {'still forwarded' if down else 'discarded'}"] if down != discarded else []

    def probe(res: Resolution, down: bool) -> list[str]:
        by_peer: dict[str, set[str]] = {}
        for s in res.sessions:
            if s.neighbor in inv.peers:
                by_peer.setdefault(s.neighbor, set()).add(str(s.local_ip))
        checks: list[Callable[[], list[str]]] = [
            functools.partial(session_problems, peer, ips, down) for peer, ips in sorted(by_peer.items())]
        checks += [functools.partial(forwarding_problems, up.name, str(ipaddress.ip_network(prefix)[0]), down)
                   for prefix in res.blackholes for up in inv.peers.values() if up.type == "upstream"]
        if len(checks) <= 1:
            return [p for check in checks for p in check()]
        # Each check is a process in a peer's namespace: all at once, not one after the other.
        with ThreadPoolExecutor(max_workers=min(len(checks), 8)) as pool:
            return [p for found in pool.map(lambda check: check(), checks) for p in found]
    return probe
