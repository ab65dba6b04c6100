"""Intent: routing policy, QoS and change windows, compiled into one vendor-neutral model per device.

`inventory/policy.yaml`, `qos.yaml` and `windows.yaml` are validated like the inventory (one line per
problem naming file, entry and field). `device_intent()` turns inventory + intent (+ active
disconnects) into a `DeviceIntent`: every template of every platform renders that, and nothing else.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, PlainValidator, PositiveFloat, model_validator

from tonle.compile.irr import (
    MAX_SOURCES,
    IrrData,
    IrrEntry,
    IrrFilter,
    as_path_regexes,
    irr_host_ok,
    irr_source_ok,
)
from tonle.source.grammar import identifier, shown
from tonle.source.inventory import (
    ROLES,
    Device,
    Flag,
    Ident,
    Inventory,
    InventoryError,
    Peer,
    Prefix,
    Session,
    Text,
    Timezone,
    _check_addr,
    _describe,
    _entry,
    _fmt_loc,
    _Loader,
    _Model,
    _short,
    field_error,
)
from tonle.source.yamlio import YamlFileError, load_yaml

DSCP_NAMES = {
    "default": 0, "cs0": 0, "cs1": 8, "cs2": 16, "cs3": 24, "cs4": 32, "cs5": 40, "cs6": 48, "cs7": 56,
    "af11": 10, "af12": 12, "af13": 14, "af21": 18, "af22": 20, "af23": 22, "af31": 26, "af32": 28,
    "af33": 30, "af41": 34, "af42": 36, "af43": 38, "ef": 46, "va": 44,
}
# RFC 9234 BGP role of *our* side on a session with an external network, by session kind: a foreign carrier
# is our provider; a domestic ISP on a direct session buys transit from us (we export everything); private
# peerings are peers; our DIX route server is the rs-server of the ISPs. Sessions between our own ASes (a
# border router and our route server, private links) get none (device_intent says why).
ROLES_BY_KIND = {"upstream": "customer", "isp": "provider", "private": "peer", "rs-client": "rs-server"}
GSHUT = "65535:0"  # RFC 8326 GRACEFUL_SHUTDOWN
BLACKHOLE = "65535:666"  # RFC 7999 BLACKHOLE
NO_EXPORT = "65535:65281"  # RFC 1997: a blackholed prefix must not travel further


def _dscp(v: str | int) -> int:
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 63:
        return v
    if isinstance(v, str) and v.lower() in DSCP_NAMES:
        return DSCP_NAMES[v.lower()]
    raise ValueError(f"{shown(v)} is not a DSCP value (0-63 or a name like ef, af31, cs6)")


Dscp = Annotated[str | int, AfterValidator(_dscp)]


def _clock(v: Any) -> time:
    """A time of day written HH:MM (or HH:MM:SS); a number is refused (YAML 1.1 read 22:00 as 1320)."""
    if isinstance(v, time):
        return v
    if isinstance(v, str) and (m := re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?", v)):
        return time(int(m[1]), int(m[2]), int(m[3] or 0))
    if isinstance(v, int | float) and not isinstance(v, bool):
        raise ValueError(f"{shown(v)} is a number, not a time of day: write it as text, e.g. '22:00'")  # noqa: TRY004
    raise ValueError(f"{shown(v)} is not a time of day (HH:MM from 00:00 to 23:59, e.g. '22:00')")


def _local_datetime(v: Any) -> datetime:
    """A local date and time, YYYY-MM-DD HH:MM[:SS] without an offset (the window's timezone applies)."""
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?", v):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{shown(v)} is not a valid date and time") from None
    else:
        raise ValueError(f"{shown(v)} is not a date and time (YYYY-MM-DD HH:MM, e.g. '2025-03-01 22:00')")
    if dt.tzinfo is not None:
        raise ValueError(f"{shown(v)} has a UTC offset: write the local time without one (the window's timezone "
                         "applies)")
    return dt


Clock = Annotated[time, PlainValidator(_clock)]
LocalDateTime = Annotated[datetime, PlainValidator(_local_datetime)]


# ---- policy.yaml ---------------------------------------------------------------------------------

class PerKind(_Model):
    upstream: Annotated[int, Field(ge=0, le=65535)]
    domestic: Annotated[int, Field(ge=0, le=65535)]
    private: Annotated[int, Field(ge=0, le=65535)]


class MaxLength(_Model):
    ipv4: Annotated[int, Field(ge=8, le=32)] = 24
    ipv6: Annotated[int, Field(ge=16, le=128)] = 48


class Bogons(_Model):
    ipv4: list[ipaddress.IPv4Network] = Field(default_factory=list)
    ipv6: list[ipaddress.IPv6Network] = Field(default_factory=list)


class BlackholedShare(_Model):
    """Percent of announced address space that blackholes (this one and the active ones) may make unreachable.

    Reaching a limit (at or above it) needs a second operator.
    """

    operator: Annotated[float, Field(gt=0, le=100)] = 10  # of the operator's own space, per address family
    isp: Annotated[float, Field(gt=0, le=100)] = 50  # of each domestic ISP's announced space
    site: Annotated[float, Field(gt=0, le=100)] = 25  # of the domestic ISPs' space homed at a site's exchange


class Guard(_Model):
    """Blast-radius limits of disruptive actions; above them a second operator must approve."""

    max_site_share: Annotated[float, Field(gt=0, le=1)] = 0.25  # of a site's external sessions (more: approval)
    protect_last_site_upstream: Flag = True
    protect_last_international_path: Flag = True
    approval_minutes: Annotated[int, Field(ge=1, le=1440)] = 30  # an approval request expires
    default_ttl_minutes: Annotated[int, Field(ge=1, le=10080)] = 60
    max_ttl_minutes: Annotated[int, Field(ge=1, le=10080)] = 1440
    max_blackholed_share_percent: BlackholedShare = BlackholedShare()

    @model_validator(mode="after")
    def _ttls(self) -> Guard:
        if self.default_ttl_minutes > self.max_ttl_minutes:  # every disconnect without --ttl would be refused
            raise field_error("default_ttl_minutes", f"{self.default_ttl_minutes} is above max_ttl_minutes "
                              f"({self.max_ttl_minutes}): a disconnect without --ttl takes the default")
        return self


RpkiAction = Literal["reject", "accept"]
CacheAddr = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, AfterValidator(_check_addr)]


class RpkiCache(_Model):
    """One RTR cache (RFC 8210) the routers poll: the operator's validator (rpki-client + stayrtr, Routinator,
    Fort). Lower preference is tried first (FRR and EOS); IOS-XE merges every cache it is given."""

    address: CacheAddr
    port: Annotated[int, Field(ge=1, le=65535)] = 323
    preference: Annotated[int, Field(ge=1, le=10)] = 1  # EOS takes 1-10, the narrowest of the four


