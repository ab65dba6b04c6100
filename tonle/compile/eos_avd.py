"""Arista EOS through Arista's own generator: DeviceIntent -> AVD structured config -> pyavd.

`structured_config()` expresses a device's intent in AVD's `eos_cli_config_gen` schema (router_bgp,
route_maps, prefix_lists, ipv6_prefix_lists, ip_community_lists, as_path, ethernet_interfaces,
loopback_interfaces, static_routes, ipv6_static_routes, qos); `render()` validates it with
`pyavd.validate_structured_config` (schema violations are errors, naming the path) and renders it with
`pyavd.get_device_config`. Nothing in the EOS configuration is hand-written except the one line
AVD's schema cannot say (`EOS_EXTRA_LINES`): none today — every intent knob has an AVD key.

Where EOS differs from FRR (kept from the former hand-written template):
* no communities are sent unless `send-community` (the policy needs them);
* every neighbor has `maximum-routes 12000` by default: neighbors without a limit get 0 (none);
* EOS has no transparent route-server mode (RFC 7947): towards a route-server client the next hop is
  kept by the export route-map (`set ip next-hop unchanged`), our ASN is still prepended;
* the first-AS check is per neighbor (`neighbor X enforce-first-as disabled` towards a transparent
  route server, AVD `enforce_first_as: false`); EOS checks it by default;
* RFC 8212: besides the explicit import/export route-maps ending in deny, every eBGP neighbor gets
  `missing-policy direction in|out action deny`, so a session whose route-map is missing learns and
  announces nothing;
* TCP-MD5 keys are rendered the way EOS stores them (`password 7`, encrypted with the neighbor address
  as key: pyavd's `encrypt` filter), so the running configuration equals the intent;
* QoS: DSCP -> traffic class (`qos map dscp`), DSCP trust on every managed port, a shaped port shapes
  itself and its tx-queues; guaranteed bandwidth only as a percentage (`bandwidth guaranteed percent`),
  the only form AVD emits.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tonle.compile.intent import DeviceIntent, QosApplied, QosClass, RouteMap
from tonle.errors import BadInput

# Lines AVD cannot express; appended under `router bgp` when needed. Empty: kept to say so.
EOS_EXTRA_LINES: tuple[str, ...] = ()


class EosRenderError(BadInput, ValueError):
    """The intent cannot be expressed for EOS (AVD's schema refuses it, or EOS has no such knob)."""


def _traffic_classes(d: DeviceIntent) -> list[str]:
    """Non-default class names in traffic-class order (TC = position + 1; the default class is TC 0).

    Round-robin classes first, then strict-priority ones: EOS serves strict queues above round-robin
    ones, and a round-robin queue makes every lower queue round-robin too. TC n -> tx-queue n.
    """
    seen: list[str] = []
    rr: list[str] = []
    prio: list[str] = []
    for i in d.qos_interfaces:
        assert i.qos is not None
        for c in i.qos.classes:
            if c.default or c.name in seen:
                continue
            seen.append(c.name)
            (prio if c.priority else rr).append(c.name)
    if len(seen) > 7:
        raise EosRenderError(f"{d.hostname}: EOS has 8 traffic classes; the intent needs {len(seen) + 1}")
    return rr + prio


def _percent(c: QosClass, q: QosApplied) -> int:
    pct = c.rate_mbps * 100 / q.shape_mbps
    if abs(pct - round(pct)) > 0.01:
        raise EosRenderError(f"{q.policy}: class {c.name}: EOS guarantees whole percentages only ({pct:g}%)")
    return round(pct)


def _kbps(mbps: float) -> str:
    return f"{round(mbps * 1000)} kbps"


def _tx_queue(n: int, c: QosClass, q: QosApplied) -> dict[str, Any]:
    tq: dict[str, Any] = {"id": n}
    if c.priority:
        tq["priority"] = "priority strict"
    else:
        tq["priority"] = "no priority"
        tq["bandwidth_guaranteed_percent"] = _percent(c, q)
    if c.ceil_mbps < q.shape_mbps:
        tq["shape"] = {"rate": _kbps(c.ceil_mbps)}
    return tq


def profile_name(q: QosApplied) -> str:
    """One QoS profile per (policy, shaped rate): rates are absolute."""
    return f"QP-{q.policy.upper()}-{q.shape_mbps:g}M"


def _qos_profiles(d: DeviceIntent, tcs: list[str]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i in d.qos_interfaces:
        q = i.qos
        assert q is not None
        queues = [_tx_queue(0, q.default_class, q)]
        queues += [_tx_queue(tcs.index(c.name) + 1, c, q) for c in q.classes if not c.default]
        out[profile_name(q)] = {"name": profile_name(q), "trust": "dscp", "shape": {"rate": _kbps(q.shape_mbps)},
                                "tx_queues": sorted(queues, key=lambda t: int(t["id"]))}
    return list(out.values())


def _interfaces(d: DeviceIntent) -> list[dict[str, Any]]:
    out = []
    for i in d.interfaces:
        e: dict[str, Any] = {"name": i.name, "description": i.description, "switchport": {"enabled": False}}
        if i.shutdown:
            e["shutdown"] = True
        if i.ipv4:
            e["ip_address"] = i.ipv4
        if i.ipv6:
            e["ipv6_address"] = i.ipv6
        if i.qos is not None:
            e["service_profile"] = profile_name(i.qos)
        elif d.qos_interfaces:  # classify on ingress everywhere, so that egress queues see the marks
            e["qos"] = {"trust": "dscp"}
        out.append(e)
    return out


def _qos_map(d: DeviceIntent, tcs: list[str]) -> list[str]:
    marks: dict[str, tuple[int, ...]] = {}
    for i in d.qos_interfaces:
        assert i.qos is not None
        marks.update({c.name: c.dscp for c in i.qos.classes if not c.default})
    lines: list[str] = []
    named: set[int] = set()
    for name in tcs:
        lines.append(f"{' '.join(str(m) for m in marks[name])} to traffic-class {tcs.index(name) + 1}")
        named.update(marks[name])
    rest = [v for v in range(64) if v not in named]
    lines += [f"{' '.join(str(v) for v in rest[k:k + 16])} to traffic-class 0" for k in range(0, len(rest), 16)]
    return lines


def _route_map(rm: RouteMap) -> dict[str, Any]:
    seqs = []
    for t in rm.terms:
        match, sets = [], []
        if t.match_prefix_list:
            match.append(f"{'ip' if rm.afi == 4 else 'ipv6'} address prefix-list {t.match_prefix_list}")
        if t.match_as_path:
            match.append(f"as-path {t.match_as_path}")
        if t.match_community:
            match.append(f"community {t.match_community}")
        if t.match_rpki:  # EOS: "match origin-as validity invalid|not-found" (RPKI origin validation)
            match.append(f"origin-as validity {'invalid' if t.match_rpki == 'invalid' else 'not-found'}")
        if t.set_local_pref is not None:
            sets.append(f"local-preference {t.set_local_pref}")
        if t.set_communities:
            sets.append(f"community {' '.join(t.set_communities)} additive")
        if t.prepend:
            sets.append("as-path prepend " + " ".join([str(t.prepend[0])] * t.prepend[1]))
        seq: dict[str, Any] = {"sequence": t.seq, "type": t.action}
        if t.description:
            seq["description"] = t.description
        if match:
            seq["match"] = match
        if sets:
            seq["set"] = sets
        seqs.append(seq)
    return {"name": rm.name, "sequence_numbers": seqs}


def _prefix_lists(d: DeviceIntent, afi: int) -> list[dict[str, Any]]:
    return [{"name": pl.name, "sequence_numbers": [
        {"sequence": e.seq, "action": f"{e.action} {e.prefix}" + (f" ge {e.ge}" if e.ge else "")
         + (f" le {e.le}" if e.le else "")} for e in pl.entries]}
        for pl in d.prefix_lists if pl.afi == afi]


def _bgp(d: DeviceIntent) -> dict[str, Any]:
    """router_bgp. RFC 9234 roles (`Neighbor.role`) are left out: AVD's schema has no key for them and the
    EOS documentation we follow names no role command."""
    from pyavd.j2filters import encrypt  # noqa: PLC0415 - heavy, EOS only

    neighbors: list[dict[str, Any]] = []
    af: dict[int, list[dict[str, Any]]] = {4: [], 6: []}
    for n in d.neighbors:
        nb: dict[str, Any] = {"ip_address": n.ip, "remote_as": str(n.remote_asn), "description": n.description,
                              "send_community": "all", "maximum_routes": n.max_prefixes or 0}
        if n.shutdown:
            nb["shutdown"] = True
        if n.md5_key:
            nb["password"] = encrypt(n.md5_key, passwd_type="bgp", key=n.ip)  # noqa: S106 - a kind, not a secret
        if n.bfd:
            nb["bfd"] = True
        if n.next_hop_self:
            nb["next_hop_self"] = True
        if n.rr_client:
            nb["route_reflector_client"] = True
        if n.kind != "ibgp":
            if not n.enforce_first_as:
                nb["enforce_first_as"] = False
            nb["missing_policy"] = {"direction_in": {"action": "deny"}, "direction_out": {"action": "deny"}}
        neighbors.append(nb)
        a: dict[str, Any] = {"ip_address": n.ip, "activate": True}
        if n.import_map:
            a["route_map_in"] = n.import_map
        if n.export_map:
            a["route_map_out"] = n.export_map
        af[n.afi].append(a)
    bgp: dict[str, Any] = {"as": str(d.asn), "router_id": d.router_id, "bgp": {"default": {"ipv4_unicast": False}},
                           "neighbors": neighbors}
    if d.rpki_caches:
        bgp["eos_cli"] = _rpki_cli(d)
    for afi, key in ((4, "address_family_ipv4"), (6, "address_family_ipv6")):
        nets = d.afi(d.networks, afi)
        if af[afi] or nets:
            bgp[key] = {"neighbors": af[afi]} | ({"networks": [{"prefix": p} for p in nets]} if nets else {})
    return bgp


def _rpki_cli(d: DeviceIntent) -> str:
    """RPKI caches and origin validation of eBGP routes, as EOS CLI under `router bgp`.

    AVD's eos_cli_config_gen schema has no RPKI keys; `router_bgp.eos_cli` is its documented way in.
    Syntax: Arista EOS 4.24.0F TOI "BGP Prefix Origin Validation with RPKI" (`rpki cache NAME`, `host ADDR
    port N`, `preference 1-10`; `rpki origin-validation` / `ebgp local` computes the state of eBGP routes;
    route-maps `match origin-as validity`).
    """
    lines = []
    for i, c in enumerate(d.rpki_caches, start=1):
        lines += [f"rpki cache TONLE-RPKI-{i}", f"   host {c.address} port {c.port}", f"   preference {c.preference}"]
    lines += ["rpki origin-validation", "   ebgp local"]
    return "\n".join(lines)


def structured_config(d: DeviceIntent) -> dict[str, Any]:
    """The device's intent as AVD structured configuration (eos_cli_config_gen schema)."""
    if any(n.rs_client for n in d.neighbors):
        raise EosRenderError(f"{d.hostname}: a route server on EOS is not supported (no transparent mode)")
    tcs = _traffic_classes(d)
    sc: dict[str, Any] = {
        "ip_routing": True,
        "ipv6_unicast_routing": True,
        "loopback_interfaces": [{"name": "Loopback0", "ip_address": d.loopback_ipv4}
                                | ({"ipv6_address": d.loopback_ipv6} if d.loopback_ipv6 else {})],
        "ethernet_interfaces": _interfaces(d),
        "router_bgp": _bgp(d),
    }
    v4 = [p for p in d.static_blackholes if ipaddress.ip_network(p).version == 4]
    v6 = [p for p in d.static_blackholes if ipaddress.ip_network(p).version == 6]
    if v4:
        sc["static_routes"] = [{"prefix": p, "interface": "Null0"} for p in v4]
    if v6:
        sc["ipv6_static_routes"] = [{"prefix": p, "interface": "Null0"} for p in v6]
    if pl4 := _prefix_lists(d, 4):
        sc["prefix_lists"] = pl4
    if pl6 := _prefix_lists(d, 6):
        sc["ipv6_prefix_lists"] = pl6
    if d.community_lists:
        sc["ip_community_lists"] = [{"name": cl.name, "entries": [{"action": "permit", "communities": [c]}
                                                                  for c in cl.communities]}
                                    for cl in d.community_lists]
    if d.as_path_lists:
        sc["as_path"] = {"access_lists": [{"name": ap.name, "entries": [{"type": "permit", "match": r, "origin": "any"}
                                                                       for r in ap.regexes]}
                                          for ap in d.as_path_lists]}
    if d.route_maps:
        sc["route_maps"] = [_route_map(rm) for rm in d.route_maps]
    if d.qos_interfaces:
        sc["qos"] = {"map": {"dscp": _qos_map(d, tcs)}}
        sc["qos_profiles"] = _qos_profiles(d, tcs)
    return sc


def validated(sc: dict[str, Any]) -> dict[str, Any]:
    """AVD's own schema check of a structured config.

    Raises:
        EosRenderError: one line per violation (path and message).
    """
    from pyavd import validate_structured_config  # noqa: PLC0415

    res = validate_structured_config(sc)
    problems = [f"{'.'.join(str(p) for p in v.path)}: {v.message}" for v in res.validation_result.violations]
    if problems or res.validated_data is None:
        raise EosRenderError("AVD rejects the structured config: " + "; ".join(problems))
    data: dict[str, Any] = res.validated_data
    return data


def render(d: DeviceIntent) -> str:
    """The device's EOS configuration as Arista's generator writes it."""
    from pyavd import get_device_config  # noqa: PLC0415

    return str(get_device_config(validated(structured_config(d))))
