"""The ``! tc:`` lines of an FRR configuration as typed commands: a strict grammar, nothing else reaches tc.

vtysh has no QoS, so Tonlé's FRR QoS template (``templates/frr/qos.j2``) carries Linux tc commands as
comment lines. Only the three command forms the template emits are accepted, token by token, with
every number bounded and every device name a Linux interface name:

    qdisc replace dev IFACE root handle 1: htb default MINOR
    class replace dev IFACE parent 1:[MINOR] classid 1:MINOR htb rate KBITkbit ceil KBITkbit[ prio 0-7]
    filter replace dev IFACE parent 1: protocol ip prio PREF u32 match ip dsfield 0xTOS 0xfc classid 1:MINOR
    filter replace dev IFACE parent 1: protocol ipv6 prio PREF u32 match ip6 priority 0xTOS 0xfc classid 1:MINOR

IFACE: a letter, then up to 14 of ``[A-Za-z0-9_.-]`` (Linux IFNAMSIZ, and nothing a shell or tc could
read as a separator). MINOR: a class minor id in tc's hexadecimal, ``0`` to ``ffff`` without leading
zeros (``classid`` from ``1``). KBIT: 1 to 1,000,000,000 (1 Tbit/s), ``ceil`` not below ``rate``.
PREF: 1 to 65535. TOS: two lowercase hex digits, a DSCP value shifted left by two (low bits zero).
Commands are single-space separated, with nothing before or after.

A line that starts with ``! tc:`` and does not parse is refused with its line number and the reason,
never with its text (a refused line may hold anything, a secret included). The commands given to tc
are rendered from the parsed structures (:func:`render`), never copied from the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

PREFIX = "! tc: "
MARK = "! tc:"  # every line starting with this is a tc line, and must parse
MAX_KBIT = 1_000_000_000  # 1 Tbit/s
MAX_PREF = 0xFFFF
MAX_MINOR = 0xFFFF
MAX_HTB_PRIO = 7
DSCP_MASK = 0xFC
_MAX_LEN = 200

IFNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,14}", re.ASCII)
_DEV = r"(?P<dev>[A-Za-z][A-Za-z0-9_.\-]{0,14})"
_MINOR = r"(?:0|[1-9a-f][0-9a-f]{0,3})"
_NUM = r"(?:0|[1-9][0-9]{0,11})"

_QDISC = re.compile(rf"qdisc replace dev {_DEV} root handle 1: htb default (?P<default>{_MINOR})", re.ASCII)
_CLASS = re.compile(
    rf"class replace dev {_DEV} parent 1:(?P<parent>{_MINOR})? classid 1:(?P<classid>{_MINOR}) "
    rf"htb rate (?P<rate>{_NUM})kbit ceil (?P<ceil>{_NUM})kbit(?: prio (?P<prio>{_NUM}))?", re.ASCII)
_FILTER = re.compile(
    rf"filter replace dev {_DEV} parent 1: protocol (?P<proto>ip|ipv6) prio (?P<pref>{_NUM}) "
    rf"u32 match (?P<field>ip dsfield|ip6 priority) 0x(?P<tos>[0-9a-f]{{2}}) 0x(?P<mask>[0-9a-f]{{2}}) "
    rf"classid 1:(?P<classid>{_MINOR})", re.ASCII)
_FIELD = {"ip": "ip dsfield", "ipv6": "ip6 priority"}

_FORMS = {
    "qdisc": "qdisc replace dev IFACE root handle 1: htb default MINOR",
    "class": "class replace dev IFACE parent 1:[MINOR] classid 1:MINOR htb rate Nkbit ceil Nkbit [prio P]",
    "filter": "filter replace dev IFACE parent 1: protocol ip|ipv6 prio PREF u32 match ip dsfield|ip6 priority "
              "0xTOS 0xfc classid 1:MINOR",
}


class TcSyntaxError(ValueError):
    """A tc command is not one of the forms this driver manages; the message never quotes the command."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TcLineError(TcSyntaxError):
    """A ``! tc:`` line of a configuration text is refused (line number and reason, never the line)."""

    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__(f"line {lineno}: `! tc:` line refused: {reason}")
        self.lineno = lineno
        self.reason = reason


