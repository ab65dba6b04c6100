"""RPKI origin validation as the device runs it, for the drift audit: its RTR caches, the RPKI-invalid routes
it holds (accepted) and those its import filters dropped (rejected), judged against the intent.

Read on FRR (the lab's devices and FRR in production) with four show commands in JSON, FRR 8.4's own:
`show rpki cache-connection json` (each cache and whether it is connected), `show bgp ipv4|ipv6 unicast rpki
invalid json` (the routes in the BGP table whose origin the VRPs make invalid: accepted ones) and
`show route-map json` (how many times each import term that denies `match rpki invalid` matched since bgpd
started or the term was configured: the invalid announcements rejected; FRR keeps no copy of a rejected route without
`soft-reconfiguration inbound`, so this counter is the device's only count of them). IOS-XE, EOS and Junos
are not read here (their RPKI show commands have no parser yet).

Every field of the device's answer is hostile: each is checked for its type and grammar (a prefix is a
network, a peer an address, a counter a non-negative integer); an entry that does not fit is left out and
counted, and an answer that is not the JSON FRR writes makes the state unreadable, which is a problem when
the intent validates origins (never "nothing invalid").
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tonle.compile.intent import DeviceIntent
from tonle.source.grammar import device_address as _address
from tonle.source.grammar import device_counter as _count

CONNECTION = "show rpki cache-connection json"
INVALID = {4: "show bgp ipv4 unicast rpki invalid json", 6: "show bgp ipv6 unicast rpki invalid json"}
ROUTE_MAPS = "show route-map json"
COMMANDS = (CONNECTION, INVALID[4], INVALID[6], ROUTE_MAPS)
MAX_LISTED = 50  # accepted invalid routes kept in the report per device (the count is always whole)
MAX_DAEMONS = 16  # JSON objects in one answer (`show route-map json`: one per daemon with route-maps)


class RpkiAnswerError(ValueError):
    """An answer that is not the JSON FRR writes for the command (one line, nothing of the answer)."""


@dataclass(frozen=True)
class InvalidRoute:
    """An RPKI-invalid route the device holds: its prefix, the peer it came from and the origin it claims."""

    prefix: str
    peer: str
    origin: int | None
    best: bool


@dataclass
class RpkiState:
    """One device's origin validation now."""

    configured: int = 0  # caches the intent gives the device
    caches: list[dict[str, Any]] = field(default_factory=list)  # as reported: {host, port, preference, connected}
    accepted: int = 0  # RPKI-invalid routes in the BGP table
    accepted_routes: list[InvalidRoute] = field(default_factory=list)  # the first MAX_LISTED of them
    against_intent: int = 0  # of those, accepted from a session whose import filter rejects invalid (drift)
    rejected: int | None = None  # invalid announcements dropped by the import filters' RPKI terms
    ignored: int = 0  # entries of the answers that did not fit the model
    error: str = ""  # the state could not be read (then the rest is empty)

    @property
    def connected(self) -> int:
        return sum(1 for c in self.caches if c["connected"])

    def summary(self) -> str:
        """One line for a report row."""
        if self.error:
            return f"RPKI unreadable: {self.error}"
        rejected = "?" if self.rejected is None else str(self.rejected)
        return (f"RPKI {self.connected}/{self.configured} cache(s) connected, invalid: {rejected} rejected, "
                f"{self.accepted} accepted")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"connected": self.connected}


# ---- the answers, field by field (pure) -------------------------------------------------------------------



