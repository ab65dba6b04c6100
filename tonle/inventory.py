"""Inventory: the validated model of the gateway (devices, sites, links, peers, lab).

The Nornir SimpleInventory files (hosts/groups/defaults.yaml) and Tonlé's own files
(sites/links/peers/lab.yaml) are read strictly: unknown keys, duplicate keys, unknown
references and addresses or ASNs outside documentation ranges are refused, and every
problem is reported as one line naming the file, the host (or entry) and the field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
)

from tonle.yamlio import YamlFileError, load_yaml

M = TypeVar("M", bound=BaseModel)

Platform = Literal["frr", "ios", "eos", "junos"]
Role = Literal["iig-border", "dix-rs"]
PeerType = Literal["upstream", "isp", "private"]

PLATFORMS: tuple[str, ...] = ("frr", "ios", "eos", "junos")
ROLES: tuple[str, ...] = ("iig-border", "dix-rs")

# Documentation / benchmark ranges only: the lab must never use routable space.
ALLOWED_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32")
)
# Documentation and private ASNs (RFC 5398, RFC 6996).
ASN_RANGES = ((64496, 64511), (64512, 65534), (65536, 65551), (4200000000, 4294967294))

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")


def _check_asn(v: int) -> int:
    if not any(lo <= v <= hi for lo, hi in ASN_RANGES):
        raise ValueError(f"ASN {v} is not a documentation or private ASN (64496-65534, 65536-65551, 4200000000+)")
    return v


def _check_addr(v: Any) -> Any:
    net = ipaddress.ip_network(str(getattr(v, "network", v)), strict=False)
    if not any(net.version == a.version and net.subnet_of(a) for a in ALLOWED_NETS):  # type: ignore[arg-type]
        raise ValueError(f"{v} is outside the documentation ranges (192.0.2.0/24, 198.51.100.0/24, "
                         "203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32)")
    return v


def _check_name(v: str) -> str:
    if not NAME_RE.match(v):
        raise ValueError(f"name {v!r} must be lowercase letters, digits and '-', 2-32 characters")
    return v


Asn = Annotated[int, AfterValidator(_check_asn)]
V4Addr = Annotated[ipaddress.IPv4Address, AfterValidator(_check_addr)]
V4If = Annotated[ipaddress.IPv4Interface, AfterValidator(_check_addr)]
V6If = Annotated[ipaddress.IPv6Interface, AfterValidator(_check_addr)]
Prefix = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, AfterValidator(_check_addr)]
Name = Annotated[str, AfterValidator(_check_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- Nornir SimpleInventory files -------------------------------------------------------------

class Operator(_Model):
    name: str
    asn: Asn
    prefixes: list[Prefix] = Field(min_length=1)


class DefaultsData(_Model):
    operator: Operator


class _NornirEntry(_Model):
    """Keys Nornir accepts on hosts, groups and defaults. `password` is refused on purpose."""

    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: str | None = None
    platform: Platform | None = None
    connection_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("connection_options")
    @classmethod
    def _no_secrets(cls, v: dict[str, Any]) -> dict[str, Any]:
        if re.search(r"passw|secret", repr(v), re.IGNORECASE):
            raise ValueError("secrets do not belong in the inventory (take them from the environment)")
        return v


class Defaults(_NornirEntry):
    data: DefaultsData


class GroupData(_Model):
    site: str | None = None
    role: Role | None = None


class Group(_NornirEntry):
    groups: list[str] = Field(default_factory=list)
    data: GroupData = GroupData()


class HostData(_Model):
    asn: Asn
    router_id: V4Addr
    loopback_ipv4: V4If
    loopback_ipv6: V6If | None = None
    route_reflector: bool = False
    site: str | None = None
    role: Role | None = None


class Host(_NornirEntry):
    hostname: V4Addr
    groups: list[str] = Field(default_factory=list)
    data: HostData


# ---- Tonlé's own files --------------------------------------------------------------------------

class Site(_Model):
    name: str
    timezone: str
    exchange: bool = False
    description: str = ""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}") from None
        return v


class SitesFile(_Model):
    sites: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Site] = Field(min_length=1)


class Endpoint(_Model):
    node: str
    interface: str | None = None
    ipv4: V4If | None = None
    ipv6: V6If | None = None


class Link(_Model):
    name: Name
    kind: Literal["p2p", "lan"] = "p2p"
    capacity_mbps: PositiveInt | None = None
    description: str = ""
    endpoints: list[Endpoint] = Field(min_length=2)


class LinksFile(_Model):
    links: list[Link]


class SessionRef(_Model):
    device: str
    link: str


class Peer(_Model):
    name: Name
    asn: Asn
    type: PeerType
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    description: str = ""
    announces: list[Prefix] = Field(default_factory=list)
    sessions: list[SessionRef] = Field(min_length=1)


class PeersFile(_Model):
    peers: list[Peer]


class Lab(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,7}$")]
    mgmt_gateway: V4If


# ---- Resolved view ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    """A managed device with group inheritance resolved."""

    name: str
    mgmt_ip: ipaddress.IPv4Address
    platform: str
    site: str
    role: str
    asn: int
    router_id: ipaddress.IPv4Address
    loopback_ipv4: ipaddress.IPv4Interface
    loopback_ipv6: ipaddress.IPv6Interface | None
    route_reflector: bool
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Port:
    """One end of a link on a node, with the interface name used in the lab twin."""

    link: str
    node: str
    interface: str  # production name (vendor syntax)
    lab_ifname: str  # Linux name in the lab namespace
    ipv4: ipaddress.IPv4Interface | None
    ipv6: ipaddress.IPv6Interface | None


@dataclass(frozen=True)
class Session:
    """A BGP session seen from `node` (a device, or an external network in the lab)."""

    node: str
    neighbor: str  # device or peer name on the other side
    link: str
    afi: Literal[4, 6]
    local_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    peer_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    local_asn: int
    peer_asn: int
    # ibgp | upstream | isp | private (external peers) | rs-client (we are the route server) |
    # route-server (we peer with our DIX route server) | customer (an external sees us)
    kind: str
    rr_client: bool = False
    external: bool = False  # True when the session belongs to a simulated external network (lab side)


@dataclass(frozen=True)
class Inventory:
    """The whole validated inventory."""

    root: Path
    operator: Operator
    sites: dict[str, Site]
    devices: dict[str, Device]
    links: dict[str, Link]
    peers: dict[str, Peer]
    lab: Lab
    ports: dict[str, list[Port]] = field(default_factory=dict)  # node -> its ports in link order

    def port(self, node: str, link: str) -> Port:
        """The port of `node` on `link`."""
        return next(p for p in self.ports[node] if p.link == link)

    def sessions(self) -> list[Session]:
        """Every BGP session of the topology, from both sides (devices and simulated externals)."""
        return derive_sessions(self)

    def device_sessions(self, device: str) -> list[Session]:
        """The sessions a managed device is configured with."""
        return [s for s in self.sessions() if s.node == device]


class InventoryError(Exception):
    """The inventory is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _fmt_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_problems(exc: ValidationError, file: str, subject: str) -> list[str]:
    lines = []
    for err in exc.errors():
        where = _fmt_loc(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if "password" in where.split(".")[-1:]:
            msg = "secrets do not belong in the inventory (take them from the environment)"
        lines.append(f"{file}: {subject}: field {where}: {msg}")
    return lines


class _Loader:
    def __init__(self, root: Path, inventory_dir: Path) -> None:
        self.root = root
        self.dir = inventory_dir
        self.problems: list[str] = []

    def rel(self, name: str) -> str:
        path = self.dir / name
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def read(self, name: str, path: Path | None = None) -> Any:
        path = path or self.dir / name
        try:
            return load_yaml(path, display=self.rel(path.name) if path.parent == self.dir else str(path))
        except YamlFileError as exc:
            self.problems.append(str(exc))
            return None

    def mapping(self, data: Any, file: str, what: str) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problems.append(f"{file}: (top level): expected a mapping of {what}, got {type(data).__name__}")
            return {}
        return data

    def model(self, cls: type[M], data: Any, file: str, subject: str) -> M | None:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(_pydantic_problems(exc, file, subject))
            return None


def _lab_ifname(link_index: int) -> str:
    return f"eth{link_index}"


def load_inventory(hosts_file: Path, group_file: Path, defaults_file: Path, *, root: Path | None = None) -> Inventory:
    """Read and validate the inventory whose Nornir files are given; Tonlé's files sit beside hosts.yaml.

    Raises:
        InventoryError: with one line per problem found (all problems, not just the first).
    """
    inv_dir = hosts_file.parent
    ld = _Loader(root or inv_dir.parent, inv_dir)
    f_hosts, f_groups, f_defaults = (ld.rel(p.name) for p in (hosts_file, group_file, defaults_file))
    f_sites, f_links, f_peers, f_lab = (ld.rel(n) for n in ("sites.yaml", "links.yaml", "peers.yaml", "lab.yaml"))

    raw_hosts = ld.mapping(ld.read(hosts_file.name, hosts_file), f_hosts, "hosts")
    raw_groups = ld.mapping(ld.read(group_file.name, group_file), f_groups, "groups")
    raw_defaults = ld.read(defaults_file.name, defaults_file)
    raw_sites = ld.read("sites.yaml")
    raw_links = ld.read("links.yaml")
    raw_peers = ld.read("peers.yaml")
    raw_lab = ld.read("lab.yaml")
    if ld.problems:  # unreadable files: report them alone rather than a cascade of missing references
        raise InventoryError(ld.problems)

    defaults = ld.model(Defaults, raw_defaults, f_defaults, "defaults")
    groups = {n: g for n, v in raw_groups.items() if (g := ld.model(Group, v, f_groups, f"group {n}"))}
    hosts = {n: h for n, v in raw_hosts.items() if (h := ld.model(Host, v, f_hosts, f"host {n}"))}
    sites_f = ld.model(SitesFile, raw_sites, f_sites, "sites")
    links_f = ld.model(LinksFile, raw_links, f_links, "links")
    peers_f = ld.model(PeersFile, raw_peers, f_peers, "peers")
    lab = ld.model(Lab, raw_lab, f_lab, "lab")
    if ld.problems or not (defaults and sites_f and links_f and peers_f and lab):
        raise InventoryError(ld.problems)
    sites = sites_f.sites
    p = ld.problems

    # Groups: references and inheritance (depth-first, own values win, like Nornir).
    for gname, grp in groups.items():
        for parent in grp.groups:
            if parent not in groups:
                p.append(f"{f_groups}: group {gname}: field groups: unknown group {parent!r}")

    def inherited(group_names: list[str], seen: frozenset[str] = frozenset()) -> list[Group]:
        out: list[Group] = []
        for gn in group_names:
            if gn in groups and gn not in seen:
                out.append(groups[gn])
                out.extend(inherited(groups[gn].groups, seen | {gn}))
        return out

    devices: dict[str, Device] = {}
    for name, host in hosts.items():
        subj = f"host {name}"
        try:
            _check_name(name)
        except ValueError as exc:
            p.append(f"{f_hosts}: {subj}: field (name): {exc}")
        for gn in host.groups:
            if gn not in groups:
                p.append(f"{f_hosts}: {subj}: field groups: unknown group {gn!r}")
        chain = inherited(host.groups)
        platform = host.platform or next((g.platform for g in chain if g.platform), None) or defaults.platform
        site = host.data.site or next((g.data.site for g in chain if g.data.site), None)
        role = host.data.role or next((g.data.role for g in chain if g.data.role), None)
        if platform is None:
            p.append(f"{f_hosts}: {subj}: field platform: no platform set on the host or its groups")
        if site is None:
            p.append(f"{f_hosts}: {subj}: field data.site: no site set on the host or its groups")
        elif site not in sites:
            p.append(f"{f_hosts}: {subj}: field data.site: unknown site {site!r} (sites.yaml has "
                     f"{', '.join(sorted(sites))})")
        if role is None:
            p.append(f"{f_hosts}: {subj}: field data.role: no role set on the host or its groups")
        if platform and site and role:
            devices[name] = Device(
                name=name, mgmt_ip=host.hostname, platform=platform, site=site, role=role,
                asn=host.data.asn, router_id=host.data.router_id, loopback_ipv4=host.data.loopback_ipv4,
                loopback_ipv6=host.data.loopback_ipv6, route_reflector=host.data.route_reflector,
                groups=tuple(host.groups),
            )

    def unique(values: list[tuple[str, Any]], file: str, what: str, fld: str) -> None:
        first: dict[Any, str] = {}
        for owner, val in values:
            if val is None:
                continue
            if val in first:
                p.append(f"{file}: {owner}: field {fld}: duplicate {what} {val} (also used by {first[val]})")
            else:
                first[val] = owner

    hl = list(hosts.items())
    unique([(f"host {n}", h.hostname) for n, h in hl], f_hosts, "management address", "hostname")
    unique([(f"host {n}", h.data.router_id) for n, h in hl], f_hosts, "router id", "data.router_id")
    unique([(f"host {n}", h.data.loopback_ipv4.ip) for n, h in hl], f_hosts, "address", "data.loopback_ipv4")
    unique([(f"host {n}", h.data.loopback_ipv6 and h.data.loopback_ipv6.ip) for n, h in hl], f_hosts,
           "address", "data.loopback_ipv6")

    mgmt_net = lab.mgmt_gateway.network
    for name, host in hl:
        if host.hostname not in mgmt_net:
            p.append(f"{f_hosts}: host {name}: field hostname: {host.hostname} is outside the lab management "
                     f"network {mgmt_net} (lab.yaml)")
        elif host.hostname == lab.mgmt_gateway.ip:
            p.append(f"{f_hosts}: host {name}: field hostname: {host.hostname} is the lab management gateway")

    peers: dict[str, Peer] = {}
    for i, peer in enumerate(peers_f.peers):
        if peer.name in peers:
            p.append(f"{f_peers}: peer {peer.name}: field peers[{i}].name: duplicate peer name")
        elif peer.name in hosts:
            p.append(f"{f_peers}: peer {peer.name}: field peers[{i}].name: name already used by a host")
        peers[peer.name] = peer
        if peer.asn == defaults.data.operator.asn:
            p.append(f"{f_peers}: peer {peer.name}: field asn: {peer.asn} is the operator's own ASN")

    # Links: endpoints, interfaces, addressing.
    links: dict[str, Link] = {}
    ports: dict[str, list[Port]] = {n: [] for n in [*devices, *peers]}
    addr_owner: dict[Any, str] = {}
    for i, link in enumerate(links_f.links):
        subj = f"link {link.name}"
        if link.name in links:
            p.append(f"{f_links}: {subj}: field links[{i}].name: duplicate link name")
            continue
        links[link.name] = link
        if link.kind == "p2p" and len(link.endpoints) != 2:
            p.append(f"{f_links}: {subj}: field endpoints: a p2p link has exactly 2 endpoints, "
                     f"got {len(link.endpoints)} (use kind: lan)")
        seen_nodes: set[str] = set()
        for j, ep in enumerate(link.endpoints):
            fld = f"endpoints[{j}]"
            if ep.node not in hosts and ep.node not in peers:
                p.append(f"{f_links}: {subj}: field {fld}.node: unknown device or peer {ep.node!r}")
                continue
            if ep.node in seen_nodes:
                p.append(f"{f_links}: {subj}: field {fld}.node: {ep.node} appears twice on the link")
            seen_nodes.add(ep.node)
            if ep.node in hosts and not ep.interface:
                p.append(f"{f_links}: {subj}: field {fld}.interface: required for device {ep.node}")
            if ep.ipv4 is None and ep.ipv6 is None:
                p.append(f"{f_links}: {subj}: field {fld}: an endpoint needs ipv4 or ipv6")
            for fam, addr in (("ipv4", ep.ipv4), ("ipv6", ep.ipv6)):
                if addr is None:
                    continue
                if addr.ip in addr_owner:
                    p.append(f"{f_links}: {subj}: field {fld}.{fam}: duplicate address {addr.ip} "
                             f"(also on {addr_owner[addr.ip]})")
                addr_owner[addr.ip] = f"{ep.node} in link {link.name}"
                first = link.endpoints[0]
                ref = first.ipv4 if fam == "ipv4" else first.ipv6
                if j > 0 and ref is not None and addr.network != ref.network:
                    p.append(f"{f_links}: {subj}: field {fld}.{fam}: {addr} is not in the link's subnet "
                             f"{ref.network}")
            if ep.node in ports:
                dev = devices.get(ep.node)
                n = len(ports[ep.node]) + 1
                iface = ep.interface or _lab_ifname(n)
                lab_if = iface if dev is not None and dev.platform == "frr" else _lab_ifname(n)
                if any(pt.interface == iface for pt in ports[ep.node]):
                    p.append(f"{f_links}: {subj}: field {fld}.interface: {ep.node} already uses {iface}")
                if dev is not None and dev.platform == "frr" and not re.match(r"^[A-Za-z0-9_.-]{1,15}$", iface):
                    p.append(f"{f_links}: {subj}: field {fld}.interface: {iface!r} is not a valid Linux "
                             "interface name for an frr device")
                ports[ep.node].append(Port(link.name, ep.node, iface, lab_if, ep.ipv4, ep.ipv6))

    for name, host in hl:
        for fam, addr in (("loopback_ipv4", host.data.loopback_ipv4), ("loopback_ipv6", host.data.loopback_ipv6)):
            if addr is not None and addr.ip in addr_owner:
                p.append(f"{f_hosts}: host {name}: field data.{fam}: duplicate address {addr.ip} "
                         f"(also on {addr_owner[addr.ip]})")

    for peer in peers.values():
        for k, ref in enumerate(peer.sessions):
            subj, fld = f"peer {peer.name}", f"sessions[{k}]"
            if ref.device not in hosts:
                p.append(f"{f_peers}: {subj}: field {fld}.device: unknown device {ref.device!r}")
            elif ref.link not in links:
                p.append(f"{f_peers}: {subj}: field {fld}.link: unknown link {ref.link!r}")
            else:
                nodes = {ep.node for ep in links[ref.link].endpoints}
                for who in (ref.device, peer.name):
                    if who not in nodes:
                        p.append(f"{f_peers}: {subj}: field {fld}.link: {who} is not an endpoint of "
                                 f"link {ref.link}")
    if p:
        raise InventoryError(p)
    inv = Inventory(root=ld.root, operator=defaults.data.operator, sites=dict(sites), devices=devices,
                    links=links, peers=peers, lab=lab, ports=ports)
    for s in derive_sessions(inv):
        if s.node in devices and s.peer_asn == s.local_asn and s.kind != "ibgp":
            p.append(f"{f_peers}: peer {s.neighbor}: field asn: same ASN as {s.node}")
    if p:
        raise InventoryError(p)
    return inv


def derive_sessions(inv: Inventory) -> list[Session]:
    """BGP sessions implied by the topology.

    * p2p link between two devices: iBGP when they share an ASN (route reflectors serve the others).
    * LAN with one of our route servers: every other device on it peers with the route server.
    * peers.yaml sessions: the device peers with the external network over the named link.
    Each session appears from both sides; external sides carry `external=True`.
    """
    out: list[Session] = []

    def both(a: Port, b: Port, a_asn: int, b_asn: int, a_kind: str, b_kind: str,
             a_rrc: bool = False, b_rrc: bool = False) -> None:
        for afi, (la, lb) in ((4, (a.ipv4, b.ipv4)), (6, (a.ipv6, b.ipv6))):
            if la is None or lb is None:
                continue
            out.append(Session(a.node, b.node, a.link, afi, la.ip, lb.ip, a_asn, b_asn, a_kind,  # type: ignore[arg-type]
                               rr_client=a_rrc, external=a.node in inv.peers))
            out.append(Session(b.node, a.node, a.link, afi, lb.ip, la.ip, b_asn, a_asn, b_kind,  # type: ignore[arg-type]
                               rr_client=b_rrc, external=b.node in inv.peers))

    for link in inv.links.values():
        devs = [inv.port(ep.node, link.name) for ep in link.endpoints if ep.node in inv.devices]
        if link.kind == "p2p" and len(devs) == 2:
            a, b = devs
            da, db = inv.devices[a.node], inv.devices[b.node]
            kind = "ibgp" if da.asn == db.asn else "private"
            both(a, b, da.asn, db.asn, kind, kind,
                 a_rrc=kind == "ibgp" and da.route_reflector and not db.route_reflector,
                 b_rrc=kind == "ibgp" and db.route_reflector and not da.route_reflector)
        elif link.kind == "lan":
            for rs in (d for d in devs if inv.devices[d.node].role == "dix-rs"):
                for member in (d for d in devs if d.node != rs.node and inv.devices[d.node].role != "dix-rs"):
                    both(rs, member, inv.devices[rs.node].asn, inv.devices[member.node].asn,
                         "rs-client", "route-server")
    for peer in inv.peers.values():
        for ref in peer.sessions:
            dev = inv.devices[ref.device]
            both(inv.port(ref.device, ref.link), inv.port(peer.name, ref.link), dev.asn, peer.asn,
                 "rs-client" if dev.role == "dix-rs" else peer.type,
                 "route-server" if dev.role == "dix-rs" else "customer")
    return out


def load_from_nornir_config(config_file: Path) -> Inventory:
    """Load the inventory named by a nornir.yaml (SimpleInventory options)."""
    try:
        cfg = load_yaml(config_file)
    except YamlFileError as exc:
        raise InventoryError([str(exc)]) from None
    root = config_file.parent
    try:
        opts = cfg["inventory"]["options"]
        files = [root / opts[k] for k in ("host_file", "group_file", "defaults_file")]
    except (KeyError, TypeError) as exc:
        raise InventoryError([f"{config_file}: inventory.options: missing {exc} (SimpleInventory host_file, "
                              "group_file, defaults_file)"]) from None
    return load_inventory(*files, root=root)
