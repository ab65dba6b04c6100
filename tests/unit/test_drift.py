"""Drift comparison on text fixtures: intended configs from our templates (the golden files) against a
hand-modified running config, for every platform; classification, remediation and state drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from tonle.tasks.change import unchanged_frr

from napalm_frr.diff import FRRConfigTool
from tests.conftest import SMALL
from tonle.compile.intent import SessionOverride, device_intent, load_intent
from tonle.drift.audit import (
    EXTRA,
    MISSING,
    LineDiff,
    classify,
    compare,
    compare_frr,
    frr_lines,
    state_issues,
)
from tonle.source.inventory import load_from_nornir_config

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def golden(platform: str, name: str = "poi-iig-1") -> str:
    return (GOLDEN / platform / f"{name}.conf").read_text()


def by_kind(diffs: list[LineDiff]) -> dict[tuple[str, str], LineDiff]:
    return {(d.kind, d.line): d for d in diffs}


# ---- classification --------------------------------------------------------------------------------

@pytest.mark.parametrize(("section", "line", "feature"), [
    (("router bgp 64500",), "neighbor 192.0.2.1 remote-as 65001", "bgp-neighbors"),
    (("router bgp 64500", "address-family ipv4 unicast"), "neighbor 192.0.2.1 route-map X in", "bgp-neighbors"),
    (("router bgp 64500", "address-family ipv4 unicast"), "network 198.18.0.0/22", "bgp"),
    ((), "router bgp 64500", "bgp"),
    ((), "ip prefix-list PL-X seq 5 permit 198.18.0.0/22", "policies"),
    ((), "bgp community-list standard CL seq 5 permit 64500:1", "policies"),
    (("route-map RM-X permit 10",), "set local-preference 100", "policies"),
    (("ip prefix-list PL-BOGONS-V4",), "seq 10 permit 10.0.0.0/8 le 32", "policies"),
    (("interface eth1",), "description x", "interfaces"),
    (("interface Ethernet3",), "shape rate 40000000", "qos"),
    (("interface Ethernet3", "tx-queue 1"), "shape rate 4000000", "qos"),
    (("interface GigabitEthernet0/0/3",), "service-policy output PM-X", "qos"),
    ((), "policy-map PM-X", "qos"),
    ((), "ip route 198.18.0.0/22 blackhole", "static-routes"),
    ((), "hostname x", "other"),
    ((), "set protocols bgp group EBGP neighbor 198.51.100.5 peer-as 65538", "bgp-neighbors"),
    ((), "set protocols bgp group EBGP type external", "bgp"),
    ((), "set policy-options route-filter-list PL 10.0.0.0/8 orlonger", "policies"),
    ((), "set class-of-service interfaces xe-0/0/3 shaping-rate 1k", "qos"),
    ((), "set routing-options static route 198.18.0.0/22 discard", "static-routes"),
    ((), "set interfaces xe-0/0/1 description x", "interfaces"),
])
def test_classify(section: tuple[str, ...], line: str, feature: str) -> None:
    assert classify(section, line) == feature


# ---- FRR (frr-reload semantics + tc) ---------------------------------------------------------------

def test_frr_identical_and_reordered_configs_do_not_drift() -> None:
    intended = golden("frr")
    assert compare(intended, intended, "frr") == ([], [])
    # Order of top-level blocks does not matter (frr-reload compares contexts, not text).
    blocks = intended.split("\n!\n")
    reordered = "\n!\n".join([blocks[0], *reversed(blocks[1:-1]), blocks[-1]])
    assert reordered != intended
    assert compare(intended, reordered, "frr")[0] == []


def test_frr_neighbour_prefix_list_and_qos_rate_changes() -> None:
    intended = golden("frr")
    running = (intended
               .replace(" neighbor 198.51.100.5 enforce-first-as\n",
                        " neighbor 198.51.100.5 enforce-first-as\n neighbor 192.0.2.99 remote-as 65999\n")
               .replace("ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32\n", "")
               .replace("classid 1:20 htb rate 8000000kbit ceil 8000000kbit", "classid 1:20 htb rate 1000kbit ceil "
                        "1000kbit"))
    diffs, script = compare_frr(intended, running, FRRConfigTool())
    got = by_kind(diffs)
    nb = got[(EXTRA, "neighbor 192.0.2.99 remote-as 65999")]
    assert (nb.feature, nb.section) == ("bgp-neighbors", ("router bgp 64500",))
    assert nb.remediation == ("router bgp 64500", "no neighbor 192.0.2.99 remote-as 65999")
    pl = got[(MISSING, "ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32")]
    assert (pl.feature, pl.section, pl.remediation) == ("policies", (), (pl.line,))
    new_rate = "class replace dev eth3 parent 1:1 classid 1:20 htb rate 8000000kbit ceil 8000000kbit prio 0"
    old_rate = "class replace dev eth3 parent 1:1 classid 1:20 htb rate 1000kbit ceil 1000kbit prio 0"
    q_new, q_old = got[(MISSING, new_rate)], got[(EXTRA, old_rate)]
    assert q_new.feature == q_old.feature == "qos" and q_new.section == ("tc dev eth3",)
    assert q_new.remediation == (f"tc {new_rate}",)
    assert q_old.remediation == ()  # replaced by the intended class, nothing to delete
    assert len(diffs) == 4
    # The whole fix: vtysh commands (indented per context), then the interface's QoS rebuilt by tc.
    assert script[:3] == ["router bgp 64500", " no neighbor 192.0.2.99 remote-as 65999",
                          "ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32"]
    assert script[3] == "tc qdisc del dev eth3 root"
    assert f"tc {new_rate} quantum 1514" in script


def test_frr_extra_qos_interface_is_deleted() -> None:
    intended = golden("frr", "pnh-dix-rs1")
    running = intended + "! tc: qdisc replace dev eth9 root handle 1: htb default 10\n"
    diffs, script = compare(intended, running, "frr")
    assert [(d.kind, d.feature, d.remediation) for d in diffs] == [
        (EXTRA, "qos", ("tc qdisc del dev eth9 root",))]
    assert script == ["tc qdisc del dev eth9 root"]


# ---- IOS-XE / EOS (hier_config) -----------------------------------------------------------------

def test_ios_drift_with_hier_config() -> None:
    intended = golden("ios", "pnh-iig-2")
    running = (intended
               .replace("  neighbor 198.51.100.11 maximum-prefix 1000000\n",
                        "  neighbor 198.51.100.11 maximum-prefix 5\n")
               .replace("ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32\n", "")
               .replace(" service-policy output PM-IIG-EGRESS-40000M\n", ""))
    diffs, script = compare(intended, running, "ios")
    got = by_kind(diffs)
    old = got[(EXTRA, "neighbor 198.51.100.11 maximum-prefix 5")]
    assert old.feature == "bgp-neighbors"
    assert old.section == ("router bgp 64500", "address-family ipv4")
    assert old.remediation == ("router bgp 64500", "address-family ipv4", "no neighbor 198.51.100.11 maximum-prefix 5")
    assert got[(MISSING, "neighbor 198.51.100.11 maximum-prefix 1000000")].feature == "bgp-neighbors"
    assert got[(MISSING, "ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32")].feature == "policies"
    sp = got[(MISSING, "service-policy output PM-IIG-EGRESS-40000M")]
    assert (sp.feature, sp.section) == ("qos", ("interface FortyGigabitEthernet0/3/0",))
    assert "  no neighbor 198.51.100.11 maximum-prefix 5" in script
    assert "ip prefix-list PL-BOGONS-V4 seq 10 permit 10.0.0.0/8 le 32" in script
    assert compare(intended, intended, "ios") == ([], [])


def test_eos_drift_with_hier_config() -> None:
    intended = golden("eos")
    running = (intended
               .replace("   neighbor 198.51.100.5 bfd\n",
                        "   neighbor 198.51.100.5 bfd\n   neighbor 192.0.2.99 remote-as 65999\n")
               .replace("   seq 10 permit 10.0.0.0/8 le 32\n", "", 1)
               .replace("   shape rate 40000000 kbps\n", "   shape rate 10000000 kbps\n"))
    diffs, _ = compare(intended, running, "eos")
    got = by_kind(diffs)
    assert got[(EXTRA, "neighbor 192.0.2.99 remote-as 65999")].feature == "bgp-neighbors"
    seq = got[(MISSING, "seq 10 permit 10.0.0.0/8 le 32")]
    assert (seq.feature, seq.section) == ("policies", ("ip prefix-list PL-BOGONS-V4",))
    assert got[(MISSING, "shape rate 40000000 kbps")].feature == "qos"
    assert got[(EXTRA, "shape rate 10000000 kbps")].section == ("qos profile QP-IIG-EGRESS-40000M",)


# ---- Junos (set format) ----------------------------------------------------------------------------

def test_junos_drift_in_set_format() -> None:
    intended = golden("junos", "peer-policy")
    running = (intended
               .replace("        10.0.0.0/8 orlonger;\n", "", 1)
               .replace("            shaping-rate 2000000k;\n", "            shaping-rate 200000k;\n", 1)
               .replace("                peer-as 65536;\n", "                peer-as 65999;\n", 1))
    diffs, script = compare(intended, running, "junos")
    got = {(d.kind, d.line): d for d in diffs}
    assert got[(MISSING, "set policy-options route-filter-list PL-BOGONS-V4 10.0.0.0/8 orlonger")].feature == \
        "policies"
    peer = next(d for d in diffs if "peer-as 65999" in d.line)
    assert peer.kind == EXTRA and peer.feature == "bgp-neighbors"
    assert peer.remediation[0].startswith("delete protocols bgp group ") and peer.remediation[0].endswith(
        "peer-as 65999")
    rate = next(d for d in diffs if d.line.endswith("shaping-rate 200000k"))
    assert rate.feature == "qos" and rate.kind == EXTRA
    assert len(diffs) == 5  # set lines; the fix (script) replaces the owned objects whole
    assert "    replace: bgp {" in script and "    replace: route-filter-list PL-BOGONS-V4 {" in script
    assert compare(intended, intended, "junos") == ([], [])


def test_unknown_platform() -> None:
    with pytest.raises(ValueError, match="no drift comparison"):
        compare("", "", "nxos")


# ---- state drift -----------------------------------------------------------------------------------

def _snap(up: bool = True, accepted: int = 2, enabled: bool = True, remote_as: int = 65538) -> dict[str, object]:
    return {"up": up, "enabled": enabled, "remote_as": remote_as, "received": accepted, "accepted": accepted}


def test_state_issues() -> None:
    intent = load_intent(load_from_nornir_config(SMALL / "nornir.yaml"))
    di = device_intent(intent, "r2")
    ips = {n.peer: n.ip for n in di.neighbors}
    healthy = {n.ip: _snap() for n in di.neighbors}
    assert state_issues(di, healthy) == []
    down = {**healthy, ips["up1"]: _snap(up=False)}
    assert [i.message for i in state_issues(di, down)] == [
        f"{ips['up1']} (up1, AS65538) should be Established but is down"]
    empty = {**healthy, ips["up1"]: _snap(accepted=0)}
    assert [(i.severity, i.neighbor) for i in state_issues(di, empty)] == [("warning", ips["up1"])]
    stranger = {**healthy, "192.0.2.99": _snap(up=False, remote_as=65999)}
    assert [i.severity for i in state_issues(di, stranger)] == ["warning"]
    missing = {k: v for k, v in healthy.items() if k != ips["up1"]}
    assert "not configured" in state_issues(di, missing)[0].message


def test_state_of_a_disconnected_session() -> None:
    intent = load_intent(load_from_nornir_config(SMALL / "nornir.yaml"))
    di = device_intent(intent, "r2")
    up1 = next(n.ip for n in di.neighbors if n.peer == "up1")
    shut = device_intent(intent, "r2", [SessionOverride("r2", up1, shutdown=True, message="test")])
    healthy = {n.ip: _snap() for n in di.neighbors}
    assert [i.message for i in state_issues(shut, healthy)] == [
        f"{up1} (up1, AS65538) is up although the intent shuts it"]
    assert state_issues(shut, {**healthy, up1: _snap(up=False, enabled=False)}) == []


def test_frr_lines_keep_contexts_and_ignore_order() -> None:
    a = "router bgp 1\n neighbor x remote-as 2\n address-family ipv4 unicast\n  neighbor x activate\n " \
        "exit-address-family\nexit\n!\ninterface lo\n ip address 198.18.0.1/32\nexit\n"
    b = "interface lo\n ip address 198.18.0.1/32\nexit\nrouter bgp 1\n address-family ipv4 unicast\n  neighbor x " \
        "activate\n exit-address-family\n neighbor x remote-as 2\nexit\nend\n"
    assert frr_lines(a) == frr_lines(b)
    moved = b.replace("  neighbor x activate\n exit-address-family\n", " exit-address-family\n neighbor x activate\n")
    assert frr_lines(a) != frr_lines(moved)  # the same line in another context is a difference


def test_frr_out_of_band_static_route_is_an_extra_static_line() -> None:
    # frr-reload.py removes a static route by *adding* "no ip route …"; the report speaks of the device's line.
    intended = golden("frr")
    running = intended.replace("ip route 198.18.0.0/22 blackhole\n",
                               "ip route 198.18.0.0/22 blackhole\nip route 192.0.2.128/25 Null0\n")
    diffs, script = compare_frr(intended, running, FRRConfigTool())
    assert [(d.kind, d.feature, d.line) for d in diffs] == [(EXTRA, "static-routes", "ip route 192.0.2.128/25 Null0")]
    assert script == ["no ip route 192.0.2.128/25 Null0"]


def test_frr_remediation_groups_children_under_one_context_line() -> None:
    intended = golden("frr")
    running = intended.replace(" match as-path AP-TH-CARRIER-B-IN\n set local-preference 100\n"
                               " set community 64500:100 additive\n",
                               " match as-path AP-TH-CARRIER-B-IN\n", 1)
    assert running != intended
    diffs, script = compare_frr(intended, running, FRRConfigTool())
    assert len(diffs) == 2 and {d.section for d in diffs} == {("route-map RM-TH-CARRIER-B-IN-V4 permit 30",)}
    assert script.count("route-map RM-TH-CARRIER-B-IN-V4 permit 30") == 1
    assert sorted(script[1:]) == [" set community 64500:100 additive", " set local-preference 100"]


def test_plan_skips_the_diff_only_when_nothing_would_change() -> None:
    intended = golden("frr")
    lines = intended.splitlines(keepends=True)
    reordered = "".join(lines[len(lines) // 2:] + lines[:len(lines) // 2])
    assert frr_lines(reordered) == frr_lines(intended)  # the reordering keeps every line's context
    assert unchanged_frr(intended, "Building configuration...\n\n" + reordered)
    assert not unchanged_frr(intended, intended.replace("ip route 198.18.0.0/22 blackhole\n", ""))
    assert not unchanged_frr(intended, intended + "! tc: qdisc replace dev eth9 root handle 1: htb default 10\n")


def test_plan_fast_path_holds_with_bgpds_empty_rpki_section() -> None:
    intended = "hostname r1\n!\nrouter bgp 64500\n bgp router-id 198.18.0.1\nexit\n!\n"  # no RPKI in the intent
    assert unchanged_frr(intended, intended + "rpki\nexit\n!\n")  # the module loaded, nothing configured in it
    assert not unchanged_frr(intended, intended + "rpki\n rpki cache 192.0.2.1 3323 preference 1\nexit\n!\n")
