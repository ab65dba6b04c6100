"""The lab's view from the other side: peers' sessions and upstreams' forwarding, for disconnect checks."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

from tonle.emergency.disconnect import PeerProbe, Resolution
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config


def lab_peer_probe(config_file: Path, state_dir: Path) -> PeerProbe:
    """In the lab, look from the other side: the peer's session and, for a blackhole, the upstreams' FIB."""

    lab = Lab(load_from_nornir_config(config_file), state_dir)
    inv = lab.inv

    def probe(res: Resolution, down: bool) -> list[str]:
        problems = []
        by_peer: dict[str, set[str]] = {}
        for s in res.sessions:
            if s.neighbor in inv.peers:
                by_peer.setdefault(s.neighbor, set()).add(str(s.local_ip))
        for peer, ips in by_peer.items():
            summary = json.loads(lab.vtysh(peer, "show bgp vrf default summary json") or "{}")
            for ip in ips:
                fam = summary.get("ipv6Unicast" if ":" in ip else "ipv4Unicast", {})
                state = fam.get("peers", {}).get(ip, {}).get("state", "Missing")
                if down and state == "Established":
                    problems.append(f"{peer} still has its session to {ip} Established")
                if not down and state != "Established":
                    problems.append(f"{peer}: session to {ip} is {state}")
        for prefix in res.blackholes:
            host = str(ipaddress.ip_network(prefix)[0])
            for up in (p for p in inv.peers.values() if p.type == "upstream"):
                out = subprocess.run(lab.in_node(up.name, ["ip", "route", "get", host]), capture_output=True,
                                     text=True, check=False).stdout
                discarded = " dev rtbh0 " in out
                if down != discarded:
                    problems.append(f"{up.name}: traffic to {host} is {'still forwarded' if down else 'discarded'}")
        return problems
    return probe
