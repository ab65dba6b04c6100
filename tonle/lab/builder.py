"""The embedded lab: the inventory's topology as Linux network namespaces running real FRR and OpenSSH.

One namespace per managed device and per simulated external network, veth pairs for
point-to-point links, a bridge namespace per LAN (DIX fabric), and a management bridge in the
root namespace. Each device runs zebra, bgpd and an sshd whose login drops into vtysh, with
per-lab generated credentials. Everything the lab makes is recorded in a state file before it is
made, so `down` can remove it even after a crashed `up`.

`Lab` reads the machine's facts, asks the pure planners (`tonle.lab.plan`, `.network`, `.node`) for
the steps, and hands them to the one executor (`tonle.lab.execute`).
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import cached_property
from pathlib import Path

from tonle.compile.intent import Intent, load_intent, with_md5_keys
from tonle.lab.errors import LabError, LabUnavailable
from tonle.lab.execute import Executor, Progress, read_record
from tonle.lab.kernel import raise_limits
from tonle.lab.layout import RUN_ROOT, Layout
from tonle.lab.node import DAEMONS, FRR_BIN, SSHD, boot_config
from tonle.lab.plan import (
    Additions,
    check_mgmt_network,
    missing,
    new_secrets,
    plan_add,
    plan_built,
    plan_down,
    plan_prepare,
)
from tonle.lab.rpki import Cache, check_caches, check_vrps, plan_rpki, plan_rpki_added
from tonle.lab.status import LabStatus, NodeStatus, SessionState, healthy, lab_status, settled, vtysh
from tonle.lab.steps import LabRecord, Say
from tonle.lab.system import _run as _run  # noqa: PLC0414 (its old home: tests reach it here)
from tonle.lab.system import ipv4_routes, link_exists, netns_list, tcp_open, user_exists
from tonle.source.inventory import Inventory
from tonle.targets import hostdeps
from tonle.targets.target import Credentials, lab_credentials, lab_md5_keys

__all__ = ["DAEMONS", "FRR_BIN", "RUN_ROOT", "SSHD", "Lab", "LabError", "LabStatus", "LabUnavailable", "NodeStatus",
           "Progress", "SessionState", "preflight"]


def preflight() -> None:
    """Refuse early, with a clear reason, when the machine cannot run the lab."""
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root (network namespaces, veth links, daemons); run as root")
    if lacking := hostdeps.missing():
        raise LabUnavailable(f"{hostdeps.describe(lacking)}; `./dev setup` installs them")


class Lab:
    """One lab instance, named by the inventory's lab.yaml."""

    def __init__(self, inv: Inventory, state_dir: Path) -> None:
        self.inv = inv
        self.name = inv.lab.name
        self.layout = Layout(self.name, state_dir)
        self.top_state_dir = state_dir
        self.state_dir = self.layout.state_dir
        self.run_dir = self.layout.run_dir
        self.state_file = self.layout.state_file
        self.username = self.layout.username

    @cached_property
    def intent(self) -> Intent:
        return load_intent(self.inv)

    # ---- naming -------------------------------------------------------------------------------
    def ns(self, node: str) -> str:
        return self.layout.ns(node)

    def lan_ns(self, link: str) -> str:
        return self.layout.lan_ns(link)

    @property
    def bridge(self) -> str:
        return self.layout.bridge

    def node_dir(self, node: str) -> Path:
        return self.layout.node_dir(node)

    def all_namespaces(self) -> list[str]:
        return self.layout.all_namespaces(self.inv)

    # ---- generated access -------------------------------------------------------------------------
    def credentials(self) -> Credentials:
        """The lab's generated credentials (the lab must be up)."""
        return lab_credentials(self.inv, self.top_state_dir)

    def md5_keys(self) -> dict[str, str]:
        """The lab's TCP-MD5 keys by environment variable name (empty when the lab is down)."""
        return lab_md5_keys(self.inv, self.top_state_dir)

    # ---- up -----------------------------------------------------------------------------------
    def up(self, timeout: float = 60, progress: Progress | None = None) -> LabStatus:
        """Build the lab (idempotent) and wait until every BGP session is Established.

        Raises:
            LabError: on a build failure (the partial lab is removed) or when sessions do not come up
                in time (the lab stays up for inspection; the message lists what is down).
        """
        say = progress or (lambda _msg: None)
        preflight()
        t0 = time.monotonic()
        raise_limits(len(self.all_namespaces()), say)
        record = read_record(self.state_file)
        if self._extendable(record):
            self._extend(record, say)
        else:
            self._build(record, say)
            say(f"lab {self.name} built in {time.monotonic() - t0:.1f}s; waiting for BGP sessions")
        status = self.wait_established(timeout)
        bad = status.down_sessions()
        if bad:
            listing = ", ".join(f"{s.node}->{s.neighbor} {s.peer_ip} ({s.state})" for s in bad[:12])
            more = f" and {len(bad) - 12} more" if len(bad) > 12 else ""
            raise LabError(f"lab {self.name}: {len(bad)} BGP session(s) not Established after {timeout:.0f}s: "
                           f"{listing}{more}")
        say(f"lab {self.name} up: {sum(n.established for n in status.nodes)} sessions Established "
            f"in {time.monotonic() - t0:.1f}s")
        return status

    def _extendable(self, record: LabRecord) -> bool:
        """The recorded lab is up, running, and has no node the inventory lost: add to it."""
        nodes = record.get("nodes", [])
        return (record.get("status") == "up" and healthy(self.layout, self.inv, nodes)
                and set(nodes) <= {*self.inv.devices, *self.inv.peers})

    def _extend(self, record: LabRecord, say: Progress) -> None:
        caches = self._rpki_caches()  # checked before anything changes
        cache = plan_rpki_added(self.layout, self.inv, caches, record, set(netns_list()),
                                answering=all(tcp_open(str(a), p) for a, p in caches))
        add = missing(self.inv, record)
        if not (add.nodes or add.wiring or cache):
            say(f"lab {self.name} already up")
            return
        if cache:  # before new nodes: their first RTR connection finds it listening
            Executor(self.state_file, say).run(cache)
        if add.nodes or add.wiring:
            say(f"lab {self.name} up; adding {len(add.nodes)} node(s) and {add.link_ends} link end(s) "
                "new in the inventory")
            self._add(read_record(self.state_file), add, say, self.md5_keys())

    def _build(self, record: LabRecord, say: Progress) -> None:
        """A new lab from scratch (a previous one that is incomplete or no longer matches removed first)."""
        if record or self._leftovers():
            say(f"lab {self.name}: removing a previous lab that is incomplete or no longer matches")
            self.down()
        try:
            check_mgmt_network(self.layout, self.inv, ipv4_routes())
            caches = self._rpki_caches()
            sec = new_secrets(self.inv, os.environ)
            prepare = plan_prepare(self.layout, self.inv, sec, user_exists=user_exists(self.username))
            Executor(self.state_file, say).run(prepare)
            if self.inv.lab.rpki_vrps:  # before the routers: their first RTR connection finds it listening
                Executor(self.state_file, say).run([Say(f"starting the RPKI cache (stayrtr) at "
                                                        f"{', '.join(f'{a}:{p}' for a, p in caches)}"),
                                                    *plan_rpki(self.layout, self.inv, caches)])
            self._add(read_record(self.state_file), missing(self.inv, {}), say, sec.md5_keys)
        except BaseException:
            with contextlib.suppress(LabError):
                self.down()
            raise

    def _rpki_caches(self) -> list[Cache]:
        """The cache addresses the lab's stayrtr serves, checked with the VRP file before anything is built.

        Raises:
            LabError: a bad VRP file, or cache addresses the lab cannot hold (one line, file and field).
        """
        if not self.inv.lab.rpki_vrps:
            return []
        rpki = self.intent.policy.rpki
        if rpki is None:
            raise LabError("inventory/lab.yaml: lab: field rpki_vrps: policy.yaml has no `rpki` section (no cache "
                           "address to serve it at)")
        check_vrps(self.inv.directory / self.inv.lab.rpki_vrps, f"inventory/{self.inv.lab.rpki_vrps}")
        caches: list[Cache] = [(c.address, c.port) for c in rpki.caches]
        check_caches(self.inv, caches)
        return caches

    def _add(self, record: LabRecord, add: Additions, say: Progress, md5_keys: dict[str, str]) -> None:
        """Create, wire and start what `add` names, then pin host keys and record the devices' intent."""
        intent = with_md5_keys(self.intent, md5_keys)
        configs = {n: boot_config(self.inv, n, md5_keys, lambda: intent) for n in add.nodes}
        steps = plan_add(self.layout, self.inv, record, add, set(netns_list()), configs, md5_keys)
        Executor(self.state_file, say).run([*steps, *plan_built(self.layout, self.inv, add.nodes)])

    def _leftovers(self) -> bool:
        existing = set(netns_list())
        return any(n in existing for n in self.all_namespaces()) or link_exists(self.bridge)

    # ---- queries ------------------------------------------------------------------------------
    def in_node(self, node: str, argv: list[str]) -> list[str]:
        """argv run inside the node's network namespace and its own UTS namespace (`Layout.in_node`)."""
        return self.layout.in_node(node, argv)

    def vtysh(self, node: str, command: str, timeout: float = 20) -> str:
        """Run one vtysh command directly in a node's namespace (devices and simulated networks)."""
        return vtysh(self.layout, node, command, timeout)

    def status(self) -> LabStatus:
        """Devices and simulated networks, their processes and BGP session states."""
        return lab_status(self.layout, self.inv, read_record(self.state_file).get("status") == "up")

    def wait_established(self, timeout: float) -> LabStatus:
        """Poll until every session is Established or `timeout` seconds pass; returns the last status.

        A node seen with all its processes and sessions up is not asked again (a poll of every node costs a
        vtysh run each: seconds of CPU at a few hundred nodes, taken from the daemons still converging).
        Every session has a device at one end, so the simulated networks are asked only once every device
        sees all its sessions Established (then theirs are too, or within a keepalive): half the polls.
        """
        deadline = time.monotonic() + timeout
        known: dict[str, NodeStatus] = {}
        up = read_record(self.state_file).get("status") == "up"
        unasked = {n: NodeStatus(n, "external", self.ns(n), None, {}) for n in self.inv.peers}  # no sessions yet
        while True:
            status = lab_status(self.layout, self.inv, up, unasked | known)
            down = status.down_sessions()
            late = time.monotonic() > deadline
            known = {n.name: n for n in status.nodes if settled(n) and n.name not in unasked}
            if unasked and (late or not any(s.node in self.inv.devices for s in down)):
                unasked = {}  # the devices are settled (or time is up): ask the simulated networks now
                continue
            if not down or late:
                return status
            time.sleep(0.5)

    # ---- down ---------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove every namespace, link, process, file and user this lab made; returns what was removed."""
        preflight()
        return Executor(self.state_file).run(plan_down(self.layout, self.inv, read_record(self.state_file)))
