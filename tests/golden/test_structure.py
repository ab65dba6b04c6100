"""Structural checks of every rendering (tests/golden/cases.py), independent of the exact text.

* FRR: the local vtysh accepts the configuration (`napalm_frr.diff.FRRConfigTool.validate`).
* IOS-XE / EOS: consistent indentation; every neighbor of the intent with its remote-as, activation in
  its address family only, route-maps, shutdown, MD5, BFD and prefix limit; nothing referenced that is
  not defined (route-maps, prefix lists of the right family, AS-path and community lists); every
  route-map of the intent used, with its entries.
* Junos: balanced braces; the text, turned into `set` lines, has every neighbor (group type, peer-as,
  policies, inactive when shut down, prefix-limit with teardown, MD5, BFD), every referenced policy,
  route-filter-list, AS-path (group) and community defined, and every policy ends in a reject.
* QoS on all three: every DSCP mark of a policy is classified exactly once, into the right class, and
  every rate equals the intent's.
"""

from __future__ import annotations

import re
from collections import Counter

import jinja2
import pytest
from pyavd.j2filters import encrypt

from napalm_frr.diff import FRRConfigTool
from tests.golden.cases import case, params
from tests.golden.configparse import Node, junos_set_lines, parse_indented, unquote
from tonle.compile.intent import DeviceIntent, Neighbor, QosApplied
from tonle.compile.render import environment, render_intent


def kbps(mbps: float) -> int:
    return round(mbps * 1000)


def bps(mbps: float) -> int:
    return round(mbps * 1_000_000)


# ---- FRR --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("platform", "name"), params("frr"))
def test_frr_vtysh_accepts(platform: str, name: str) -> None:
    FRRConfigTool().validate(render_intent(case(platform, name).intent, "frr"))


# ---- IOS-XE and EOS -------------------------------------------------------------------------------

def _bgp(root: Node, d: DeviceIntent) -> Node:
    found = root.find(f"router bgp {d.asn}")
    assert len(found) == 1, f"expected one `router bgp {d.asn}`"
    return found[0]


def _af(bgp: Node, afi: int) -> Node:
    name = "ipv4" if afi == 4 else "ipv6"
    found = [c for c in bgp.children if c.line == f"address-family {name}"]
    assert len(found) == 1, f"expected one `address-family {name}`"
    return found[0]


def _check_cli_neighbor(bgp: Node, n: Neighbor, platform: str) -> None:
    top = set(bgp.lines())
    af = set(_af(bgp, n.afi).lines())
    other = set(_af(bgp, 10 - n.afi).lines())
    p = f"neighbor {n.ip}"
    assert f"{p} remote-as {n.remote_asn}" in top
    assert f"{p} activate" in af and f"{p} activate" not in other, f"{n.ip} activated in the wrong family"
    # route-maps are per address family on both platforms, the prefix limit too on IOS
    for m, direction in ((n.import_map, "in"), (n.export_map, "out")):
        if m:
            assert f"{p} route-map {m} {direction}" in af, f"{n.ip}: route-map {m} {direction} missing"
        else:
            assert not any(x.startswith(f"{p} route-map ") and x.endswith(f" {direction}") for x in af)
    assert (f"{p} shutdown" in top) == n.shutdown
    if platform == "ios":
        assert (f"{p} fall-over bfd" in top) == n.bfd
        assert (f"{p} password {n.md5_key}" in top) == bool(n.md5_key)
        limit = [x for x in af if x.startswith(f"{p} maximum-prefix ")]
        assert limit == ([f"{p} maximum-prefix {n.max_prefixes}"] if n.max_prefixes else [])
        assert f"{p} send-community both" in af
    else:  # EOS: maximum-routes is per neighbor (each neighbor has one family)
        assert (f"{p} bfd" in top) == n.bfd
        # EOS stores the key encrypted with the neighbor address
        assert (n.md5_key is not None and f"{p} password 7 {encrypt(n.md5_key, passwd_type='bgp', key=n.ip)}"
                in top) == bool(n.md5_key)
        assert f"{p} maximum-routes {n.max_prefixes or 0}" in top
        assert f"{p} send-community" in top