class RpkiActions(_Model):
    """What import filters do with routes in one RPKI origin-validation state (RFC 6811), per session kind."""

    upstream: RpkiAction  # international carriers
    domestic: RpkiAction  # domestic ISPs on direct sessions, and our border routers' sessions to the DIX RS
    private: RpkiAction  # private peerings between our own ASes
    route_server: RpkiAction  # our DIX route servers, for the routes of their clients


class Rpki(_Model):
    """Route origin validation at every border and route server (RFC 6811, RFC 8210, RFC 8893)."""

    caches: list[RpkiCache] = Field(min_length=1, max_length=8)
    invalid: RpkiActions = RpkiActions(upstream="reject", domestic="reject", private="reject",
                                       route_server="reject")
    not_found: RpkiActions = RpkiActions(upstream="accept", domestic="accept", private="accept",
                                         route_server="accept")

    @model_validator(mode="after")
    def _distinct_caches(self) -> Rpki:
        seen = [(c.address, c.port) for c in self.caches]
        if len(set(seen)) != len(seen):
            raise field_error("caches", "a cache (address and port) is listed twice")
        return self


def _check_irr_host(v: str) -> str:
    if not irr_host_ok(v):
        raise ValueError(f"{shown(v)} is neither an IP address nor a host name")
    return v


def _check_irr_source(v: str) -> str:
    if not irr_source_ok(v):
        raise ValueError(f"{shown(v)} is not an IRR source name (upper-case letters, digits, '-'; e.g. RIPE, RADB)")
    return v


class Irr(_Model):
    """The IRR server `tonle irr sync` asks (through bgpq4) for each domestic ISP's AS-SET, and its sources."""

    host: Annotated[str, AfterValidator(_check_irr_host)]
    port: Annotated[int, Field(ge=1, le=65535)] = 43
    sources: list[Annotated[str, AfterValidator(_check_irr_source)]] = Field(min_length=1, max_length=MAX_SOURCES)
    # Accept private and documentation ASNs (RFC 6996, RFC 5398) in AS-SETs: a lab numbered in them only.
    private_asns: Flag = False


class PolicyFile(_Model):
    communities: PerKind
    local_preference: PerKind
    max_length: MaxLength = MaxLength()
    bogons: Bogons = Bogons()
    guard: Guard = Guard()
    rpki: Rpki | None = None  # no origin validation rendered without it
    irr: Irr | None = None  # no `tonle irr sync` without it (or the CLI's --server/--sources)

    @model_validator(mode="after")
    def _distinct_communities(self) -> PolicyFile:
        # Export filters tell domestic routes by their community: a shared value would leak transit.
        seen: dict[int, str] = {}
        for kind in ("upstream", "domestic", "private"):
            value = getattr(self.communities, kind)
            if value in seen:
                raise field_error(f"communities.{kind}", f"{value} is also the {seen[value]} community (export "
                                  "filters tell routes apart by it)")
            seen[value] = kind
        return self


# ---- qos.yaml ----------------------------------------------------------------------------------------

class QosClassDef(_Model):
    dscp: list[Dscp] = Field(default_factory=list)
    default: Flag = False

    @model_validator(mode="after")
    def _marks(self) -> QosClassDef:
        if not self.dscp and not self.default:
            raise field_error("dscp", "a class needs dscp marks or default: true")
        return self


class PolicyClass(_Model):
    class_: Ident = Field(alias="class")
    priority: Flag = False
    guaranteed_percent: Annotated[float, Field(gt=0, le=100)]
    max_percent: Annotated[float, Field(gt=0, le=100)] = 100

    @model_validator(mode="after")
    def _rates(self) -> PolicyClass:
        if self.max_percent < self.guaranteed_percent:
            raise field_error("max_percent", f"{self.max_percent:g} is below guaranteed_percent "
                              f"{self.guaranteed_percent:g}")
        return self


class QosPolicyDef(_Model):
    description: Text = ""
    classes: list[PolicyClass] = Field(min_length=1)


class Attachment(_Model):
    device: str
    link: str
    policy: Ident
    shape_mbps: PositiveFloat


class QosFile(_Model):
    classes: dict[str, QosClassDef] = Field(default_factory=dict)
    policies: dict[str, QosPolicyDef] = Field(default_factory=dict)
    attachments: list[Attachment] = Field(default_factory=list)


# ---- windows.yaml ----------------------------------------------------------------------------------

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Weekly(_Model):
    days: list[Day] = Field(min_length=1)
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _span(self) -> Weekly:
        if len(set(self.days)) != len(self.days):
            raise field_error("days", "a day is listed twice")
        if self.end == self.start:
            raise field_error("end", f"{self.end:%H:%M} is start too: the window would be empty (an end before "
                              "the start runs past midnight)")
        return self


class Window(_Model):
    name: Ident
    description: Text = ""
    timezone: Timezone
    weekly: Weekly | None = None
    start: LocalDateTime | None = None  # one-off window (naive: local to `timezone`)
    end: LocalDateTime | None = None
    sites: list[str] | None = None  # None: every site
    roles: list[str] | None = None  # None: every role

    @model_validator(mode="after")
    def _shape(self) -> Window:
        if self.weekly is not None and (self.start is not None or self.end is not None):
            raise field_error("start" if self.start is not None else "end", "a weekly window has its times in "
                              "weekly: (start and end beside it make a one-off window; keep one kind)")
        if self.weekly is None and self.start is None and self.end is None:
            raise field_error("weekly", "required: weekly: {days, start, end}, or start and end for a one-off "
                              "window")
        if self.weekly is None and (self.start is None or self.end is None):
            missing = "start" if self.start is None else "end"
            raise field_error(missing, "required key is missing (a one-off window has start and end)")
        if self.start and self.end and self.end <= self.start:
            raise field_error("end", f"{self.end:%Y-%m-%d %H:%M} is not after start ({self.start:%Y-%m-%d %H:%M})")
        return self

    def covers(self, dev: Device) -> bool:
        return (self.sites is None or dev.site in self.sites) and (self.roles is None or dev.role in self.roles)

    def open_until(self, now: datetime) -> datetime | None:
        """When this window closes if it is open at `now` (aware), else None."""
        tz = ZoneInfo(self.timezone)
        local = now.astimezone(tz)
        if self.start is not None and self.end is not None:
            start, end = self.start.replace(tzinfo=tz), self.end.replace(tzinfo=tz)
            return end if start <= local < end else None
        assert self.weekly is not None
        for back in (0, 1):  # a window may have started yesterday and run past midnight
            day = local.date() - timedelta(days=back)
            if DAYS[day.weekday()] not in self.weekly.days:
                continue
            start = datetime.combine(day, self.weekly.start, tz)
            end = datetime.combine(day, self.weekly.end, tz)
            if end <= start:
                end += timedelta(days=1)
            if start <= local < end:
                return end
        return None


