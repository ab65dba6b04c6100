"""Nornir tasks of validation: state snapshots through NAPALM getters, and NAPALM compliance reports."""

from __future__ import annotations

from typing import Any

from nornir.core.task import Result, Task

from tonle.targets.vendor_state import PLATFORMS, bfd_command, parse_bfd


def bgp_snapshot(task: Task) -> Result:
    """Per neighbour: up or not, and prefixes received / accepted (all address families, all VRFs)."""
    conn = task.host.get_connection("napalm", task.nornir.config)
    out: dict[str, dict[str, Any]] = {}
    for vrf in conn.get_bgp_neighbors().values():
        for ip, peer in vrf.get("peers", {}).items():
            families = peer.get("address_family", {}).values()
            out[ip] = {
                "up": bool(peer["is_up"]),
                "enabled": bool(peer["is_enabled"]),
                "remote_as": int(peer["remote_as"]),
                "received": sum(max(int(f.get("received_prefixes", 0)), 0) for f in families),
                "accepted": sum(max(int(f.get("accepted_prefixes", 0)), 0) for f in families),
            }
    return Result(host=task.host, result=out)


def compliance_report(task: Task, sources: dict[str, list[dict[str, Any]]]) -> Result:
    """NAPALM's own validate: compare getters with the host's validation source (role file + intent)."""
    conn = task.host.get_connection("napalm", task.nornir.config)
    report: dict[str, Any] = conn.compliance_report(validation_source=sources[task.host.name])
    return Result(host=task.host, result=report)


def bfd_sessions(task: Task) -> Result:
    """BFD sessions of a vendor device (ios, eos, junos: its show command through `cli`, parsed with TextFSM).

    None where NAPALM's driver is FRR's (the lab twins): FRR's bfdd state is not read here.
    """
    conn = task.host.get_connection("napalm", task.nornir.config)
    platform = getattr(conn, "platform", task.host.platform)
    if platform not in PLATFORMS:
        return Result(host=task.host, result=None)
    command = bfd_command(platform)
    return Result(host=task.host, result=parse_bfd(platform, conn.cli([command])[command]))
