"""Pure planners: from the inventory and the lab's record, the steps that build, extend or remove the lab.

Nothing here runs a program, writes a file or needs root (`new_secrets` only draws random values);
`tonle.lab.execute` carries the plans out.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.network import init_namespace, mgmt_link, peer_addresses, wiring_steps
from tonle.lab.node import plan_node
from tonle.lab.steps import (
    CopyFile,
    DeleteLink,
    DeleteUser,
    ForgetApplied,
    LabRecord,
    MakeDir,
    Parallel,
    PinHostKeys,
    Record,
    RecordApplied,
    RemoveNamespaces,
    RemoveTree,
    Say,
    Step,
    Unlink,
    WriteFile,
    run,
)
from tonle.source.inventory import Inventory
from tonle.targets.target import Credentials

TC = Path("/usr/sbin/tc")
# The lab's files in its state directory; `down` removes them (configs/ stays, for the record).
STATE_FILES = ("credentials.json", "md5_keys.json", "id_ed25519", "id_ed25519.pub", "known_hosts", "state.json")


@dataclass(frozen=True)
class Secrets:
    """Generated for one build: the login password and the TCP-MD5 keys by environment variable name."""

    password: str = field(repr=False)
    md5_keys: dict[str, str] = field(repr=False)


def _alnum(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def lab_md5_keys_for(inv: Inventory, environ: Mapping[str, str]) -> dict[str, str]:
    """Each peer's TCP-MD5 key from `environ`, else generated for this lab (`lab up`, `lab export`)."""
    return {p.md5_key_env: environ.get(p.md5_key_env) or secrets.token_hex(12)
            for p in inv.peers.values() if p.md5_key_env}


def new_secrets(inv: Inventory, environ: Mapping[str, str]) -> Secrets:
    """A fresh password; each peer's TCP-MD5 key from the environment, else generated for this lab."""
    # Letters and digits only: a password starting with '-' reads as an option on a command line (napalm's CLI).
    return Secrets(_alnum(24), lab_md5_keys_for(inv, environ))


@dataclass(frozen=True)
class Additions:
    """Nodes (devices first) and link ends (nodes per link) of the inventory that the lab does not have."""

    nodes: list[str]
    wiring: dict[str, list[str]]

    @property
    def link_ends(self) -> int:
        return sum(map(len, self.wiring.values()))


def node_order(inv: Inventory, node: str) -> tuple[int, str]:
    return (0 if node in inv.devices else 1, node)


def missing(inv: Inventory, record: LabRecord) -> Additions:
    """What the inventory has that the record does not (everything, for an empty record)."""
    nodes = sorted({*inv.devices, *inv.peers} - set(record.get("nodes", [])), key=lambda n: node_order(inv, n))
    wired = record.get("wired", {})
    wiring = {}
    for link in inv.links.values():
        ends = [ep.node for ep in link.endpoints if ep.node not in wired.get(link.name, [])]
        if ends:
            wiring[link.name] = ends
    return Additions(nodes, wiring)


def check_mgmt_network(lay: Layout, inv: Inventory, routes: list[dict[str, Any]]) -> None:
    """Refuse a management network that overlaps one of the machine's own networks (`ip -j route` objects)."""
    mgmt = inv.lab.mgmt_gateway.network
    for route in routes:
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dev == lay.bridge or dst in ("", "default") or route.get("type") in ("local", "broadcast"):
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(dst, strict=False).overlaps(mgmt):
                raise LabError(f"inventory/lab.yaml: lab {lay.name}: field mgmt_gateway: {mgmt} overlaps "
                               f"this machine's network {dst} on {dev}; pick another documentation range")


def plan_prepare(lay: Layout, inv: Inventory, sec: Secrets, *, user_exists: bool) -> tuple[Step, ...]:
    """What every lab needs once: its record, credentials, the tc copy, MD5 keys, the management bridge."""
    first: LabRecord = {"status": "building", "namespaces": lay.all_namespaces(inv), "bridge": lay.bridge,
                        "run_dir": str(lay.run_dir), "user": lay.username, "created_user": False,
                        "nodes": [], "wired": {}}
    return (Record(first), *plan_credentials(lay, sec, user_exists=user_exists), *plan_run_dir(lay),
            WriteFile(lay.state_dir / "md5_keys.json", json.dumps(sec.md5_keys), 0o600),
            run(["ip", "link", "add", lay.bridge, "type", "bridge"]),
            run(["ip", "addr", "add", str(inv.lab.mgmt_gateway), "dev", lay.bridge]),
            run(["ip", "link", "set", lay.bridge, "up"]))