class WindowsFile(_Model):
    windows: list[Window] = Field(default_factory=list)


# ---- compiled, vendor-neutral model ---------------------------------------------------------------

@dataclass(frozen=True)
class PrefixEntry:
    seq: int
    action: str  # permit | deny
    prefix: str
    ge: int | None = None
    le: int | None = None


@dataclass(frozen=True)
class PrefixList:
    name: str
    afi: int
    entries: tuple[PrefixEntry, ...]


@dataclass(frozen=True)
class AsPathList:
    name: str
    regexes: tuple[str, ...]  # all permit


@dataclass(frozen=True)
class CommunityList:
    name: str
    communities: tuple[str, ...]  # all permit (match any)


@dataclass(frozen=True)
class LargeCommunityList:
    """Large communities (RFC 8092) a route must all carry to match (one entry)."""

    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Term:
    seq: int
    action: str  # permit | deny
    description: str = ""
    match_prefix_list: str | None = None
    match_as_path: str | None = None
    match_community: str | None = None
    set_local_pref: int | None = None
    set_communities: tuple[str, ...] = ()  # added (additive)
    prepend: tuple[int, int] | None = None  # (asn, count)
    match_rpki: Literal["invalid", "notfound"] | None = None  # origin-validation state (RFC 6811)
    match_large_community: str | None = None  # a LargeCommunityList: the route carries all of its members
    prepend_last_as: int | None = None  # prepend the route's neighbour AS (the first in its path) this many times


@dataclass(frozen=True)
class RouteMap:
    name: str
    afi: int
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class QosClass:
    name: str
    index: int  # 1-based order in the policy; tc class minor id is 10 * index
    dscp: tuple[int, ...]
    default: bool
    priority: bool
    rate_mbps: float
    ceil_mbps: float


@dataclass(frozen=True)
class QosApplied:
    policy: str
    shape_mbps: float
    classes: tuple[QosClass, ...]

    @property
    def default_class(self) -> QosClass:
        return next(c for c in self.classes if c.default)


@dataclass(frozen=True)
class Interface:
    name: str  # production name
    lab_name: str  # name in the lab twin
    link: str
    description: str
    ipv4: str | None
    ipv6: str | None
    qos: QosApplied | None = None
    shutdown: bool = False
    shutdown_message: str = ""


@dataclass(frozen=True)
class Neighbor:
    ip: str
    afi: int
    remote_asn: int
    peer: str  # peer or device name on the other side
    kind: str
    link: str
    description: str
    next_hop_self: bool = False
    rr_client: bool = False
    rs_client: bool = False
    import_map: str | None = None
    export_map: str | None = None
    max_prefixes: int | None = None
    md5_key: str | None = field(default=None, repr=False)
    bfd: bool = False
    enforce_first_as: bool = True
    shutdown: bool = False
    shutdown_message: str = ""
    role: str | None = None  # RFC 9234 local role on eBGP sessions (ROLES_BY_KIND)


@dataclass(frozen=True)
class DeviceIntent:
    device: Device
    hostname: str
    asn: int
    router_id: str
    loopback_ipv4: str
    loopback_ipv6: str | None
    interfaces: tuple[Interface, ...]
    static_blackholes: tuple[str, ...]
    networks: tuple[str, ...]
    neighbors: tuple[Neighbor, ...]
    prefix_lists: tuple[PrefixList, ...]
    as_path_lists: tuple[AsPathList, ...]
    community_lists: tuple[CommunityList, ...]
    route_maps: tuple[RouteMap, ...]
    large_community_lists: tuple[LargeCommunityList, ...] = ()
    rpki_caches: tuple[RpkiCache, ...] = ()  # RTR caches, on devices whose filters check RPKI state

    @property
    def qos_interfaces(self) -> tuple[Interface, ...]:
        return tuple(i for i in self.interfaces if i.qos is not None)

    def afi(self, prefixes: Iterable[str], afi: int) -> list[str]:
        """Helper for templates: the prefixes of one address family."""
        return [p for p in prefixes if ipaddress.ip_network(p).version == afi]


@dataclass(frozen=True)
class Intent:
    """The inventory plus the intent files."""

    inv: Inventory
    policy: PolicyFile
    qos: QosFile
    windows: list[Window]
    validate: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role -> NAPALM validate checks
    # TCP-MD5 keys by the variable name peers.yaml gives (`md5_key_env`), handed in by the target
    # (tonle.targets.target.md5_keys); never read from os.environ here.
    md5_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Import filters of domestic ISPs built from their AS-SETs by the last `tonle irr sync` (by peer name),
    # handed in from the state (tonle.state.irr) by whoever plans, applies or audits; {} before a sync.
    irr: Mapping[str, IrrFilter] = field(default_factory=dict)

    @cached_property
    def attachments(self) -> dict[tuple[str, str], Attachment]:
        """QoS attachments by (device, link)."""
        return {(a.device, a.link): a for a in self.qos.attachments}


@dataclass(frozen=True)
class SessionOverride:
    """An intended deviation of one session (an emergency disconnect is one)."""

    device: str
    peer_ip: str
    shutdown: bool = False
    message: str = ""
    graceful: bool = False  # send GRACEFUL_SHUTDOWN on export


@dataclass(frozen=True)
class InterfaceOverride:
    """A device's port on a link shut (and its sessions over the link)."""

    device: str
    link: str
    message: str = ""


@dataclass(frozen=True)
class BlackholeOverride:
    """A prefix announced to every upstream with BLACKHOLE (RFC 7999): remote-triggered blackhole."""

    prefix: str
    message: str = ""


Override = SessionOverride | InterfaceOverride | BlackholeOverride
_OVERRIDE_KINDS: dict[str, type[SessionOverride] | type[InterfaceOverride] | type[BlackholeOverride]] = {
    "session": SessionOverride, "interface": InterfaceOverride, "blackhole": BlackholeOverride}


def override_to_dict(o: Override) -> dict[str, Any]:
    """A JSON-able record of an override (kept in plans and in the state database)."""
    kind = next(k for k, cls in _OVERRIDE_KINDS.items() if isinstance(o, cls))
    return {"kind": kind, **asdict(o)}


def override_from_dict(d: dict[str, Any]) -> Override:
    data = dict(d)
    cls = _OVERRIDE_KINDS[data.pop("kind", "session")]
    return cls(**data)


class IntentError(InventoryError):
    """Intent that cannot be compiled (e.g. a TCP-MD5 key variable that is not set)."""