def _check_cli_references(root: Node, d: DeviceIntent, platform: str) -> None:
    lines = root.lines()
    bgp_lines = [x for c in [_bgp(root, d)] for x in c.lines() + [y for a in c.children for y in a.lines()]]
    used_maps = {m.group(1) for x in bgp_lines if (m := re.match(r"neighbor \S+ route-map (\S+) (in|out)$", x))}
    rm_nodes = [c for c in root.children if c.line.startswith("route-map ")]
    defined_maps = {c.line.split()[1] for c in rm_nodes}
    assert used_maps <= defined_maps, f"route-maps used but not defined: {used_maps - defined_maps}"
    assert defined_maps == {rm.name for rm in d.route_maps}, "route-maps differ from the intent's"
    assert defined_maps <= used_maps, f"route-maps defined but unused: {defined_maps - used_maps}"
    for rm in d.route_maps:
        heads = [c.line for c in rm_nodes if c.line.split()[1] == rm.name]
        if heads and heads[0] == f"route-map {rm.name} deny 1" and rm.terms[0].seq != 1:  # IOS: first-AS check
            heads = heads[1:]
        assert heads == [f"route-map {rm.name} {t.action} {t.seq}" for t in rm.terms]

    if platform == "ios":
        pls = {(x.split()[0], x.split()[2]) for x in lines if re.match(r"ipv?6? prefix-list ", x)}
        aps = {x.split()[3] for x in lines if x.startswith("ip as-path access-list ")}
        assert all(401 <= int(a) <= 500 for a in aps), f"AS-path lists outside Tonlé's range 401-500: {aps}"
        cls = {x.split()[3] for x in lines if x.startswith("ip community-list standard ")}
    else:
        pls = {(x.split()[0], x.split()[2]) for x in lines if re.match(r"ipv?6? prefix-list \S+$", x)}
        aps = {x.split()[3] for x in lines if x.startswith("ip as-path access-list ")}
        cls = {x.split()[2] for x in lines if x.startswith("ip community-list ")}
    # large-community lists: `bgp large-community-list standard N` (frr), `ip large-community-list standard N` (ios)
    lcls = {m.group(1) for x in lines if (m := re.match(r"(?:bgp|ip) large-community-list standard (\S+) ", x))}
    assert lcls == {lc.name for lc in d.large_community_lists}
    for node in rm_nodes:
        for x in node.lines():
            if m := re.match(r"match (ip|ipv6) address prefix-list (\S+)$", x):
                assert (m.group(1), m.group(2)) in pls, f"{node.line}: {x}: not defined (in that family)"
            elif m := re.match(r"match as-path (\S+)$", x):
                assert m.group(1) in aps, f"{node.line}: {x}: AS-path list not defined"
            elif m := re.match(r"match community (\S+)$", x):
                assert m.group(1) in cls, f"{node.line}: {x}: community list not defined"
            elif m := re.match(r"match large-community (\S+)$", x):
                assert m.group(1) in lcls, f"{node.line}: {x}: large-community list not defined"
            elif re.match(r"match (rpki (invalid|notfound|not-found)|origin-as validity (invalid|not-found))$", x):
                # an RPKI state is only known where the device polls an RTR cache
                assert d.rpki_caches, f"{node.line}: {x}: RPKI state matched but no RTR cache configured"
                assert _rpki_caches_rendered(root, d, platform), f"{node.line}: {x}: the RTR caches are not rendered"
            elif x.startswith("match "):
                pytest.fail(f"{node.line}: unexpected {x!r}")
    assert {n for _, n in pls} == {pl.name for pl in d.prefix_lists}
    assert cls == {cl.name for cl in d.community_lists}


def _rpki_caches_rendered(root: Node, d: DeviceIntent, platform: str) -> bool:
    """Every RTR cache of the intent is in the rendering, in the platform's own form."""
    text = "\n".join(root.lines() + [y for c in root.children for y in c.lines()
                                     + [z for g in c.children for z in g.lines()]])
    forms = {"frr": "rpki cache {a} {p} preference {r}", "ios": "bgp rpki server tcp {a} port {p} refresh 600",
             "eos": "host {a} port {p}"}
    return all(forms[platform].format(a=c.address, p=c.port, r=c.preference) in text for c in d.rpki_caches)


