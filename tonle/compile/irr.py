"""IRR-built import filters: bgpq4's JSON answers checked by a grammar, aggregated, and the stored record.

bgpq4 talks to an IRR server we do not control: its output is a device answer, hostile until proven
otherwise. Each answer is parsed against the exact shape bgpq4 writes (`-j`), every prefix and ASN is
checked (address family, host bits, length within the policy's maximum, no bogon, no default route,
ASN range) and the first problem fails the whole sync with one line: nothing half-synced is stored and
no text of the answer reaches a configuration (only re-serialised networks and integers do).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tonle.errors import BadInput
from tonle.source.grammar import shown

__all__ = [
    "MAX_SOURCES",
    "SNAPSHOT_FILE",
    "IrrData",
    "IrrEntry",
    "IrrFilter",
    "IrrServer",
    "aggregate",
    "as_path_regexes",
    "irr_host_ok",
    "irr_source_ok",
    "parse_asns",
    "parse_prefixes",
    "private_asn",
    "split_server",
]

Net = ipaddress.IPv4Network | ipaddress.IPv6Network

# The IRR filters a confirmed change was rendered with travel in its intent snapshot under this name, so an
# emergency renders from exactly what the devices run (tonle.emergency.applied).
SNAPSHOT_FILE = "irr-sync.json"
MAX_ENTRIES = 100_000  # per list: far above any domestic ISP's; a longer answer is a broken or hostile server
_PREFIX_TEXT = re.compile(r"^[0-9A-Fa-f.:]{2,39}/[0-9]{1,3}$")
_ENTRY_KEYS = {"prefix", "exact", "greater-equal", "less-equal"}
_RESERVED_ASNS = {0, 23456, 65535, 4294967295}  # RFC 7607, AS_TRANS (RFC 6793), RFC 7300


class IrrDataError(BadInput):
    """An IRR answer (bgpq4's output) that does not follow the grammar; the message is one line."""


@dataclass(frozen=True, order=True)
class IrrEntry:
    """One prefix-list entry: `prefix`, and more-specifics from `ge` to `le` when given (None: exact)."""

    afi: int
    prefix: str
    ge: int | None = None
    le: int | None = None

    @cached_property
    def network(self) -> Net:
        return ipaddress.ip_network(self.prefix)

    @property
    def lengths(self) -> tuple[int, int]:
        plen = self.network.prefixlen
        return (self.ge if self.ge is not None else plen, self.le if self.le is not None else plen)


# The IRR server's grammar, one for policy.yaml `irr`, the CLI's --server/--sources and the service's
# `irr.sync` request (socket and REST): what reaches bgpq4's argv is an address or a host name, a port
# and upper-case source names, never an option.
_HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}")
_SOURCE = re.compile(r"[A-Z][A-Z0-9-]{0,31}")
MAX_SOURCES = 16


def irr_host_ok(text: str) -> bool:
    """An IP address or a DNS host name (never anything bgpq4 could read as an option)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return _HOST_NAME.fullmatch(text) is not None
    return True


def irr_source_ok(text: str) -> bool:
    """An IRR source (database) name: RIPE, RADB, APNIC, TONLE-LAB..."""
    return _SOURCE.fullmatch(text) is not None


def split_server(text: str) -> tuple[str, int] | None:
    """`HOST:PORT` (an IPv6 address as `[ADDR]:PORT` or bare, the port after the last colon) -> (host, port),
    or None when it is not that."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not port.isdigit() or len(port) > 5 or not 1 <= int(port) <= 65535 or not irr_host_ok(host):
        return None
    return host, int(port)


@dataclass(frozen=True)
class IrrServer:
    """Where bgpq4 asks: host, port and the IRR sources (databases) it may use, in order."""

    host: str
    port: int
    sources: tuple[str, ...]
    private_asns: bool = False  # AS-SETs may hold private/documentation ASNs (a lab)

    def __str__(self) -> str:
        return f"{self.host}:{self.port} {','.join(self.sources)}"