def load_intent(inv: Inventory) -> Intent:
    """Read policy.yaml, qos.yaml, windows.yaml and validate/*.yaml beside the inventory and cross-check them.

    Raises:
        InventoryError: one line per problem.
    """
    ld = _Loader(inv.root, inv.directory)
    f_pol, f_qos, f_win = (ld.rel(n) for n in ("policy.yaml", "qos.yaml", "windows.yaml"))
    # qos.yaml and windows.yaml are optional (no QoS, no change window); policy.yaml is not.
    raw = {n: ld.read(n) if n == "policy.yaml" or (inv.directory / n).exists() else None
           for n in ("policy.yaml", "qos.yaml", "windows.yaml")}
    validate = _read_validate_files(ld, inv.directory)
    ld.fail_if_any()
    policy = ld.model(PolicyFile, raw["policy.yaml"], f_pol, "policy")
    qos = _qos_file(ld, raw["qos.yaml"], f_qos)
    windows = _windows(ld, raw["windows.yaml"], f_win)
    if policy is not None:
        _check_bogons(ld, inv, policy, f_pol)
    if qos is not None:
        _check_qos(ld, inv, qos, f_qos)
    if windows is not None:
        _check_windows(ld, inv, windows, f_win)
    if ld.problems or policy is None or qos is None or windows is None:
        raise InventoryError(ld.problems)
    return Intent(inv, policy, qos, windows, validate)


def _qos_file(ld: _Loader, data: Any, file: str) -> QosFile | None:
    """qos.yaml entry by entry: classes and policies by name, attachments by device and link."""
    if data is None:
        return QosFile()
    if not isinstance(data, dict):
        ld.add(file, "(top level)", None, f"expected a mapping with classes, policies and attachments, got "
               f"{_describe(data)}")
        return None
    top = ld.model(QosFile, {k: [] if k == "attachments" else {} for k in data}, file, "(top level)")
    sections = {k: data.get(k) for k in ("classes", "policies", "attachments")}
    shapes_ok = top is not None
    for key, kind in (("classes", dict), ("policies", dict), ("attachments", list)):
        if sections[key] is not None and not isinstance(sections[key], kind):
            ld.add(file, "(top level)", key, f"expected {'a list' if kind is list else 'a mapping'}, got "
                   f"{_describe(sections[key])}")
            shapes_ok = False
    if not shapes_ok:
        return None
    classes, bad_c = ld.keyed(QosClassDef, sections["classes"] or {}, file, "class", _qos_name)
    policies, bad_p = ld.keyed(QosPolicyDef, sections["policies"] or {}, file, "policy", _qos_name)
    attachments: list[Attachment] = []
    for i, item in enumerate(sections["attachments"] or []):
        d = item if isinstance(item, dict) else {}
        who = (d.get("device"), d.get("link"))
        subject = (f"attachment {_entry(who[0])} on {_entry(who[1])}" if all(isinstance(w, str) for w in who)
                   else f"attachments[{i}]")
        if (att := ld.model(Attachment, item, file, subject)) is not None:
            attachments.append(att)
    if bad_c or bad_p or len(attachments) != len(sections["attachments"] or []):
        return None
    return QosFile(classes=classes, policies=policies, attachments=attachments)


def _qos_name(name: Any) -> str:
    return identifier(name, "", 32)


def _windows(ld: _Loader, data: Any, file: str) -> list[Window] | None:
    """windows.yaml: each window validated on its own and named by its name; names unique."""
    items = ld.section(data, file, "windows", list, required=False)
    if items is None:
        return None
    windows, bad = ld.named(Window, items, file, "window", "windows")
    seen: set[str] = set()
    for w in windows:
        if w.name in seen:
            ld.add(file, f"window {w.name}", "name", "duplicate window name (defined twice)")
        seen.add(w.name)
    return None if bad or len(windows) != len(items) else windows


def _check_qos(ld: _Loader, inv: Inventory, qos: QosFile, file: str) -> None:
    """Policies name known classes once, one default, rates within 100%; attachments on real ports, within
    the link's capacity, one per port."""
    for pname, pol in qos.policies.items():
        subj = f"policy {pname}"
        names = [c.class_ for c in pol.classes]
        for c in names:
            if c not in qos.classes:
                ld.add(file, subj, "classes", f"unknown class {shown(c)}")
        if len(set(names)) != len(names):
            ld.add(file, subj, "classes", "a class is listed twice")
        if sum(1 for c in names if c in qos.classes and qos.classes[c].default) != 1:
            ld.add(file, subj, "classes", "exactly one class must be the default class")
        total = sum(c.guaranteed_percent for c in pol.classes)
        if total > 100:
            ld.add(file, subj, "classes", f"guaranteed rates add up to {total:g}% (over 100%)")
        marks = [d for c in names if c in qos.classes for d in qos.classes[c].dscp]
        if len(set(marks)) != len(marks):
            ld.add(file, subj, "classes", "a DSCP mark is in two classes")
    seen: set[tuple[str, str]] = set()
    for att in qos.attachments:
        subj = f"attachment {att.device} on {att.link}"
        if att.device not in inv.devices:
            ld.add(file, subj, "device", f"unknown device {shown(att.device)}")
        elif att.link not in [pt.link for pt in inv.ports[att.device]]:
            ld.add(file, subj, "link", f"{att.device} has no port on link {shown(att.link)}")
        elif (cap := inv.links[att.link].capacity_mbps) is not None and att.shape_mbps > cap:
            ld.add(file, subj, "shape_mbps", f"{att.shape_mbps:g} Mbit/s is above the capacity of link {att.link} "
                   f"({cap} Mbit/s in links.yaml)")
        if att.policy not in qos.policies:
            ld.add(file, subj, "policy", f"unknown policy {shown(att.policy)}")
        if (att.device, att.link) in seen:
            ld.add(file, subj, "link", f"a second policy on {att.device} {att.link}")
        seen.add((att.device, att.link))


def _check_bogons(ld: _Loader, inv: Inventory, policy: PolicyFile, file: str) -> None:
    bogons: list[tuple[str, list[Any]]] = [("ipv4", list(policy.bogons.ipv4)), ("ipv6", list(policy.bogons.ipv6))]
    for fam, nets in bogons:
        for i, net in enumerate(nets):
            ours = next((o for o in inv.operator.prefixes if o.version == net.version and net.overlaps(o)), None)
            if ours is not None:
                ld.add(file, "policy", f"bogons.{fam}[{i}]", f"{net} overlaps the operator's own prefix {ours} "
                       "(defaults.yaml): our own routes would be refused")


def _check_windows(ld: _Loader, inv: Inventory, windows: list[Window], file: str) -> None:
    for w in windows:
        for s in w.sites or []:
            if s not in inv.sites:
                ld.add(file, f"window {w.name}", "sites", f"unknown site {shown(s)}")
        for r in w.roles or []:
            if r not in ROLES:
                ld.add(file, f"window {w.name}", "roles", f"unknown role {shown(r)}")


