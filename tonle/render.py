"""Render intended configurations from the inventory with the Jinja2 templates in templates/."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from tonle.inventory import Inventory, Peer

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

# Baseline policy per session kind: import tags routes with <operator-asn>:<community> and sets
# local preference (domestic over international); the upstream export only lets out the
# operator's and the domestic networks' prefixes, so we never become transit between carriers.
POLICIES: dict[str, dict[str, Any]] = {
    "upstream": {"import": "RM-UPSTREAM-IN", "export": "RM-UPSTREAM-OUT", "community": 100, "local_pref": 100},
    "route-server": {"import": "RM-DIX-IN", "export": "RM-DIX-OUT", "community": 200, "local_pref": 200},
    "isp": {"import": "RM-ISP-IN", "export": "RM-ISP-OUT", "community": 200, "local_pref": 200},
    "private": {"import": "RM-PRIVATE-IN", "export": "RM-PRIVATE-OUT", "community": 300, "local_pref": 150},
    "rs-client": {"import": "RM-RS-IMPORT", "export": "RM-RS-EXPORT", "community": None, "local_pref": None},
}


@cache
def environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """One Jinja2 environment per templates directory (templates compile once)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - device configuration, not HTML
    )


def frr_device_config(inv: Inventory, device: str) -> str:
    """The FRR configuration of a managed device (its own platform's, or its lab twin's)."""
    dev = inv.devices[device]
    return environment().get_template("frr/frr.conf.j2").render(
        device=dev,
        ports=inv.ports[device],
        sessions=inv.device_sessions(device),
        operator=inv.operator,
        policies=POLICIES,
    )


def lab_external_config(inv: Inventory, peer: Peer) -> str:
    """The FRR configuration of a simulated external network in the lab."""
    sessions = [s for s in inv.sessions() if s.node == peer.name]
    first_v4 = next((p.ipv4.ip for p in inv.ports[peer.name] if p.ipv4), None)
    return environment().get_template("lab/external.conf.j2").render(
        peer=peer, sessions=sessions, router_id=first_v4 or "198.18.255.255"
    )
