"""Inventory: the validated model of the gateway (devices, sites, links, peers, lab).

The Nornir SimpleInventory files (hosts/groups/defaults.yaml) and Tonlé's own files
(sites/links/peers/lab.yaml) are read strictly: unknown keys, duplicate keys, unknown
references and addresses or ASNs outside documentation ranges are refused, and every
problem is reported as one line naming the file, the host (or entry) and the field.

Strings that can reach a device configuration are checked where they enter (tonle.source.grammar); what
one file says is checked against the others (addresses against the management network, ports
against the platform's names, peers' address space against the operator's, ...). A problem line
never echoes a secret-ish field or a long value; many problems of one kind are summarised.

`load_inventory` runs named phases that share one problem collector: read the files, validate each
entry, resolve groups into devices, build peers, links and ports, cross-file checks, sessions.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
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
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from tonle.errors import Problems
from tonle.source.grammar import GrammarError, as_path_regex, identifier, interface_name, safe_text, shown, token
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
# Fields whose values are never echoed either (a key pasted where its variable's name belongs).
SENSITIVE_RE = re.compile(r"passw|secret|md5|_key|^key$|token|psk|auth|credential", re.IGNORECASE)


def field_error(fld: str, message: str) -> PydanticCustomError:
    """A model validator's problem reported on one of the model's fields (`_pydantic_problems` places it)."""
    return PydanticCustomError("field_problem", "{message}", {"field": fld, "message": message})


def _check_asn(v: int) -> int:
    if not any(lo <= v <= hi for lo, hi in ASN_RANGES):
        raise ValueError(f"ASN {v} is not a documentation or private ASN (64496-65534, 65536-65551, 4200000000+)")
    return v


_ALLOWED_RANGES = tuple((a.version, int(a.network_address), int(a.broadcast_address)) for a in ALLOWED_NETS)
_Span = tuple[int, int, int]


def span(v: Any) -> tuple[int, int, int]:
    """(version, first, last) of an address, interface or network as integers.

    Comparing integers, not ipaddress objects: a large inventory has hundreds of thousands of addresses.
    """
    net = v.network if isinstance(v, ipaddress.IPv4Interface | ipaddress.IPv6Interface) else v
    if isinstance(net, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return net.version, int(net), int(net)
    lo = int(net.network_address)
    return net.version, lo, lo + (1 << (net.max_prefixlen - net.prefixlen)) - 1


def _inside(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return a[0] == b[0] and b[1] <= a[1] and a[2] <= b[2]


def _overlap(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def _check_addr(v: Any) -> Any:
    if not any(_inside(span(v), allowed) for allowed in _ALLOWED_RANGES):
        raise ValueError(f"{v} is outside the documentation ranges (192.0.2.0/24, 198.51.100.0/24, "
                         "203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32)")
    return v


def _check_name(v: str) -> str:
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise ValueError(f"name {shown(v)} must be lowercase letters, digits and '-', 2-32 characters")
    return v


def _check_country(v: str) -> str:
    if not COUNTRY_RE.match(v):
        raise ValueError(f"country {shown(v)} must be an ISO 3166 code of 2 capital letters (e.g. KH)")
    return v


def _check_lab_name(v: str) -> str:
    if not LAB_NAME_RE.match(v):
        raise ValueError(f"lab name {shown(v)} must be 2-8 lowercase letters and digits, starting with a letter "
                         "(it prefixes namespace and interface names)")
    return v


def _check_env_name(v: str) -> str:
    if not re.match(r"^[A-Z][A-Z0-9_]{0,63}$", v):  # never echo it: it may be the key itself
        raise ValueError("must be the name of an environment variable (capital letters, digits and _, e.g. "
                         "TONLE_MD5_PEER), not the key itself: the key is taken from that variable")
    return v


def _parse_prefix(v: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return v
    if not isinstance(v, str):
        raise ValueError(f"{shown(v)} is not an IP prefix (expected a string like 198.51.100.0/24)")  # noqa: TRY004
    try:
        return ipaddress.ip_network(v)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise ValueError(f"{shown(v)} is not a valid IP prefix (expected e.g. 198.51.100.0/24 or 2001:db8::/48)") \
            from None
    raise ValueError(f"{v} has host bits set (did you mean {loose}?)")


Asn = Annotated[StrictInt, AfterValidator(_check_asn)]
V4Addr = Annotated[ipaddress.IPv4Address, AfterValidator(_check_addr)]
V4If = Annotated[ipaddress.IPv4Interface, AfterValidator(_check_addr)]
V6If = Annotated[ipaddress.IPv6Interface, AfterValidator(_check_addr)]
Prefix = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network, PlainValidator(_parse_prefix), AfterValidator(_check_addr)
]
Name = Annotated[str, AfterValidator(_check_name)]
Flag = StrictBool  # true or false only: `yes`, `on`, `1` are refused rather than guessed


def _text(v: str) -> str:
    return safe_text(v, "", 200)


def _short_text(v: str) -> str:
    return safe_text(v, "", 64)


def _ident(v: str) -> str:
    return identifier(v, "", 32)


def _token(v: str) -> str:
    return token(v, "", 64)


Text = Annotated[str, AfterValidator(_text)]  # descriptions: printable, no comment or block characters
ShortText = Annotated[str, AfterValidator(_short_text)]  # names of places and organisations
Ident = Annotated[str, AfterValidator(_ident)]  # names used as identifiers in configurations
Token = Annotated[str, AfterValidator(_token)]  # one word (a user name)


def _check_tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {shown(v)}") from None
    return v


Timezone = Annotated[str, AfterValidator(_check_tz)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---- Nornir SimpleInventory files -------------------------------------------------------------

class Operator(_Model):
    name: ShortText
    asn: Asn
    prefixes: list[Prefix] = Field(min_length=1)


class DefaultsData(_Model):
    operator: Operator


class _NornirEntry(_Model):
    """Keys Nornir accepts on hosts, groups and defaults. `password` is refused on purpose."""

    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: Token | None = None
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
    route_reflector: Flag = False
    site: str | None = None
    role: Role | None = None

    @field_validator("loopback_ipv4", "loopback_ipv6")
    @classmethod
    def _single_address(cls, v: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None) -> Any:
        if v is not None and v.network.num_addresses != 1:
            raise ValueError(f"a loopback is one address: {v.ip}/{v.max_prefixlen} (got /{v.network.prefixlen})")
        return v


class Host(_NornirEntry):
    hostname: V4Addr
    groups: list[str] = Field(default_factory=list)
    data: HostData


# ---- Tonlé's own files --------------------------------------------------------------------------

class Site(_Model):
    name: ShortText
    timezone: Timezone
    exchange: Flag = False
    description: Text = ""


class Endpoint(_Model):
    node: str
    interface: str | None = None
    ipv4: V4If | None = None
    ipv6: V6If | None = None


class Link(_Model):
    name: Name
    kind: Literal["p2p", "lan"] = "p2p"
    capacity_mbps: PositiveInt | None = None
    description: Text = ""
    endpoints: list[Endpoint] = Field(min_length=2)


class SessionRef(_Model):
    device: str
    link: str


def _check_community(v: str) -> str:
    parts = v.split(":")
    if len(parts) != 2 or not all(re.fullmatch(r"[0-9]{1,5}", p) and int(p) <= 65535 for p in parts):
        raise ValueError(f"{shown(v)} is not a standard BGP community (ASN:value, each 0-65535)")
    return v


def _check_as_set(v: str) -> str:
    if not re.match(r"^(?:AS\d{1,10}:)?AS-[A-Za-z0-9_-]{1,64}(?::AS-[A-Za-z0-9_-]{1,64})*$", v, re.I):
        raise ValueError(f"{shown(v)} is not an RPSL as-set name (e.g. AS-EXAMPLE or AS65001:AS-CUSTOMERS)")
    return v


def _check_regex(v: str) -> str:
    return as_path_regex(v, "", 128)


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
    description: Text = ""
    announces: list[Prefix] = Field(default_factory=list)
    sessions: list[SessionRef] = Field(min_length=1)
    max_prefixes: MaxPrefixes = MaxPrefixes()
    import_policy: ImportPolicy = Field(default_factory=ImportPolicy, alias="import")
    export_policy: ExportPolicy = Field(default_factory=ExportPolicy, alias="export")
    # Name of the environment variable holding the TCP-MD5 key (never the key itself).
    md5_key_env: Annotated[str, AfterValidator(_check_env_name)] | None = None
    bfd: Flag = False
    # Honour RFC 8326 GRACEFUL_SHUTDOWN (65535:0) from this peer by lowering local preference to 0.
    graceful_shutdown: Flag = True
    # The network's RPSL as-set (e.g. AS65001:AS-ANGKOR), compared with PeeringDB's irr_as_set.
    as_set: Annotated[str, AfterValidator(_check_as_set)] | None = None


def _check_vrp_file(v: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\.json$", v):
        raise ValueError(f"{shown(v)} must be a JSON file name beside lab.yaml (letters, digits, '._-', ending "
                         "in .json; no directory)")
    return v


class Lab(_Model):
    name: Annotated[str, AfterValidator(_check_lab_name)]
    mgmt_gateway: V4If
    # The lab's RPKI validator cache: stayrtr serving this VRP file (rpki-client/Routinator JSON) at the
    # cache addresses of policy.yaml's `rpki`. Lab only: production routers poll the operator's validators.
    rpki_vrps: Annotated[str, AfterValidator(_check_vrp_file)] | None = None


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
        return self._port_index[(node, link)]

    @cached_property
    def _port_index(self) -> dict[tuple[str, str], Port]:
        return {(p.node, p.link): p for ports in self.ports.values() for p in ports}

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


MAX_LINES_PER_KIND = 10  # repeated problems of one kind: the first ones, then a count


class InventoryError(Problems):
    """The inventory is invalid; `problems` holds one line per problem (repeats of one kind summarised)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(_grouped([_one_line(p) for p in dict.fromkeys(problems)]))