def _check_ios_qos(root: Node, d: DeviceIntent) -> None:
    cmaps = {c.line.split()[2]: [int(v) for x in c.lines() if x.startswith("match dscp ") for v in x.split()[2:]]
             for c in root.children if c.line.startswith("class-map match-any ")}
    pmaps = {c.line.split()[1]: c for c in root.children if c.line.startswith("policy-map ")}
    for i in d.qos_interfaces:
        q: QosApplied = i.qos  # type: ignore[assignment]
        iface = root.find(f"interface {i.name}")[0]
        outs = [x.split()[2] for x in iface.lines() if x.startswith("service-policy output ")]
        assert len(outs) == 1, f"{i.name}: one output policy expected"
        parent = pmaps[outs[0]]
        assert [c.line for c in parent.children] == ["class class-default"]
        pdef = parent.children[0].lines()
        assert f"shape average {bps(q.shape_mbps)}" in pdef
        child = pmaps[next(x.split()[1] for x in pdef if x.startswith("service-policy "))]
        classes = {c.line.split()[1]: c.lines() for c in child.children}
        marks: Counter[int] = Counter()
        for c in q.classes:
            cm = "class-default" if c.default else f"CM-{c.name.upper()}"
            body = classes.pop(cm)
            if not c.default:
                assert sorted(cmaps[cm]) == sorted(c.dscp), f"{cm}: marks differ"
                marks.update(cmaps[cm])
            if c.priority:
                assert body[:2] == ["priority level 1", f"police cir {bps(c.ceil_mbps)}"], f"{cm}: {body}"
            else:
                assert f"bandwidth {kbps(c.rate_mbps)}" in body, f"{cm}: {body}"
                assert (f"shape average {bps(c.ceil_mbps)}" in body) == (c.ceil_mbps < q.shape_mbps)
        assert not classes, f"classes not in the intent: {list(classes)}"
        assert all(v == 1 for v in marks.values()), f"a DSCP mark is matched twice: {marks}"


def _check_eos_qos(root: Node, d: DeviceIntent) -> None:
    tc_of: dict[int, int] = {}
    for x in root.lines():
        if m := re.match(r"qos map dscp ([\d ]+) to traffic-class (\d)$", x):
            for v in m.group(1).split():
                assert int(v) not in tc_of, f"DSCP {v} mapped twice"
                tc_of[int(v)] = int(m.group(2))
    if not d.qos_interfaces:
        assert not tc_of
        return
    assert sorted(tc_of) == list(range(64)), "every DSCP value needs a traffic class"
    profiles = {c.line.split()[2]: c for c in root.children if c.line.startswith("qos profile ")}
    for i in d.interfaces:
        iface = root.find(f"interface {i.name}")[0].lines()
        if i.qos is None:
            assert "qos trust dscp" in iface, f"{i.name}: ingress ports trust DSCP"
            continue
        q: QosApplied = i.qos
        prof = [x.split()[1] for x in iface if x.startswith("service-profile ")]
        assert len(prof) == 1, f"{i.name}: one service profile expected"
        body = profiles[prof[0]]
        assert "qos trust dscp" in body.lines()
        assert f"shape rate {kbps(q.shape_mbps)} kbps" in body.lines()
        queues = {int(c.line.split()[1]): c.lines() for c in body.children if c.line.startswith("tx-queue ")}
        for c in q.classes:
            tcs = {tc_of[v] for v in c.dscp} | ({0} if c.default else set())
            assert len(tcs) == 1, f"{c.name}: marks in several traffic classes {tcs}"
            qb = queues.pop(tcs.pop())
            if c.priority:
                assert "priority strict" in qb
            else:  # Arista's generator writes guaranteed bandwidth only as a percentage
                assert "no priority" in qb
                assert f"bandwidth guaranteed percent {round(c.rate_mbps * 100 / q.shape_mbps)}" in qb
            assert not any(re.match(r"bandwidth guaranteed \d", x) for x in qb)
            assert (f"shape rate {kbps(c.ceil_mbps)} kbps" in qb) == (c.ceil_mbps < q.shape_mbps)
        assert not queues, f"{i.name}: tx-queues for no class: {sorted(queues)}"


@pytest.mark.parametrize(("platform", "name"), params("ios", "eos"))
def test_cli_structure(platform: str, name: str) -> None:
    d = case(platform, name).intent
    root = parse_indented(render_intent(d, platform), 1 if platform == "ios" else 3)
    assert not root.find("hostname "), "the hostname is not Tonlé's"
    bgp = _bgp(root, d)
    assert f"{'bgp ' if platform == 'ios' else ''}router-id {d.router_id}" in bgp.lines()
    for n in d.neighbors:
        _check_cli_neighbor(bgp, n, platform)
    _check_cli_references(root, d, platform)
    for i in d.interfaces:
        iface = root.find(f"interface {i.name}")
        assert len(iface) == 1, f"interface {i.name} missing or twice"
        assert f"description {i.description}" in iface[0].lines()
        if i.ipv6:
            assert f"ipv6 address {i.ipv6}" in iface[0].lines()
    (_check_ios_qos if platform == "ios" else _check_eos_qos)(root, d)


