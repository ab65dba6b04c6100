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

from napalm_frr import tc_grammar
from napalm_frr.tc_grammar import MARK, PREFIX, HtbClass, HtbQdisc, TcSyntaxError

__all__ = ["PREFIX", "TcSyntaxError", "batch", "block", "boot_batch", "by_interface", "diff", "managed_interfaces",
           "normalize", "split", "state_commands"]

_RATE_UNITS = {"bit": 1e-3, "kbit": 1.0, "mbit": 1e3, "gbit": 1e6, "tbit": 1e9}


@dataclass(frozen=True, order=True)
class _Key:
    """Sort key: qdisc first, then classes by id, then filters by priority."""

    kind: int
    order: tuple[int, ...]


def split(config: str) -> tuple[str, list[str]]:
    """Separate the FRR configuration from its ``! tc:`` lines.

    Every line starting with ``! tc:`` is a tc line; one without the single space after the colon is
    kept whole, so that parsing it (:func:`by_interface`) refuses it.
    """
    frr, tc = [], []
    for line in config.splitlines():
        if line.startswith(MARK):
            tc.append(line.removeprefix(PREFIX))
        else:
            frr.append(line)
    return "\n".join(frr) + ("\n" if config.endswith("\n") else ""), tc


def _kbit(text: str) -> int:
    """A rate as tc prints it (``40Gbit``, ``1500075Kbit``) in kbit."""
    m = re.fullmatch(r"([0-9]{1,15}(?:\.[0-9]{1,6})?)([kmgt]?bit)", text.lower())
    if not m:
        raise TcSyntaxError("a rate is not a number of bit, Kbit, Mbit, Gbit or Tbit")
    return round(float(m.group(1)) * _RATE_UNITS[m.group(2)])


def _opts(tokens: list[str]) -> dict[str, str]:
    out = {}
    it = iter(tokens)
    for tok in it:
        out[tok] = next(it, "")
    return out


def normalize(command: str) -> tuple[str, _Key, str]:
    """One managed tc command in canonical form (parsed by :mod:`napalm_frr.tc_grammar`, then rendered).

    Returns:
        (interface, sort key, canonical command).

    Raises:
        TcSyntaxError: the command is not a managed form (the message does not quote it).
    """
    cmd = tc_grammar.parse(command)
    if isinstance(cmd, HtbQdisc):
        key = _Key(0, ())
    elif isinstance(cmd, HtbClass):
        key = _Key(1, (cmd.classid,))
    else:
        key = _Key(2, (cmd.pref,))
    return cmd.dev, key, tc_grammar.render(cmd)


def by_interface(commands: list[str]) -> dict[str, list[str]]:
    """Canonical commands grouped per interface, in apply order."""
    keyed: dict[str, list[tuple[_Key, str]]] = {}
    for n, cmd in enumerate(commands, start=1):
        try:
            iface, key, canon = normalize(cmd)
        except TcSyntaxError as exc:
            raise TcSyntaxError(f"tc command {n}: {exc.reason}") from None
        keyed.setdefault(iface, []).append((key, canon))
    return {i: [c for _, c in sorted(v)] for i, v in sorted(keyed.items())}


def managed_interfaces(qdisc_json: str) -> dict[str, str]:
    """Interfaces whose root qdisc is HTB handle 1: (managed), with their `default` minor."""
    out = {}
    for q in json.loads(qdisc_json or "[]"):
        if q.get("kind") == "htb" and q.get("root") and q.get("handle") == "1:":
            # the name goes into the tc commands that read this interface: only a plain interface name
            dev = tc_grammar.check_ifname(str(q["dev"]))
            out[dev] = format(int(str(q.get("options", {}).get("default", "0x0")), 16), "x")
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
        cmds.append(f"class replace dev {iface} parent {o['parent']} classid {t[2]} htb "
                    f"rate {_kbit(o['rate'])}kbit ceil {_kbit(o['ceil'])}kbit{prio}")
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
    """``tc -batch`` lines taking each changed interface from its running to its intended state.

    Every line is rendered from a parsed command (:mod:`napalm_frr.tc_grammar`): a command that does not
    parse, or that names another interface than its group, raises TcSyntaxError and nothing is returned.
    """
    out: list[str] = []
    for iface in sorted(set(candidate) | (set(running) if replace else set())):
        want, have = candidate.get(iface, []), running.get(iface, [])
        if want == have:
            continue
        tc_grammar.check_ifname(iface)
        parsed = [tc_grammar.parse(c) for c in want]
        if any(c.dev != iface for c in parsed):
            raise TcSyntaxError("a command is grouped under another interface than its own")
        if have:  # rebuild from scratch: stale classes or filters must not survive
            out.append(f"qdisc del dev {iface} root")
        out += [tc_grammar.apply_form(c) for c in parsed]
    return out


def boot_batch(config: str) -> list[str]:
    """The ``tc -batch`` lines that give a freshly booted device a configuration's QoS (lab start-up).

    Raises:
        TcSyntaxError: (TcLineError) a ``! tc:`` line is refused: its line number and why, never its text.
    """
    return batch(by_interface(tc_grammar.commands(config)), {}, replace=True)
