"""Pure parsers: FRRouting ``vtysh`` output (JSON or text) to NAPALM model dictionaries.

Nothing in this module does I/O. Each function takes the raw text a device returned and
raises :class:`FRRParseError` when that text is not what FRR 8.x prints, so that a driver
never silently returns an empty result for output it did not understand.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, cast

from napalm.base import models

__all__ = [
    "FRRParseError",
    "address_family_name",
    "load_json",
    "parse_bgp_config",
    "parse_bgp_neighbors",
    "parse_bgp_neighbors_detail",
    "parse_facts",
    "parse_interfaces",
    "parse_interfaces_ip",
    "parse_show_version",
    "strip_config_header",
]

# FRR's name for the default VRF, and NAPALM's.
FRR_DEFAULT_VRF = "default"
NAPALM_DEFAULT_VRF = "global"

_VERSION_RE = re.compile(r"^FRRouting\s+(?P<version>\S+)\s+\((?P<hostname>[^)]*)\)\s+on\s+(?P<os>\S+)", re.M)
_HEADER_LINES = ("Building configuration...", "Current configuration:")


class FRRParseError(ValueError):
    """Raised when device output does not have the shape FRR prints."""


def load_json(text: str, command: str = "") -> dict[str, Any]:
    """Decode the JSON object printed by a ``show ... json`` command.

    Args:
        text: Raw command output.
        command: Command name, used only in the error message.

    Returns:
        The decoded JSON object.

    Raises:
        FRRParseError: The output is not a JSON object (for instance a ``% Unknown command``).
    """
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError as exc:
        first = stripped.splitlines()[0] if stripped else "<empty output>"
        raise FRRParseError(f"{command or 'command'} did not return JSON: {first[:200]}") from exc
    if not isinstance(data, dict):
        raise FRRParseError(f"{command or 'command'} returned JSON {type(data).__name__}, expected object")
    return data


# vtysh's notice, printed before a command's output, that it reconnected to a restarted daemon. The output
# after it is complete; a failed reconnect ("...failed!") is left in: that output lacks the daemon's part.
_RECONNECTED = re.compile(r"^Warning: connecting to [a-z0-9]+\.\.\.success!\r?\n", re.MULTILINE)


def strip_reconnect_notice(text: str) -> str:
    """Remove vtysh's ``Warning: connecting to bgpd...success!`` lines (a daemon restarted since the last
    command); a ``...failed!`` notice is kept, so that a parser refuses the incomplete output."""
    return _RECONNECTED.sub("", text)


def strip_config_header(text: str) -> str:
    """Remove the ``Building configuration...`` banner FRR prints before a running config.

    Args:
        text: Output of ``show running-config``.

    Returns:
        The configuration text, starting at its first real line, ending with a newline.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    start = 0
    while start < len(lines) and (lines[start].strip() in _HEADER_LINES or not lines[start].strip()):
        start += 1
    body = "\n".join(line.rstrip() for line in lines[start:]).strip("\n")
    return body + "\n" if body else ""


def parse_show_version(text: str) -> dict[str, str]:
    """Extract version, hostname and host OS from ``show version``.

    Args:
        text: Output of ``show version``.

    Returns:
        Dictionary with keys ``version``, ``hostname`` and ``os``.

    Raises:
        FRRParseError: The banner line ``FRRouting X (host) on OS`` is missing.
    """
    match = _VERSION_RE.search(text)
    if not match:
        raise FRRParseError("show version: no 'FRRouting <version> (<host>) on <os>' line")
    return {"version": match["version"], "hostname": match["hostname"], "os": match["os"].rstrip(".")}


def _config_value(config: str, keyword: str) -> str:
    """Return the argument of a top-level ``keyword ARG`` line of a config, or ``""``."""
    match = re.search(rf"^{re.escape(keyword)}\s+(\S+)\s*$", config, re.M)
    return match.group(1) if match else ""


def parse_facts(version_text: str, running_config: str, interfaces_json: str) -> models.FactsDict:
    """Build ``get_facts`` output.

    FRR exposes neither a device uptime nor a serial number through vtysh, so ``uptime`` is
    ``-1.0`` (NAPALM's convention for unknown) and ``serial_number`` is empty.

    Args:
        version_text: Output of ``show version``.
        running_config: Output of ``show running-config``.
        interfaces_json: Output of ``show interface json``.

    Returns:
        A :class:`napalm.base.models.FactsDict`.
    """
    version = parse_show_version(version_text)
    interfaces = load_json(interfaces_json, "show interface json")
    hostname = _config_value(running_config, "hostname") or version["hostname"]
    domain = _config_value(running_config, "domainname")
    return {
        "hostname": hostname,
        "fqdn": f"{hostname}.{domain}" if domain else hostname,
        "vendor": "FRRouting",
        "model": f"FRRouting on {version['os']}",
        "os_version": version["version"],
        "serial_number": "",
        "uptime": -1.0,
        "interface_list": sorted(interfaces),
    }


