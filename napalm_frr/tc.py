"""QoS on FRR/Linux devices: Linux tc (HTB classes + u32 DSCP filters) carried inside the configuration.

vtysh has no QoS, so the intended configuration carries tc commands as comment lines
(``! tc: <command>``) that FRR ignores. This module parses those lines, reads the device's tc state
(over the SSH exec channel) into the same canonical command form, diffs the two per interface and
produces the ``tc -batch`` input that brings an interface to its intended state. An interface whose
root qdisc is not HTB handle 1: is not managed here (it is left alone).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PREFIX = "! tc: "
_RATE_UNITS = {"bit": 1e-3, "kbit": 1.0, "mbit": 1e3, "gbit": 1e6, "tbit": 1e9}
_QUANTUM = "quantum 1514"  # keeps HTB from warning (and misbehaving) at multi-gigabit rates


class TcSyntaxError(ValueError):
    """A ``! tc:`` line is not one of the command forms this driver manages."""


@dataclass(frozen=True, order=True)
class _Key:
    """Sort key: qdisc first, then classes by id, then filters by priority."""

    kind: int
    order: tuple[int, ...]


def split(config: str) -> tuple[str, list[str]]:
    """Separate the FRR configuration from its ``! tc:`` lines."""
    frr, tc = [], []
    for line in config.splitlines():
        if line.startswith(PREFIX):
            tc.append(line[len(PREFIX):].strip())
        else:
            frr.append(line)
    return "\n".join(frr) + ("\n" if config.endswith("\n") else ""), tc


def _kbit(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmgt]?bit)", text.lower())
    if not m:
        raise TcSyntaxError(f"bad rate {text!r}")
    return round(float(m.group(1)) * _RATE_UNITS[m.group(2)])


def _minor(classid: str) -> int:
    return int(classid.split(":")[1] or "0", 16)


def _opts(tokens: list[str]) -> dict[str, str]:
    out = {}
    it = iter(tokens)
    for tok in it:
        out[tok] = next(it, "")
    return out


def normalize(command: str) -> tuple[str, _Key, str]:
    """One managed tc command in canonical form.

    Returns:
        (interface, sort key, canonical command).

    Raises:
        TcSyntaxError: the command is not a managed form.
    """
    t = command.split()
    try:
        if t[:2] == ["qdisc", "replace"] and t[2] == "dev" and t[4:8] == ["root", "handle", "1:", "htb"]:
            o = _opts(t[8:])
            return t[3], _Key(0, ()), f"qdisc replace dev {t[3]} root handle 1: htb default {o.get('default', '0')}"
        if t[:2] == ["class", "replace"] and t[2] == "dev" and t[4] == "parent" and t[6] == "classid" \
                and t[8] == "htb":
            o = _opts(t[9:])
            prio = f" prio {int(o['prio'])}" if "prio" in o else ""
            canon = (f"class replace dev {t[3]} parent {t[5]} classid {t[7]} htb rate {_kbit(o['rate'])}kbit "
                     f"ceil {_kbit(o.get('ceil', o['rate']))}kbit{prio}")
            return t[3], _Key(1, (_minor(t[7]),)), canon
        if t[:2] == ["filter", "replace"] and t[2] == "dev" and t[4:6] == ["parent", "1:"] and t[6] == "protocol" \
                and t[8] == "prio" and t[10:12] == ["u32", "match"]:
            proto, pref = t[7], int(t[9])
            match = "ip dsfield" if proto == "ip" else "ip6 priority"
            if " ".join(t[12:14]) != match or t[16] != "classid":
                raise TcSyntaxError(f"unsupported filter {command!r}")
            value, mask = int(t[14], 16), int(t[15], 16)
            canon = (f"filter replace dev {t[3]} parent 1: protocol {proto} prio {pref} u32 match {match} "
                     f"0x{value:02x} 0x{mask:02x} classid {t[17]}")
            return t[3], _Key(2, (pref,)), canon
    except (IndexError, KeyError, ValueError) as exc:
        raise TcSyntaxError(f"cannot parse tc command {command!r}: {exc}") from None
    raise TcSyntaxError(f"unsupported tc command {command!r} (managed: htb qdisc/class, u32 DSCP filter)")


def by_interface(commands: list[str]) -> dict[str, list[str]]:
    """Canonical commands grouped per interface, in apply order."""
    keyed: dict[str, list[tuple[_Key, str]]] = {}
    for cmd in commands:
        iface, key, canon = normalize(cmd)
        keyed.setdefault(iface, []).append((key, canon))
    return {i: [c for _, c in sorted(v)] for i, v in sorted(keyed.items())}


def managed_interfaces(qdisc_json: str) -> dict[str, str]:
    """Interfaces whose root qdisc is HTB handle 1: (managed), with their `default` minor."""
    out = {}
    for q in json.loads(qdisc_json or "[]"):
        if q.get("kind") == "htb" and q.get("root") and q.get("handle") == "1:":
            out[q["dev"]] = format(int(str(q.get("options", {}).get("default", "0x0")), 16), "x")
    return out


def state_commands(iface: str, default: str, class_text: str, filter_json: str) -> list[str]:
    """The canonical commands that recreate an interface's current HTB state."""
    cmds = [f"qdisc replace dev {iface} root handle 1: htb default {default}"]
    for line in class_text.splitlines():
        t = line.split()
        if t[:2] != ["class", "htb"]:
            continue
        o = _opts(t[3:]) if t[3] != "root" else _opts(["parent", "1:", *t[4:]])
        prio = f" prio {o['prio']}" if "prio" in o else ""
        cmds.append(f"class replace dev {iface} parent {o['parent']} classid {t[2]} htb rate {o['rate']} "
                    f"ceil {o['ceil']}{prio}")
    for f in json.loads(filter_json or "[]"):
        opts = f.get("options", {})
        match, flowid = opts.get("match"), opts.get("flowid")
        if f.get("kind") != "u32" or not match or not flowid:
            continue  # u32 hash-table headers
        value, mask = int(match["value"], 16), int(match["mask"], 16)
        if f["protocol"] == "ip":
            field, value, mask = "ip dsfield", (value >> 16) & 0xFF, (mask >> 16) & 0xFF
        else:
            field, value, mask = "ip6 priority", (value >> 20) & 0xFF, (mask >> 20) & 0xFF
        cmds.append(f"filter replace dev {iface} parent 1: protocol {f['protocol']} prio {f['pref']} u32 match "
                    f"{field} 0x{value:02x} 0x{mask:02x} classid {flowid}")
    return by_interface(cmds).get(iface, [])