def plan_credentials(lay: Layout, sec: Secrets, *, user_exists: bool) -> list[Step]:
    """A fresh SSH key pair, the login user (ours only if we create it) and its password."""
    key, user = lay.state_dir / "id_ed25519", lay.username
    steps: list[Step] = [
        Unlink(key), Unlink(key.with_suffix(".pub")),
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user}@tonle-lab", "-f", str(key)])]
    if not user_exists:
        steps += [Record({"created_user": True}),
                  run(["useradd", "--system", "--no-create-home", "--home-dir", str(lay.run_root), "--shell", "/bin/sh",
                       "--groups", "frr,frrvty", user])]
    creds = Credentials(user, sec.password, str(key))
    return [*steps, run(["chpasswd"], stdin=f"{user}:{sec.password}\n"),
            WriteFile(lay.state_dir / "credentials.json", json.dumps(asdict(creds)), 0o600)]


def plan_run_dir(lay: Layout) -> list[Step]:
    """The run directory: the accepted login key, and the login user's tc.

    The login user may change QoS (tc) inside a device's namespace, nothing else: a copy of tc
    with CAP_NET_ADMIN only, executable by the lab user's group only.
    """
    tc_copy = lay.run_dir / "tc"
    return [MakeDir(lay.run_dir, mode=0o755),
            CopyFile(lay.state_dir / "id_ed25519.pub", lay.run_dir / "authorized_keys", 0o644),
            CopyFile(TC, tc_copy, 0o750, ("root", lay.username)),
            run(["setcap", "cap_net_admin+ep", str(tc_copy)])]


def plan_add(lay: Layout, inv: Inventory, record: LabRecord, add: Additions, existing: set[str],
             configs: Mapping[str, str], md5_keys: Mapping[str, str]) -> tuple[Step, ...]:
    """Create, wire and start `add.nodes` (booting with `configs`), and wire `add.wiring`.

    `existing` are the namespaces there now; the record is updated before anything is made, and says
    `up` with the new nodes and link ends once all of them run.
    """
    namespaces = list(dict.fromkeys([*record.get("namespaces", []), *lay.all_namespaces(inv)]))
    new_lans = [ln for ln in add.wiring if inv.links[ln].kind == "lan" and lay.lan_ns(ln) not in existing]
    wired = record.get("wired", {})
    steps: list[Step] = [Record({"namespaces": namespaces}),
                         Say(f"creating {len(add.nodes) + len(new_lans)} namespaces")]
    steps += [run(["ip", "netns", "add", ns]) for ns in [*map(lay.ns, add.nodes), *map(lay.lan_ns, new_lans)]]
    steps.append(Parallel(tuple(init_namespace(lay, n) for n in add.nodes)))
    for device in (n for n in add.nodes if n in inv.devices):
        steps += mgmt_link(lay, inv, device)
    steps += [Say(f"wiring {len(add.wiring)} links"), *wiring_steps(lay, inv, add.wiring, new_lans)]
    for peer in (n for n in add.nodes if n in inv.peers):
        steps += peer_addresses(lay, inv, peer)
    steps += [Say("starting FRR and sshd"),
              Parallel(tuple(plan_node(lay, inv, n, configs[n], md5_keys) for n in add.nodes)),
              Record({"nodes": [*record.get("nodes", []), *add.nodes], "status": "up",
                      "wired": wired | {ln: [*wired.get(ln, []), *ends] for ln, ends in add.wiring.items()}})]
    return tuple(steps)


def plan_built(lay: Layout, inv: Inventory, nodes: list[str]) -> tuple[Step, ...]:
    """After a build: pin every device's host key; the new devices run the working tree's intent."""
    hosts = tuple((str(dev.mgmt_ip), lay.node_dir(name) / "ssh_host_ed25519_key.pub")
                  for name, dev in sorted(inv.devices.items()))
    devices = tuple(n for n in nodes if n in inv.devices)
    applied = (RecordApplied(lay.top_state_dir, devices, inv),) if devices and inv.config_file is not None else ()
    return (PinHostKeys(lay.state_dir / "known_hosts", hosts), *applied)


def plan_down(lay: Layout, inv: Inventory, record: LabRecord) -> tuple[Step, ...]:
    """Remove every namespace, link, process, file and user the record (or the inventory's names) says is ours."""
    namespaces = tuple(dict.fromkeys([*record.get("namespaces", []), *lay.all_namespaces(inv)]))
    steps: list[Step] = [RemoveNamespaces(namespaces), DeleteLink(record.get("bridge", lay.bridge), "bridge")]
    steps += [DeleteLink(lay.mgmt_if(d)) for d in inv.devices]  # mgmt veths normally die with their namespace
    steps.append(RemoveTree(lay.run_dir))
    if record.get("created_user"):
        steps.append(DeleteUser(lay.username))
    steps += [Unlink(lay.state_dir / f) for f in STATE_FILES]
    if record:  # the devices are gone: no intent of theirs is applied any more
        steps.append(ForgetApplied(lay.top_state_dir, tuple(inv.devices)))
    return tuple(steps)
