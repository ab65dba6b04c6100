"""The blast-radius guard of disruptive actions: what a scope means on the network, and what goes dark.

Pure: no device, no state file. `resolve` turns a scope into overrides, the sessions that go down and the
devices to push; `blast_radius` counts what is dark once the action is added to the active disconnects:

* sessions: the share of each site's external sessions, the last upstream of a site, the country's last
  international path, the international capacity left;
* address space: the announced space made unreachable by remote-triggered blackholes (this one and the
  active ones together) as a share of the operator's own space and of each domestic ISP's space
  (nationally: a blackhole is announced at every upstream) and of the domestic space homed at each
  site's exchange.

Over a limit of `policy.yaml` (`guard:`) the action waits for a second operator.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from tonle.compile.intent import BlackholeOverride, Intent, InterfaceOverride, Override, SessionOverride
from tonle.errors import BadInput
from tonle.source.inventory import Inventory, Session

SCOPES = ("session", "peer-as", "link", "prefix", "site-upstreams")
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class DisconnectError(BadInput):
    """Bad input (scope, reason, ticket, TTL, unknown id); one line, nothing changed."""


@dataclass(frozen=True)
class Scope:
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


@dataclass
class Resolution:
    """What a scope means on the network."""

    overrides: list[Override]
    sessions: list[Session]  # device-side sessions that go down
    devices: list[str]  # devices to push: every device whose rendering the overrides change
    blackholes: list[str] = field(default_factory=list)


@dataclass
class SpaceShare:
    """Announced address space of one holder and one address family, and how much of it is blackholed."""

    scope: str  # operator | isp | site (the domestic space homed at the site's exchange)
    name: str  # "operator", the ISP's name, or the site
    afi: int
    total: int  # addresses
    dark_before: int  # blackholed by the active disconnects
    dark_after: int  # ... and by this action

    @property
    def label(self) -> str:
        return {"operator": "the operator's own", "isp": f"domestic ISP {self.name}'s",
                "site": f"the domestic ISPs' at {self.name}'s exchange"}[self.scope] + f" IPv{self.afi} space"

    def percent(self, dark: int) -> float:
        return 100.0 * dark / self.total

    def reaches(self, limit_percent: float) -> bool:
        """Exact (no rounding): the blackholed share after the action is at or above the limit."""
        return Fraction(self.dark_after * 100, self.total) >= Fraction(str(limit_percent))


@dataclass
class BlastRadius:
    """What goes dark, and whether that is over the guard's limits."""

    sessions: list[str]
    prefixes: list[str]
    sites: dict[str, dict[str, Any]]  # site -> external/upstream sessions total, dark after, share, capacity
    national: dict[str, Any]
    violations: list[str]
    address_space: list[SpaceShare] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"sessions going down ({len(self.sessions)}): {', '.join(self.sessions) or 'none'}"]
        if self.prefixes:
            out.append(f"prefixes going dark ({len(self.prefixes)}): {', '.join(self.prefixes)}")
        for site, v in sorted(self.sites.items()):
            if v["dark_after"] > v["dark_before"]:
                out.append(f"site {site}: {v['dark_after']}/{v['external']} external sessions dark "
                           f"({v['share']:.0%}), upstream sessions left {v['upstream_left']}/{v['upstream']}, "
                           f"international capacity left {v['capacity_left_mbps']:g}/{v['capacity_mbps']:g} Mbit/s")
        n = self.national
        out.append(f"nation: international sessions left {n['upstream_left']}/{n['upstream']}, capacity left "
                   f"{n['capacity_left_mbps']:g}/{n['capacity_mbps']:g} Mbit/s ({n['capacity_share_dark']:.0%} dark)")
        for s in self.address_space:
            if s.dark_after:
                out.append(f"blackholed: {s.percent(s.dark_after):.2f}% of {s.label} "
                           f"({_count(s.dark_after)} of {_count(s.total)} addresses; "
                           f"{s.percent(s.dark_before):.2f}% before this action)")
        out += [f"OVER LIMIT: {v}" for v in self.violations]
        return out