# ---- Junos ------------------------------------------------------------------------------------------

def _junos_cp(v: int) -> str:
    return f"{v:06b}"


@pytest.mark.parametrize(("platform", "name"), params("junos"))
def test_junos_structure(platform: str, name: str) -> None:
    d = case(platform, name).intent
    sets = junos_set_lines(render_intent(d, "junos"))
    s = set(sets)
    assert not any(x.startswith("set system ") for x in s), "system is not Tonlé's"
    assert f"set routing-options router-id {d.router_id}" in s
    assert f"set routing-options autonomous-system {d.asn}" in s
    for p in d.static_blackholes:
        rib = "rib inet6.0 " if ":" in p else ""
        assert f"set routing-options {rib}static route {p} discard" in s

    groups: dict[str, str] = {}
    for x in sets:
        if m := re.match(r"set protocols bgp group (\S+) neighbor (\S+) ", x):
            groups.setdefault(m.group(2), m.group(1))
    used_policies: set[str] = set()
    for n in d.neighbors:
        g = groups.get(n.ip)
        assert g, f"neighbor {n.ip} missing"
        p = f"set protocols bgp group {g} neighbor {n.ip}"
        fam = "inet" if n.afi == 4 else "inet6"
        assert f"set protocols bgp group {g} family {fam} unicast" in s
        if n.kind == "ibgp":
            assert f"set protocols bgp group {g} type internal" in s
            assert f"set protocols bgp group {g} export TONLE-IBGP-OUT" in s
            assert (f"set protocols bgp group {g} cluster {d.router_id}" in s) == n.rr_client
            used_policies.add("TONLE-IBGP-OUT")
        else:
            assert f"set protocols bgp group {g} type external" in s
            assert f"{p} peer-as {n.remote_asn}" in s
        for pol, kw in ((n.import_map, "import"), (n.export_map, "export")):
            assert (f"{p} {kw} {pol}" in s) == bool(pol)
            if pol:
                used_policies.add(pol)
        assert (f"deactivate protocols bgp group {g} neighbor {n.ip}" in s) == n.shutdown
        limit = f"{p} family {fam} unicast prefix-limit"
        assert (f"{limit} maximum {n.max_prefixes}" in s) == bool(n.max_prefixes)
        assert (f"{limit} teardown" in s) == bool(n.max_prefixes)
        assert any(x.startswith(f"{p} authentication-key ") for x in s) == bool(n.md5_key)
        assert any(x.startswith(f"{p} bfd-liveness-detection ") for x in s) == n.bfd

    po = "set policy-options "
    defined = {kind: {x.split()[3] for x in sets if x.startswith(f"{po}{kind} ")}
               for kind in ("policy-statement", "route-filter-list", "as-path", "as-path-group", "community")}
    assert used_policies == defined["policy-statement"], "policies used and defined differ"
    assert {rm.name for rm in d.route_maps} <= defined["policy-statement"]
    for x in sets:
        if m := re.match(r"set policy-options policy-statement \S+ term \S+ from (route-filter-list|as-path|"
                         r"as-path-group|community) (\S+)$", x):
            assert m.group(2) in defined[m.group(1)], f"{x}: not defined"
        elif re.match(r"set policy-options policy-statement \S+ term \S+ from validation-database ", x):
            assert all(f"set routing-options validation group TONLE-RPKI session {c.address} port {c.port}" in s
                       for c in d.rpki_caches) and d.rpki_caches, f"{x}: no RTR session configured"
        elif m := re.match(r"set policy-options policy-statement \S+ term \S+ then community add (\S+)$", x):
            assert m.group(1) in defined["community"], f"{x}: not defined"
    for pol in defined["policy-statement"]:
        assert f"{po}policy-statement {pol} then reject" in s, f"{pol} must end with a reject"
    for rm in d.route_maps:
        terms = {x.split()[5] for x in sets if x.startswith(f"{po}policy-statement {rm.name} term ")}
        assert terms == {str(t.seq) for t in rm.terms}
        for t in rm.terms:
            then = f"{po}policy-statement {rm.name} term {t.seq} then"
            assert (f"{then} accept" in s) == (t.action == "permit")
            assert (f"{then} reject" in s) == (t.action == "deny")
            if t.set_local_pref is not None:
                assert f"{then} local-preference {t.set_local_pref}" in s
    assert {x.split()[3] for x in sets if x.startswith(f"{po}route-filter-list ")} == {p.name for p in d.prefix_lists}

    # QoS
    cos = "set class-of-service "
    if not d.qos_interfaces:
        assert not any(x.startswith(cos) for x in sets)
        return
    queue = {x.split()[4]: int(x.split()[6]) for x in sets if x.startswith(f"{cos}forwarding-classes class ")}
    for kind, name in (("dscp", "TONLE-DSCP"), ("dscp-ipv6", "TONLE-DSCP-IPV6")):
        fc_of: dict[str, str] = {}
        for x in sets:
            if x.startswith(f"{cos}classifiers {kind} {name} forwarding-class "):
                w = x.split()
                assert w[-2] == "code-points"
                assert w[-1] not in fc_of, f"{kind}: code point {w[-1]} classified twice"
                fc_of[w[-1]] = w[6]
        assert sorted(fc_of) == sorted(_junos_cp(v) for v in range(64)), f"{kind}: every code point needed"
        for i in d.qos_interfaces:
            for c in i.qos.classes:  # type: ignore[union-attr]
                for v in c.dscp:
                    assert queue[fc_of[_junos_cp(v)]] == (0 if c.default else queue[c.name])
    for i in d.interfaces:
        for kind, name in (("dscp", "TONLE-DSCP"), ("dscp-ipv6", "TONLE-DSCP-IPV6")):
            assert f"{cos}interfaces {i.name} unit 0 classifiers {kind} {name}" in s
    for i in d.qos_interfaces:
        q: QosApplied = i.qos  # type: ignore[assignment]
        assert f"{cos}interfaces {i.name} shaping-rate {kbps(q.shape_mbps)}k" in s
        smap = next(x.split()[5] for x in sets if x.startswith(f"{cos}interfaces {i.name} scheduler-map "))
        sched = {x.split()[5]: x.split()[7] for x in sets if x.startswith(f"{cos}scheduler-maps {smap} ")}
        assert len(sched) == len(q.classes)
        for c in q.classes:
            fc = next(f for f, qn in queue.items() if qn == 0) if c.default else c.name
            sp = f"{cos}schedulers {sched.pop(fc)}"
            if c.priority:  # no transmit-rate with strict-high (QFX refuses it): capped by its shaping-rate
                assert not any(x.startswith(f"{sp} transmit-rate") for x in s)
                assert f"{sp} shaping-rate {kbps(c.ceil_mbps)}k" in s
            else:
                assert f"{sp} transmit-rate {kbps(c.rate_mbps)}k" in s
                assert (f"{sp} shaping-rate {kbps(c.ceil_mbps)}k" in s) == (c.ceil_mbps < q.shape_mbps)
            assert f"{sp} priority {'strict-high' if c.priority else 'low'}" in s