def _network(value: Any, afi: int) -> str | None:
    try:
        net = ipaddress.ip_network(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return str(net) if net is not None and net.version == afi else None


def _objects(text: str, command: str) -> list[dict[str, Any]]:
    """The JSON objects of an answer: one per daemon that answered (vtysh writes them one after another)."""
    decoder, at = json.JSONDecoder(), 0
    out: list[dict[str, Any]] = []
    text = text.strip() or "{}"
    while at < len(text) and len(out) < MAX_DAEMONS:
        try:
            data, end = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):
            raise RpkiAnswerError(f"`{command}` did not answer in JSON (is bgpd's RPKI module loaded?)") from None
        if not isinstance(data, dict):
            raise RpkiAnswerError(f"`{command}` did not answer with a JSON object")
        out.append(data)
        at = end + len(text[end:]) - len(text[end:].lstrip())
    if at < len(text):
        raise RpkiAnswerError(f"`{command}` answered with more than {MAX_DAEMONS} JSON objects")
    return out


def _object(text: str, command: str) -> dict[str, Any]:
    found = _objects(text, command)
    if len(found) != 1:
        raise RpkiAnswerError(f"`{command}` did not answer with one JSON object")
    return found[0]


def parse_caches(text: str) -> tuple[list[dict[str, Any]], int]:
    """`show rpki cache-connection json` -> the caches with their state, and how many entries did not fit.

    FRR 8.4: `{"connectedGroup": 1, "connections": [{"mode": "tcp", "host": "…", "port": "3323",
    "preference": 1, "state": "connected"}]}`; with no cache connected it answers with an error object and
    no `connections` (here: no cache, `connected` 0).
    """
    data = _object(text, CONNECTION)
    rows = data.get("connections", [])
    if not isinstance(rows, list):
        raise RpkiAnswerError(f"`{CONNECTION}`: `connections` is not a list")
    caches, ignored = [], 0
    for row in rows:
        host = row.get("host") if isinstance(row, dict) else None
        port = _count(int(row["port"])) if isinstance(row, dict) and str(row.get("port", "")).isdigit() else None
        state = row.get("state") if isinstance(row, dict) else None
        if _address(host) is None or port is None or port > 65535 or state not in ("connected", "disconnected"):
            ignored += 1
            continue
        caches.append({"host": _address(host), "port": port, "preference": _count(row.get("preference")),
                       "connected": state == "connected"})
    return caches, ignored


def parse_invalid(text: str, afi: int) -> tuple[list[InvalidRoute], int]:
    """`show bgp ipvN unicast rpki invalid json` -> every path of every route listed, and how many did not fit."""
    data = _object(text, INVALID[afi])
    routes = data.get("routes", {})
    if not isinstance(routes, dict):
        raise RpkiAnswerError(f"`{INVALID[afi]}`: `routes` is not an object")
    out, ignored = [], 0
    for prefix, paths in routes.items():
        net = _network(prefix, afi)
        if net is None or not isinstance(paths, list):
            ignored += 1
            continue
        for path in paths:
            peer = _address(path.get("peerId")) if isinstance(path, dict) else None
            if peer is None:
                ignored += 1
                continue
            as_path = path.get("path")
            origin = None
            if isinstance(as_path, str) and as_path.split() and as_path.split()[-1].isdigit():
                origin = _count(int(as_path.split()[-1]))
            out.append(InvalidRoute(net, peer, origin, path.get("bestpath") is True))
    return out, ignored


def parse_denied(text: str, terms: set[tuple[str, int]]) -> tuple[int | None, int]:
    """`show route-map json` -> how many times the (route-map, sequence) `terms` matched, and entries that did
    not fit. None when bgpd lists none of them (the counters cannot be read)."""
    bgpd = [d["BGP"] for d in _objects(text, ROUTE_MAPS) if "BGP" in d]  # one object per daemon, by its name
    if not bgpd:  # bgpd has no route-map at all: the configuration drift says so; no counter to read
        return None, 0
    maps = bgpd[0] if len(bgpd) == 1 else None
    if not isinstance(maps, dict):
        raise RpkiAnswerError(f"`{ROUTE_MAPS}`: bgpd's route-maps are not one object")
    total, found, ignored = 0, 0, 0
    for name, rm in maps.items():
        entries = rm.get("rules") if isinstance(rm, dict) else None
        if not isinstance(entries, list):
            ignored += 1
            continue
        for entry in entries:
            seq = _count(entry.get("sequenceNumber")) if isinstance(entry, dict) else None
            hits = _count(entry.get("invoked")) if isinstance(entry, dict) else None
            if seq is None or hits is None:
                ignored += 1
                continue
            if (name, seq) in terms:
                total, found = total + hits, found + 1
    return (total if found else None), ignored