def _count(n: int) -> str:
    if n < 10**7:
        return str(n)
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else f"{n:.3e}"


def parse_scope(kind: str, value: str) -> Scope:
    if kind not in SCOPES:
        raise DisconnectError(f"unknown scope {kind!r} (one of {', '.join(SCOPES)})")
    if not value.strip():
        raise DisconnectError(f"--{kind}: a value is required")
    return Scope(kind, value.strip())


# ---- resolution ----------------------------------------------------------------------------------------

def resolve(intent: Intent, scope: Scope) -> Resolution:
    """Turn a scope into overrides and the sessions that go down. Refuses anything ambiguous or empty."""
    inv = intent.inv
    dev_sessions = [s for s in inv.sessions() if not s.external]
    if scope.kind == "session":
        # DEVICE:PEER_IP (IPv6 too: device names have no colon), or PEER_IP alone when it is unique;
        # several sessions are an explicit comma-separated list, never a pattern.
        sessions = []
        for item in (i.strip() for i in scope.value.split(",")):
            head, _, tail = item.partition(":")
            device, ip = (head, tail) if head in inv.devices else ("", item)
            matches = [s for s in dev_sessions if str(s.peer_ip) == ip and (not device or s.node == device)]
            if not matches:
                raise DisconnectError(f"--session {item}: no such BGP session (DEVICE:PEER_IP)")
            if len(matches) > 1:
                raise DisconnectError(f"--session {item}: ambiguous, on {', '.join(s.node for s in matches)}; "
                                      "name the device (DEVICE:PEER_IP)")
            sessions += [m for m in matches if m not in sessions]
        overrides: list[Override] = [SessionOverride(s.node, str(s.peer_ip), shutdown=True) for s in sessions]
    elif scope.kind == "peer-as":
        try:
            asn = int(scope.value.upper().removeprefix("AS"))
        except ValueError:
            raise DisconnectError(f"--peer-as {scope.value}: not an AS number") from None
        sessions = [s for s in dev_sessions if s.peer_asn == asn and s.kind != "ibgp"]
        if not sessions:
            raise DisconnectError(f"--peer-as {asn}: no session with this AS")
        overrides = [SessionOverride(s.node, str(s.peer_ip), shutdown=True) for s in sessions]
    elif scope.kind == "link":
        device, _, name = scope.value.rpartition(":")
        if device:  # DEVICE:INTERFACE (production or lab name)
            if device not in inv.devices:
                raise DisconnectError(f"--link {scope.value}: unknown device {device!r}")
            ports = [p for p in inv.ports[device] if name in (p.interface, p.lab_ifname)]
            if not ports:
                raise DisconnectError(f"--link {scope.value}: {device} has no interface {name!r}")
            link = ports[0].link
            ends = [device]
        else:
            link = name
            if link not in inv.links:
                raise DisconnectError(f"--link {link}: unknown link")
            ends = [ep.node for ep in inv.links[link].endpoints if ep.node in inv.devices]
            if inv.links[link].kind == "lan":
                raise DisconnectError(f"--link {link}: a shared fabric; name one port (DEVICE:INTERFACE)")
        sessions = [s for s in dev_sessions if s.link == link and s.node in ends]
        overrides = [InterfaceOverride(d, link) for d in ends]
    elif scope.kind == "prefix":
        return _resolve_prefix(inv, scope.value)
    else:  # site-upstreams
        if scope.value not in inv.sites:
            raise DisconnectError(f"--site-upstreams {scope.value}: unknown site")
        sessions = [s for s in dev_sessions if s.kind == "upstream" and inv.devices[s.node].site == scope.value]
        if not sessions:
            raise DisconnectError(f"--site-upstreams {scope.value}: the site has no upstream session")
        overrides = [SessionOverride(s.node, str(s.peer_ip), shutdown=True) for s in sessions]
    return Resolution(overrides, sessions, sorted({s.node for s in sessions}))


