"""Vendor device state NAPALM's getters do not give: BFD sessions and QoS drops per class, from show output.

NAPALM has no BFD or QoS getter, so on ios, eos and junos the gates read the vendor's own show command
(through the driver's `cli`) and parse it with TextFSM: ntc-templates where it has a template (IOS-XE
`show bfd neighbors details`), Tonlé's own under `templates/textfsm/` otherwise. The result is typed records.
Output a template does not recognise is an error naming the platform and command, never an empty answer
(FRR devices report BFD through napalm_frr / FRR's own JSON, not here).
"""

from __future__ import annotations

import io
import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import textfsm
from ntc_templates.parse import ParsingException, parse_output

from tonle.errors import Unavailable
from tonle.resources import templates_dir

Platform = Literal["ios", "eos", "junos"]
PLATFORMS: tuple[Platform, ...] = ("ios", "eos", "junos")
TEXTFSM_DIR = templates_dir() / "textfsm"

# The show commands, per platform ({interface}: a port name the inventory grammar already checked).
BFD_COMMAND: dict[Platform, str] = {
    "ios": "show bfd neighbors details",  # ntc-templates: cisco_ios_show_bfd_neighbors_details
    "eos": "show bfd peers",
    "junos": "show bfd session",
}
QOS_COMMAND: dict[Platform, str] = {
    "ios": "show policy-map interface {interface} output",
    "eos": "show interfaces {interface} counters queue",
    "junos": "show interfaces queue {interface}",
}
_OWN_TEMPLATE = {
    ("eos", "bfd"): "arista_eos_show_bfd_peers.textfsm",
    ("junos", "bfd"): "juniper_junos_show_bfd_session.textfsm",
    ("ios", "qos"): "cisco_ios_show_policy-map_interface.textfsm",
    ("eos", "qos"): "arista_eos_show_interfaces_counters_queue.textfsm",
    ("junos", "qos"): "juniper_junos_show_interfaces_queue.textfsm",
}
_NTC_PLATFORM = {"ios": "cisco_ios", "eos": "arista_eos", "junos": "juniper_junos"}
_STATES = {"up": "up", "down": "down", "init": "init", "admindown": "admin-down", "failing": "down"}
_IFNAME = re.compile(r"[A-Za-z][A-Za-z0-9/.:_-]{0,63}")


class VendorStateError(Unavailable):
    """The device's answer is not what the template knows: the state cannot be read (fail closed)."""


@dataclass(frozen=True)
class BfdSession:
    """One BFD session as the device sees it."""

    peer: str  # the neighbour's address, canonical (ipaddress) form
    state: str  # up | down | init | admin-down
    interface: str

    @property
    def up(self) -> bool:
        return self.state == "up"


@dataclass(frozen=True)
class QueueDrops:
    """Packets one egress queue (or QoS class) dropped since the counters were last cleared."""

    interface: str
    queue: str  # IOS: class-map name; EOS: tx-queue (UC0…); Junos: forwarding class
    dropped_packets: int


@cache
def _template(name: str) -> str:
    return (TEXTFSM_DIR / name).read_text()


def _rows(platform: Platform, what: str, command: str, text: str) -> list[dict[str, Any]]:
    """TextFSM rows (lower-case keys) of one command's output; an unknown answer raises."""
    try:
        own = _OWN_TEMPLATE.get((platform, what))
        if own is None:
            rows: list[dict[str, Any]] = parse_output(platform=_NTC_PLATFORM[platform], command=command, data=text)
            return rows
        fsm = textfsm.TextFSM(io.StringIO(_template(own)))
        return [dict(zip((h.lower() for h in fsm.header), row, strict=True)) for row in fsm.ParseText(text)]
    except (textfsm.TextFSMError, textfsm.TextFSMTemplateError, ParsingException) as exc:
        # Never the device's line itself (a hostile answer stays out of logs): the template rule it hit.
        rule = re.search(r"Rule Line: (\d+)", str(exc))
        where = f" (template rule line {rule[1]})" if rule else ""
        raise VendorStateError(f"{platform} `{command}`: output not understood{where}") from None


def bfd_command(platform: Platform) -> str:
    return BFD_COMMAND[platform]


def qos_command(platform: Platform, interface: str) -> str:
    if not _IFNAME.fullmatch(interface):
        raise VendorStateError(f"{platform}: not an interface name for a show command")
    return QOS_COMMAND[platform].format(interface=interface)


def parse_bfd(platform: Platform, text: str) -> list[BfdSession]:
    """BFD sessions from the platform's BFD show command (`bfd_command`)."""
    command = bfd_command(platform)
    rows = _rows(platform, "bfd", command, text)
    key = "neighbor_addr" if platform == "ios" else "peer"
    return [BfdSession(_address(platform, command, r[key]), _state(platform, command, r["state"]), r["interface"])
            for r in rows]


def _address(platform: str, command: str, value: str) -> str:
    """The peer address in canonical form (devices print IPv6 in upper or lower case)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise VendorStateError(f"{platform} `{command}`: a BFD peer that is not an IP address") from None


def _state(platform: str, command: str, value: str) -> str:
    state = _STATES.get(value.lower())
    if state is None:
        raise VendorStateError(f"{platform} `{command}`: unknown BFD state {value[:20]!r}")
    return state


def parse_qos_drops(platform: Platform, interface: str, text: str) -> list[QueueDrops]:
    """Drops per queue or class on one interface, from `qos_command(platform, interface)`."""
    command = qos_command(platform, interface)
    rows = _rows(platform, "qos", command, text)
    if not rows:
        raise VendorStateError(f"{platform} `{command}`: no queue or class in the answer")
    if platform == "ios":
        return [QueueDrops(interface, r["class"], _int(r["total_drops"]) + _int(r["exceed_drops"])) for r in rows]
    if platform == "eos":
        return [QueueDrops(interface, r["queue"], _int(r["drop_packets"])) for r in rows]
    return [QueueDrops(interface, r["forwarding_class"], _int(r["tail_dropped_packets"]) +
                       _int(r["rl_dropped_packets"]) + _int(r["red_dropped_packets"])) for r in rows]


def _int(value: str) -> int:
    """A counter; empty (the line is absent for this class) or N/A (not counted here) is 0."""
    return int(value) if value.isdigit() else 0