def _mac(raw: str) -> str:
    """Normalise a MAC address the way NAPALM's drivers print it (upper case, colons)."""
    digits = re.sub(r"[^0-9a-fA-F]", "", raw)
    if len(digits) != 12:
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).upper()


def parse_interfaces(interfaces_json: str) -> dict[str, models.InterfaceDict]:
    """Build ``get_interfaces`` output from ``show interface json``.

    FRR does not record when a link last changed state, so ``last_flapped`` is ``-1.0``.
    ``speed`` is in Mbit/s as FRR reports it (0 when the kernel reports none).

    Args:
        interfaces_json: Output of ``show interface json``.

    Returns:
        Interface name to :class:`napalm.base.models.InterfaceDict`.

    Raises:
        FRRParseError: The JSON is not a map of interface objects.
    """
    data = load_json(interfaces_json, "show interface json")
    result: dict[str, models.InterfaceDict] = {}
    for name, info in data.items():
        if not isinstance(info, dict) or "operationalStatus" not in info:
            raise FRRParseError(f"show interface json: entry {name!r} is not an interface object")
        speed = info.get("speed", 0)
        result[name] = {
            "is_up": info["operationalStatus"] == "up",
            "is_enabled": info.get("administrativeStatus") == "up",
            "description": str(info.get("description", "")),
            "last_flapped": -1.0,
            "mtu": int(info.get("mtu", 0)),
            # FRR prints a negative/huge sentinel for unknown speeds on some kernels.
            "speed": float(speed) if isinstance(speed, int) and 0 <= speed < 2**31 - 1 else 0.0,
            "mac_address": _mac(str(info.get("hardwareAddress", ""))),
        }
    return result


def parse_interfaces_ip(interfaces_json: str) -> dict[str, models.InterfacesIPDict]:
    """Build ``get_interfaces_ip`` output from ``show interface json``.

    Interfaces without any address are left out, as NAPALM's other drivers do.

    Args:
        interfaces_json: Output of ``show interface json``.

    Returns:
        Interface name to ``{"ipv4": {addr: {"prefix_length": n}}, "ipv6": {...}}``.

    Raises:
        FRRParseError: An address is not ``address/prefixlen``.
    """
    data = load_json(interfaces_json, "show interface json")
    result: dict[str, models.InterfacesIPDict] = {}
    for name, info in data.items():
        if not isinstance(info, dict):
            raise FRRParseError(f"show interface json: entry {name!r} is not an interface object")
        ipv4: dict[str, models.InterfacesIPDictEntry] = {}
        ipv6: dict[str, models.InterfacesIPDictEntry] = {}
        for entry in info.get("ipAddresses", []):
            try:
                iface = ipaddress.ip_interface(entry["address"])
            except (KeyError, TypeError, ValueError) as exc:
                raise FRRParseError(f"show interface json: bad address on {name}: {entry!r}") from exc
            target = ipv4 if iface.version == 4 else ipv6
            target[str(iface.ip)] = {"prefix_length": iface.network.prefixlen}
        if not ipv4 and not ipv6:
            continue
        families: dict[str, dict[str, models.InterfacesIPDictEntry]] = {}
        if ipv4:
            families["ipv4"] = ipv4
        if ipv6:
            families["ipv6"] = ipv6
        result[name] = cast(models.InterfacesIPDict, families)
    return result


def address_family_name(frr_key: str) -> str:
    """Translate FRR's JSON AFI/SAFI key to the name NAPALM drivers use.

    ``ipv4Unicast`` -> ``ipv4``, ``ipv6Unicast`` -> ``ipv6``; others are spelled out in lower
    case words, e.g. ``l2VpnEvpn`` -> ``l2vpn evpn``, ``ipv4Multicast`` -> ``ipv4 multicast``.

    Args:
        frr_key: Key such as ``ipv4Unicast``.

    Returns:
        The NAPALM-style family name.
    """
    special = {"ipv4Unicast": "ipv4", "ipv6Unicast": "ipv6", "l2VpnEvpn": "l2vpn evpn"}
    if frr_key in special:
        return special[frr_key]
    words = re.findall(r"[a-z0-9]+|[A-Z][a-z0-9]*", frr_key)
    return " ".join(word.lower() for word in words)


