"""IX-F member export (Euro-IX JSON schema 1.0) of the DIX fabrics: the file PeeringDB imports.

`inventory/ixf.yaml` names, per DIX fabric (a `lan` link of links.yaml), what the inventory does not know:
its IX-F database id, the local id, short and long names, web site and VLAN id. Members, their addresses,
route-server use and max-prefix come from the inventory: every node on the fabric is a member (domestic ISPs
and our border routers `peering`, our route servers `ixp` with the `ixrouteserver` service). Pure: the CLI
prints or writes the result.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from tonle.source.grammar import shown
from tonle.source.inventory import Inventory, InventoryError, Text, _Loader, _Model

SCHEMA_VERSION = "1.0"
_SHORTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$")
_URL = re.compile(r"^https://[a-z0-9.-]+\.[a-z]{2,}(/[A-Za-z0-9._~/-]*)?$")


def _shortname(v: str) -> str:
    if not _SHORTNAME.match(v):
        raise ValueError(f"{shown(v)} must be 1-32 letters, digits, spaces and '._-'")
    return v


def _url(v: str) -> str:
    if not _URL.match(v):
        raise ValueError(f"{shown(v)} must be an https URL (host and path only)")
    return v


class Exchange(_Model):
    """One DIX fabric as IX-F knows it."""

    ixf_id: Annotated[int, Field(ge=1, le=2**31 - 1)]  # the IX-F database id (ixpdb)
    ixp_id: Annotated[int, Field(ge=0, le=2**31 - 1)]  # our own id of it, unique in the export
    shortname: Annotated[str, AfterValidator(_shortname)]
    name: Text = ""
    url: Annotated[str, AfterValidator(_url)] | None = None
    peeringdb_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    vlan_id: Annotated[int, Field(ge=0, le=4094)] = 0


class IxfFile(_Model):
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    exchanges: dict[str, Exchange] = Field(min_length=1)


def load_ixf(inv: Inventory) -> IxfFile:
    """ixf.yaml beside the inventory, cross-checked: every exchange is a `lan` link, ids unique.

    Raises:
        InventoryError: one line per problem (file, entry, field).
    """
    ld = _Loader(inv.root, inv.directory)
    file = ld.rel("ixf.yaml")
    if not (inv.directory / "ixf.yaml").exists():
        raise InventoryError([f"{file}: (top level): no such file (the IX-F export needs it)"])
    raw = ld.read("ixf.yaml")
    ld.fail_if_any()
    model = ld.model(IxfFile, raw, file, "ixf")
    if model is not None:
        ids: dict[int, str] = {}
        for name, ex in model.exchanges.items():
            link = inv.links.get(name)
            if link is None or link.kind != "lan":
                ld.add(file, f"exchange {name}", "(name)", "not a `lan` link of links.yaml")
            if ex.ixp_id in ids:
                ld.add(file, f"exchange {name}", "ixp_id", f"{ex.ixp_id} is also {ids[ex.ixp_id]}'s")
            ids[ex.ixp_id] = name
    if ld.problems or model is None:
        raise InventoryError(ld.problems)
    return model


def _addr(inv: Inventory, node: str, iface: Any, afi: int, link: str) -> dict[str, Any]:
    """One member address on the fabric: route-server use, max-prefix, the route server's service."""
    out: dict[str, Any] = {"address": str(iface.ip)}
    rs_devices = {d for d in inv.devices if inv.devices[d].role == "dix-rs"}
    sessions = [s for s in inv.sessions() if s.link == link and s.afi == afi and node in (s.node, s.neighbor)]
    out["routeserver"] = any({s.node, s.neighbor} & rs_devices and node not in rs_devices for s in sessions)
    peer = inv.peers.get(node)
    if peer is not None:
        limit = peer.max_prefixes.ipv4 if afi == 4 else peer.max_prefixes.ipv6
        if limit:
            out["max_prefix"] = limit
    if node in rs_devices:
        out["services"] = [{"type": "ixrouteserver", "daemon": "FRRouting" if inv.devices[node].platform == "frr"
                            else inv.devices[node].platform}]
    return out


def export(inv: Inventory, ixf: IxfFile, now: datetime) -> dict[str, Any]:
    """The IX-F member list (schema 1.0) of every exchange in ixf.yaml."""
    ixp_list: list[dict[str, Any]] = []
    members: dict[tuple[int, str], dict[str, Any]] = {}
    for name, ex in sorted(ixf.exchanges.items(), key=lambda kv: kv[1].ixp_id):
        link = inv.links[name]
        vlan: dict[str, Any] = {"id": ex.vlan_id, "name": name}
        for key in ("ipv4", "ipv6"):
            net = next((getattr(e, key).network for e in link.endpoints if getattr(e, key) is not None), None)
            if net is not None:
                vlan[key] = {"prefix": str(net.network_address), "mask_length": net.prefixlen}
        ixp: dict[str, Any] = {"ixp_id": ex.ixp_id, "ixf_id": ex.ixf_id, "shortname": ex.shortname,
                               "country": ixf.country, "vlan": [vlan]}
        ixp |= {k: v for k, v in (("name", ex.name), ("url", ex.url), ("peeringdb_id", ex.peeringdb_id)) if v}
        ixp_list.append(ixp)
        for ep in link.endpoints:
            asn = inv.peers[ep.node].asn if ep.node in inv.peers else inv.devices[ep.node].asn
            kind = "ixp" if ep.node in inv.devices and inv.devices[ep.node].role == "dix-rs" else "peering"
            member = members.setdefault((asn, kind), {"asnum": asn, "member_type": kind, "connection_list": []})
            if ep.node in inv.peers and inv.peers[ep.node].description:
                member["name"] = inv.peers[ep.node].description
            elif ep.node not in inv.peers:
                member["name"] = inv.operator.name if kind == "peering" else f"{ex.shortname} route servers"
            # No if_list: links.yaml knows the fabric's capacity, not each member's port speed.
            conn: dict[str, Any] = {"ixp_id": ex.ixp_id, "state": "active", "vlan_list": []}
            entry: dict[str, Any] = {"vlan_id": ex.vlan_id}
            for afi, key in ((4, "ipv4"), (6, "ipv6")):
                if (iface := getattr(ep, key)) is not None:
                    entry[key] = _addr(inv, ep.node, iface, afi, name)
            conn["vlan_list"].append(entry)
            member["connection_list"].append(conn)
    return {"version": SCHEMA_VERSION, "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "ixp_list": ixp_list,
            "member_list": [members[k] for k in sorted(members)]}


__all__ = ["Exchange", "IxfFile", "export", "load_ixf"]