def _one_line(line: str, limit: int = 600) -> str:
    """A problem as one printable line: control characters escaped, very long lines cut."""
    if any(c < " " or c == "\x7f" for c in line):
        line = "".join(c if " " <= c != "\x7f" else repr(c)[1:-1] for c in line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


_FIELD_RE = re.compile(r": field ([^:]*): ")
_VARYING_RE = re.compile(r"'[^']*'|\S*\d\S*")


def _kind(line: str) -> tuple[str, str, str]:
    """(file, field, message shape): lines that differ only in entry names, numbers and quoted values."""
    file = line.split(": ", 1)[0]
    m = _FIELD_RE.search(line)
    fld = re.sub(r"\[\d+\]", "[]", m.group(1)) if m else ""
    return file, fld, _VARYING_RE.sub("#", line[m.end():] if m else line[len(file):])


def _grouped(lines: list[str]) -> list[str]:
    """At most MAX_LINES_PER_KIND lines of one kind; a count of the others after the last one shown."""
    seen: dict[tuple[str, str, str], int] = {}
    last_shown: dict[tuple[str, str, str], int] = {}
    out: list[str] = []
    for line in lines:
        k = _kind(line)
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= MAX_LINES_PER_KIND:
            out.append(line)
            last_shown[k] = len(out) - 1
    if all(n <= MAX_LINES_PER_KIND for n in seen.values()):
        return out
    extra = {last_shown[k]: (k, n - MAX_LINES_PER_KIND) for k, n in seen.items() if n > MAX_LINES_PER_KIND}
    result: list[str] = []
    for i, line in enumerate(out):
        result.append(line)
        if i in extra:
            (file, fld, _), more = extra[i]
            where = f" (field {fld})" if fld else ""
            result.append(f"{file}: ... and {more:,} more problems like the one above{where}")
    return result


def _fmt_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a dict key; the key itself is already in the location
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[\w.-]{1,40}", part) else shown(part)
            out += f".{name}" if out else name
    return out


def _entry(name: object) -> str:
    """An entry's name as a subject shows it: as written when plain, else quoted, escaped and cut."""
    return name if isinstance(name, str) and re.fullmatch(r"[\w.:/-]{1,64}", name) else shown(name)


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
    return shown(v, 60)


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
    keys = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(loc[-1], keys, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_hint(kind: str, given: Any) -> str | None:
    """A message for a value YAML typed differently from what the field expects."""
    if kind == "string_type" and isinstance(given, bool | int | float):
        what = "a boolean" if isinstance(given, bool) else "a number"
        text = str(given).lower() if isinstance(given, bool) else str(given)
        return f"expected text, got {what} ({text}): quote it: '{text}'"
    if kind == "bool_type":
        return f"expected true or false, got {_describe(given)}"
    return None


def _pydantic_problems(exc: ValidationError, cls: type[BaseModel], file: str, subject: str) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        kind, given = err["type"], err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        if kind == "field_problem":  # a model validator naming one of the model's fields
            ctx = err.get("ctx") or {}
            loc, msg = (*loc, str(ctx.get("field", ""))), str(ctx.get("message", msg))
        where = _fmt_loc(loc) or "(top level)"
        sensitive = any(isinstance(part, str) and part != "[key]" and SENSITIVE_RE.search(part) for part in loc)
        if any(isinstance(part, str) and SECRET_RE.search(part) for part in loc):
            msg = SECRETS_MSG  # never echo the value
        elif kind == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(cls, loc)
        elif kind == "missing":
            msg = "required key is missing"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected a mapping, got {_describe(given) if not sensitive else 'something else'}"
        elif kind == "list_type":
            msg = f"expected a list, got {_describe(given) if not sensitive else 'something else'}"
        elif not sensitive and (hint := _type_hint(kind, given)) is not None:
            msg = hint
        elif kind == "literal_error" and not sensitive and isinstance(given, str):
            choices = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
            by_lower = {c.lower(): c for c in choices}
            close = difflib.get_close_matches(given.lower(), list(by_lower), n=1, cutoff=0.6)
            msg += f" (got {_short(given)}" + (f"; did you mean {by_lower[close[0]]!r}?)" if close else ")")
        elif kind not in ("value_error", "field_problem") and not sensitive and isinstance(given, str | int | float):
            msg += f" (got {_short(given)})"
        lines.append(f"{file}: {subject}: field {where}: {msg}")
    return lines


class _Loader:
    """Reads files and validates entries, collecting one line per problem (shared by every phase)."""

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

    def add(self, file: str, subject: str, fld: str | None, msg: str) -> None:
        """Record `file: subject: field fld: msg`."""
        self.problems.append(f"{file}: {subject}: " + (f"field {fld}: " if fld else "") + msg)

    def fail_if_any(self) -> None:
        if self.problems:
            raise InventoryError(self.problems)

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
                self.problems.append(f"{file}: {what.rstrip('s')} {_entry(key)}: field (name): the name must be a "
                                     f"string, got {_describe(key)}")
        return {k: v for k, v in data.items() if isinstance(k, str)}

    def section(self, data: Any, file: str, key: str, kind: type[list[Any]] | type[dict[Any, Any]],
                *, required: bool = True) -> Any:
        """The value of the single top-level `key` of one of Tonlé's files; None (with a problem) when malformed."""
        expected = f"a mapping with the key {key!r}"
        if data is None:
            if required:
                self.problems.append(f"{file}: (top level): the file is empty (expected {expected})")
                return None
            return kind()
        if not isinstance(data, dict):
            self.problems.append(f"{file}: (top level): expected {expected}, got {_describe(data)}")
            return None
        for extra in data:
            if extra != key:
                self.problems.append(f"{file}: (top level): field {_fmt_loc([str(extra)])}: unknown key (expected "
                                     f"only {key!r})")
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
            subject = f"{what} {_entry(name)}" if isinstance(name, str) and name else f"{key}[{i}]"
            obj = self.model(cls, item, file, subject)
            if obj is not None:
                good.append(obj)
            elif isinstance(name, str):
                bad.add(name)
        return good, bad

    def keyed(self, cls: type[M], items: dict[Any, Any], file: str, what: str,
              check_key: Callable[[Any], str] | None = None,
              key_field: str = "(name)") -> tuple[dict[str, M], set[str]]:
        """Validate each entry of a mapping of named entries (groups, hosts, sites, QoS classes)."""
        good: dict[str, M] = {}
        bad: set[str] = set()
        for name, v in items.items():
            subject = f"{what} {_entry(name)}"
            if check_key is not None:
                try:
                    check_key(name)
                except ValueError as exc:
                    self.add(file, subject, key_field, str(exc))
                    bad.add(str(name))
                    continue
            if (obj := self.model(cls, v, file, subject)) is not None:
                good[name] = obj
            else:
                bad.add(str(name))
        return good, bad


def _lab_ifname(link_index: int) -> str:
    return f"eth{link_index}"


def _group_cycles(groups: dict[str, Group]) -> list[list[str]]:
    """Cycles in group inheritance, each once, starting at its smallest member (one depth-first pass)."""
    cycles: list[list[str]] = []
    found: set[tuple[str, ...]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(groups):
        if root in state:
            continue
        state[root], path, stack = 1, [root], [iter(groups[root].groups)]
        while stack:
            nxt = next((g for g in stack[-1] if g in groups), None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                cyc = path[path.index(nxt):]
                first = cyc.index(min(cyc))
                cyc = cyc[first:] + cyc[:first]
                if tuple(cyc) not in found:
                    found.add(tuple(cyc))
                    cycles.append([*cyc, cyc[0]])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(groups[nxt].groups))
    return cycles


# ---- load_inventory: phases sharing one problem collector ---------------------------------------------

@dataclass(frozen=True)
class _Files:
    """How each file is named in problems."""

    hosts: str
    groups: str
    defaults: str
    sites: str
    links: str
    peers: str
    lab: str


@dataclass
class _Build:
    """What the phases of `load_inventory` share: the collector, the file names and what is built so far.

    Entries that fail validation are remembered by name (`bad_*`) so that references to them are not
    reported again as unknown.
    """

    ld: _Loader
    f: _Files
    defaults: Defaults
    lab: Lab
    groups: dict[str, Group]
    hosts: dict[str, Host]
    sites: dict[str, Site]
    links_in: list[Link]
    peers_in: list[Peer]
    bad_groups: set[str]
    bad_hosts: set[str]
    bad_sites: set[str]
    bad_links: set[str]
    bad_peers: set[str]
    devices: dict[str, Device] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    ports: dict[str, list[Port]] = field(default_factory=dict)
    addr_owner: dict[Any, str] = field(default_factory=dict)  # link address -> "node in link x"
    cyclic: set[str] = field(default_factory=set)  # groups in an inheritance cycle

    @property
    def mgmt_net(self) -> ipaddress.IPv4Network:
        return self.lab.mgmt_gateway.network

    def add(self, file: str, subject: str, fld: str | None, msg: str) -> None:
        self.ld.add(file, subject, fld, msg)


def load_inventory(hosts_file: Path, group_file: Path, defaults_file: Path, *, root: Path | None = None) -> Inventory:
    """Read and validate the inventory whose Nornir files are given; Tonlé's files sit beside hosts.yaml.

    Phases: read the files -> validate each entry -> resolve groups into devices -> build peers, links and
    ports -> cross-file checks -> derive the BGP sessions and check them.

    Raises:
        InventoryError: with one line per problem found (all problems, not just the first).
    """
    ld = _Loader(root or hosts_file.parent.parent, hosts_file.parent)
    f = _Files(*(ld.rel(p.name) for p in (hosts_file, group_file, defaults_file)),
               *(ld.rel(n) for n in ("sites.yaml", "links.yaml", "peers.yaml", "lab.yaml")))
    docs = _read_files(ld, hosts_file, group_file, defaults_file)
    b = _validate_entries(ld, f, docs)
    _check_groups(b)
    for name, host in b.hosts.items():
        if (dev := _resolve_host(b, name, host)) is not None:
            b.devices[name] = dev
    _check_hosts(b)
    _build_peers(b)
    _build_links(b)
    _check_cross_file(b)
    _check_sessions(b)
    ld.fail_if_any()
    inv = Inventory(root=ld.root, directory=ld.dir, operator=b.defaults.data.operator, sites=dict(b.sites),
                    devices=b.devices, links=b.links, peers=b.peers, lab=b.lab, ports=b.ports)
    _check_derived_sessions(b, inv)
    ld.fail_if_any()
    return inv


def _read_files(ld: _Loader, hosts_file: Path, group_file: Path, defaults_file: Path) -> dict[str, Any]:
    """Phase 1: every file parsed; unreadable files are reported alone (no cascade of missing references)."""
    docs = {"hosts": ld.read(hosts_file.name, hosts_file), "groups": ld.read(group_file.name, group_file),
            "defaults": ld.read(defaults_file.name, defaults_file)}
    docs |= {n: ld.read(f"{n}.yaml") for n in ("sites", "links", "peers", "lab")}
    ld.fail_if_any()
    return docs


def _validate_entries(ld: _Loader, f: _Files, docs: dict[str, Any]) -> _Build:
    """Phase 2: the shape of every file and each entry against its model."""
    raw_hosts = ld.mapping(docs["hosts"], f.hosts, "hosts")
    raw_groups = ld.mapping(docs["groups"], f.groups, "groups")
    if raw_hosts == {}:
        ld.problems.append(f"{f.hosts}: (top level): no hosts defined (the file is empty); an inventory needs "
                           "at least one device")
    raw_sites = ld.section(docs["sites"], f.sites, "sites", dict)
    raw_links = ld.section(docs["links"], f.links, "links", list)
    raw_peers = ld.section(docs["peers"], f.peers, "peers", list)
    if raw_sites == {}:
        ld.problems.append(f"{f.sites}: (top level): field sites: no sites defined")
    defaults = ld.model(Defaults, docs["defaults"], f.defaults, "defaults")
    lab = ld.model(Lab, docs["lab"], f.lab, "lab")
    fatal = bool(ld.problems)
    groups, bad_groups = ld.keyed(Group, raw_groups or {}, f.groups, "group", _group_name)
    hosts, bad_hosts = ld.keyed(Host, raw_hosts or {}, f.hosts, "host", _check_name)
    sites, bad_sites = ld.keyed(Site, raw_sites or {}, f.sites, "site", _site_code, "(code)")
    links_in, bad_links = ld.named(Link, raw_links or [], f.links, "link", "links")
    peers_in, bad_peers = ld.named(Peer, raw_peers or [], f.peers, "peer", "peers")
    if fatal or defaults is None or lab is None:
        raise InventoryError(ld.problems)
    return _Build(ld, f, defaults, lab, groups, hosts, sites, links_in, peers_in,
                  bad_groups, bad_hosts, bad_sites, bad_links, bad_peers)


def _group_name(name: Any) -> str:
    return identifier(name, "group name", 64)


def _site_code(code: Any) -> str:
    if not isinstance(code, str) or not SITE_RE.match(code):
        raise ValueError(f"site code {shown(code)} must be 3 capital letters (e.g. PNH)")
    return code


def _check_groups(b: _Build) -> None:
    """Phase 3a: group references and inheritance cycles."""
    for gname, grp in b.groups.items():
        for parent in grp.groups:
            if parent not in b.groups and parent not in b.bad_groups:
                b.add(b.f.groups, f"group {gname}", "groups", f"unknown group {shown(parent)}")
        _no_repeats(b, b.f.groups, f"group {gname}", "groups", grp.groups)
        if grp.data.site is not None and grp.data.site not in b.sites and grp.data.site not in b.bad_sites:
            b.add(b.f.groups, f"group {gname}", "data.site", f"unknown site {shown(grp.data.site)} "
                  f"({Path(b.f.sites).name} has {', '.join(sorted({*b.sites, *b.bad_sites}))})")
    for cycle in _group_cycles(b.groups):
        b.cyclic.update(cycle)
        b.add(b.f.groups, f"group {cycle[0]}", "groups",
              f"groups inherit from each other in a cycle ({' -> '.join(cycle)})")


def _no_repeats(b: _Build, file: str, subject: str, fld: str, values: Iterable[Any]) -> None:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            b.add(file, subject, fld, f"{shown(v)} is listed twice")
        seen.add(v)


def _inherited(groups: dict[str, Group], names: list[str]) -> list[tuple[str, Group]]:
    """The groups a host or group inherits, depth-first, each once (own values win, like Nornir)."""
    out: list[tuple[str, Group]] = []
    seen: set[str] = set()
    stack = list(reversed(names))
    while stack:  # not recursive: a chain of thousands of groups is refused by its content, not by a crash
        gn = stack.pop()
        if gn in groups and gn not in seen:
            seen.add(gn)
            out.append((gn, groups[gn]))
            stack.extend(reversed(groups[gn].groups))
    return out


def _resolve_host(b: _Build, name: str, host: Host) -> Device | None:
    """Phase 3b: one host with its groups resolved; None (with problems) when it cannot be."""
    f, subj = b.f.hosts, f"host {name}"
    broken_ref = False
    for gn in host.groups:
        if gn in b.bad_groups:
            broken_ref = True
        elif gn not in b.groups:
            broken_ref = True
            b.add(f, subj, "groups", f"unknown group {shown(gn)} ({Path(b.f.groups).name} has "
                  f"{', '.join(sorted(b.groups)) or 'no groups'})")
    _no_repeats(b, f, subj, "groups", host.groups)
    chain = _inherited(b.groups, host.groups)
    if any(gn in b.cyclic for gn, _ in chain):  # reported on the groups; what it inherits is undefined
        return None
    if not broken_ref:
        broken_ref = _conflicting_groups(b, subj, host)
    groups = [g for _, g in chain]
    platform = host.platform or next((g.platform for g in groups if g.platform), None) or b.defaults.platform
    site = host.data.site or next((g.data.site for g in groups if g.data.site), None)
    role = host.data.role or next((g.data.role for g in groups if g.data.role), None)
    if platform is None and not broken_ref:
        b.add(f, subj, "platform", f"no platform set on the host or its groups (one of {', '.join(PLATFORMS)})")
    if site is None:
        if not broken_ref:
            b.add(f, subj, "data.site", "no site set on the host or its groups")
    elif site not in b.sites and site not in b.bad_sites and host.data.site is not None:  # a group's: reported
        b.add(f, subj, "data.site", f"unknown site {shown(site)} ({Path(b.f.sites).name} has "
              f"{', '.join(sorted({*b.sites, *b.bad_sites}))})")
    if role is None and not broken_ref:
        b.add(f, subj, "data.role", f"no role set on the host or its groups (one of {', '.join(ROLES)})")
    if not (platform and site and role) or site not in b.sites:
        return None
    d = host.data
    return Device(name=name, mgmt_ip=host.hostname, platform=platform, site=site, role=role, asn=d.asn,
                  router_id=d.router_id, loopback_ipv4=d.loopback_ipv4, loopback_ipv6=d.loopback_ipv6,
                  route_reflector=d.route_reflector, groups=tuple(host.groups))


def _conflicting_groups(b: _Build, subj: str, host: Host) -> bool:
    """Whether two of the host's groups (with what they inherit) set different platforms, sites or roles."""
    found = False
    for what in ("platform", "site", "role"):
        setters: dict[str, str] = {}
        for gn in host.groups:
            chain = [g for _, g in _inherited(b.groups, [gn])]
            v = next((x for g in chain if (x := g.platform if what == "platform" else getattr(g.data, what))), None)
            if v is not None:
                setters[gn] = v
        if len(set(setters.values())) > 1:
            b.add(b.f.hosts, subj, "groups", f"in groups that set different {what}s ("
                  + ", ".join(f"{gn}: {v}" for gn, v in setters.items()) + "); keep one of them")
            found = True
    return found


def _unique(b: _Build, values: list[tuple[str, Any]], file: str, what: str, fld: str) -> None:
    first: dict[Any, str] = {}
    for owner, val in values:
        if val is None:
            continue
        if val in first:
            b.add(file, owner, fld, f"duplicate {what} {val} (also used by {first[val]})")
        else:
            first[val] = owner


def _check_hosts(b: _Build) -> None:
    """Phase 3c: addresses unique across hosts; management addresses in the management network."""
    f, hl = b.f.hosts, list(b.hosts.items())
    _unique(b, [(f"host {n}", h.hostname) for n, h in hl], f, "management address", "hostname")
    _unique(b, [(f"host {n}", h.data.router_id) for n, h in hl], f, "router id", "data.router_id")
    _unique(b, [(f"host {n}", h.data.loopback_ipv4.ip) for n, h in hl], f, "address", "data.loopback_ipv4")
    _unique(b, [(f"host {n}", h.data.loopback_ipv6 and h.data.loopback_ipv6.ip) for n, h in hl], f,
            "address", "data.loopback_ipv6")
    gw, net = b.lab.mgmt_gateway, b.mgmt_net
    if net.version == 4 and net.prefixlen < 31 and gw.ip in (net.network_address, net.broadcast_address):
        which = "network" if gw.ip == net.network_address else "broadcast"
        b.add(b.f.lab, "lab", "mgmt_gateway", f"{gw.ip} is the {which} address of {net}, not a host address")
    outside = [(n, h) for n, h in hl if h.hostname not in net]
    if len(hl) >= 2 and len(outside) > len(hl) / 2:  # one mistake in lab.yaml, not one in most hosts
        name, first = outside[0]
        held = "no device's management address" if len(outside) == len(hl) else \
            f"the management addresses of only {len(hl) - len(outside)} of {len(hl)} devices"
        b.add(b.f.lab, "lab", "mgmt_gateway", f"the management network {net} holds {held} ({Path(f).name} has "
              f"e.g. {first.hostname} for {name})")
        outside = []
    for name, host in outside:
        b.add(f, f"host {name}", "hostname", f"{host.hostname} is outside the lab management network {net} "
              f"({Path(b.f.lab).name})")
    mgmt = span(net)
    for name, host in hl:
        if _overlap(span(host.data.loopback_ipv4), mgmt):
            b.add(f, f"host {name}", "data.loopback_ipv4", f"{host.data.loopback_ipv4} is inside the management "
                  f"network {net} ({Path(b.f.lab).name})")
        if host.hostname == gw.ip:
            b.add(f, f"host {name}", "hostname", f"{host.hostname} is the lab management gateway")


def _build_peers(b: _Build) -> None:
    """Phase 4a: peers by name (unique, not a host's name, not the operator's ASN)."""
    f, own_asn = b.f.peers, b.defaults.data.operator.asn
    device_asn: dict[int, str] = {}
    for name, h in b.hosts.items():
        device_asn.setdefault(h.data.asn, name)
    for peer in b.peers_in:
        subj = f"peer {peer.name}"
        if peer.name in b.peers:
            b.add(f, subj, "name", "duplicate peer name (defined twice)")
        elif peer.name in b.hosts or peer.name in b.bad_hosts:
            b.add(f, subj, "name", f"name already used by a host in {Path(b.f.hosts).name}")
        b.peers[peer.name] = peer
        if peer.asn == own_asn:
            b.add(f, subj, "asn", f"{peer.asn} is the operator's own ASN ({b.f.defaults}: data.operator.asn)")
        elif peer.asn in device_asn:
            b.add(f, subj, "asn", f"{peer.asn} is also the ASN of device {device_asn[peer.asn]}")

    b.ports = {n: [] for n in [*b.devices, *b.peers]}


def _build_links(b: _Build) -> None:
    """Phase 4b: links by name, their endpoints and the ports they give each node."""
    known_nodes = {*b.hosts, *b.bad_hosts, *b.peers, *b.bad_peers}
    for link in b.links_in:
        subj = f"link {link.name}"
        if link.name in b.links:
            b.add(b.f.links, subj, "name", "duplicate link name (defined twice)")
            continue
        b.links[link.name] = link
        if link.kind == "p2p" and len(link.endpoints) != 2:
            b.add(b.f.links, subj, "endpoints", f"a p2p link has exactly 2 endpoints, got {len(link.endpoints)} "
                  "(use kind: lan)")
        seen_nodes: set[str] = set()
        for j, ep in enumerate(link.endpoints):
            fld = f"endpoints[{j}]"
            if ep.node not in known_nodes:
                b.add(b.f.links, subj, f"{fld}.node", f"unknown device or peer {shown(ep.node)} (not in "
                      f"{Path(b.f.hosts).name} or {Path(b.f.peers).name})")
                continue
            if ep.node in seen_nodes:
                b.add(b.f.links, subj, f"{fld}.node", f"{ep.node} appears twice on the link")
            seen_nodes.add(ep.node)
            if ep.node in b.hosts and not ep.interface:
                b.add(b.f.links, subj, f"{fld}.interface", f"required for device {ep.node}")
            if ep.ipv4 is None and ep.ipv6 is None:
                b.add(b.f.links, subj, fld, "an endpoint needs ipv4 or ipv6")
            _endpoint_addresses(b, link, j)
            if ep.node in b.ports:
                _add_port(b, link, j)
        for fam in ("ipv4", "ipv6"):  # a family on some endpoints only would leave sessions out silently
            has = {j: getattr(ep, fam) is not None for j, ep in enumerate(link.endpoints) if ep.ipv4 or ep.ipv6}
            if any(has.values()) and not all(has.values()):
                j, k = next(k for k, v in has.items() if not v), next(k for k, v in has.items() if v)
                b.add(b.f.links, subj, f"endpoints[{j}].{fam}", f"missing while endpoints[{k}] has one (every "
                      "endpoint of a link has the same address families)")


def _endpoint_addresses(b: _Build, link: Link, j: int) -> None:
    """An endpoint's addresses: unique, in the link's subnet, host addresses, outside the management network."""
    ep, subj, first = link.endpoints[j], f"link {link.name}", link.endpoints[0]
    mgmt = span(b.mgmt_net)
    for fam, addr in (("ipv4", ep.ipv4), ("ipv6", ep.ipv6)):
        if addr is None:
            continue
        fld = f"endpoints[{j}].{fam}"
        if addr.ip in b.addr_owner:
            b.add(b.f.links, subj, fld, f"duplicate address {addr.ip} (also on {b.addr_owner[addr.ip]})")
        b.addr_owner[addr.ip] = f"{ep.node} in link {link.name}"
        first_addr = first.ipv4 if fam == "ipv4" else first.ipv6
        net, (_, lo, hi) = addr.network, span(addr)
        if j > 0 and first_addr is not None and net != first_addr.network:
            b.add(b.f.links, subj, fld, f"{addr} is not in the link's subnet {first_addr.network} (from endpoints[0])")
        elif _overlap(span(addr), mgmt):
            owner = next((f"the management address of host {n}" for n, h in b.hosts.items()
                          if h.hostname == addr.ip), None)
            b.add(b.f.links, subj, fld, f"{addr} is inside the management network {b.mgmt_net} "
                  f"({Path(b.f.lab).name})" + (f"; {addr.ip} is {owner}" if owner else ""))
        elif hi - lo > 1 and int(addr.ip) == lo:
            what = "network address" if fam == "ipv4" else "subnet-router anycast address"
            b.add(b.f.links, subj, fld, f"{addr.ip} is the {what} of {net}, not a host address")
        elif fam == "ipv4" and hi - lo > 1 and int(addr.ip) == hi:
            b.add(b.f.links, subj, fld, f"{addr.ip} is the broadcast address of {net}, not a host address")


def _add_port(b: _Build, link: Link, j: int) -> None:
    """The port an endpoint gives its node; its name in the node's platform grammar, used once per node."""
    ep, subj, fld = link.endpoints[j], f"link {link.name}", f"endpoints[{j}].interface"
    dev = b.devices.get(ep.node)
    platform = dev.platform if dev is not None else "frr"  # a simulated external network runs FRR
    n = len(b.ports[ep.node]) + 1
    iface = ep.interface or _lab_ifname(n)
    try:
        if ep.interface is not None or dev is None:  # a device without one is reported already
            interface_name(platform, iface)
    except GrammarError as exc:
        same = next((pt for pt in b.ports[ep.node] if exc.suggestion and pt.interface == exc.suggestion), None)
        also = f"; {ep.node} already uses {same.interface} on link {same.link}: the same port" if same else ""
        b.add(b.f.links, subj, fld, f"{exc}{also}")
    else:
        used = next((pt for pt in b.ports[ep.node] if pt.interface == iface), None)
        if used is not None:
            b.add(b.f.links, subj, fld, f"{ep.node} already uses {iface}" +
                  (f" (on link {used.link})" if used.link != link.name else ""))
    lab_if = iface if dev is not None and dev.platform == "frr" else _lab_ifname(n)
    b.ports[ep.node].append(Port(link.name, ep.node, iface, lab_if, ep.ipv4, ep.ipv6))


def _check_cross_file(b: _Build) -> None:
    """Phase 5: what one file says against another."""
    _check_addressing(b)
    _check_peer_space(b)
    _check_roles(b)


def _check_addressing(b: _Build) -> None:
    """Loopbacks are not link addresses; link subnets do not overlap; the operator's prefixes are distinct."""
    for name, host in b.hosts.items():
        for fam, addr in (("loopback_ipv4", host.data.loopback_ipv4), ("loopback_ipv6", host.data.loopback_ipv6)):
            if addr is not None and addr.ip in b.addr_owner:
                b.add(b.f.hosts, f"host {name}", f"data.{fam}", f"duplicate address {addr.ip} "
                      f"(also on {b.addr_owner[addr.ip]})")
    subnets: list[tuple[Any, str, str]] = []
    for link in b.links.values():
        for fam in ("ipv4", "ipv6"):
            addr = getattr(link.endpoints[0], fam)
            if addr is not None and all(getattr(ep, fam) is None or getattr(ep, fam).network == addr.network
                                        for ep in link.endpoints):
                subnets.append((addr.network, link.name, fam))
    for (net, name, fam), (other, other_name) in _overlaps(subnets):
        b.add(b.f.links, f"link {name}", f"endpoints[0].{fam}", f"subnet {net} overlaps {other} of link {other_name}")
    own = b.defaults.data.operator.prefixes
    for (net, i, _), (other, j) in _overlaps([(n, k, "") for k, n in enumerate(own)]):
        b.add(b.f.defaults, "defaults", f"data.operator.prefixes[{i}]", f"{net} overlaps prefixes[{j}] {other}")


def _overlaps(nets: list[tuple[Any, Any, str]]) -> list[tuple[tuple[Any, Any, str], tuple[Any, Any]]]:
    """Pairs (entry, (earlier network, its key)) of overlapping networks, in O(n log n)."""
    out = []
    by_start = sorted(((span(n), n, key, fam) for n, key, fam in nets), key=lambda t: (t[0][0], t[0][1], -t[0][2]))
    widest: tuple[_Span, Any, Any] | None = None  # the network reaching furthest so far, in this address family
    for sp, net, key, fam in by_start:
        if widest is not None and _overlap(sp, widest[0]):
            out.append(((net, key, fam), (widest[1], widest[2])))
        if widest is None or widest[0][0] != sp[0] or sp[2] > widest[0][2]:
            widest = (sp, net, key)
    return out


def _check_peer_space(b: _Build) -> None:
    """Peers: prefixes listed once, not inside the operator's space, a maximum that lets the session up."""
    own = [(span(o), o) for o in b.defaults.data.operator.prefixes]
    for peer in b.peers.values():
        subj = f"peer {peer.name}"
        for fld, nets in (("announces", peer.announces), ("import.prefixes", peer.import_policy.prefixes or [])):
            _no_repeats(b, b.f.peers, subj, fld, [str(n) for n in nets])
            for i, net in enumerate(nets):
                sp = span(net)
                hit = next(((o_sp, o) for o_sp, o in own if _overlap(sp, o_sp)), None)
                if hit is not None:
                    how = "inside" if _inside(sp, hit[0]) else "overlaps"
                    b.add(b.f.peers, subj, f"{fld}[{i}]", f"{net} {how} the operator's own address space {hit[1]} "
                          f"({b.f.defaults}: data.operator.prefixes)")
        for fam, limit in (("ipv4", peer.max_prefixes.ipv4), ("ipv6", peer.max_prefixes.ipv6)):
            count = sum(1 for n in peer.announces if n.version == (4 if fam == "ipv4" else 6))
            if limit is not None and count > limit:
                b.add(b.f.peers, subj, f"max_prefixes.{fam}", f"{limit} is below the {count} {fam} prefixes the peer "
                      "announces (the session would be torn down)")


def _check_roles(b: _Build) -> None:
    """Border routers speak the operator's ASN; route servers stand at sites with an exchange."""
    own = b.defaults.data.operator.asn
    borders = [d for d in b.devices.values() if d.role == "iig-border"]
    others = [d for d in borders if d.asn != own]
    if len(borders) >= 2 and len(others) > len(borders) / 2:  # one mistake in defaults.yaml
        b.add(b.f.defaults, "defaults", "data.operator.asn", f"{own} is not the ASN of most IIG border routers "
              f"({Path(b.f.hosts).name} has {others[0].asn} on {others[0].name})")
    else:
        for dev in others:
            b.add(b.f.hosts, f"host {dev.name}", "data.asn", f"{dev.asn} is not the operator's ASN {own} "
                  f"({b.f.defaults}): an IIG border router originates the operator's prefixes")
    at_site: dict[str, list[str]] = {}
    for name, dev in b.devices.items():
        if dev.role == "dix-rs":
            at_site.setdefault(dev.site, []).append(name)
    for code, names in at_site.items():
        site = b.sites.get(code)
        if site is not None and not site.exchange:
            b.add(b.f.sites, f"site {code}", "exchange", f"false, but {', '.join(names)} (DIX route server) "
                  "stands at this site")


def _check_sessions(b: _Build) -> None:
    """Phase 6: the sessions of peers.yaml: known device and link, both on the link, listed once, right role."""
    f = b.f.peers
    for peer in b.peers.values():
        subj, seen = f"peer {peer.name}", set()
        for k, ref in enumerate(peer.sessions):
            fld = f"sessions[{k}]"
            if (ref.device, ref.link) in seen:
                b.add(f, subj, fld, f"duplicate session ({ref.device} on link {ref.link} is listed twice)")
                continue
            seen.add((ref.device, ref.link))
            if ref.device in b.bad_hosts or ref.link in b.bad_links:
                continue  # already reported on the host or link itself
            if ref.device not in b.hosts:
                b.add(f, subj, f"{fld}.device", f"unknown device {shown(ref.device)} (not in "
                      f"{Path(b.f.hosts).name})")
            elif ref.link not in b.links:
                b.add(f, subj, f"{fld}.link", f"unknown link {shown(ref.link)} (not in {Path(b.f.links).name})")
            else:
                nodes = {ep.node for ep in b.links[ref.link].endpoints}
                for who in (ref.device, peer.name):
                    if who not in nodes:
                        b.add(f, subj, f"{fld}.link", f"{who} is not an endpoint of link {ref.link}")
                dev = b.devices.get(ref.device)
                if dev is not None and dev.role == "dix-rs" and peer.type != "isp":
                    b.add(f, subj, f"{fld}.device", f"{ref.device} is a DIX route server: only isp peers are its "
                          f"clients (this peer is type {peer.type})")


def _check_derived_sessions(b: _Build, inv: Inventory) -> None:
    """Phase 7: the sessions the topology implies: no eBGP with a device's own ASN, no neighbour twice."""
    seen: set[tuple[str, Any]] = set()
    for s in derive_sessions(inv):
        if s.node not in b.devices:
            continue
        if s.peer_asn == s.local_asn and s.kind != "ibgp":
            b.add(b.f.peers, f"peer {s.neighbor}", "asn", f"{s.peer_asn} is also the ASN of device {s.node}, "
                  f"which peers with it on link {s.link}")
        if (s.node, s.peer_ip) in seen:
            b.add(b.f.links, f"link {s.link}", "endpoints", f"{s.node} would have two sessions with "
                  f"{s.peer_ip} ({s.neighbor})")
        seen.add((s.node, s.peer_ip))


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
