"""The machine-wide kernel limits a lab of a given size needs, raised (never lowered) before it is built.

Namespaces share some of the kernel: the neighbour tables' garbage-collection thresholds are global (a
lab of 50 routers overflows Debian's default of 1024 entries: dmesg "neighbour table overflow", sessions
flap), and so are the process-id space and the per-user inotify instances. Each setting here is read
from /proc/sys, raised to what the lab's node count needs when lower, and every value is reported, so
the operator sees what a lab changed on the machine. The planner (`needed`, `changes`) is pure.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC_SYS = Path("/proc/sys")


@dataclass(frozen=True)
class Limit:
    key: str  # sysctl name (dots)
    minimum: int
    why: str

    @property
    def path(self) -> Path:
        return PROC_SYS / self.key.replace(".", "/")


@dataclass(frozen=True)
class Change:
    limit: Limit
    have: int

    @property
    def raised(self) -> bool:
        return self.have < self.limit.minimum

    def line(self) -> str:
        if self.raised:
            return (f"sysctl {self.limit.key}: {self.have} -> {self.limit.minimum} (global kernel setting; "
                    f"{self.limit.why})")
        return f"sysctl {self.limit.key} = {self.have} (>= {self.limit.minimum}, unchanged)"


def needed(nodes: int) -> list[Limit]:
    """The limits a lab of `nodes` namespaces (devices, simulated networks, LANs) needs.

    Floors are what was measured to be enough at 50 routers (LAB-NOTES.md); above that they grow with the
    node count: ~8 neighbour entries per node (management, links, IPv4 + IPv6), ~12 tasks per node (zebra,
    staticd, bfdd, bgpd and their threads, sshd and a login's vtysh), 2 inotify instances per node.
    """
    neigh = max(16384, 32 * nodes)
    limits = [Limit(f"net.{af}.neigh.default.{k}", v, "neighbour tables are shared by every namespace")
              for af in ("ipv4", "ipv6")
              for k, v in (("gc_thresh1", neigh // 4), ("gc_thresh2", neigh // 2), ("gc_thresh3", neigh))]
    return [*limits,
            Limit("kernel.pid_max", max(65536, 64 * nodes), "process ids are shared; daemons and their threads"),
            Limit("fs.inotify.max_user_instances", max(1024, 4 * nodes), "per user, every namespace's daemons")]


def changes(limits: list[Limit], read: Callable[[Path], int]) -> list[Change]:
    return [Change(lim, read(lim.path)) for lim in limits]


def _read(path: Path) -> int:
    return int(path.read_text().split()[0])


def raise_limits(nodes: int, say: Callable[[str], None]) -> list[Change]:
    """Raise what is below the need of a lab of `nodes` namespaces; report every value; also the open-file
    limit of this process (inherited by the daemons it starts) to its hard limit."""
    found = changes(needed(nodes), _read)
    for c in found:
        if c.raised:
            c.limit.path.write_text(str(c.limit.minimum))
            say(c.line())
    if kept := [c for c in found if not c.raised]:
        say(f"kernel limits for {nodes} namespaces, unchanged: "
            + ", ".join(f"{c.limit.key}={c.have} (>= {c.limit.minimum})" for c in kept))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, 65536))
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        say(f"open files (RLIMIT_NOFILE) of this process: {soft} -> {want}")
    return found
