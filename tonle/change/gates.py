"""Validation gates of a change: what must hold after it, derived from intent and from the state before.

A snapshot is, per device, each BGP neighbour's state and prefix counts (NAPALM get_bgp_neighbors).
After a change every intended session must be Established (unless the intent shuts it), prefix counts
must stay within bounds, no session that was up may go down unless the change meant it, and the
device must comply with its intended configuration (QoS included) and with NAPALM's validate file
for its role (`inventory/validate/<role>.yaml`) plus the sessions the intent expects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tonle.compile.intent import DeviceIntent, load_validate_file
from tonle.targets.vendor_state import BfdSession

Snapshot = dict[str, dict[str, Any]]  # peer ip -> {up, enabled, remote_as, received, accepted}

# A session whose accepted prefixes fall below this share of the count before the change fails
# validation (e.g. an import policy that suddenly drops an upstream's routes).
PREFIX_FLOOR = 0.5


def validation_source(di: DeviceIntent, inventory_dir: Path) -> list[dict[str, Any]]:
    """NAPALM validate source: the role's file plus the BGP sessions the intent expects."""
    role_file = inventory_dir / "validate" / f"{di.device.role}.yaml"
    # Checked like at `inventory check` (load_intent checks it before any device is touched).
    source: list[dict[str, Any]] = list(load_validate_file(role_file)) if role_file.exists() else []
    peers = {n.ip: {"is_enabled": not n.shutdown, "is_up": not n.shutdown} for n in di.neighbors}
    # One entry per getter (NAPALM reports per getter): merge into the role file's own entry.
    bgp = next((e["get_bgp_neighbors"] for e in source if "get_bgp_neighbors" in e), None)
    if bgp is None:
        source.append({"get_bgp_neighbors": {"global": {"peers": peers}}})
    else:
        bgp.setdefault("global", {}).setdefault("peers", {}).update(peers)
    return source


def meant_down(di: DeviceIntent, pre: Snapshot) -> set[str]:
    """Sessions allowed to go down: shut by the intent, or no longer in it."""
    intended = {n.ip for n in di.neighbors if not n.shutdown}
    return {ip for ip in pre if ip not in intended}


def check(di: DeviceIntent, pre: Snapshot, post: Snapshot, *, floor: float = PREFIX_FLOOR) -> list[str]:
    """Problems with a device's state after a change; empty when healthy."""
    problems: list[str] = []
    # Every intended session is checked; sessions outside the intent were removed on purpose
    # (see meant_down), so no session that was up can go down unnoticed.
    for n in di.neighbors:
        now = post.get(n.ip)
        if n.shutdown:
            if now is not None and now["up"]:
                problems.append(f"{n.ip} ({n.peer}) is still up although the intent shuts it")
            continue
        if now is None:
            problems.append(f"{n.ip} ({n.peer}) is not configured on the device")
            continue
        if not now["up"]:
            problems.append(f"{n.ip} ({n.peer}, AS{n.remote_asn}) is not Established")
            continue
        if n.max_prefixes is not None and now["accepted"] > n.max_prefixes:
            problems.append(f"{n.ip} ({n.peer}) accepts {now['accepted']} prefixes, over its maximum "
                            f"{n.max_prefixes}")
        before = pre.get(n.ip)
        if before and before["up"] and before["accepted"] > 0 and now["accepted"] < floor * before["accepted"]:
            problems.append(f"{n.ip} ({n.peer}) accepted prefixes fell from {before['accepted']} to "
                            f"{now['accepted']}")
    return problems


def bfd_check(di: DeviceIntent, sessions: Iterable[BfdSession]) -> list[str]:
    """Every session the intent runs with BFD has its BFD session up (vendor state: targets.vendor_state)."""
    by_peer = {ipaddress.ip_address(s.peer): s for s in sessions}
    problems = []
    for n in di.neighbors:
        if not n.bfd or n.shutdown:
            continue
        s = by_peer.get(ipaddress.ip_address(n.ip))
        if s is None:
            problems.append(f"{n.ip} ({n.peer}): no BFD session on the device")
        elif not s.up:
            problems.append(f"{n.ip} ({n.peer}): BFD session {s.state}")
    return problems


def snapshot_diff(pre: Snapshot, post: Snapshot) -> list[str]:
    """Readable pre/post differences, one line per neighbour that changed."""
    lines = []
    for ip in sorted(set(pre) | set(post), key=lambda x: (":" in x, x)):
        a, b = pre.get(ip), post.get(ip)
        if a == b:
            continue

        def fmt(s: dict[str, Any] | None) -> str:
            if s is None:
                return "absent"
            state = "up" if s["up"] else ("shut" if not s["enabled"] else "down")
            return f"{state} {s['accepted']} pfx"

        lines.append(f"{ip}: {fmt(a)} -> {fmt(b)}")
    return lines


Problems = dict[str, list[str]]  # host -> what fails; empty when every device is healthy


def poll(hosts: list[str], step: Callable[[], Problems], *, settle: float, hold: float,
         clock: Callable[[], float], sleep: Callable[[float], None],
         between: Callable[[], None] = lambda: None) -> Problems:
    """Poll the gates (`step`) until they pass `hold` seconds in a row, or `settle` runs out.

    Healthy means held: a pass that began less than `hold` seconds before the deadline is not enough
    (a policy takes effect seconds after a commit), so every host is then reported as not held.
    `between` runs between polls (the caller's abort check).
    """
    start = clock()
    deadline, passing_since = start + max(settle, hold), None
    while True:
        problems = step()
        now = clock()
        if problems:
            passing_since = None
        elif passing_since is None:
            passing_since = now
        if passing_since is not None and now - passing_since >= hold:
            return {}
        if now >= deadline:
            if problems:
                return problems
            held = now - (passing_since if passing_since is not None else now)
            return {h: [f"healthy for only {held:.1f}s at the deadline, not the {hold:.0f}s hold"] for h in hosts}
        between()
        sleep(1)