def _resolve_prefix(inv: Inventory, value: str) -> Resolution:
    try:
        net = ipaddress.ip_network(value)
    except ValueError:
        raise DisconnectError(f"--prefix {value}: not a prefix (e.g. 198.18.16.1/32)") from None
    if not any(net.version == o.version and net.subnet_of(o) for o in _protected(inv)):  # type: ignore[arg-type]
        raise DisconnectError(f"--prefix {net}: not inside the operator's or a domestic ISP's address space")
    if net.prefixlen < (24 if net.version == 4 else 48):
        raise DisconnectError(f"--prefix {net}: too wide for a blackhole (at least /24 or /48)")
    # Every border router renders a blackhole (tonle.compile.intent.device_intent): push them all, so that
    # no device is left differing from its intent (and every one of them is leased while it changes).
    borders = sorted(d for d, dv in inv.devices.items() if dv.role == "iig-border")
    return Resolution([BlackholeOverride(str(net))], [], borders, [str(net)])


def _protected(inv: Inventory) -> list[Net]:
    """Address space a blackhole may cover: the operator's own and the domestic ISPs' announced space."""
    return list(inv.operator.prefixes) + [p for peer in inv.peers.values() if peer.type == "isp"
                                          for p in peer.announces]


# ---- counting what goes dark ----------------------------------------------------------------------------

def _key(s: Session) -> str:
    return f"{s.node}:{s.peer_ip}"


def dark_sessions(intent: Intent, overrides: list[Override]) -> set[str]:
    """device:peer_ip of every session these overrides take down."""
    out = set()
    for o in overrides:
        if isinstance(o, SessionOverride) and o.shutdown:
            out.add(f"{o.device}:{o.peer_ip}")
        elif isinstance(o, InterfaceOverride):
            out |= {_key(s) for s in intent.inv.device_sessions(o.device) if s.link == o.link}
    return out


def blackholed(overrides: list[Override]) -> list[str]:
    """Prefixes under an active remote-triggered blackhole."""
    return [o.prefix for o in overrides if isinstance(o, BlackholeOverride)]


def already_dark(intent: Intent, res: Resolution, active: list[Override]) -> bool:
    """Everything the action would take down is down already (nothing for it to do)."""
    if res.sessions:
        before = dark_sessions(intent, active)
        return all(_key(s) in before for s in res.sessions)
    if res.blackholes:
        covered = [ipaddress.ip_network(p) for p in blackholed(active)]
        return all(any(n.version == c.version and n.subnet_of(c) for c in covered)  # type: ignore[arg-type]
                   for n in map(ipaddress.ip_network, res.blackholes))
    return False


def blast_radius(intent: Intent, res: Resolution, active: list[Override]) -> BlastRadius:
    """What goes dark with this action on top of the active disconnects, and what the guard says."""
    inv, guard = intent.inv, intent.policy.guard
    before = dark_sessions(intent, active)
    after = before | {_key(s) for s in res.sessions}
    ext = [s for s in inv.sessions() if not s.external and s.neighbor in inv.peers]
    sites: dict[str, dict[str, Any]] = {}
    for site in inv.sites:
        mine = [s for s in ext if inv.devices[s.node].site == site]
        up = [s for s in mine if s.kind == "upstream"]
        cap = _capacity(inv, up, set())
        sites[site] = {
            "external": len(mine), "dark_before": sum(_key(s) in before for s in mine),
            "dark_after": sum(_key(s) in after for s in mine),
            "share": (sum(_key(s) in after for s in mine) / len(mine)) if mine else 0.0,
            "upstream": len(up), "upstream_left": sum(_key(s) not in after for s in up),
            "capacity_mbps": cap, "capacity_left_mbps": _capacity(inv, up, after),
        }
    ups = [s for s in ext if s.kind == "upstream"]
    cap_all = _capacity(inv, ups, set())
    national = {"upstream": len(ups), "upstream_left": sum(_key(s) not in after for s in ups),
                "capacity_mbps": cap_all, "capacity_left_mbps": _capacity(inv, ups, after)}
    national["capacity_share_dark"] = 1 - national["capacity_left_mbps"] / cap_all if cap_all else 0.0
    violations = []
    for site, v in sites.items():
        if v["dark_after"] <= v["dark_before"]:
            continue
        if v["share"] > guard.max_site_share:
            violations.append(f"{v['dark_after']} of {v['external']} external sessions at {site} dark "
                              f"({v['share']:.0%} > {guard.max_site_share:.0%})")
        if guard.protect_last_site_upstream and v["upstream"] and not v["upstream_left"]:
            violations.append(f"the last upstream of {site} goes dark")
    if guard.protect_last_international_path and ups and not national["upstream_left"]:
        violations.append("the country's last international path goes dark")
    space = address_space(inv, blackholed(active), blackholed(active) + res.blackholes)
    violations += _space_violations(space, intent)
    gone = set(res.blackholes)
    for peer in inv.peers.values():  # a network whose every session is dark: its prefixes go dark here
        peer_sessions = [_key(s) for s in ext if s.neighbor == peer.name]
        if peer_sessions and all(k in after for k in peer_sessions) \
                and not all(k in before for k in peer_sessions):
            gone |= {str(p) for p in peer.announces}
    return BlastRadius(sorted(_key(s) for s in res.sessions), sorted(gone), sites, national, violations, space)


