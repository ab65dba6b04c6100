"""Ansible view of the Nornir inventory: the same hosts, groups by site, role and platform, the same variables.

Nothing is copied: `playbooks/inventory/tonle_inventory.py` (an Ansible dynamic inventory script) calls
`main()`, which loads and validates the inventory named by nornir.yaml on every run and converts it here.
Devices are never reached by Ansible itself: playbooks run the project's modules on the controller
(`connection: local`), which reach devices through Nornir/NAPALM. `ansible_host` is still the
management address so that ad-hoc use (and `--limit` by address) means the same device.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tonle.source.inventory import Device, Inventory, InventoryError, load_from_nornir_config

DEVICES_GROUP = "tonle_devices"


def group_name(kind: str, value: str) -> str:
    """A valid Ansible group name: `site_pnh`, `role_iig_border`, `platform_frr`."""
    return f"{kind}_{re.sub(r'[^a-z0-9_]', '_', value.lower())}"


def host_vars(dev: Device) -> dict[str, Any]:
    """The variables the Nornir inventory gives a device (inheritance resolved), as plain JSON values."""
    return {
        "ansible_host": str(dev.mgmt_ip),
        "mgmt_ip": str(dev.mgmt_ip),
        "asn": dev.asn,
        "router_id": str(dev.router_id),
        "loopback_ipv4": str(dev.loopback_ipv4),
        "loopback_ipv6": str(dev.loopback_ipv6) if dev.loopback_ipv6 else None,
        "route_reflector": dev.route_reflector,
        "site": dev.site,
        "role": dev.role,
        "platform": dev.platform,
        "nornir_groups": list(dev.groups),
    }


def to_ansible(inv: Inventory, python: str | None = None) -> dict[str, Any]:
    """The `--list` document of an Ansible dynamic inventory (with `_meta.hostvars`).

    Args:
        inv: The validated inventory.
        python: Interpreter for the project's modules (they import `tonle`); set as
            `ansible_python_interpreter` of `all` when given.
    """
    groups: dict[str, list[str]] = {}
    for name, dev in sorted(inv.devices.items()):
        for g in (group_name("site", dev.site), group_name("role", dev.role), group_name("platform", dev.platform)):
            groups.setdefault(g, []).append(name)
    out: dict[str, Any] = {
        "_meta": {"hostvars": {name: host_vars(dev) for name, dev in sorted(inv.devices.items())}},
        "all": {"children": ["ungrouped", DEVICES_GROUP],
                "vars": {"ansible_python_interpreter": python} if python else {}},
        DEVICES_GROUP: {"children": sorted(groups)},
    }
    for g, hosts in sorted(groups.items()):
        out[g] = {"hosts": hosts}
    return out


def default_config() -> Path:
    """nornir.yaml from $TONLE_CONFIG (set by `tonle playbook run`), else the working directory's."""
    env = os.environ.get("TONLE_CONFIG")
    return Path(env) if env else Path("nornir.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    """Ansible dynamic inventory protocol: `--list` (everything) or `--host NAME` (one host's vars)."""
    ap = argparse.ArgumentParser(description="Ansible inventory from Tonlé's Nornir inventory")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true")
    mode.add_argument("--host")
    args = ap.parse_args(argv)
    try:
        inv = load_from_nornir_config(default_config())
    except InventoryError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    if args.list:
        print(json.dumps(to_ansible(inv, sys.executable), indent=2, sort_keys=True))
    else:
        dev = inv.devices.get(args.host)
        print(json.dumps(host_vars(dev) if dev else {}, indent=2, sort_keys=True))
    return 0