# ---- validate/<role>.yaml: NAPALM validate files -----------------------------------------------------

# NAPALM's getters (napalm.base.NetworkDriver.get_*) and the two other methods a validate file may call.
NAPALM_GETTERS = (
    "get_arp_table", "get_bgp_config", "get_bgp_neighbors", "get_bgp_neighbors_detail", "get_config",
    "get_environment", "get_facts", "get_firewall_policies", "get_interfaces", "get_interfaces_counters",
    "get_interfaces_ip", "get_ipv6_neighbors_table", "get_lldp_neighbors", "get_lldp_neighbors_detail",
    "get_mac_address_table", "get_network_instances", "get_ntp_peers", "get_ntp_servers", "get_ntp_stats",
    "get_optics", "get_probes_config", "get_probes_results", "get_route_to", "get_snmp_information", "get_users",
    "get_vlans", "ping", "traceroute",
)
_NUMERIC_RE = re.compile(r"^(<|>|<=|>=|==|!=)(\d+(\.\d+)?)$")


def _read_validate_files(ld: _Loader, inventory_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every validate/<role>.yaml, checked; a file that names no role is refused (it would be ignored)."""
    out: dict[str, list[dict[str, Any]]] = {}
    folder = inventory_dir / "validate"
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        display = ld.rel(f"validate/{path.name}")
        if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
            continue
        role = path.stem
        if path.suffix == ".yml" or role not in ROLES:
            close = difflib.get_close_matches(role, ROLES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}.yaml?)" if close else ""
            ld.add(display, "(file name)", None, f"Tonlé reads validate/<role>.yaml for the roles "
                   f"{', '.join(ROLES)}; this file would be ignored{hint}")
            continue
        try:
            out[role] = check_validate_source(load_yaml(path, display=display), display)
        except YamlFileError as exc:
            ld.problems.append(str(exc))
        except InventoryError as exc:
            ld.problems.extend(exc.problems)
    return out


def load_validate_file(path: Path, display: str | None = None) -> list[dict[str, Any]]:
    """A NAPALM validate file, read strictly and checked (see `check_validate_source`).

    Raises:
        InventoryError: one line per problem.
    """
    try:
        return check_validate_source(load_yaml(path, display=display), display or str(path))
    except YamlFileError as exc:
        raise InventoryError([str(exc)]) from None


def check_validate_source(data: Any, file: str) -> list[dict[str, Any]]:
    """The checks of a NAPALM validate file: a list of `getter: {expected values}`, known getters only.

    Raises:
        InventoryError: one line per problem (unknown getter, wrong structure, a comparison NAPALM would
            fail on at run time).
    """
    if data is None:
        return []
    if not isinstance(data, list):
        raise InventoryError([f"{file}: (top level): expected a list of checks (- get_facts: {{...}}), got "
                              f"{_describe(data)}"])
    problems: list[str] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or len(item) != 1:
            got = _describe(item) if not isinstance(item, dict) else f"{len(item)} keys"
            problems.append(f"{file}: checks[{i}]: field (top level): a check is a mapping of one getter to what "
                            f"it must return, got {got}")
            continue
        getter, expected = next(iter(item.items()))
        if getter not in NAPALM_GETTERS:
            close = difflib.get_close_matches(str(getter), NAPALM_GETTERS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{file}: checks[{i}]: field {_fmt_loc([str(getter)])}: unknown NAPALM getter{hint}")
            continue
        subj = f"check {getter}"
        if getter == "get_config":
            problems.append(f"{file}: {subj}: field get_config: NAPALM validate skips get_config (Tonlé compares "
                            "configurations itself)")
        elif not isinstance(expected, dict):
            problems.append(f"{file}: {subj}: field {getter}: expected a mapping of what the getter must return, "
                            f"got {_describe(expected)}")
        else:
            problems += [f"{file}: {subj}: field {getter}.{where}: {msg}" for where, msg in
                         _expected_problems(expected, top=True)]
            bgp = expected.get("global") if getter == "get_bgp_neighbors" else {}
            if not isinstance(bgp, dict) or not isinstance(bgp.get("peers", {}), dict):
                problems.append(f"{file}: {subj}: field {getter}.global: expected a mapping with peers as a mapping "
                                "(Tonlé adds the intended sessions there)")
    if problems:
        raise InventoryError(problems)
    return data


def _expected_problems(value: Any, *, top: bool = False, path: str = "") -> list[tuple[str, str]]:
    """(field, problem) for the expected values of one getter, as NAPALM's compare() reads them."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{_fmt_loc([str(k)])}" if path else _fmt_loc([str(k)])
            if k == "_mode" and v != "strict":
                out.append((where, f"{_short(v)} is not a mode NAPALM knows (strict)"))
            elif k in ("_name", "_kwargs") and not top:
                out.append((where, f"{k} belongs at the top of a check"))
            elif k == "_name" and not isinstance(v, str):
                out.append((where, f"expected text, got {_describe(v)}"))
            elif k == "_kwargs" and not isinstance(v, dict):
                out.append((where, f"expected a mapping of the getter's arguments, got {_describe(v)}"))
            elif k == "list" and not isinstance(v, list):
                out.append((where, f"expected a list, got {_describe(v)}"))
            elif k not in ("_mode", "_name", "_kwargs"):
                out += _expected_problems(v, path=where)
    elif isinstance(value, list):
        for j, v in enumerate(value):
            out += _expected_problems(v, path=f"{path}[{j}]")
    elif isinstance(value, str):
        if value.startswith(("<", ">")) and not _NUMERIC_RE.match(value):
            out.append((path, f"{_short(value)} is not a comparison NAPALM knows (<N, >N, <=N, >=N, ==N, !=N)"))
        elif "<->" in value:
            lo, _, hi = value.partition("<->")
            try:
                float(lo), float(hi)
            except ValueError:
                out.append((path, f"{_short(value)} is not a range NAPALM knows (LOW<->HIGH, numbers)"))
        else:
            try:
                re.compile(value)
            except re.error as exc:
                out.append((path, f"{_short(value)} is not a valid regular expression ({exc})"))
    return out


# ---- compilation -------------------------------------------------------------------------------------

def _tag(name: str) -> str:
    return name.upper()


class _PolicyBuilder:
    """Collects the lists and route-maps one device needs, each once."""

    def __init__(self, intent: Intent, dev: Device) -> None:
        self.intent, self.dev = intent, dev
        self.prefix_lists: dict[str, PrefixList] = {}
        self.as_paths: dict[str, AsPathList] = {}
        self.communities: dict[str, CommunityList] = {}
        self.large: dict[str, LargeCommunityList] = {}
        self.route_maps: dict[str, RouteMap] = {}
        self.rtbh: list[str] = []  # prefixes under remote-triggered blackhole
        self.uses_rpki = False  # an import filter checks the RPKI state: the device needs the caches

    @property
    def pol(self) -> PolicyFile:
        return self.intent.policy

    def _max_len(self, afi: int) -> int:
        return self.pol.max_length.ipv4 if afi == 4 else self.pol.max_length.ipv6

    def bogons(self, afi: int) -> str:
        name = f"PL-BOGONS-V{afi}"
        if name not in self.prefix_lists:
            nets = self.pol.bogons.ipv4 if afi == 4 else self.pol.bogons.ipv6
            top = 32 if afi == 4 else 128
            entries = [PrefixEntry(5 * (i + 1), "permit", str(n), None, top) for i, n in enumerate(nets)]
            # Anything longer than the maximum length is refused like a bogon.
            entries.append(PrefixEntry(5 * (len(nets) + 1), "permit", "0.0.0.0/0" if afi == 4 else "::/0",
                                       self._max_len(afi) + 1, top))
            self.prefix_lists[name] = PrefixList(name, afi, tuple(entries))
        return name

    def operator(self, afi: int, *, orlonger: bool) -> str | None:
        nets = [n for n in self.intent.inv.operator.prefixes if n.version == afi]
        if not nets:
            return None
        name = f"PL-OPERATOR-V{afi}" + ("" if orlonger else "-EXACT")
        top = 32 if afi == 4 else 128
        self.prefix_lists[name] = PrefixList(name, afi, tuple(
            PrefixEntry(5 * (i + 1), "permit", str(n), None, top if orlonger else None) for i, n in enumerate(nets)))
        return name

    def peer_prefixes(self, tag: str, prefixes: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
                      afi: int) -> str | None:
        nets = [n for n in prefixes if n.version == afi]
        if not nets:
            return None
        name = f"PL-{tag}-IN-V{afi}"
        self.prefix_lists[name] = PrefixList(name, afi, tuple(
            PrefixEntry(5 * (i + 1), "permit", str(n), None, max(self._max_len(afi), n.prefixlen))
            for i, n in enumerate(nets)))
        return name

    def irr_prefixes(self, tag: str, entries: tuple[IrrEntry, ...], afi: int) -> str | None:
        """The IRR-built list: exactly the registered prefixes (and the ranges bgpq4 aggregated them into)."""
        mine = [e for e in entries if e.afi == afi]
        if not mine:
            return None
        name = f"PL-{tag}-IN-V{afi}"
        self.prefix_lists[name] = PrefixList(name, afi, tuple(
            PrefixEntry(5 * (i + 1), "permit", e.prefix, e.ge, e.le) for i, e in enumerate(mine)))
        return name

    def as_path(self, tag: str, regexes: list[str]) -> str:
        name = f"AP-{tag}-IN"
        self.as_paths[name] = AsPathList(name, tuple(regexes))
        return name

    def community(self, name: str, *values: str) -> str:
        self.communities[name] = CommunityList(name, tuple(values))
        return name

    def large_community(self, name: str, *members: str) -> str:
        self.large[name] = LargeCommunityList(name, members)
        return name

    def rs_client_control(self, client_asn: int, sets: tuple[str, ...]) -> list[Term]:
        """A route server's export to one client, steered by the announcing client (arouteserver's scheme of
        large communities, RFC 8092; R is our route server's ASN, P the receiving client's):
        R:0:P do not announce to P; R:0:R to no one, except where R:1:P says announce to P;
        R:101:P, R:102:P, R:103:P prepend the announcing client's AS once, twice, three times towards P.
        """
        r, p = self.dev.asn, client_asn
        lc = self.large_community
        # Entries 1-9, before the export's own (10 on): route servers carry no blackhole entry 5 (borders only).
        terms = [Term(1, "deny", f"do not announce to AS{p} ({r}:0:{p})",
                      match_large_community=lc(f"LCL-AS{p}-NOANNOUNCE", f"{r}:0:{p}"))]
        for n in (3, 2, 1):  # announce to P only, with a prepend: the first term that matches decides
            terms.append(Term(5 - n, "permit", f"announce to AS{p} ({r}:1:{p}), prepend x{n} ({r}:10{n}:{p})",
                              match_large_community=lc(f"LCL-AS{p}-ONLY-PREPEND{n}", f"{r}:1:{p}", f"{r}:10{n}:{p}"),
                              prepend_last_as=n, set_communities=sets))
        terms += [Term(5, "permit", f"announce to AS{p} ({r}:1:{p})",
                       match_large_community=lc(f"LCL-AS{p}-ANNOUNCE", f"{r}:1:{p}"), set_communities=sets),
                  Term(6, "deny", f"do not announce to any client ({r}:0:{r})",
                       match_large_community=lc("LCL-NOANNOUNCE-ANY", f"{r}:0:{r}"))]
        for n in (3, 2, 1):
            terms.append(Term(10 - n, "permit", f"prepend x{n} towards AS{p} ({r}:10{n}:{p})",
                              match_large_community=lc(f"LCL-AS{p}-PREPEND{n}", f"{r}:10{n}:{p}"), prepend_last_as=n,
                              set_communities=sets))
        return terms

    def add(self, rm: RouteMap) -> str:
        self.route_maps[rm.name] = rm
        return rm.name

    # -- per session kind ---------------------------------------------------------------------------
    def external_import(self, s: Session, tag: str, *, kind: str, accept: str | None, as_path: str | None,
                        extra_communities: tuple[str, ...], local_pref: int | None, gshut: bool,
                        nothing: bool = False) -> str:
        """Default-deny import (RFC 8212): bogons and our own space out, then what the peer may send
        (`nothing`: the peer has no registered prefix in this family, so none is accepted)."""
        afi, asn = s.afi, self.intent.inv.operator.asn
        terms = [Term(10, "deny", "bogons and too-specific prefixes", match_prefix_list=self.bogons(afi))]
        own = self.operator(afi, orlonger=True)
        if own and self.dev.role != "dix-rs":
            terms.append(Term(20, "deny", "our own address space", match_prefix_list=own))
        terms += self.rpki_terms(kind)
        comm = getattr(self.pol.communities, kind, None)
        sets = ((f"{asn}:{comm}",) if comm is not None else ()) + extra_communities
        # An ISP with no registered prefix in this family (peers.yaml or its AS-SET): nothing.
        if (accept is not None or kind != "rs-isp") and not nothing:
            if gshut:  # RFC 8326: what the peer marks GRACEFUL_SHUTDOWN is accepted but least preferred
                terms.append(Term(25, "permit", "graceful shutdown from the peer: least preferred",
                                  match_prefix_list=accept, match_as_path=as_path,
                                  match_community=self.community("CL-GSHUT", GSHUT), set_local_pref=0,
                                  set_communities=sets))
            terms.append(Term(30, "permit", f"accepted from {s.neighbor}", match_prefix_list=accept,
                              match_as_path=as_path, set_local_pref=local_pref, set_communities=sets))
        terms.append(Term(100, "deny", "default deny (RFC 8212)"))
        return self.add(RouteMap(f"RM-{tag}-IN-V{afi}", afi, tuple(terms)))

    def rpki_terms(self, kind: str) -> list[Term]:
        """Deny terms for the RPKI states policy.yaml rejects on this kind of session (RFC 6811, RFC 8893)."""
        rpki = self.pol.rpki
        if rpki is None:
            return []
        key = {"rs-isp": "route_server", "rs-iig": "route_server"}.get(kind, kind)
        terms = []
        if getattr(rpki.invalid, key) == "reject":
            terms.append(Term(21, "deny", "RPKI invalid origin (RFC 6811)", match_rpki="invalid"))
        if getattr(rpki.not_found, key) == "reject":
            terms.append(Term(22, "deny", "RPKI origin not found (RFC 6811)", match_rpki="notfound"))
        self.uses_rpki = self.uses_rpki or bool(terms)
        return terms

    def export(self, s: Session, tag: str, *, scope: str, prepend: int, communities: tuple[str, ...],
               graceful: bool, rs_client_asn: int | None = None) -> str:
        """Export: `all`, or `own+domestic` (never transit between foreign carriers)."""
        afi, asn = s.afi, self.intent.inv.operator.asn
        sets = communities + ((GSHUT,) if graceful else ())
        pp = (asn, prepend) if prepend else None
        terms: list[Term] = []
        rtbh = [p for p in self.rtbh if ipaddress.ip_network(p).version == afi]
        if rtbh:
            name = f"PL-RTBH-V{afi}"
            self.prefix_lists[name] = PrefixList(name, afi, tuple(
                PrefixEntry(5 * (i + 1), "permit", p) for i, p in enumerate(rtbh)))
            if scope == "all":  # never towards the DIX: domestic traffic to the victim must still flow
                terms.append(Term(5, "deny", "remote-triggered blackhole: upstreams only", match_prefix_list=name))
            else:
                terms.append(Term(5, "permit", "remote-triggered blackhole (RFC 7999)", match_prefix_list=name,
                                  set_communities=(BLACKHOLE, NO_EXPORT)))
        if rs_client_asn is not None:  # our route server towards a client: the announcing clients steer it
            terms += self.rs_client_control(rs_client_asn, sets)
        if scope == "all":
            terms.append(Term(10, "permit", "everything we have", set_communities=sets, prepend=pp))
        else:
            exact = self.operator(afi, orlonger=False)
            if exact:
                terms.append(Term(10, "permit", "our aggregates", match_prefix_list=exact, set_communities=sets,
                                  prepend=pp))
            dom = self.community("CL-DOMESTIC", f"{asn}:{self.pol.communities.domestic}")
            terms.append(Term(20, "permit", "domestic networks learned at the DIX", match_community=dom,
                              set_communities=sets, prepend=pp))
        terms.append(Term(100, "deny", "default deny (RFC 8212)"))
        return self.add(RouteMap(f"RM-{tag}-OUT-V{afi}", afi, tuple(terms)))


def with_irr(intent: Intent, data: IrrData | None) -> Intent:
    """The intent with the IRR-built filters of a sync (None: none synced, the peers.yaml lists apply)."""
    return dataclasses.replace(intent, irr=data.by_peer() if data is not None else {})


def with_md5_keys(intent: Intent, keys: Mapping[str, str]) -> Intent:
    """The same intent with the TCP-MD5 keys of a target (the lab's generated ones, or production's)."""
    return dataclasses.replace(intent, md5_keys=dict(keys))


def _md5(peer: Peer, keys: Mapping[str, str]) -> str | None:
    if peer.md5_key_env is None:
        return None
    key = keys.get(peer.md5_key_env)
    if not key:
        raise IntentError([f"inventory/peers.yaml: peer {peer.name}: field md5_key_env: no TCP-MD5 key for "
                           f"{peer.md5_key_env} (production: set it in the service's environment; lab: "
                           "`tonle lab up` generates one)"])
    return key


def device_intent(intent: Intent, device: str, overrides: Iterable[Override] = ()) -> DeviceIntent:
    """Compile the vendor-neutral intent of one device.

    Raises:
        IntentError: the intent needs something the environment does not give (an MD5 key).
    """
    inv = intent.inv
    dev = inv.devices[device]
    pb = _PolicyBuilder(intent, dev)
    overrides = list(overrides)
    over: dict[str, SessionOverride] = {o.peer_ip: o for o in overrides
                                        if isinstance(o, SessionOverride) and o.device == device}
    # A shut port takes its sessions down too: they are shut so BGP stops trying.
    for o in overrides:
        if isinstance(o, InterfaceOverride) and o.device == device:
            for s in inv.device_sessions(device):
                if s.link == o.link and str(s.peer_ip) not in over:
                    over[str(s.peer_ip)] = SessionOverride(device, str(s.peer_ip), shutdown=True, message=o.message)
    shut_links = {o.link: o.message for o in overrides if isinstance(o, InterfaceOverride) and o.device == device}
    blackholes = sorted({o.prefix for o in overrides if isinstance(o, BlackholeOverride)}) \
        if dev.role == "iig-border" else []
    pb.rtbh = blackholes
    lp = intent.policy.local_preference
    neighbors: list[Neighbor] = []
    for s in inv.device_sessions(device):
        peer = inv.peers.get(s.neighbor)
        so = over.get(str(s.peer_ip))
        graceful = bool(so and so.graceful)
        desc = f"{s.kind} {s.neighbor} via {s.link}"
        base = Neighbor(ip=str(s.peer_ip), afi=s.afi, remote_asn=s.peer_asn, peer=s.neighbor, kind=s.kind,
                        link=s.link, description=desc, shutdown=bool(so and so.shutdown),
                        shutdown_message=so.message if so else "",
                        # Only towards external networks: between our own ASes (a border and our route server,
                        # private links) RFC 9234's OTC would stop domestic routes from reaching the upstreams.
                        role=ROLES_BY_KIND.get(s.kind) if peer is not None else None)
        if s.kind == "ibgp":
            neighbors.append(replace(base, next_hop_self=True, rr_client=s.rr_client))
            continue
        tag = _tag(s.neighbor)
        if peer is not None:  # an external network
            imp, exp = peer.import_policy, peer.export_policy
            mp = peer.max_prefixes.ipv4 if s.afi == 4 else peer.max_prefixes.ipv6
            regex = imp.as_path or [f"^{peer.asn}(_[0-9]+)*$"]
            # A domestic ISP's AS-SET, as the last IRR sync found it, replaces what peers.yaml lists by default
            # (an explicit import.prefixes / import.as_path still wins: the operator's override).
            irr = intent.irr.get(peer.name) if peer.type == "isp" else None
            if irr is not None and not imp.as_path:
                regex = as_path_regexes(peer.asn, irr.origins)
            irr_list = pb.irr_prefixes(tag, irr.entries, s.afi) if irr is not None and imp.prefixes is None \
                else None
            no_irr_prefix = irr is not None and imp.prefixes is None and irr_list is None
            if irr is not None and imp.prefixes is None:
                accept: str | None = irr_list
            elif s.kind == "rs-client":  # our route server, an ISP client: registered prefixes only
                accept = pb.peer_prefixes(tag, imp.prefixes if imp.prefixes is not None else list(peer.announces),
                                          s.afi)
            else:
                accept = pb.peer_prefixes(tag, imp.prefixes, s.afi) if imp.prefixes is not None else None
            if s.kind == "rs-client":
                imap = pb.external_import(s, tag, kind="rs-isp", accept=accept, as_path=pb.as_path(tag, regex),
                                          extra_communities=tuple(imp.communities), local_pref=imp.local_pref,
                                          gshut=False)
                emap = pb.export(s, tag, scope="all", prepend=0, communities=tuple(exp.communities),
                                 graceful=graceful, rs_client_asn=peer.asn)
            else:
                kind = {"upstream": "upstream", "isp": "domestic", "private": "private"}[peer.type]
                imap = pb.external_import(
                    s, tag, kind=kind, accept=accept, as_path=pb.as_path(tag, regex),
                    extra_communities=tuple(imp.communities),
                    local_pref=imp.local_pref if imp.local_pref is not None else getattr(lp, kind),
                    gshut=peer.graceful_shutdown, nothing=no_irr_prefix)
                emap = pb.export(s, tag, scope="all" if peer.type == "isp" else "own+domestic",
                                 prepend=exp.prepend, communities=tuple(exp.communities), graceful=graceful)
            neighbors.append(replace(
                base, rs_client=s.kind == "rs-client", import_map=imap, export_map=emap, max_prefixes=mp,
                md5_key=_md5(peer, intent.md5_keys), bfd=peer.bfd))
        elif s.kind == "rs-client":  # our route server, one of our border routers as client
            imap = pb.external_import(s, tag, kind="rs-iig", accept=None,
                                      as_path=pb.as_path(tag, [f"^{s.peer_asn}(_[0-9]+)*$"]),
                                      extra_communities=(), local_pref=None, gshut=False)
            emap = pb.export(s, tag, scope="all", prepend=0, communities=(), graceful=graceful,
                             rs_client_asn=s.peer_asn)
            neighbors.append(replace(base, rs_client=True, import_map=imap, export_map=emap))
        else:  # route-server (we are the client of our DIX route server) or a private link between our ASes
            kind = "domestic" if s.kind == "route-server" else "private"
            imap = pb.external_import(s, tag, kind=kind, accept=None, as_path=None, extra_communities=(),
                                      local_pref=getattr(lp, kind), gshut=True)
            emap = pb.export(s, tag, scope="all", prepend=0, communities=(), graceful=graceful)
            # A transparent route server does not put its ASN first in the path.
            neighbors.append(replace(base, import_map=imap, export_map=emap, enforce_first_as=s.kind != "route-server"))

    att = intent.attachments
    interfaces = []
    for pt in inv.ports[device]:
        qos = None
        a = att.get((device, pt.link))
        if a is not None:
            pol = intent.qos.policies[a.policy]
            classes = []
            for i, pc in enumerate(pol.classes, start=1):
                cdef = intent.qos.classes[pc.class_]
                classes.append(QosClass(pc.class_, i, tuple(int(d) for d in cdef.dscp), cdef.default, pc.priority,
                                        round(a.shape_mbps * pc.guaranteed_percent / 100, 3),
                                        round(a.shape_mbps * pc.max_percent / 100, 3)))
            qos = QosApplied(a.policy, a.shape_mbps, tuple(classes))
        interfaces.append(Interface(pt.interface, pt.lab_ifname, pt.link, f"{pt.link} {pt.interface}",
                                    str(pt.ipv4) if pt.ipv4 else None, str(pt.ipv6) if pt.ipv6 else None, qos,
                                    shutdown=pt.link in shut_links, shutdown_message=shut_links.get(pt.link, "")))
    originates = dev.role == "iig-border"
    own = [str(n) for n in inv.operator.prefixes] if originates else []
    return DeviceIntent(
        device=dev, hostname=dev.name, asn=dev.asn, router_id=str(dev.router_id),
        loopback_ipv4=str(dev.loopback_ipv4), loopback_ipv6=str(dev.loopback_ipv6) if dev.loopback_ipv6 else None,
        interfaces=tuple(interfaces), static_blackholes=tuple(own + blackholes), networks=tuple(own + blackholes),
        neighbors=tuple(neighbors),
        prefix_lists=tuple(sorted(pb.prefix_lists.values(), key=lambda x: x.name)),
        as_path_lists=tuple(sorted(pb.as_paths.values(), key=lambda x: x.name)),
        community_lists=tuple(sorted(pb.communities.values(), key=lambda x: x.name)),
        large_community_lists=tuple(sorted(pb.large.values(), key=lambda x: x.name)),
        route_maps=tuple(sorted(pb.route_maps.values(), key=lambda x: x.name)),
        rpki_caches=tuple(intent.policy.rpki.caches) if pb.uses_rpki and intent.policy.rpki else (),
    )


def windows_open(intent: Intent, devices: Iterable[str], now: datetime) -> tuple[datetime | None, list[str]]:
    """Whether every device is inside an open change window at `now`.

    Returns:
        (closing time of the earliest-closing window used, devices not covered by any open window).
    """
    closes: list[datetime] = []
    uncovered: list[str] = []
    for name in devices:
        dev = intent.inv.devices[name]
        ends = [e for w in intent.windows if w.covers(dev) and (e := w.open_until(now)) is not None]
        if ends:
            closes.append(max(ends))
        else:
            uncovered.append(name)
    return (min(closes) if closes and not uncovered else None), uncovered


__all__ = ["BlackholeOverride", "DeviceIntent", "Intent", "InterfaceOverride", "Override", "Prefix",
           "SessionOverride", "device_intent", "load_intent", "override_from_dict", "override_to_dict",
           "windows_open", "with_irr"]