def block(state: dict[str, list[str]]) -> str:
    """The ``! tc:`` lines of a state, to append to a configuration text."""
    return "".join(f"{PREFIX}{c}\n" for cmds in state.values() for c in cmds)


def diff(candidate: dict[str, list[str]], running: dict[str, list[str]], replace: bool) -> list[str]:
    """Diff lines (``- tc ...`` / ``+ tc ...``) per changed interface."""
    out: list[str] = []
    for iface in sorted(set(candidate) | (set(running) if replace else set())):
        want, have = candidate.get(iface, []), running.get(iface, [])
        if want == have:
            continue
        out += [f"- tc {c}" for c in have if c not in want]
        out += [f"+ tc {c}" for c in want if c not in have]
    return out


def batch(candidate: dict[str, list[str]], running: dict[str, list[str]], replace: bool) -> list[str]:
    """``tc -batch`` lines taking each changed interface from its running to its intended state."""
    out: list[str] = []
    for iface in sorted(set(candidate) | (set(running) if replace else set())):
        want, have = candidate.get(iface, []), running.get(iface, [])
        if want == have:
            continue
        if have:  # rebuild from scratch: stale classes or filters must not survive
            out.append(f"qdisc del dev {iface} root")
        out += [f"{c} {_QUANTUM}" if c.startswith("class ") else c for c in want]
    return out