def address_space(inv: Inventory, dark_before: list[str], dark_after: list[str]) -> list[SpaceShare]:
    """Blackholed share of each holder's announced space, per address family (overlaps counted once)."""
    before, after = _nets(dark_before), _nets(dark_after)
    holders: list[tuple[str, str, list[Net]]] = [("operator", "operator", list(inv.operator.prefixes))]
    isps = [p for p in inv.peers.values() if p.type == "isp"]
    holders += [("isp", p.name, list(p.announces)) for p in isps]
    for site in sorted(inv.sites):
        homed = [n for p in isps if any(inv.devices[r.device].site == site for r in p.sessions
                                        if r.device in inv.devices) for n in p.announces]
        if homed:
            holders.append(("site", site, homed))
    out = []
    for scope, name, nets in holders:
        for afi in (4, 6):
            mine = _nets([str(n) for n in nets if n.version == afi])
            if mine:
                out.append(SpaceShare(scope, name, afi, sum(n.num_addresses for n in mine),
                                      _inside(before, mine), _inside(after, mine)))
    return out


def _nets(prefixes: list[str]) -> list[Net]:
    """The union of some prefixes as disjoint networks."""
    nets = [ipaddress.ip_network(p) for p in prefixes]
    v4 = ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv6Network))
    return [*v4, *v6]


def _inside(dark: list[Net], space: list[Net]) -> int:
    """Addresses of `space` (disjoint networks) inside `dark` (disjoint networks)."""
    total = 0
    for d in dark:
        for s in space:
            if d.version != s.version:
                continue
            if d.subnet_of(s):  # type: ignore[arg-type]
                total += d.num_addresses
            elif s.subnet_of(d):  # type: ignore[arg-type]
                total += s.num_addresses
    return total


def _space_violations(space: list[SpaceShare], intent: Intent) -> list[str]:
    """A share that this action raises to its limit or above needs a second operator."""
    limits = intent.policy.guard.max_blackholed_share_percent
    out = []
    for s in space:
        limit = {"operator": limits.operator, "isp": limits.isp, "site": limits.site}[s.scope]
        if s.dark_after > s.dark_before and s.reaches(limit):
            out.append(f"{s.percent(s.dark_after):.2f}% of {s.label} blackholed "
                       f"(limit {limit:g}%: reaching it needs a second operator)")
    return out


def _capacity(inv: Inventory, sessions: list[Session], dark: set[str]) -> float:
    """Capacity of the links carrying `sessions` that still have a session not in `dark`."""
    links: dict[str, bool] = {}
    for s in sessions:
        links[s.link] = links.get(s.link, False) or _key(s) not in dark
    return float(sum((inv.links[ln].capacity_mbps or 0) for ln, alive in links.items() if alive))
