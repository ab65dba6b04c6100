"""Inventory: the validated model of the gateway (devices, sites, links, peers, lab).

The Nornir SimpleInventory files (hosts/groups/defaults.yaml) and Tonlé's own files
(sites/links/peers/lab.yaml) are read strictly: unknown keys, duplicate keys, unknown
references and addresses or ASNs outside documentation ranges are refused, and every
problem is reported as one line naming the file, the host (or entry) and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PositiveInt,
    StrictInt,
    ValidationError,
    field_validator,
)

from tonle.errors import Problems
from tonle.source.yamlio import YamlFileError, load_yaml

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
SITE_RE = re.compile(r"^[A-Z]{3}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
# Keys whose values must never be echoed in a message (and never be in the inventory at all).
SECRET_RE = re.compile(r"passw|secret", re.IGNORECASE)
SECRETS_MSG = "secrets do not belong in the inventory (take them from the environment)"


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
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise ValueError(f"name {v!r} must be lowercase letters, digits and '-', 2-32 characters")
    return v


def _check_country(v: str) -> str:
    if not COUNTRY_RE.match(v):
        raise ValueError(f"country {v!r} must be an ISO 3166 code of 2 capital letters (e.g. KH)")
    return v


def _check_lab_name(v: str) -> str:
    if not LAB_NAME_RE.match(v):
        raise ValueError(f"lab name {v!r} must be 2-8 lowercase letters and digits, starting with a letter "
                         "(it prefixes namespace and interface names)")
    return v


def _parse_prefix(v: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return v
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not an IP prefix (expected a string like 198.51.100.0/24)")  # noqa: TRY004
    try:
        return ipaddress.ip_network(v)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise ValueError(f"{v!r} is not a valid IP prefix (expected e.g. 198.51.100.0/24 or 2001:db8::/48)") from None
    raise ValueError(f"{v} has host bits set (did you mean {loose}?)")


Asn = Annotated[StrictInt, AfterValidator(_check_asn)]
V4Addr = Annotated[ipaddress.IPv4Address, AfterValidator(_check_addr)]
V4If = Annotated[ipaddress.IPv4Interface, AfterValidator(_check_addr)]
V6If = Annotated[ipaddress.IPv6Interface, AfterValidator(_check_addr)]
Prefix = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network, PlainValidator(_parse_prefix), AfterValidator(_check_addr)
]
Name = Annotated[str, AfterValidator(_check_name)]


def _check_tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {v!r}") from None
    return v


Timezone = Annotated[str, AfterValidator(_check_tz)]


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
        if SECRET_RE.search(repr(v)):
            raise ValueError(SECRETS_MSG)
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
    timezone: Timezone
    exchange: bool = False
    description: str = ""


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


class SessionRef(_Model):
    device: str
    link: str


def _check_community(v: str) -> str:
    parts = v.split(":")
    if len(parts) != 2 or not all(p.isdigit() and int(p) <= 65535 for p in parts):
        raise ValueError(f"{v!r} is not a standard BGP community (ASN:value, each 0-65535)")
    return v


def _check_regex(v: str) -> str:
    try:
        re.compile(v.replace("_", "(^|$|[ ,{}()])"))
    except re.error as exc:
        raise ValueError(f"{v!r} is not a valid AS-path regular expression: {exc}") from None
    return v


Community = Annotated[str, AfterValidator(_check_community)]
AsPathRegex = Annotated[str, AfterValidator(_check_regex)]


class MaxPrefixes(_Model):
    """Maximum prefixes accepted per address family; the session is torn down above it."""

    ipv4: PositiveInt | None = None
    ipv6: PositiveInt | None = None


class ImportPolicy(_Model):
    """What we accept from a peer. Unset fields take the peer type's default (see tonle.compile.intent)."""

    prefixes: list[Prefix] | None = None  # accept only these (and more-specifics up to the max length)
    as_path: list[AsPathRegex] | None = None  # accepted AS paths; default: must start with the peer's ASN
    local_pref: Annotated[int, Field(ge=0, le=4294967295)] | None = None
    communities: list[Community] = Field(default_factory=list)  # added to every accepted route


class ExportPolicy(_Model):
    """What we send a peer, on top of the peer type's default (see tonle.compile.intent)."""

    prepend: Annotated[int, Field(ge=0, le=5)] = 0
    communities: list[Community] = Field(default_factory=list)


