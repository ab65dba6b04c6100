"""The BGP behaviour every vendor rendering must have, read back from the rendered text of each platform.

Per neighbor of the intent, on frr, ios, eos and junos alike:

* iBGP: next-hop-self (FRR `next-hop-self force`, IOS `next-hop-self all`, EOS `next-hop-self`, Junos an
  export policy with `then next-hop self`); route-reflector clients exactly where the intent has them;
* route-server clients (we are the route server): the client setting (FRR `route-server-client` and the
  next hop unchanged, IOS `route-server-client`, Junos group `route-server-client`; EOS refuses);
* enforce-first-as: enforced for every eBGP neighbor but a transparent route server (FRR per neighbor;
  IOS router-wide, or by a `deny 1` route-map entry when router-wide is off; EOS per neighbor; Junos per
  neighbor);
* RFC 8212: every eBGP neighbor has an import and an export policy whose last entry denies everything
  (EOS also `missing-policy ... action deny`).
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tests.golden.cases import REFUSED, case, params
from tests.golden.configparse import Node, junos_set_lines, parse_indented
from tonle.compile.eos_avd import EosRenderError
from tonle.compile.intent import DeviceIntent
from tonle.compile.ios_syntax import not_first_as
from tonle.compile.render import render_intent

Facts = dict[str, set[str]]


def _cli(platform: str, d: DeviceIntent, text: str) -> tuple[Facts, dict[str, list[tuple[str, list[str]]]]]:
    """Neighbor facts and route-maps (name -> [(head, lines)]) of an FRR, IOS or EOS rendering."""
    root = parse_indented(text, 3 if platform == "eos" else 1)
    bgp = next(c for c in root.children if c.line.startswith("router bgp "))
    top = bgp.lines()
    afs = [x for c in bgp.children if c.line.startswith("address-family") for x in c.lines()]
    maps: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for c in root.children:
        if c.line.startswith("route-map "):
            maps[c.line.split()[1]].append((c.line, c.lines()))
    aspath: dict[str, list[str]] = defaultdict(list)
    for x in root.lines():
        if m := re.match(r"ip as-path access-list (\S+) permit (\S+)", x):
            aspath[m.group(1)].append(m.group(2))
    f: Facts = defaultdict(set)
    router_wide_off = "no bgp enforce-first-as" in top
    for n in d.neighbors:
        p = f"neighbor {n.ip} "
        mine = [x[len(p):] for x in top + afs if x.startswith(p)]
        if {"next-hop-self force", "next-hop-self all", "next-hop-self"} & set(mine):
            f[n.ip].add("nhs")
        if "route-reflector-client" in mine:
            f[n.ip].add("rr")
        if "route-server-client" in mine and (platform != "frr" or "attribute-unchanged next-hop" in mine):
            f[n.ip].add("rs")
        for x in mine:
            if m := re.match(r"route-map (\S+) (in|out)$", x):
                f[n.ip].add(f"{m.group(2)}:{m.group(1)}")
        if n.kind == "ibgp":
            continue
        if platform == "frr":
            first = "enforce-first-as" in mine
        elif platform == "eos":
            first = f"no neighbor {n.ip} enforce-first-as" not in top
            if {"missing-policy address-family all direction in action deny",
                    "missing-policy address-family all direction out action deny"} <= set(mine):
                f[n.ip].add("missing-policy-deny")
        else:  # IOS: router-wide, or by the import route-map's first entry
            first = not router_wide_off
            if router_wide_off and n.import_map and maps.get(n.import_map):
                head, body = maps[n.import_map][0]
                lists = [x.split()[2] for x in body if x.startswith("match as-path ")]
                first = head.endswith(" deny 1") and lists == [lists[0]] and \
                    aspath.get(lists[0]) == [not_first_as(n.remote_asn)]
        if first:
            f[n.ip].add("first-as")
    return f, maps


def _junos(d: DeviceIntent, text: str) -> tuple[Facts, dict[str, list[str]]]:
    sets = set(junos_set_lines(text))
    f: Facts = defaultdict(set)
    for n in d.neighbors:
        group = next(m.group(1) for x in sets if (m := re.match(rf"set protocols bgp group (\S+) neighbor {n.ip} ", x)))
        g, nb = f"set protocols bgp group {group}", f"set protocols bgp group {group} neighbor {n.ip}"
        exports = {x.split()[-1] for x in sets if x.startswith((f"{g} export ", f"{nb} export "))}
        if any(f"set policy-options policy-statement {e} term bgp-table then next-hop self" in sets for e in exports):
            f[n.ip].add("nhs")
        if any(x.startswith(f"{g} cluster ") for x in sets):
            f[n.ip].add("rr")
        if f"{g} route-server-client" in sets:
            f[n.ip].add("rs")
        if f"{nb} enforce-first-as" in sets:
            f[n.ip].add("first-as")
        for kw, direction in (("import", "in"), ("export", "out")):
            f[n.ip] |= {f"{direction}:{x.split()[-1]}" for x in sets if x.startswith(f"{nb} {kw} ")}
    policies: dict[str, list[str]] = defaultdict(list)
    for x in junos_set_lines(text):
        if m := re.match(r"set policy-options policy-statement (\S+) (.*)$", x):
            policies[m.group(1)].append(m.group(2))
    return f, policies


def _denies_last_cli(entries: list[tuple[str, list[str]]]) -> bool:
    last_head, last_body = max(entries, key=lambda e: int(e[0].split()[3]))
    return last_head.split()[2] == "deny" and not any(x.startswith("match ") for x in last_body)


def _denies_last_junos(stmts: list[str]) -> bool:
    return bool(stmts) and stmts[-1] == "then reject"


@pytest.mark.parametrize(("platform", "name"), params())
def test_bgp_semantics(platform: str, name: str) -> None:
    d = case(platform, name).intent
    text = render_intent(d, platform)
    if platform == "junos":
        facts, jpol = _junos(d, text)
    else:
        facts, maps = _cli(platform, d, text)
    for n in d.neighbors:
        f, who = facts[n.ip], f"{platform} {name} {n.ip} ({n.kind})"
        if n.kind == "ibgp":
            assert "nhs" in f, f"{who}: iBGP without next-hop-self"
            assert ("rr" in f) == n.rr_client, f"{who}: route-reflector client {'missing' if n.rr_client else 'extra'}"
            continue
        assert ("rs" in f) == n.rs_client, f"{who}: route-server client setting {'missing' if n.rs_client else 'extra'}"
        assert ("first-as" in f) == n.enforce_first_as, \
            f"{who}: first-AS check {'missing' if n.enforce_first_as else 'must be off (transparent route server)'}"
        assert n.import_map and n.export_map, f"{who}: RFC 8212 needs an import and an export policy"
        for pol, direction in ((n.import_map, "in"), (n.export_map, "out")):
            assert f"{direction}:{pol}" in f, f"{who}: policy {pol} {direction} not applied"
            if platform == "junos":
                assert _denies_last_junos(jpol[pol]), f"{who}: {pol} does not end in a reject (RFC 8212)"
            else:
                assert _denies_last_cli(maps[pol]), f"{who}: {pol} does not end in a deny-all entry (RFC 8212)"
        if platform == "eos":
            assert "missing-policy-deny" in f, f"{who}: no missing-policy deny (RFC 8212)"


@pytest.mark.parametrize(("platform", "name"), sorted(REFUSED))
def test_refused_cases(platform: str, name: str) -> None:
    """EOS has no transparent route-server mode: rendering a route server there is refused, not guessed."""
    with pytest.raises(EosRenderError, match="route server"):
        render_intent(case(platform, name).intent, platform)


def test_every_vendor_has_its_reference_and_feature_cases() -> None:
    have = set(params())
    for platform, names in {"ios": {"pnh-iig-1", "pnh-iig-2", "disconnect", "peer-policy", "route-server"},
                            "eos": {"poi-iig-1", "bvt-iig-1", "disconnect", "peer-policy", "route-reflector"},
                            "junos": {"kos-iig-1", "disconnect", "peer-policy", "route-reflector", "route-server"}
                            }.items():
        assert {(platform, n) for n in names} <= have
    # Every case with a route reflector / route-server client / transparent route server on some vendor
    assert any(n.rr_client for p, c in have if p in ("eos", "junos") for n in case(p, c).intent.neighbors)
    assert any(n.rs_client for p, c in have if p in ("ios", "junos") for n in case(p, c).intent.neighbors)
    assert any(not n.enforce_first_as for p, c in have if p == "ios" for n in case(p, c).intent.neighbors)


_ = Node  # the CLI parser's node type (kept for readers of _cli)
