"""What a running lab looks like: its nodes' processes and BGP sessions (queries only)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.node import DAEMONS, node_daemons
from tonle.lab.system import _run, netns_list, pid_alive
from tonle.source.inventory import Inventory, Session


@dataclass
class SessionState:
    node: str
    neighbor: str
    peer_ip: str
    afi: int
    kind: str
    state: str
    prefixes_received: int | None


@dataclass
class NodeStatus:
    name: str
    kind: str  # device | external
    namespace: str
    mgmt_ip: str | None
    processes: dict[str, bool]
    sessions: list[SessionState] = field(default_factory=list)

    @property
    def established(self) -> int:
        return sum(s.state == "Established" for s in self.sessions)


@dataclass
class LabStatus:
    name: str
    up: bool
    nodes: list[NodeStatus]

    def down_sessions(self) -> list[SessionState]:
        return [s for n in self.nodes for s in n.sessions if s.state != "Established"]


def vtysh(lay: Layout, node: str, command: str, timeout: float = 20) -> str:
    """Run one vtysh command directly in a node's namespace (devices and simulated networks)."""
    d = lay.node_dir(node)
    return _run(lay.in_node(node, ["vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-c", command]),
                timeout=timeout)


def processes(lay: Layout, inv: Inventory, node: str) -> dict[str, bool]:
    """Whether each process the node should run is alive (by its pid file)."""
    names = [*DAEMONS, "sshd"] if node in inv.devices else list(node_daemons(inv, node))
    return {n: pid_alive(lay.node_dir(node) / f"{n}.pid") for n in names}


def healthy(lay: Layout, inv: Inventory, nodes: list[str]) -> bool:
    """Every one of `nodes` has its namespace and all its processes."""
    existing = set(netns_list())
    return bool(nodes) and all(lay.ns(n) in existing and all(processes(lay, inv, n).values()) for n in nodes)


def bgp_summary(lay: Layout, node: str) -> str:
    """`show bgp vrf default summary json` of the node, straight over its vty sockets.

    vtysh reaches the daemons by the sockets in the node's directory, so a read-only query needs neither the
    node's namespace nor its hostname: one program instead of four (`ip netns exec`, `unshare`, `sh`, vtysh),
    which is most of what waiting for a few hundred nodes' sessions costs.
    """
    d = lay.node_dir(node)
    return _run(["vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-c", "show bgp vrf default summary json"],
                timeout=20)


def sessions(lay: Layout, node: str, expected: Iterable[Session]) -> list[SessionState]:
    """The state of each expected session as the node's bgpd sees it."""
    try:
        summary = json.loads(bgp_summary(lay, node) or "{}")
    except (LabError, json.JSONDecodeError):
        summary = {}
    out = []
    for s in expected:
        fam = summary.get("ipv4Unicast" if s.afi == 4 else "ipv6Unicast", {})
        peer = fam.get("peers", {}).get(str(s.peer_ip), {})
        out.append(SessionState(s.node, s.neighbor, str(s.peer_ip), s.afi, s.kind,
                                peer.get("state", "Missing" if not summary else "NotConfigured"),
                                peer.get("pfxRcd")))
    return out


def settled(node: NodeStatus) -> bool:
    """Every process of the node runs and every session it should have is Established."""
    return all(node.processes.values()) and all(s.state == "Established" for s in node.sessions)


def lab_status(lay: Layout, inv: Inventory, recorded_up: bool,
               known: Mapping[str, NodeStatus] | None = None) -> LabStatus:
    """Devices and simulated networks, their processes and BGP session states.

    `known`: nodes whose status was just seen and is taken as it is (not asked again).
    """
    existing = set(netns_list())
    known = known or {}
    by_node: dict[str, list[Session]] = {}
    for s in inv.sessions():
        by_node.setdefault(s.node, []).append(s)

    def one(node: str) -> NodeStatus:
        if node in known:
            return known[node]
        ns = lay.ns(node)
        dev = inv.devices.get(node)
        st = NodeStatus(node, "device" if dev else "external", ns, str(dev.mgmt_ip) if dev else None,
                        processes(lay, inv, node) if ns in existing else {})
        if ns in existing and st.processes.get("bgpd"):
            st.sessions = sessions(lay, node, by_node.get(node, []))
        else:
            st.sessions = [SessionState(s.node, s.neighbor, str(s.peer_ip), s.afi, s.kind, "Down", None)
                           for s in by_node.get(node, [])]
        return st

    with ThreadPoolExecutor(max_workers=8) as pool:
        nodes = list(pool.map(one, [*inv.devices, *inv.peers]))
    return LabStatus(lay.name, recorded_up and all(n.namespace in existing for n in nodes), nodes)
