"""PeeringDB's view of the external networks, compared with peers.yaml (warnings, never errors).

`inventory/peeringdb.json` holds PeeringDB `net` objects in the API's own format (`{"data": [...]}`, as
`GET /api/net?asn__in=...` answers, or a dump of the `peeringdb` client's local sync). Offline: Tonlé reads
the file, never the network. Per network: max-prefix (`info_prefixes4/6`), AS-SET (`irr_as_set`) and
"never via route servers" (`info_never_via_route_servers`). `inventory check` prints where peers.yaml says
otherwise, with both values: the operator decides which is right.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from tonle.source.inventory import Inventory, InventoryError

MAX_BYTES = 16 << 20
# An RPSL as-set name (RFC 2622), optionally hierarchical and prefixed by its IRR source ("RIPE::AS-X").
_AS_SET = re.compile(r"^(?:[A-Za-z0-9-]{1,16}::)?(?:AS\d+:)?AS-[A-Za-z0-9_-]{1,64}(?::AS-[A-Za-z0-9_-]{1,64})*$", re.I)


class PdbNet(BaseModel):
    """The fields of a PeeringDB `net` object Tonlé compares (the API's other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    asn: Annotated[StrictInt, Field(ge=1, le=4294967295)]
    info_prefixes4: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None
    info_prefixes6: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None
    irr_as_set: Annotated[str, Field(max_length=255)] = ""
    info_never_via_route_servers: StrictBool = False


def as_sets(text: str) -> set[str]:
    """The as-set names of PeeringDB's free-text `irr_as_set` (sources dropped, upper case); junk ignored."""
    out = set()
    for word in re.split(r"[\s,;]+", text.strip()):
        if _AS_SET.match(word):
            out.add(word.split("::")[-1].upper())
    return out


def load(path: Path, display: str) -> dict[int, PdbNet]:
    """PeeringDB nets by ASN.

    Raises:
        InventoryError: one line naming the file, the entry and the field.
    """
    try:
        raw = path.read_bytes()[:MAX_BYTES + 1]
        data = json.loads(raw) if len(raw) <= MAX_BYTES else None
    except (OSError, ValueError) as exc:
        raise InventoryError([f"{display}: (top level): not readable PeeringDB JSON ({type(exc).__name__})"]) from None
    nets = data.get("data") if isinstance(data, dict) else None
    if not isinstance(nets, list):
        raise InventoryError([f"{display}: (top level): field data: expected the API's list of net objects"])
    out: dict[int, PdbNet] = {}
    for i, item in enumerate(nets):
        try:
            net = PdbNet.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "(entry)"
            raise InventoryError([f"{display}: data[{i}]: field {where}: {err['msg']}"]) from None
        out[net.asn] = net
    return out


def disagreements(inv: Inventory, nets: dict[int, PdbNet]) -> list[str]:
    """One warning line per value peers.yaml and PeeringDB disagree on (both values shown)."""
    rs_devices = {n for n, d in inv.devices.items() if d.role == "dix-rs"}
    out = []
    for peer in inv.peers.values():
        net = nets.get(peer.asn)
        if net is None:
            continue
        where = f"inventory/peers.yaml: peer {peer.name}: field"
        for fam, ours, theirs in (("ipv4", peer.max_prefixes.ipv4, net.info_prefixes4),
                                  ("ipv6", peer.max_prefixes.ipv6, net.info_prefixes6)):
            if theirs and ours != theirs:
                out.append(f"{where} max_prefixes.{fam}: {ours if ours is not None else 'unset'} here, PeeringDB "
                           f"AS{peer.asn} says {theirs} (info_prefixes{fam[-1]})")
        theirs_sets = as_sets(net.irr_as_set)
        ours_sets = {peer.as_set.upper()} if peer.as_set else set()
        if theirs_sets and ours_sets != theirs_sets:
            out.append(f"{where} as_set: {peer.as_set or 'unset'} here, PeeringDB AS{peer.asn} says "
                       f"{' '.join(sorted(theirs_sets))} (irr_as_set)")
        at_rs = sorted({s.device for s in peer.sessions if s.device in rs_devices})
        if net.info_never_via_route_servers and at_rs:
            out.append(f"{where} sessions: peers with route server {', '.join(at_rs)} here, PeeringDB AS{peer.asn} "
                       "says never via route servers (info_never_via_route_servers)")
    return out