_AS_PATH = '{% import "junos/macros.j2" as m %}{{ m.as_path(r, d) }}'


@pytest.mark.parametrize(("cisco", "junos"), [
    ("^65540(_[0-9]+)*$", '"65540 .*"'),
    ("^65540_65541$", '"65540 65541"'),
    ("_65542_", '".* 65542 .*"'),
    ("^65540_[0-9]+$", '"65540 ."'),
    ("^65540_", '"65540 .*"'),
    ("_65540$", '".* 65540"'),
])
def test_junos_as_path_translation(cisco: str, junos: str) -> None:
    tpl = environment().from_string(_AS_PATH)
    assert tpl.render(r=cisco, d=case("junos", "kos-iig-1").intent) == junos


@pytest.mark.parametrize("cisco", ["^(65540|65541)_", "^6554[0-9]$", r"^65540\s"])
def test_junos_as_path_refuses_what_it_cannot_translate(cisco: str) -> None:
    with pytest.raises(jinja2.UndefinedError, match="cannot translate the AS-path regex"):
        environment().from_string(_AS_PATH).render(r=cisco, d=case("junos", "kos-iig-1").intent)


def test_junos_parser_rejects_unbalanced() -> None:
    for bad in ("a {\n b;\n", "a {\n b;\n}\n}\n", "a {\n b\n}\n", "a [ b c;\n"):
        with pytest.raises(ValueError):
            junos_set_lines(bad)
    assert junos_set_lines('a {\n    inactive: b c { d [ e f ]; }\n    /* note */ g "h i";\n}\n') == [
        "set a b c d e", "set a b c d f", 'set a g "h i"', "deactivate a b c"]
    assert unquote('"h \\"i\\""') == 'h "i"'
