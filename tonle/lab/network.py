"""The lab's network as a plan: namespaces, management links, veth wiring, addresses (no node files)."""

from __future__ import annotations

from collections.abc import Mapping

from tonle.compile.render import RTBH_DISCARD_V4, RTBH_DISCARD_V6
from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.steps import IpBatch, Step, run
from tonle.source.inventory import Inventory

# Routers forward; v6 DAD off so link addresses are usable at once (sessions come up faster).
SYSCTLS = ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.accept_dad=0",
           "net.ipv6.conf.all.accept_dad=0")
RTBH_MAC = "02:00:00:00:06:66"


def init_namespace(lay: Layout, node: str) -> tuple[Step, ...]:
    """A fresh node namespace: loopback up, forwarding on, duplicate address detection off."""
    ns = lay.ns(node)
    return (run(["ip", "-n", ns, "link", "set", "lo", "up"]),
            run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *SYSCTLS]))


def mgmt_link(lay: Layout, inv: Inventory, device: str) -> list[Step]:
    """The device's mgmt0, a veth whose root end is a port of the management bridge."""
    root_if, gw = lay.mgmt_if(device), inv.lab.mgmt_gateway
    return [run(["ip", "link", "add", root_if, "type", "veth", "peer", "name", "mgmt0", "netns", lay.ns(device)]),
            run(["ip", "link", "set", root_if, "master", lay.bridge, "up"]),
            IpBatch(lay.ns(device), (f"addr add {inv.devices[device].mgmt_ip}/{gw.network.prefixlen} dev mgmt0",
                                     "link set mgmt0 up"))]


def lan_bridge(lay: Layout, link: str) -> IpBatch:
    """A LAN (DIX fabric) is a namespace holding one bridge."""
    return IpBatch(lay.lan_ns(link), ("link set lo up", "link add br0 type bridge", "link set br0 up"))


def wire(lay: Layout, inv: Inventory, link: str, ends: list[str]) -> list[Step]:
    """The veths of `ends` (nodes) on `link`, up; a simulated network's addresses set here.

    Raises:
        LabError: only one end of a point-to-point link is new (the other end changed under a running lab).
    """
    ports = [inv.port(n, link) for n in ends]
    steps: list[Step] = []
    if inv.links[link].kind == "p2p":
        if len(ports) != 2:
            raise LabError(f"link {link}: one end changed while the lab is up; run `tonle lab down` first")
        a, b = ports
        steps.append(run(["ip", "link", "add", a.lab_ifname, "netns", lay.ns(a.node), "type", "veth",
                          "peer", "name", b.lab_ifname, "netns", lay.ns(b.node)]))
    else:
        lan = lay.lan_ns(link)
        for pt in ports:
            br_if = lay.lan_port(pt.node)
            steps += [run(["ip", "link", "add", br_if, "netns", lan, "type", "veth",
                           "peer", "name", pt.lab_ifname, "netns", lay.ns(pt.node)]),
                      IpBatch(lan, (f"link set {br_if} master br0", f"link set {br_if} up"))]
    for pt in ports:
        lines = [f"link set {pt.lab_ifname} up"]
        if pt.node in inv.peers:  # simulated networks: addresses set here, not by a managed config
            lines += [f"addr add {a} dev {pt.lab_ifname}" for a in (pt.ipv4, pt.ipv6) if a]
        steps.append(IpBatch(lay.ns(pt.node), tuple(lines)))
    return steps


def peer_addresses(lay: Layout, inv: Inventory, peer: str) -> list[Step]:
    """A simulated network's announced prefixes on its loopback; an upstream's blackhole discard port."""
    lines = [f"addr add {p[1]}/{p.prefixlen} dev lo" for p in inv.peers[peer].announces]
    if inv.peers[peer].type == "upstream":
        # The carrier's discard port for remote-triggered blackhole: next hops on it lead nowhere.
        lines += ["link add rtbh0 type veth peer name rtbh1", "link set rtbh0 up", "link set rtbh1 up",
                  "addr add 198.51.100.254/31 dev rtbh0", "addr add 2001:db8:ffff::/127 dev rtbh0",
                  f"neigh add {RTBH_DISCARD_V4} lladdr {RTBH_MAC} dev rtbh0 nud permanent",
                  f"neigh add {RTBH_DISCARD_V6} lladdr {RTBH_MAC} dev rtbh0 nud permanent"]
    return [IpBatch(lay.ns(peer), tuple(lines))] if lines else []


def wiring_steps(lay: Layout, inv: Inventory, wiring: Mapping[str, list[str]], new_lans: list[str]) -> list[Step]:
    """New LAN bridges first, then every link's new ends."""
    steps: list[Step] = [lan_bridge(lay, ln) for ln in new_lans]
    for link, ends in wiring.items():
        steps += wire(lay, inv, link, ends)
    return steps