# ---- against the intent -------------------------------------------------------------------------------------

def rejecting_terms(di: DeviceIntent) -> dict[str, set[tuple[str, int]]]:
    """Per neighbour address: the (route-map, sequence) of its import filter's `deny ... match rpki invalid`."""
    terms = {rm.name: {(rm.name, t.seq) for t in rm.terms if t.match_rpki == "invalid" and t.action == "deny"}
             for rm in di.route_maps}
    return {n.ip: terms.get(n.import_map or "", set()) for n in di.neighbors}


def read_state(di: DeviceIntent, answers: dict[str, str]) -> RpkiState:
    """The device's origin validation from the COMMANDS' answers (a missing answer is unreadable)."""
    rejecting = rejecting_terms(di)
    try:
        caches, ignored = parse_caches(answers.get(CONNECTION, ""))
        routes: list[InvalidRoute] = []
        for afi, command in INVALID.items():
            found, bad = parse_invalid(answers.get(command, ""), afi)
            routes += found
            ignored += bad
        wanted = set().union(*rejecting.values())
        rejected, bad = parse_denied(answers.get(ROUTE_MAPS, ""), wanted) if wanted else (None, 0)
    except RpkiAnswerError as exc:
        return RpkiState(len(di.rpki_caches), error=str(exc))
    # Listed first: the ones the intent should have rejected (a session that rejects invalid, or one it lacks).
    routes.sort(key=lambda r: (not _against(rejecting, r), r.prefix, r.peer))
    return RpkiState(len(di.rpki_caches), caches, len(routes), routes[:MAX_LISTED],
                     sum(_against(rejecting, r) for r in routes), rejected, ignored + bad)


def _against(rejecting: dict[str, set[tuple[str, int]]], route: InvalidRoute) -> bool:
    return route.peer not in rejecting or bool(rejecting[route.peer])


def issues(di: DeviceIntent, state: RpkiState) -> list[tuple[str, str, str]]:
    """(severity, neighbour, message) per problem: drift (`error`) where the device does not validate as the
    intent says (the state unreadable, no cache connected, an invalid route accepted from a session whose
    import filter rejects invalid, or from one the intent lacks); a `warning` for one held where the intent
    accepts invalid routes (or does not check them: iBGP)."""
    if state.error:
        return [("error", "rpki", f"RPKI origin validation state could not be read: {state.error}")]
    out = []
    if not state.connected:
        out.append(("error", "rpki", f"no RPKI cache connected ({len(di.rpki_caches)} configured): origins are "
                                     "not validated, every route counts as not-found"))
    rejecting = rejecting_terms(di)
    neighbors = {n.ip: n for n in di.neighbors}
    for r in state.accepted_routes:
        n = neighbors.get(r.peer)
        who = f"{r.peer} ({n.peer}, AS{n.remote_asn})" if n else r.peer
        origin = f"origin AS{r.origin}" if r.origin is not None else "no origin"
        if _against(rejecting, r):
            out.append(("error", r.peer, f"accepted the RPKI-invalid {r.prefix} ({origin}) from {who} although "
                                         "the intent rejects invalid routes there"))
        else:
            out.append(("warning", r.peer, f"holds the RPKI-invalid {r.prefix} ({origin}) from {who}: its import "
                                           "filter accepts invalid routes (policy.yaml rpki) or does not check"))
    listed = sum(1 for r in state.accepted_routes if _against(rejecting, r))
    if state.against_intent > listed:
        out.append(("error", "rpki", f"{state.against_intent - listed} more RPKI-invalid route(s) accepted "
                                     f"against the intent (the report lists {MAX_LISTED})"))
    return out