@dataclass(frozen=True)
class HtbQdisc:
    """The interface's root HTB qdisc, handle 1:, with its default class."""

    dev: str
    default: int  # class minor id (0: unclassified traffic is not shaped by a class)


@dataclass(frozen=True)
class HtbClass:
    """An HTB class under handle 1: (the root class has parent None, i.e. ``1:``)."""

    dev: str
    parent: int | None
    classid: int
    rate_kbit: int
    ceil_kbit: int
    prio: int | None = None


@dataclass(frozen=True)
class DscpFilter:
    """A u32 filter sending one DSCP value (IPv4 TOS or IPv6 traffic class) to a class."""

    dev: str
    protocol: Literal["ip", "ipv6"]
    pref: int
    tos: int  # DSCP << 2
    classid: int


TcCommand = HtbQdisc | HtbClass | DscpFilter


def _minor(text: str | None) -> int | None:
    return None if text is None else int(text, 16)


def _bounded(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise TcSyntaxError(f"{what} out of range ({low} to {high})")
    return value


def check_ifname(name: str) -> str:
    """A Linux interface name, or TcSyntaxError (the message does not quote the name)."""
    if not IFNAME_RE.fullmatch(name):
        raise TcSyntaxError("device is not an interface name (a letter, then up to 14 of A-Z a-z 0-9 _ . -)")
    return name


def parse(command: str) -> TcCommand:
    """One tc command (the text after ``! tc: ``) in the grammar of the module docstring.

    Raises:
        TcSyntaxError: anything else; the reason names the expected form, never the command's text.
    """
    if len(command) > _MAX_LEN:
        raise TcSyntaxError(f"longer than {_MAX_LEN} characters")
    verb = command.split(" ", 1)[0]
    if verb not in _FORMS:
        raise TcSyntaxError("unknown command (managed: qdisc, class and filter replace)")
    if verb == "qdisc":
        m = _QDISC.fullmatch(command)
        if m:
            return HtbQdisc(m["dev"], _bounded(int(m["default"], 16), 0, MAX_MINOR, "default class"))
    elif verb == "class":
        m = _CLASS.fullmatch(command)
        if m:
            return _htb_class(m)
    else:
        m = _FILTER.fullmatch(command)
        if m:
            return _dscp_filter(m)
    raise TcSyntaxError(f"not the form `{_FORMS[verb]}`")


def _htb_class(m: re.Match[str]) -> HtbClass:
    rate = _bounded(int(m["rate"]), 1, MAX_KBIT, "rate (kbit)")
    ceil = _bounded(int(m["ceil"]), 1, MAX_KBIT, "ceil (kbit)")
    if ceil < rate:
        raise TcSyntaxError("ceil below rate")
    classid = _bounded(int(m["classid"], 16), 1, MAX_MINOR, "classid minor")
    parent = _minor(m["parent"])
    if parent in (0, classid):
        raise TcSyntaxError("parent must be 1: or another class 1:MINOR")
    prio = None if m["prio"] is None else _bounded(int(m["prio"]), 0, MAX_HTB_PRIO, "HTB prio")
    return HtbClass(m["dev"], parent, classid, rate, ceil, prio)


def _dscp_filter(m: re.Match[str]) -> DscpFilter:
    proto: Literal["ip", "ipv6"] = "ip" if m["proto"] == "ip" else "ipv6"
    if m["field"] != _FIELD[proto]:
        raise TcSyntaxError(f"protocol {proto} matches `{_FIELD[proto]}`")
    if int(m["mask"], 16) != DSCP_MASK:
        raise TcSyntaxError("mask must be 0xfc (the DSCP bits)")
    tos = int(m["tos"], 16)
    if tos & ~DSCP_MASK:
        raise TcSyntaxError("TOS value has bits outside the DSCP mask 0xfc")
    pref = _bounded(int(m["pref"]), 1, MAX_PREF, "filter prio")
    return DscpFilter(m["dev"], proto, pref, tos, _bounded(int(m["classid"], 16), 1, MAX_MINOR, "classid minor"))


def render(cmd: TcCommand) -> str:
    """The canonical command text of a parsed command (exactly what the template emits)."""
    if isinstance(cmd, HtbQdisc):
        return f"qdisc replace dev {cmd.dev} root handle 1: htb default {cmd.default:x}"
    if isinstance(cmd, HtbClass):
        parent = "" if cmd.parent is None else f"{cmd.parent:x}"
        prio = "" if cmd.prio is None else f" prio {cmd.prio}"
        return (f"class replace dev {cmd.dev} parent 1:{parent} classid 1:{cmd.classid:x} htb "
                f"rate {cmd.rate_kbit}kbit ceil {cmd.ceil_kbit}kbit{prio}")
    return (f"filter replace dev {cmd.dev} parent 1: protocol {cmd.protocol} prio {cmd.pref} u32 match "
            f"{_FIELD[cmd.protocol]} 0x{cmd.tos:02x} 0x{DSCP_MASK:02x} classid 1:{cmd.classid:x}")


def tc_lines(config: str) -> Iterator[tuple[int, str]]:
    """The ``! tc:`` lines of a configuration text with their 1-based line numbers."""
    for lineno, line in enumerate(config.splitlines(), start=1):
        if line.startswith(MARK):
            yield lineno, line


def parse_line(line: str) -> TcCommand:
    """One ``! tc: <command>`` line (exactly one space after the colon)."""
    if not line.startswith(PREFIX):
        raise TcSyntaxError("expected `! tc: ` (one space) then a command")
    return parse(line[len(PREFIX):])


def parse_config(config: str) -> list[TcCommand]:
    """Every ``! tc:`` line of a configuration text, parsed, and consistent per interface.

    Each interface with a class or filter has exactly one qdisc line; class ids and filter
    (protocol, prio) pairs are unique per interface.

    Raises:
        TcLineError: the first refused line (its number and why, never its text).
    """
    out: list[TcCommand] = []
    seen: dict[tuple[object, ...], int] = {}
    first_use: dict[str, int] = {}
    for lineno, line in tc_lines(config):
        try:
            cmd = parse_line(line)
        except TcSyntaxError as exc:
            raise TcLineError(lineno, exc.reason) from None
        key = _identity(cmd)
        if key in seen:
            raise TcLineError(lineno, f"configures the same {key[0]} as line {seen[key]}")
        seen[key] = lineno
        first_use.setdefault(cmd.dev, lineno)
        out.append(cmd)
    for dev, lineno in first_use.items():
        if ("qdisc", dev) not in seen:
            raise TcLineError(lineno, "no `qdisc replace dev ... root handle 1: htb` line for this interface")
    return out


def _identity(cmd: TcCommand) -> tuple[object, ...]:
    """What a command configures: the same object twice in one configuration is refused."""
    if isinstance(cmd, HtbQdisc):
        return ("qdisc", cmd.dev)
    if isinstance(cmd, HtbClass):
        return ("class", cmd.dev, cmd.classid)
    return ("filter", cmd.dev, cmd.protocol, cmd.pref)


def commands(config: str) -> list[str]:
    """The canonical tc commands of a configuration text's ``! tc:`` lines (see :func:`parse_config`)."""
    return [render(c) for c in parse_config(config)]


def apply_form(cmd: TcCommand) -> str:
    """The ``tc -batch`` line of a command (an HTB class also gets a fixed quantum)."""
    # quantum 1514 keeps HTB from warning (and misbehaving) at multi-gigabit rates
    return f"{render(cmd)} quantum 1514" if isinstance(cmd, HtbClass) else render(cmd)