@dataclass(frozen=True)
class IrrFilter:
    """A domestic ISP's import filter built from its AS-SET: prefixes (aggregated) and origin ASNs."""

    peer: str
    as_set: str
    origins: tuple[int, ...]
    entries: tuple[IrrEntry, ...]

    def afi(self, afi: int) -> tuple[IrrEntry, ...]:
        return tuple(e for e in self.entries if e.afi == afi)

    def to_dict(self) -> dict[str, Any]:
        return {"peer": self.peer, "as_set": self.as_set, "origins": list(self.origins),
                "entries": [[e.afi, e.prefix, e.ge, e.le] for e in self.entries]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IrrFilter:
        return cls(str(d["peer"]), str(d["as_set"]), tuple(int(a) for a in d["origins"]),
                   tuple(IrrEntry(int(a), str(p), g, le) for a, p, g, le in d["entries"]))


@dataclass(frozen=True)
class IrrData:
    """One sync: the filters of every ISP with an AS-SET, when and from where they were taken."""

    synced_at: str
    source: str  # the IrrServer as text
    filters: tuple[IrrFilter, ...]

    def by_peer(self) -> dict[str, IrrFilter]:
        return {f.peer: f for f in self.filters}

    def to_json(self) -> str:
        return json.dumps({"synced_at": self.synced_at, "source": self.source,
                           "filters": [f.to_dict() for f in self.filters]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IrrData:
        d = json.loads(text)
        return cls(str(d["synced_at"]), str(d["source"]), tuple(IrrFilter.from_dict(f) for f in d["filters"]))


def _answer_list(text: str, name: str, what: str) -> list[Any]:
    """The one list of bgpq4's `{"<name>": [...]}` answer."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise IrrDataError(f"{what}: bgpq4 answer is not JSON ({type(e).__name__})") from None
    if not isinstance(data, dict) or list(data) != [name]:
        keys = list(data)[:3] if isinstance(data, dict) else type(data).__name__
        raise IrrDataError(f"{what}: bgpq4 answer must be an object with the one key {name!r}, got {shown(keys)}")
    items = data[name]
    if not isinstance(items, list):
        raise IrrDataError(f"{what}: bgpq4 answer's {name!r} must be a list, got {type(items).__name__}")
    if len(items) > MAX_ENTRIES:
        raise IrrDataError(f"{what}: bgpq4 answer has {len(items)} entries (at most {MAX_ENTRIES})")
    return items


def _length(v: Any, field: str, where: str) -> int:
    if type(v) is not int:
        raise IrrDataError(f"{where}: {field} must be an integer, got {shown(v)}")
    return v


def parse_prefixes(text: str, name: str, afi: int, *, max_len: int, bogons: Sequence[Net],
                   what: str) -> list[IrrEntry]:
    """bgpq4 `-j -l NAME -4|-6` output -> entries; any entry off the grammar fails the whole answer.

    Args:
        text: bgpq4's standard output.
        name: the list name bgpq4 was given (`-l`).
        afi: 4 or 6, the family asked for.
        max_len: the policy's longest accepted prefix for this family.
        bogons: networks no entry may overlap.
        what: how the error names the query (peer and AS-SET).

    Raises:
        IrrDataError: one line naming the query, the entry and the problem.
    """
    out = []
    for i, item in enumerate(_answer_list(text, name, what), start=1):
        where = f"{what} entry {i}"
        if not isinstance(item, dict) or not set(item) <= _ENTRY_KEYS or "prefix" not in item:
            raise IrrDataError(f"{where}: must be an object with 'prefix' and only {sorted(_ENTRY_KEYS)}, "
                               f"got {shown(item)}")
        raw = item["prefix"]
        if not isinstance(raw, str) or not _PREFIX_TEXT.match(raw):
            raise IrrDataError(f"{where}: prefix {shown(raw)} is not an address/length")
        try:
            net = ipaddress.ip_network(raw, strict=True)
        except ValueError:
            raise IrrDataError(f"{where}: prefix {shown(raw)} is not a network (host bits set or bad address)") \
                from None
        if net.version != afi:
            raise IrrDataError(f"{where}: prefix {net} is IPv{net.version} in an IPv{afi} answer")
        if net.prefixlen == 0:
            raise IrrDataError(f"{where}: prefix {net} is a default route")
        exact = item.get("exact", True)
        if type(exact) is not bool:
            raise IrrDataError(f"{where}: exact must be true or false, got {shown(exact)}")
        ge = le = None
        if not exact or "greater-equal" in item or "less-equal" in item:
            if exact:
                raise IrrDataError(f"{where}: an exact entry cannot carry greater-equal/less-equal")
            ge = _length(item.get("greater-equal", net.prefixlen), "greater-equal", where)
            le = _length(item.get("less-equal", ge), "less-equal", where)
            if not net.prefixlen <= ge <= le:
                raise IrrDataError(f"{where}: lengths of {net} must be {net.prefixlen} <= greater-equal ({ge}) "
                                   f"<= less-equal ({le})")
        top = le if le is not None else net.prefixlen
        if top > max_len:
            raise IrrDataError(f"{where}: {net} up to /{top} is longer than the policy's maximum /{max_len}")
        bad = next((b for b in bogons if b.version == afi and net.overlaps(b)), None)
        if bad is not None:
            raise IrrDataError(f"{where}: {net} overlaps the bogon {bad}")
        # Devices want len < ge <= le: a bound equal to the prefix's own length is said by leaving it out.
        if ge == net.prefixlen:
            ge = None
        if ge is None and le == net.prefixlen:
            le = None
        out.append(IrrEntry(afi, str(net), ge, le))
    return out


def private_asn(asn: int) -> bool:
    """Documentation (RFC 5398) or private (RFC 6996) AS number."""
    return 64496 <= asn <= 65534 or 65536 <= asn <= 65551 or 4200000000 <= asn <= 4294967294


def parse_asns(text: str, name: str, *, what: str, allow_private: bool = False) -> list[int]:
    """bgpq4 `-j -t -l NAME` output (the AS-SET's ASNs) -> ASNs; any other value fails the whole answer.

    Raises:
        IrrDataError: one line naming the query, the entry and the problem.
    """
    out = []
    for i, item in enumerate(_answer_list(text, name, what), start=1):
        if type(item) is not int or not 0 < item < 2**32 or item in _RESERVED_ASNS:
            raise IrrDataError(f"{what} entry {i}: {shown(item)} is not a usable AS number "
                               "(1-4294967294, not 23456 or 65535)")
        if private_asn(item) and not allow_private:
            raise IrrDataError(f"{what} entry {i}: AS{item} is a private or documentation AS number "
                               "(policy.yaml irr.private_asns: false)")
        out.append(item)
    return out


def _covers(a: IrrEntry, b: IrrEntry) -> bool:
    """Every route `b` permits is permitted by `a`."""
    if a.afi != b.afi or not b.network.subnet_of(a.network):  # type: ignore[arg-type]
        return False
    (ag, al), (bg, bl) = a.lengths, b.lengths
    return ag <= bg and bl <= al


def aggregate(entries: Iterable[IrrEntry]) -> tuple[IrrEntry, ...]:
    """Entries without duplicates or entries another covers, in address order per family.

    bgpq4 `-A` already merges siblings into ranges; this drops what is left redundant once both families'
    answers and repeated registrations meet, so the rendered list is minimal and stable (a plan diff
    shows real changes only).
    """
    uniq = sorted(set(entries), key=lambda e: (e.afi, int(e.network.network_address), e.network.prefixlen, e.lengths))
    by_net: dict[tuple[int, int, int], list[IrrEntry]] = {}
    for e in uniq:
        by_net.setdefault((e.afi, e.network.prefixlen, int(e.network.network_address)), []).append(e)

    def covered(e: IrrEntry) -> bool:  # only entries on e's own supernets can cover it: n * 32 (128) lookups
        net, bits = e.network, 32 if e.afi == 4 else 128
        addr = int(net.network_address)
        for plen in range(net.prefixlen + 1):
            key = (e.afi, plen, addr & (((1 << plen) - 1) << (bits - plen)))
            if any(o != e and _covers(o, e) for o in by_net.get(key, ())):
                return True
        return False
    return tuple(e for e in uniq if not covered(e))


def as_path_regexes(peer_asn: int, origins: Iterable[int]) -> list[str]:
    """AS-path regexes: learned from the peer (first AS) and originated by an ASN of its AS-SET."""
    out = []
    for o in sorted(set(origins)):
        if o == peer_asn:
            out.append(f"^{peer_asn}$")
        out.append(f"^{peer_asn}(_[0-9]+)*_{o}$")
    return out
