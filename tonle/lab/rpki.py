"""The lab's RPKI validator cache: stayrtr serving a VRP file over RTR (RFC 8210) to the lab's routers.

In production the routers poll the operator's own validators (rpki-client, Routinator, Fort); in the lab
one namespace on the management bridge holds every cache address of policy.yaml's `rpki`, and one stayrtr
per address serves the lab's VRP fixture (lab.yaml `rpki_vrps`, the JSON rpki-client and Routinator
write). The file is checked here before anything starts: documentation prefixes and ASNs only.
Pure planning: nothing here runs a program.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.steps import (
    CopyFile,
    IpBatch,
    LabRecord,
    MakeDir,
    Record,
    RemoveNamespaces,
    Say,
    Spawn,
    Step,
    WaitTcp,
    run,
)
from tonle.source.inventory import ALLOWED_NETS, Inventory

STAYRTR = "/usr/bin/stayrtr"
MAX_VRP_BYTES = 4 << 20  # a lab fixture, not the world's ~500k VRPs
MAX_VRPS = 10000
# Documentation and private-use ASNs (RFC 5398, RFC 6996): the only ones a lab VRP may name.
_ASN_RANGES = ((64496, 64511), (64512, 65534), (65536, 65551), (4200000000, 4294967294))

Cache = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]  # (address, port)


def _asn(value: Any) -> int | None:
    """rpki-client writes 65001, Routinator "AS65001"."""
    if isinstance(value, str) and value.upper().startswith("AS") and value[2:].isdigit():
        value = int(value[2:])
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if any(lo <= value <= hi for lo, hi in _ASN_RANGES) else None


def _roa_problem(roa: Any) -> tuple[str, str] | None:
    """(field, what is wrong) for one entry of `roas`, or None when it is a lab VRP."""
    if not isinstance(roa, dict):
        return "(entry)", "expected a mapping with prefix, maxLength and asn"
    try:
        net = ipaddress.ip_network(str(roa.get("prefix")))
    except ValueError:
        return "prefix", "not an IP prefix without host bits"
    if not any(net.version == a.version and net.subnet_of(a) for a in ALLOWED_NETS):  # type: ignore[arg-type]
        return "prefix", f"{net} is outside the documentation ranges"
    max_len = roa.get("maxLength", net.prefixlen)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or not net.prefixlen <= max_len <= net.max_prefixlen:
        return "maxLength", f"must be a number from {net.prefixlen} to {net.max_prefixlen}"
    if _asn(roa.get("asn")) is None:
        return "asn", "must be a documentation or private-use ASN (64496-65534, 65536-65551, 4200000000+)"
    return None


def check_vrps(path: Path, display: str) -> int:
    """The number of VRPs in the fixture.

    Raises:
        LabError: one line naming the file, the entry and the field.
    """
    try:
        raw = path.read_bytes()[:MAX_VRP_BYTES + 1]
    except OSError as exc:
        raise LabError(f"{display}: cannot read the VRP file ({exc.strerror})") from None
    if len(raw) > MAX_VRP_BYTES:
        raise LabError(f"{display}: larger than {MAX_VRP_BYTES >> 20} MB (a lab fixture)")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LabError(f"{display}: not JSON (expected rpki-client/Routinator VRP JSON)") from None
    roas = data.get("roas") if isinstance(data, dict) else None
    if not isinstance(roas, list) or not roas or len(roas) > MAX_VRPS:
        raise LabError(f"{display}: (top level): field roas: expected a list of 1 to {MAX_VRPS} VRPs")
    for i, roa in enumerate(roas):
        if (problem := _roa_problem(roa)) is not None:
            raise LabError(f"{display}: roas[{i}]: field {problem[0]}: {problem[1]}")
    return len(roas)


def check_caches(inv: Inventory, caches: list[Cache]) -> None:
    """Every cache address must stand on the lab's management network, apart from the devices and gateway.

    Raises:
        LabError: one line naming policy.yaml's field.
    """
    net, taken = inv.lab.mgmt_gateway.network, {inv.lab.mgmt_gateway.ip, *(d.mgmt_ip for d in inv.devices.values())}
    for addr, _port in caches:
        if addr.version != 4 or addr not in net or addr in (net.network_address, net.broadcast_address):
            raise LabError(f"inventory/policy.yaml: rpki: field caches: {addr} is not a host address of the lab's "
                           f"management network {net} (the lab's validator cache stands there)")
        if addr in taken:
            raise LabError(f"inventory/policy.yaml: rpki: field caches: {addr} is a device's or the gateway's "
                           "management address")


def plan_rpki(lay: Layout, inv: Inventory, caches: list[Cache]) -> tuple[Step, ...]:
    """The cache namespace on the management bridge, the VRP file, one stayrtr per cache address (as nobody).

    `caches` must have passed `check_caches`; the namespace is in `Layout.all_namespaces`, so `down`
    stops stayrtr with the namespace's other processes and deletes it.
    """
    ns, root_if, d = lay.rpki_ns, lay.mgmt_if(lay.RPKI_NODE), lay.node_dir(lay.RPKI_NODE)
    plen = inv.lab.mgmt_gateway.network.prefixlen
    assert inv.lab.rpki_vrps is not None
    steps: list[Step] = [
        run(["ip", "netns", "add", ns]),
        run(["ip", "link", "add", root_if, "type", "veth", "peer", "name", "mgmt0", "netns", ns]),
        run(["ip", "link", "set", root_if, "master", lay.bridge, "up"]),
        IpBatch(ns, ("link set lo up", *(f"addr add {a}/{plen} dev mgmt0" for a, _ in caches), "link set mgmt0 up")),
        MakeDir(d, mode=0o755),
        CopyFile(inv.directory / inv.lab.rpki_vrps, d / "vrps.json", 0o644),
    ]
    for i, (addr, port) in enumerate(caches):
        argv = ["ip", "netns", "exec", ns, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                STAYRTR, "-bind", f"{addr}:{port}", "-cache", str(d / "vrps.json"), "-checktime=false",
                "-refresh", "30", "-metrics.addr", f"127.0.0.1:{9847 + i}", "-loglevel", "info"]
        steps += [Spawn(tuple(argv), d / f"stayrtr-{i}.log"),
                  WaitTcp(str(addr), port, 10, f"the lab's RPKI cache {addr}:{port} (stayrtr) did not start")]
    return tuple(steps)


def plan_rpki_added(lay: Layout, inv: Inventory, caches: list[Cache], record: LabRecord, existing: set[str], *,
                    answering: bool) -> tuple[Step, ...]:
    """The cache for a lab that is up without it (lab.yaml's `rpki_vrps` added after the lab was built), or
    whose stayrtr no longer answers (`answering`: every cache address accepts a connection now); nothing
    when there is no cache to serve or it runs.

    Its namespace goes into the record before anything is made, so `down` removes it whatever lab.yaml says
    by then. bgpd retries an RTR cache it could not reach only every `retry_interval` (FRR: 10 min by
    default), so each device's RPKI manager is restarted once the cache listens (`rpki reset`).
    """
    ns = lay.rpki_ns
    if not caches or (ns in existing and answering):
        return ()
    steps: list[Step] = [Record({"namespaces": list(dict.fromkeys([*record.get("namespaces", []), ns]))})]
    if ns in existing:  # there, but its stayrtr is gone: started afresh
        steps.append(RemoveNamespaces((ns,)))
    steps += [Say(f"adding the RPKI cache (stayrtr) at {', '.join(f'{a}:{p}' for a, p in caches)} to the running "
                  "lab"), *plan_rpki(lay, inv, caches)]
    for device in sorted(inv.devices):
        d = str(lay.node_dir(device))
        steps.append(run(["vtysh", "--vty_socket", d, "--config_dir", d, "-c", "rpki reset"]))
    return tuple(steps)