class Peer(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Name
    asn: Asn
    type: PeerType
    country: Annotated[str, AfterValidator(_check_country)]
    description: str = ""
    announces: list[Prefix] = Field(default_factory=list)
    sessions: list[SessionRef] = Field(min_length=1)
    max_prefixes: MaxPrefixes = MaxPrefixes()
    import_policy: ImportPolicy = Field(default_factory=ImportPolicy, alias="import")
    export_policy: ExportPolicy = Field(default_factory=ExportPolicy, alias="export")
    # Name of the environment variable holding the TCP-MD5 key (never the key itself).
    md5_key_env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")] | None = None
    bfd: bool = False
    # Honour RFC 8326 GRACEFUL_SHUTDOWN (65535:0) from this peer by lowering local preference to 0.
    graceful_shutdown: bool = True


class Lab(_Model):
    name: Annotated[str, AfterValidator(_check_lab_name)]
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
    directory: Path  # where hosts.yaml and Tonlé's own files are
    operator: Operator
    sites: dict[str, Site]
    devices: dict[str, Device]
    links: dict[str, Link]
    peers: dict[str, Peer]
    lab: Lab
    ports: dict[str, list[Port]] = field(default_factory=dict)  # node -> its ports in link order
    config_file: Path | None = None  # the nornir.yaml it was loaded from (None: loaded from the three files)

    def port(self, node: str, link: str) -> Port:
        """The port of `node` on `link`."""
        return next(p for p in self.ports[node] if p.link == link)

    def sessions(self) -> list[Session]:
        """Every BGP session of the topology, from both sides (devices and simulated externals)."""
        return list(self._sessions)

    def device_sessions(self, device: str) -> list[Session]:
        """The sessions a node (device or simulated network) is configured with."""
        return list(self._by_node.get(device, ()))

    @cached_property
    def _sessions(self) -> tuple[Session, ...]:
        return tuple(derive_sessions(self))

    @cached_property
    def _by_node(self) -> dict[str, list[Session]]:
        out: dict[str, list[Session]] = {}
        for s in self._sessions:
            out.setdefault(s.node, []).append(s)
        return out


class InventoryError(Problems):
    """The inventory is invalid; `problems` holds one line per problem."""


def _fmt_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a dict key; the key itself is already in the location
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(v: Any) -> str:
    if v is None:
        return "nothing (empty value)"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, bool):
        return f"a boolean ({v})"
    if isinstance(v, str):
        return f"a string ({_short(v)})"
    return f"{type(v).__name__} ({_short(v)})"


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _submodel(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(cls: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """' (did you mean 'x'?)' for an unknown key at `loc`, when a known key of that model is close."""
    model: type[BaseModel] | None = cls
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) if model is not None else None
        model = _submodel(info.annotation) if info is not None else None
    if model is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _pydantic_problems(exc: ValidationError, cls: type[BaseModel], file: str, subject: str) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _fmt_loc(loc) or "(top level)"
        kind, given = err["type"], err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        if any(isinstance(part, str) and SECRET_RE.search(part) for part in loc):
            msg = SECRETS_MSG  # never echo the value
        elif kind == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(cls, loc)
        elif kind == "missing":
            msg = "required key is missing"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected a mapping, got {_describe(given)}"
        elif kind == "list_type":
            msg = f"expected a list, got {_describe(given)}"
        elif kind != "value_error" and isinstance(given, str | int | float | bool):
            msg += f" (got {_short(given)})"
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

    def mapping(self, data: Any, file: str, what: str) -> dict[str, Any] | None:
        """A top-level mapping of named entries (hosts, groups); None (with a problem) when malformed."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problems.append(f"{file}: (top level): expected a mapping of {what}, got {_describe(data)}")
            return None
        for key in data:
            if not isinstance(key, str):
                self.problems.append(f"{file}: {what.rstrip('s')} {key!r}: field (name): the name must be a "
                                     f"string, got {_describe(key)}")
        return {k: v for k, v in data.items() if isinstance(k, str)}

    def section(self, data: Any, file: str, key: str, kind: type[list[Any]] | type[dict[Any, Any]]) -> Any:
        """The value of the single top-level `key` of one of Tonlé's files; None (with a problem) when malformed."""
        expected = f"a mapping with the key {key!r}"
        if data is None:
            self.problems.append(f"{file}: (top level): the file is empty (expected {expected})")
            return None
        if not isinstance(data, dict):
            self.problems.append(f"{file}: (top level): expected {expected}, got {_describe(data)}")
            return None
        for extra in data:
            if extra != key:
                self.problems.append(f"{file}: (top level): field {extra}: unknown key (expected only {key!r})")
        if key not in data:
            self.problems.append(f"{file}: (top level): field {key}: required key is missing")
            return None
        value = data[key]
        if value is None:
            return kind()
        if not isinstance(value, kind):
            what = "a list" if kind is list else "a mapping"
            self.problems.append(f"{file}: (top level): field {key}: expected {what}, got {_describe(value)}")
            return None
        return value

    def model(self, cls: type[M], data: Any, file: str, subject: str) -> M | None:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(_pydantic_problems(exc, cls, file, subject))
            return None

    def named(self, cls: type[M], items: list[Any], file: str, what: str, key: str) -> tuple[list[M], set[str]]:
        """Validate each entry of a list of named entries; returns the valid ones and the names of invalid ones."""
        good: list[M] = []
        bad: set[str] = set()
        for i, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            subject = f"{what} {name}" if isinstance(name, str) and name else f"{key}[{i}]"
            obj = self.model(cls, item, file, subject)
            if obj is not None:
                good.append(obj)
            elif isinstance(name, str):
                bad.add(name)
        return good, bad


def _lab_ifname(link_index: int) -> str:
    return f"eth{link_index}"


def _group_cycles(groups: dict[str, Group]) -> list[list[str]]:
    """Cycles in group inheritance, each once (reported on its smallest member)."""
    cycles = []
    for start in sorted(groups):
        stack: list[list[str]] = [[start, p] for p in groups[start].groups]
        seen: set[str] = set()
        while stack:
            path = stack.pop()
            last = path[-1]
            if last == start:
                if start == min(path):
                    cycles.append(path)
                break
            if last in seen or last not in groups:
                continue
            seen.add(last)
            stack.extend([*path, p] for p in groups[last].groups)
    return cycles


def load_inventory(hosts_file: Path, group_file: Path, defaults_file: Path, *, root: Path | None = None) -> Inventory:
    """Read and validate the inventory whose Nornir files are given; Tonlé's files sit beside hosts.yaml.

    Raises:
        InventoryError: with one line per problem found (all problems, not just the first).
    """
    inv_dir = hosts_file.parent
    ld = _Loader(root or inv_dir.parent, inv_dir)
    f_hosts, f_groups, f_defaults = (ld.rel(p.name) for p in (hosts_file, group_file, defaults_file))
    f_sites, f_links, f_peers, f_lab = (ld.rel(n) for n in ("sites.yaml", "links.yaml", "peers.yaml", "lab.yaml"))

    doc_hosts = ld.read(hosts_file.name, hosts_file)
    doc_groups = ld.read(group_file.name, group_file)
    raw_defaults = ld.read(defaults_file.name, defaults_file)
    doc_sites = ld.read("sites.yaml")
    doc_links = ld.read("links.yaml")
    doc_peers = ld.read("peers.yaml")
    raw_lab = ld.read("lab.yaml")
    if ld.problems:  # unreadable files: report them alone rather than a cascade of missing references
        raise InventoryError(ld.problems)

    # Shape of every file and validation of every entry; entries that fail are remembered by name so that
    # references to them are not reported again as "unknown".
    raw_hosts = ld.mapping(doc_hosts, f_hosts, "hosts")
    raw_groups = ld.mapping(doc_groups, f_groups, "groups")
    if raw_hosts == {}:
        ld.problems.append(f"{f_hosts}: (top level): no hosts defined (the file is empty); an inventory needs "
                           "at least one device")
    raw_sites = ld.section(doc_sites, f_sites, "sites", dict)
    raw_links = ld.section(doc_links, f_links, "links", list)
    raw_peers = ld.section(doc_peers, f_peers, "peers", list)
    if raw_sites == {}:
        ld.problems.append(f"{f_sites}: (top level): field sites: no sites defined")
    defaults = ld.model(Defaults, raw_defaults, f_defaults, "defaults")
    lab = ld.model(Lab, raw_lab, f_lab, "lab")
    fatal = bool(ld.problems) or defaults is None or lab is None

    groups: dict[str, Group] = {}
    bad_groups: set[str] = set()
    for gname, v in (raw_groups or {}).items():
        if (g := ld.model(Group, v, f_groups, f"group {gname}")) is not None:
            groups[gname] = g
        else:
            bad_groups.add(gname)
    hosts: dict[str, Host] = {}
    bad_hosts: set[str] = set()
    for hname, v in (raw_hosts or {}).items():
        if (h := ld.model(Host, v, f_hosts, f"host {hname}")) is not None:
            hosts[hname] = h
        else:
            bad_hosts.add(hname)
    sites: dict[str, Site] = {}
    bad_sites: set[str] = set()
    for code, v in (raw_sites or {}).items():
        subj = f"site {code}"
        if not isinstance(code, str) or not SITE_RE.match(code):
            ld.problems.append(f"{f_sites}: {subj}: field (code): site code {code!r} must be 3 capital letters "
                               "(e.g. PNH)")
            bad_sites.add(str(code))
        elif (site_obj := ld.model(Site, v, f_sites, subj)) is not None:
            sites[code] = site_obj
        else:
            bad_sites.add(code)
    links_l, bad_links = ld.named(Link, raw_links or [], f_links, "link", "links")
    peers_l, bad_peers = ld.named(Peer, raw_peers or [], f_peers, "peer", "peers")
    if fatal or defaults is None or lab is None:
        raise InventoryError(ld.problems)
    p = ld.problems

    # Groups: references and inheritance (depth-first, own values win, like Nornir).
    for gname, grp in groups.items():
        for parent in grp.groups:
            if parent not in groups and parent not in bad_groups:
                p.append(f"{f_groups}: group {gname}: field groups: unknown group {parent!r}")
    for cycle in _group_cycles(groups):
        p.append(f"{f_groups}: group {cycle[0]}: field groups: groups inherit from each other in a cycle "
                 f"({' -> '.join(cycle)})")

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
        broken_ref = False
        for gn in host.groups:
            if gn in bad_groups:
                broken_ref = True
            elif gn not in groups:
                broken_ref = True
                p.append(f"{f_hosts}: {subj}: field groups: unknown group {gn!r} (groups.yaml has "
                         f"{', '.join(sorted(groups)) or 'no groups'})")
        chain = inherited(host.groups)
        platform = host.platform or next((g.platform for g in chain if g.platform), None) or defaults.platform
        site = host.data.site or next((g.data.site for g in chain if g.data.site), None)
        role = host.data.role or next((g.data.role for g in chain if g.data.role), None)
        if platform is None and not broken_ref:
            p.append(f"{f_hosts}: {subj}: field platform: no platform set on the host or its groups "
                     f"(one of {', '.join(PLATFORMS)})")
        if site is None:
            if not broken_ref:
                p.append(f"{f_hosts}: {subj}: field data.site: no site set on the host or its groups")
        elif site not in sites and site not in bad_sites:
            p.append(f"{f_hosts}: {subj}: field data.site: unknown site {site!r} (sites.yaml has "
                     f"{', '.join(sorted({*sites, *bad_sites}))})")
        if role is None and not broken_ref:
            p.append(f"{f_hosts}: {subj}: field data.role: no role set on the host or its groups "
                     f"(one of {', '.join(ROLES)})")
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
    for peer in peers_l:
        if peer.name in peers:
            p.append(f"{f_peers}: peer {peer.name}: field name: duplicate peer name (defined twice)")
        elif peer.name in hosts or peer.name in bad_hosts:
            p.append(f"{f_peers}: peer {peer.name}: field name: name already used by a host in hosts.yaml")
        peers[peer.name] = peer
        if peer.asn == defaults.data.operator.asn:
            p.append(f"{f_peers}: peer {peer.name}: field asn: {peer.asn} is the operator's own ASN "
                     f"({f_defaults}: data.operator.asn)")
    known_nodes = {*hosts, *bad_hosts, *peers, *bad_peers}

    # Links: endpoints, interfaces, addressing.
    links: dict[str, Link] = {}
    ports: dict[str, list[Port]] = {n: [] for n in [*devices, *peers]}
    addr_owner: dict[Any, str] = {}
    for link in links_l:
        subj = f"link {link.name}"
        if link.name in links:
            p.append(f"{f_links}: {subj}: field name: duplicate link name (defined twice)")
            continue
        links[link.name] = link
        if link.kind == "p2p" and len(link.endpoints) != 2:
            p.append(f"{f_links}: {subj}: field endpoints: a p2p link has exactly 2 endpoints, "
                     f"got {len(link.endpoints)} (use kind: lan)")
        seen_nodes: set[str] = set()
        for j, ep in enumerate(link.endpoints):
            fld = f"endpoints[{j}]"
            if ep.node not in known_nodes:
                p.append(f"{f_links}: {subj}: field {fld}.node: unknown device or peer {ep.node!r} (not in "
                         "hosts.yaml or peers.yaml)")
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
                first_addr = first.ipv4 if fam == "ipv4" else first.ipv6
                if j > 0 and first_addr is not None and addr.network != first_addr.network:
                    p.append(f"{f_links}: {subj}: field {fld}.{fam}: {addr} is not in the link's subnet "
                             f"{first_addr.network} (from endpoints[0])")
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
            if ref.device in bad_hosts or ref.link in bad_links:
                continue  # already reported on the host or link itself
            if ref.device not in hosts:
                p.append(f"{f_peers}: {subj}: field {fld}.device: unknown device {ref.device!r} (not in "
                         "hosts.yaml)")
            elif ref.link not in links:
                p.append(f"{f_peers}: {subj}: field {fld}.link: unknown link {ref.link!r} (not in links.yaml)")
            else:
                nodes = {ep.node for ep in links[ref.link].endpoints}
                for who in (ref.device, peer.name):
                    if who not in nodes:
                        p.append(f"{f_peers}: {subj}: field {fld}.link: {who} is not an endpoint of "
                                 f"link {ref.link}")
    if p:
        raise InventoryError(p)
    inv = Inventory(root=ld.root, directory=inv_dir, operator=defaults.data.operator, sites=dict(sites),
                    devices=devices,
                    links=links, peers=peers, lab=lab, ports=ports)
    for s in derive_sessions(inv):
        if s.node in devices and s.peer_asn == s.local_asn and s.kind != "ibgp":
            p.append(f"{f_peers}: peer {s.neighbor}: field asn: {s.peer_asn} is also the ASN of device {s.node}, "
                     f"which peers with it on link {s.link}")
    if p:
        raise InventoryError(list(dict.fromkeys(p)))  # one line per problem, not one per address family
    return inv


def derive_sessions(inv: Inventory) -> list[Session]:
    """BGP sessions implied by the topology.

    * p2p link between two devices: iBGP when they share an ASN (route reflectors serve the others).
    * LAN with one of our route servers: every other device on it peers with the route server.
    * peers.yaml sessions: the device peers with the external network over the named link.
    Each session appears from both sides; external sides carry `external=True`.
    """
    out: list[Session] = []

    def both(a: Port, b: Port, *, a_asn: int, b_asn: int, a_kind: str, b_kind: str,
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
            both(a, b, a_asn=da.asn, b_asn=db.asn, a_kind=kind, b_kind=kind,
                 a_rrc=kind == "ibgp" and da.route_reflector and not db.route_reflector,
                 b_rrc=kind == "ibgp" and db.route_reflector and not da.route_reflector)
        elif link.kind == "lan":
            for rs in (d for d in devs if inv.devices[d.node].role == "dix-rs"):
                for member in (d for d in devs if d.node != rs.node and inv.devices[d.node].role != "dix-rs"):
                    both(rs, member, a_asn=inv.devices[rs.node].asn, b_asn=inv.devices[member.node].asn,
                         a_kind="rs-client", b_kind="route-server")
    for peer in inv.peers.values():
        for ref in peer.sessions:
            dev = inv.devices[ref.device]
            both(inv.port(ref.device, ref.link), inv.port(peer.name, ref.link), a_asn=dev.asn, b_asn=peer.asn,
                 a_kind="rs-client" if dev.role == "dix-rs" else peer.type,
                 b_kind="route-server" if dev.role == "dix-rs" else "customer")
    return out


def load_from_nornir_config(config_file: Path) -> Inventory:
    """Load the inventory named by a nornir.yaml (SimpleInventory options; paths relative to the file)."""
    try:
        cfg = load_yaml(config_file)
    except YamlFileError as exc:
        raise InventoryError([str(exc)]) from None
    root = config_file.parent
    need = "SimpleInventory needs host_file, group_file and defaults_file"
    if not isinstance(cfg, dict):
        raise InventoryError([f"{config_file}: (top level): expected a Nornir configuration mapping, got "
                              f"{_describe(cfg)}"])
    inv = cfg.get("inventory")
    plugin = inv.get("plugin", "SimpleInventory") if isinstance(inv, dict) else None
    opts = inv.get("options") if isinstance(inv, dict) else None
    if plugin != "SimpleInventory" and plugin is not None:
        raise InventoryError([f"{config_file}: field inventory.plugin: {plugin!r} is not supported (Tonlé reads "
                              "the SimpleInventory files)"])
    if not isinstance(opts, dict):
        raise InventoryError([f"{config_file}: field inventory.options: missing or not a mapping ({need})"])
    problems = [f"{config_file}: field inventory.options.{k}: missing or not a file name ({need})"
                for k in ("host_file", "group_file", "defaults_file") if not isinstance(opts.get(k), str)
                or not opts.get(k)]
    if problems:
        raise InventoryError(problems)
    files = [root / opts[k] for k in ("host_file", "group_file", "defaults_file")]
    return dataclasses.replace(load_inventory(*files, root=root), config_file=config_file)