def _vrf_name(frr_vrf: str) -> str:
    return NAPALM_DEFAULT_VRF if frr_vrf == FRR_DEFAULT_VRF else frr_vrf


def _is_af_block(key: str, value: Any) -> bool:
    """Tell an AFI/SAFI block (``ipv4Unicast: {...}``) from scalar keys in a VRF object."""
    return isinstance(value, dict) and re.match(r"^(ipv4|ipv6|l2Vpn)[A-Z]", key) is not None


def _peer_objects(vrf_data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Peers in one VRF of ``show bgp vrf all neighbors json`` (VRF scalars removed)."""
    return {k: v for k, v in vrf_data.items() if isinstance(v, dict)}


def parse_bgp_neighbors(
    summary_json: str, neighbors_json: str
) -> dict[str, models.BGPStateNeighborsPerVRFDict]:
    """Build ``get_bgp_neighbors`` output.

    Per-family counters come from the summary (FRR's ``pfxRcd`` is counted after inbound
    policy; without soft-reconfiguration FRR keeps no pre-policy count, so
    ``received_prefixes`` equals ``accepted_prefixes``).

    Args:
        summary_json: Output of ``show bgp vrf all summary json``.
        neighbors_json: Output of ``show bgp vrf all neighbors json``.

    Returns:
        VRF name (``global`` for the default VRF) to router id and peers.

    Raises:
        FRRParseError: The JSON does not have FRR's structure.
    """
    summary = load_json(summary_json, "show bgp vrf all summary json")
    neighbors = load_json(neighbors_json, "show bgp vrf all neighbors json")
    result: dict[str, models.BGPStateNeighborsPerVRFDict] = {}
    for frr_vrf, vrf_summary in summary.items():
        if not isinstance(vrf_summary, dict):
            raise FRRParseError(f"bgp summary: VRF {frr_vrf!r} is not an object")
        detail = _peer_objects(neighbors.get(frr_vrf, {}))
        router_id = ""
        peers: dict[str, models.PeerDict] = {}
        for af_key, af in vrf_summary.items():
            if not _is_af_block(af_key, af):
                continue
            router_id = router_id or str(af.get("routerId", ""))
            for address, peer in af.get("peers", {}).items():
                try:
                    entry = peers.setdefault(address, _bgp_peer(address, peer, detail.get(address, {})))
                    entry["address_family"][address_family_name(af_key)] = {
                        "received_prefixes": int(peer.get("pfxRcd", 0)),
                        "accepted_prefixes": int(peer.get("pfxRcd", 0)),
                        "sent_prefixes": int(peer.get("pfxSnt", 0)),
                    }
                except (KeyError, TypeError, ValueError) as exc:
                    raise FRRParseError(f"bgp summary: peer {address} in {af_key}: {exc}") from exc
        # A peer configured but active in no family is only in the neighbors output.
        for address, info in detail.items():
            if address not in peers:
                peers[address] = _bgp_peer_from_detail(address, info)
        if not router_id:
            router_id = next((str(p.get("localRouterId")) for p in detail.values() if p), "")
        result[_vrf_name(frr_vrf)] = {"router_id": router_id, "peers": peers}
    return result


def _bgp_peer(address: str, peer: dict[str, Any], detail: dict[str, Any]) -> models.PeerDict:
    uptime_ms = peer.get("peerUptimeMsec", 0)
    never = peer.get("peerUptime") == "never"
    return {
        "local_as": int(peer["localAs"]),
        "remote_as": int(peer["remoteAs"]),
        "remote_id": str(detail.get("remoteRouterId", "")),
        "is_up": peer.get("state") == "Established",
        "is_enabled": not detail.get("adminShutDown", False) and peer.get("peerState") != "Admin",
        "description": str(peer.get("desc", detail.get("nbrDesc", ""))),
        "uptime": -1 if never else int(uptime_ms) // 1000,
        "address_family": {},
    }


def _bgp_peer_from_detail(address: str, info: dict[str, Any]) -> models.PeerDict:
    try:
        up_ms = int(info.get("bgpTimerUpMsec", -1000))
        return {
            "local_as": int(info["localAs"]),
            "remote_as": int(info["remoteAs"]),
            "remote_id": str(info.get("remoteRouterId", "")),
            "is_up": info.get("bgpState") == "Established",
            "is_enabled": not info.get("adminShutDown", False),
            "description": str(info.get("nbrDesc", "")),
            "uptime": up_ms // 1000 if up_ms >= 0 else -1,
            "address_family": {},
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise FRRParseError(f"bgp neighbors: peer {address}: {exc}") from exc


def _first_af_value(afs: dict[str, Any], key: str) -> str:
    """First value of ``key`` over the families, IPv4 unicast first (FRR policies are per AF)."""
    for af_key in sorted(afs, key=lambda k: (k != "ipv4Unicast", k)):
        value = afs[af_key].get(key)
        if value:
            return str(value)
    return ""


def parse_bgp_neighbors_detail(
    neighbors_json: str, neighbor_address: str = ""
) -> dict[str, dict[int, list[models.PeerDetailsDict]]]:
    """Build ``get_bgp_neighbors_detail`` output from ``show bgp vrf all neighbors json``.

    FRR does not keep the previous FSM state nor a pre-policy prefix count;
    ``previous_connection_state`` is ``""``, ``last_event`` is FRR's last reset reason, and
    received/accepted/active counts are all FRR's accepted-prefix counter.

    Args:
        neighbors_json: Output of ``show bgp vrf all neighbors json``.
        neighbor_address: Only return this neighbor when given.

    Returns:
        VRF name (``global`` for the default VRF) to remote AS to list of peer details.

    Raises:
        FRRParseError: A peer object lacks FRR's mandatory keys.
    """
    data = load_json(neighbors_json, "show bgp vrf all neighbors json")
    result: dict[str, dict[int, list[models.PeerDetailsDict]]] = {}
    for frr_vrf, vrf_data in data.items():
        if not isinstance(vrf_data, dict):
            raise FRRParseError(f"bgp neighbors: VRF {frr_vrf!r} is not an object")
        per_as: dict[int, list[models.PeerDetailsDict]] = {}
        for address, info in _peer_objects(vrf_data).items():
            if neighbor_address and address != neighbor_address:
                continue
            try:
                entry = _peer_detail(frr_vrf, address, info)
            except (KeyError, TypeError, ValueError) as exc:
                raise FRRParseError(f"bgp neighbors: peer {address}: {exc}") from exc
            per_as.setdefault(entry["remote_as"], []).append(entry)
        if per_as:
            result[_vrf_name(frr_vrf)] = per_as
    return result


def _peer_detail(frr_vrf: str, address: str, info: dict[str, Any]) -> models.PeerDetailsDict:
    afs: dict[str, Any] = info.get("addressFamilyInfo", {})
    stats: dict[str, Any] = info["messageStats"]
    accepted = sum(int(af.get("acceptedPrefixCounter", 0)) for af in afs.values())
    sent = sum(int(af.get("sentPrefixCounter", 0)) for af in afs.values())
    host_local = str(info.get("hostLocal", ""))
    host_foreign = str(info.get("hostForeign", ""))
    return {
        "up": info["bgpState"] == "Established",
        "local_as": int(info["localAs"]),
        "remote_as": int(info["remoteAs"]),
        "router_id": str(info.get("localRouterId", "")),
        "local_address": "" if host_local == "Unknown" else host_local,
        "routing_table": frr_vrf,
        "local_address_configured": "updateSource" in info,
        "local_port": max(int(info.get("portLocal", 0)), 0),
        "remote_address": address if host_foreign in ("", "Unknown") else host_foreign,
        "remote_port": max(int(info.get("portForeign", 0)), 0),
        "multihop": bool(info.get("nbrExternalLink")) and int(info.get("externalBgpNbrMaxHopsAway", 1)) > 1,
        "multipath": False,
        "remove_private_as": any(af.get("privateAsNumsRemovedInUpdatesToNbr") for af in afs.values()),
        "import_policy": _first_af_value(afs, "routeMapForIncomingAdvertisements"),
        "export_policy": _first_af_value(afs, "routeMapForOutgoingAdvertisements"),
        "input_messages": int(stats["totalRecv"]),
        "output_messages": int(stats["totalSent"]),
        "input_updates": int(stats["updatesRecv"]),
        "output_updates": int(stats["updatesSent"]),
        "messages_queued_out": int(stats.get("depthOutq", 0)),
        "connection_state": str(info["bgpState"]),
        "previous_connection_state": "",
        "last_event": str(info.get("lastResetDueTo", "")),
        "suppress_4byte_as": False,
        "local_as_prepend": False,
        "holdtime": int(info.get("bgpTimerHoldTimeMsecs", 0)) // 1000,
        "configured_holdtime": int(info.get("bgpTimerConfiguredHoldTimeMsecs", 0)) // 1000,
        "keepalive": int(info.get("bgpTimerKeepAliveIntervalMsecs", 0)) // 1000,
        "configured_keepalive": int(info.get("bgpTimerConfiguredKeepAliveIntervalMsecs", 0)) // 1000,
        "active_prefix_count": accepted,
        "received_prefix_count": accepted,
        "accepted_prefix_count": accepted,
        "suppressed_prefix_count": 0,
        "advertised_prefix_count": sent,
        "flap_count": int(info.get("connectionsDropped", 0)),
    }


# ---------------------------------------------------------------------------------------------
# get_bgp_config: parsed from the running configuration text (the JSON lacks peer-group settings)

_AF_FAMILY = {
    ("ipv4", "unicast"): ("inet", "unicast"),
    ("ipv4", "multicast"): ("inet", "multicast"),
    ("ipv4", "labeled-unicast"): ("inet", "labeled-unicast"),
    ("ipv4", "vpn"): ("inet-vpn", "unicast"),
    ("ipv6", "unicast"): ("inet6", "unicast"),
    ("ipv6", "multicast"): ("inet6", "multicast"),
    ("ipv6", "labeled-unicast"): ("inet6", "labeled-unicast"),
    ("ipv6", "vpn"): ("inet6-vpn", "unicast"),
    ("l2vpn", "evpn"): ("evpn", "unicast"),
}


def _is_peer_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Peer:
    """Settings collected for one BGP neighbor or peer-group."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.group = ""
        self.remote_as = ""
        self.local_as = 0
        self.description = ""
        self.update_source = ""
        self.password = ""
        self.multihop_ttl = 0
        self.import_policy = ""
        self.export_policy = ""
        self.remove_private_as = False
        self.rr_client = False
        self.nhs = False
        self.prefix_limit: dict[str, dict[str, dict[str, Any]]] = {}


def _bgp_router_block(config: str) -> tuple[int, list[str]]:
    """Return the local AS and the lines of the default-VRF ``router bgp`` block."""
    lines = config.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        match = re.match(r"^router bgp (\d+)\s*$", line)
        if not match:
            continue
        block: list[str] = []
        for body in lines[index + 1 :]:
            if body.startswith(("exit", "end")) or (body and not body[0].isspace() and body != "!"):
                break
            block.append(body)
        return int(match.group(1)), block
    return 0, []


def _apply_peer_line(peer: _Peer, rest: str, family: tuple[str, str] | None) -> None:
    """Record one ``neighbor NAME <rest>`` statement on ``peer``."""
    words = rest.split()
    if not words:
        return
    head = words[0]
    if head == "remote-as" and len(words) > 1:
        peer.remote_as = words[1]
    elif head == "interface" and "remote-as" in words:
        peer.remote_as = words[words.index("remote-as") + 1]
    elif head in ("peer-group", "interface") and "peer-group" in words and words[-1] != "peer-group":
        peer.group = words[words.index("peer-group") + 1]
    elif head == "description":
        peer.description = rest.split(None, 1)[1] if len(words) > 1 else ""
    elif head == "update-source" and len(words) > 1:
        peer.update_source = words[1]
    elif head == "password" and len(words) > 1:
        peer.password = rest.split(None, 1)[1]
    elif head == "local-as" and len(words) > 1:
        peer.local_as = int(words[1])
    elif head == "ebgp-multihop":
        peer.multihop_ttl = int(words[1]) if len(words) > 1 else 255
    elif head == "route-map" and len(words) > 2:
        if words[2] == "in":
            peer.import_policy = peer.import_policy or words[1]
        elif words[2] == "out":
            peer.export_policy = peer.export_policy or words[1]
    elif head == "remove-private-AS":
        peer.remove_private_as = True
    elif head == "route-reflector-client":
        peer.rr_client = True
    elif head == "next-hop-self":
        peer.nhs = True
    elif head == "maximum-prefix" and len(words) > 1:
        afi, safi = _AF_FAMILY.get(family or ("ipv4", "unicast"), ("inet", "unicast"))
        limit: dict[str, Any] = {"limit": int(words[1])}
        threshold = words[2] if len(words) > 2 and words[2].isdigit() else ""
        if "restart" in words:
            limit["teardown"] = {
                "threshold": int(threshold) if threshold else 75,
                "timeout": int(words[words.index("restart") + 1]),
            }
        peer.prefix_limit.setdefault(afi, {})[safi] = limit


def _peer_type(remote_as: str, local_as: int) -> str:
    if remote_as == "external":
        return "external"
    if remote_as == "internal":
        return "internal"
    if remote_as.isdigit():
        return "internal" if int(remote_as) == local_as else "external"
    return ""


def _as_int(remote_as: str, local_as: int) -> int:
    if remote_as.isdigit():
        return int(remote_as)
    return local_as if remote_as == "internal" else 0


def parse_bgp_config(
    running_config: str, group: str = "", neighbor: str = ""
) -> dict[str, models.BGPConfigGroupDict]:
    """Build ``get_bgp_config`` output from the default-VRF ``router bgp`` block.

    Peer-groups become groups; neighbors outside any peer-group go to group ``_``. Family
    policies are read from every ``address-family`` block (IPv4 unicast first);
    ``prefix_limit`` uses NAPALM's ``inet``/``inet6`` family names.

    Args:
        running_config: Output of ``show running-config``.
        group: Only return this group.
        neighbor: Only return this neighbor (inside its group).

    Returns:
        Group name to :class:`napalm.base.models.BGPConfigGroupDict`; ``{}`` without BGP.
    """
    local_as, block = _bgp_router_block(running_config)
    if not block and not local_as:
        return {}
    peers: dict[str, _Peer] = {}
    groups: dict[str, _Peer] = {}
    family: tuple[str, str] | None = None
    multipath = False
    for raw in block:
        line = raw.strip()
        af = re.match(r"^address-family (\S+)(?: (\S+))?", line)
        if af:
            family = (af.group(1), af.group(2) or "unicast")
            continue
        if line == "exit-address-family":
            family = None
            continue
        mp = re.match(r"^maximum-paths(?: ibgp)? (\d+)", line)
        if mp and int(mp.group(1)) > 1:
            multipath = True
        match = re.match(r"^neighbor (\S+) (.*)$", line)
        if not match:
            continue
        name, rest = match.groups()
        if rest.strip() == "peer-group":
            groups.setdefault(name, _Peer(name))
            continue
        is_group = name in groups or not (_is_peer_address(name) or rest.startswith("interface"))
        target = groups.setdefault(name, _Peer(name)) if is_group else peers.setdefault(name, _Peer(name))
        _apply_peer_line(target, rest, family)

    result: dict[str, models.BGPConfigGroupDict] = {}
    for name, grp in [("_", _Peer("_")), *groups.items()]:
        members = {
            addr: _neighbor_dict(p, grp, local_as)
            for addr, p in peers.items()
            if (p.group or "_") == name and (not neighbor or addr == neighbor)
        }
        if neighbor and not members:
            continue
        if group and name != group:
            continue
        remote = grp.remote_as
        result[name] = {
            "type": _peer_type(remote, local_as),
            "description": grp.description,
            "apply_groups": [],
            "multihop_ttl": grp.multihop_ttl,
            "multipath": multipath,
            "local_address": grp.update_source,
            "local_as": grp.local_as or local_as,
            "remote_as": _as_int(remote, local_as),
            "import_policy": grp.import_policy,
            "export_policy": grp.export_policy,
            "remove_private_as": grp.remove_private_as,
            "prefix_limit": grp.prefix_limit,
            "neighbors": members,
        }
    # Drop an empty default group when there are real groups and no ungrouped neighbors.
    if "_" in result and not result["_"]["neighbors"] and len(result) > 1:
        del result["_"]
    return result


def _neighbor_dict(peer: _Peer, grp: _Peer, local_as: int) -> models.BGPConfigNeighborDict:
    """Neighbor settings, inheriting unset ones from its peer-group as FRR does."""
    remote = peer.remote_as or grp.remote_as
    return {
        "description": peer.description or grp.description,
        "import_policy": peer.import_policy or grp.import_policy,
        "export_policy": peer.export_policy or grp.export_policy,
        "local_address": peer.update_source or grp.update_source,
        "local_as": peer.local_as or grp.local_as or local_as,
        "remote_as": _as_int(remote, local_as),
        "authentication_key": peer.password or grp.password,
        "prefix_limit": peer.prefix_limit or grp.prefix_limit,
        "route_reflector_client": peer.rr_client or grp.rr_client,
        "nhs": peer.nhs or grp.nhs,
    }
