"""Owned sections: on a real router the push never touches what Tonlé does not own.

For each vendor platform, a realistic running configuration is made of the device's unmanaged sections
(AAA, users, management interface and VRF, SSH/eAPI/NETCONF, NTP, SNMP, logging, banners, CoPP, a
management static route and route-map, unmanaged lines *inside* managed interfaces) and an out-of-date
owned part (a stale neighbor, a stale route-map / policy-statement and prefix list, an old blackhole
route, a changed interface address, a missing line). Then, predicting the result of the push with
hier_config's `future` (ios, eos) or the model of Junos `load replace` (junos):

* the unmanaged part after the push equals the unmanaged part before, line for line;
* the owned part after the push equals the owned part of the intended configuration;
* the candidate names nothing unmanaged, and a second plan has nothing to do;
* everything Tonlé renders is owned (it renders nothing it would not manage).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from napalm_frr import tc
from napalm_frr.diff import FRRConfigTool, as_shown
from tests.golden.cases import REPO, case
from tonle.compile import owned
from tonle.compile.render import render_intent
from tonle.drift.audit import compare, unmanaged_lines
from tonle.interfaces.cli import main

IOS_UNMANAGED = """\
version 17.9
service timestamps debug datetime msec
service password-encryption
hostname pnh-iig-1
!
vrf definition Mgmt-intf
 address-family ipv4
 exit-address-family
!
logging buffered 64000
logging host 198.19.254.250 vrf Mgmt-intf
aaa new-model
aaa authentication login default group tacacs+ local
aaa authorization exec default group tacacs+ local
username noc privilege 15 secret 9 $9$4x2Kx2Kx$abcdefghijklmnop
ip domain name nig.example
ip ssh version 2
ip prefix-list MGMT-NETS seq 5 permit 198.19.254.0/24
ip route vrf Mgmt-intf 0.0.0.0 0.0.0.0 198.19.254.1
!
interface GigabitEthernet0
 description out-of-band management
 vrf forwarding Mgmt-intf
 ip address 198.19.254.11 255.255.255.0
 negotiation auto
!
route-map MGMT-ONLY permit 10
 match ip address prefix-list MGMT-NETS
!
class-map match-any COPP-BGP
 match access-group name COPP-BGP
policy-map COPP-POLICY
 class COPP-BGP
  police 1000000 conform-action transmit exceed-action drop
!
control-plane
 service-policy input COPP-POLICY
!
snmp-server community s3cret RO 99
snmp-server location Phnom Penh
ntp server vrf Mgmt-intf 198.19.254.250
line vty 0 4
 transport input ssh
"""

EOS_UNMANAGED = """\
! device: poi-iig-1 (DCS-7280CR3-32P4, EOS-4.31.2F)
transceiver qsfp default-mode 4x10G
service routing protocols model multi-agent
hostname poi-iig-1
ip name-server vrf MGMT 198.19.254.53
ntp server vrf MGMT 198.19.254.250
snmp-server community s3cret ro
spanning-tree mode none
aaa authorization exec default local
username admin privilege 15 role network-admin secret sha512 $6$abcdefgh$ijklmnop
vrf instance MGMT
management api http-commands
   protocol https
   no shutdown
   !
   vrf MGMT
      no shutdown
management ssh
   vrf MGMT
      no shutdown
interface Management1
   description out-of-band management
   vrf MGMT
   ip address 198.19.254.14/24
ip routing vrf MGMT
ip route vrf MGMT 0.0.0.0/0 198.19.254.1
ip prefix-list MGMT-NETS
   seq 10 permit 198.19.254.0/24
route-map MGMT-ONLY permit 10
   match ip address prefix-list MGMT-NETS
logging host 198.19.254.250
system control-plane
   ip access-group CPP-IN in
"""

JUNOS_UNMANAGED = """\
system {
    host-name kos-iig-1;
    root-authentication {
        encrypted-password "$6$abcdefgh$ijklmnop"; ## SECRET-DATA
    }
    login {
        message "Authorized access only";
        user noc {
            class super-user;
            authentication {
                encrypted-password "$6$abcdefgh$qrstuvwx"; ## SECRET-DATA
            }
        }
    }
    services {
        ssh;
        netconf {
            ssh;
        }
    }
    syslog {
        host 198.19.254.250 {
            any notice;
        }
    }
    ntp {
        server 198.19.254.250;
    }
}
snmp {
    community s3cret {
        authorization read-only;
    }
}
interfaces {
    fxp0 {
        unit 0 {
            family inet {
                address 198.19.254.13/24;
            }
        }
    }
    lo0 {
        unit 0 {
            family inet {
                filter {
                    input PROTECT-RE;
                }
            }
        }
    }
}
firewall {
    family inet {
        filter PROTECT-RE {
            term bgp {
                from {
                    protocol tcp;
                    port bgp;
                }
                then accept;
            }
        }
    }
}
policy-options {
    prefix-list MGMT {
        198.19.254.0/24;
    }
    policy-statement LOAD-BALANCE {
        then {
            load-balance per-packet;
        }
    }
}
routing-options {
    static {
        route 0.0.0.0/0 next-hop 198.19.254.1;
    }
    forwarding-table {
        export LOAD-BALANCE;
    }
}
"""

# Words that only unmanaged sections contain: the candidate must not name them.
UNMANAGED_WORDS = re.compile(r"aaa|username|ntp|snmp|logging|syslog|banner|Mgmt|MGMT|management|vrf|line vty|"
                             r"control-plane|COPP|CPP|PROTECT-RE|LOAD-BALANCE|fxp0|root-authentication|login|"
                             r"mtu|load-interval|hostname|host-name")


def _cli_running(platform: str, intended: str, unmanaged: str) -> str:
    """The intended owned part, out of date, among unmanaged lines (some inside managed interfaces)."""
    ind = "   " if platform == "eos" else " "
    out: list[str] = []
    moved_address = False
    for line in intended.splitlines():
        if re.match(r"\s+network ", line):
            continue  # a line the device lacks
        ln = line
        if not moved_address and re.match(r"\s+ip address 203\.0\.113\.", ln):
            ln = re.sub(r"203\.0\.113\.\d+", "203.0.113.250", ln)  # a changed address
            moved_address = True
        out.append(ln)
        if re.match(r"interface (?!Loopback)\S+$", ln):
            out += [f"{ind}mtu 9216", f"{ind}load-interval 30"]  # unmanaged lines in a managed interface
        if re.match(r"router bgp \d+$", ln):
            out += [f"{ind}neighbor 192.0.2.99 remote-as 65099", f"{ind}neighbor 192.0.2.99 description stale"]
    assert moved_address
    if platform == "ios":
        stale = ["ip prefix-list PL-OLD-IN-V4 seq 5 permit 10.0.0.0/8", "route-map RM-OLD-IN-V4 deny 100",
                 "ip route 198.18.17.9 255.255.255.255 Null0"]
    else:
        stale = ["ip prefix-list PL-OLD-IN-V4", f"{ind}seq 5 permit 10.0.0.0/8", "route-map RM-OLD-IN-V4 deny 100",
                 "ip route 198.18.17.9/32 Null0"]
    return unmanaged + "\n".join(out).replace("\nend", "") + "\n" + "\n".join(stale) + "\nend\n"


def _junos_running(intended: str) -> str:
    run = owned.parse_junos(intended)
    extra = owned.parse_junos(JUNOS_UNMANAGED + """
policy-options { policy-statement RM-OLD-IN-V4 { then reject; }
                 route-filter-list PL-OLD-IN-V4 { 10.0.0.0/8 orlonger; } }
routing-options { static { route 198.18.17.9/32 discard; } }
""")

    def merge(dst: owned.Stmt, src: owned.Stmt) -> None:
        for c in src.children:
            same = dst.find(c.text)
            if same is not None and not c.leaf:
                merge(same, c)
            else:
                dst.children.append(c)

    merge(run, extra)
    ifaces = run.child("interfaces")
    first = next(c for c in ifaces.children if c.text.startswith("et-"))
    first.children.insert(0, owned.Stmt("mtu 9192"))  # unmanaged, inside a managed interface
    if first.find("disable") is None:
        first.children.insert(0, owned.Stmt("disable"))  # an owned leaf the intent does not have
    fam = first.child("unit 0").child("family inet")
    fam.children = [owned.Stmt("address 203.0.113.250/31")]  # a changed address
    bgp = run.child("protocols").child("bgp")
    bgp.children.append(owned.Stmt("group STALE", [owned.Stmt("neighbor 192.0.2.99")], leaf=False))
    return owned.dump_junos(run)


FRR_CASES = ["pnh-iig-1", "kos-dix-rs1", "disconnect", "peer-policy"]
CASES = [("ios", "pnh-iig-1"), ("ios", "disconnect"), ("ios", "peer-policy"),
         ("eos", "poi-iig-1"), ("eos", "disconnect"), ("eos", "peer-policy"),
         ("junos", "kos-iig-1"), ("junos", "disconnect"), ("junos", "peer-policy")]


def _running(platform: str, intended: str) -> str:
    if platform == "junos":
        return _junos_running(intended)
    return _cli_running(platform, intended, IOS_UNMANAGED if platform == "ios" else EOS_UNMANAGED)


@pytest.mark.parametrize(("platform", "name"), CASES)
def test_push_keeps_unmanaged_and_reaches_the_owned_intent(platform: str, name: str) -> None:
    intended = render_intent(case(platform, name).intent, platform)
    running = _running(platform, intended)
    managed = owned.managed_interfaces(platform, intended)
    cand = owned.candidate(platform, intended, running)
    assert cand.strip(), "an out-of-date device needs a change"
    assert not [ln for ln in cand.splitlines() if UNMANAGED_WORDS.search(ln)], "the candidate names unmanaged lines"
    after = owned.future(platform, running, cand)
    before_split, after_split = owned.split(platform, running, managed), owned.split(platform, after, managed)
    assert len(before_split.unmanaged) >= 15
    assert Counter(after_split.unmanaged) == Counter(before_split.unmanaged), "an unmanaged line changed"
    want = owned.split(platform, intended, managed).owned
    assert Counter(after_split.owned) == Counter(want), (
        f"owned part after the push differs: missing {sorted(set(want) - set(after_split.owned))[:5]}, "
        f"extra {sorted(set(after_split.owned) - set(want))[:5]}")
    assert owned.candidate(platform, intended, after) == "", "a second plan must have nothing to do"


@pytest.mark.parametrize(("platform", "name"), CASES)
def test_stale_owned_objects_are_removed(platform: str, name: str) -> None:
    intended = render_intent(case(platform, name).intent, platform)
    cand = owned.candidate(platform, intended, _running(platform, intended))
    assert "RM-OLD-IN-V4" in cand and "PL-OLD-IN-V4" in cand and "198.18.17.9" in cand
    if platform == "junos":
        assert "delete: policy-statement RM-OLD-IN-V4;" in cand
        assert "replace: bgp {" in cand
        assert "delete: address 203.0.113.250/31;" in cand
        assert ("delete: disable;" in cand) == (name != "disconnect")  # the disconnect shuts that very port
    else:
        assert "no route-map RM-OLD-IN-V4 deny 100" in cand
        assert any(re.match(r"\s*no neighbor 192\.0\.2\.99 ", ln) for ln in cand.splitlines())


@pytest.mark.parametrize(("platform", "name"), [*CASES, ("junos", "route-server"), ("ios", "route-server"),
                                                ("eos", "route-reflector"), ("junos", "route-reflector"),
                                                *[("frr", n) for n in FRR_CASES]])
def test_tonle_renders_only_what_it_owns(platform: str, name: str) -> None:
    intended = render_intent(case(platform, name).intent, platform)
    parts = owned.split(platform, intended, owned.managed_interfaces(platform, intended))
    # FRR: the preamble of a new device's file (FRR's own header, hostname, integrated config) is not owned.
    preamble = ["frr version 8.4.4", "frr defaults traditional", f"hostname {case(platform, name).intent.hostname}",
                "service integrated-vtysh-config"] if platform == "frr" else []
    assert parts.unmanaged == preamble, f"rendered but not owned: {parts.unmanaged[:5]}"


def test_ownership_is_by_name_and_form() -> None:
    rules = owned.OWNED
    assert {"frr", "ios", "eos", "junos"} <= set(rules)
    ios = owned.split("ios", "route-map RM-A permit 10\nroute-map MGMT permit 10\nip route 1.0.0.0 255.0.0.0 Null0\n"
                             "ip route vrf M 0.0.0.0 0.0.0.0 1.1.1.1\ninterface Gi9\n description x\n", ["Gi1"])
    assert ios.owned == ["route-map RM-A permit 10", "ip route 1.0.0.0 255.0.0.0 Null0"]
    assert "interface Gi9 > description x" in ios.unmanaged


def test_tonle_render_prints_the_owned_config(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["--config", str(REPO / "nornir.yaml"), "--state-dir", str(tmp_path), "render",
                 "--host", "kos-iig-1"]) == 0
    out = capsys.readouterr().out
    assert "protocols {" in out and "system {" not in out
    assert main(["--config", str(REPO / "nornir.yaml"), "--state-dir", str(tmp_path), "render",
                 "--host", "nope"]) == 2


# ---- FRR: the running configuration with its owned part replaced, diffed by FRR's own frr-reload.py ----

# What a hand-run FRR router holds besides Tonlé's part: logging, services, a banner, a management
# interface, an unrelated static route, a non-Tonlé access-list / prefix-list / route-map / community
# list, `line vty`, and unmanaged lines inside an interface Tonlé manages.
FRR_UNMANAGED = """\
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname pnh-iig-1
log syslog informational
log timestamp precision 3
service integrated-vtysh-config
service password-encryption
banner motd line Authorized access only
!
ip route 192.0.2.0/24 198.51.100.254
ipv6 route 2001:db8:ffff::/48 2001:db8:0:2::ff
!
interface eth0
 description out-of-band management
 ip address 198.19.254.11/24
exit
!
access-list OPS-NOC seq 5 permit 198.19.254.0/24
ip prefix-list MGMT-NETS seq 5 permit 198.19.254.0/24
bgp community-list standard NOC-TAGS seq 5 permit 65000:1
!
route-map MGMT-ONLY permit 10
 match ip address prefix-list MGMT-NETS
exit
!
line vty
 access-class OPS-NOC
 exec-timeout 10 0
exit
!
"""
FRR_UNMANAGED_WORDS = re.compile(r"log |service |banner|hostname|frr (version|defaults)|eth0|OPS-NOC|MGMT|NOC-TAGS|"
                                 r"line vty|bandwidth|suppress-ra|192\.0\.2\.0/24|2001:db8:ffff::")


def _frr_running(intended: str) -> str:
    """FRR_UNMANAGED, then the intended owned part out of date (stale neighbor, route-map, prefix-list and
    blackhole; a changed address; a missing line) with unmanaged lines inside the managed interfaces."""
    out: list[str] = []
    moved = False
    for line in owned.owned_text("frr", intended, owned.managed_interfaces("frr", intended)).splitlines():
        if re.match(r"\s+network ", line):
            continue
        ln = line
        if not moved and re.match(r" ip address 203\.0\.113\.", ln):
            ln, moved = re.sub(r"203\.0\.113\.\d+", "203.0.113.250", ln), True
        out.append(ln)
        if re.match(r"interface eth\d+$", line):
            out += [" bandwidth 100000", " ipv6 nd suppress-ra"]
        if re.match(r"router bgp \d+$", line):
            out += [" neighbor 192.0.2.99 remote-as 65099", " neighbor 192.0.2.99 description stale"]
    assert moved
    stale = ["ip prefix-list PL-OLD-IN-V4 seq 5 permit 10.0.0.0/8", "route-map RM-OLD-IN-V4 deny 100", "exit",
             "ip route 198.18.17.9/32 blackhole"]
    return FRR_UNMANAGED + "\n".join(out) + "\n" + "\n".join(stale) + "\nend\n"


@pytest.fixture(scope="module")
def frr_tool() -> FRRConfigTool:
    return FRRConfigTool()


def _frr_changes(tool: FRRConfigTool, cand: str, running: str) -> list[str]:
    """What frr-reload.py's replace would do (the driver's own diff), as `-`/`+` statements in their contexts."""
    adds, dels = tool.replace_changes(tc.split(cand)[0], tc.split(running)[0])
    out = []
    for ch in [*dels, *adds]:
        removed, header, text = as_shown(ch)
        out.append(("-" if removed else "+") + "".join(f"{' ' * i}{h}\n" for i, h in enumerate(header))
                   + " " * len(header) + text)
    return out


@pytest.mark.parametrize("name", FRR_CASES)
def test_frr_push_keeps_unmanaged_and_reaches_the_owned_intent(name: str, frr_tool: FRRConfigTool) -> None:
    intended = render_intent(case("frr", name).intent, "frr")
    running = _frr_running(intended)
    managed = owned.managed_interfaces("frr", intended)
    cand = owned.candidate("frr", intended, running)
    changes = _frr_changes(frr_tool, cand, running)
    assert changes, "an out-of-date device needs a change"
    for ch in changes:  # every statement frr-reload would add or remove is an owned one
        assert owned.split("frr", ch[1:], managed).unmanaged == [], f"the push touches an unmanaged line: {ch!r}"
        assert not FRR_UNMANAGED_WORDS.search(ch), ch
    after = owned.future("frr", running, cand)
    before_split, after_split = owned.split("frr", running, managed), owned.split("frr", after, managed)
    assert len(before_split.unmanaged) >= 20
    assert Counter(after_split.unmanaged) == Counter(before_split.unmanaged), "an unmanaged line changed"
    want = owned.split("frr", intended, managed).owned
    assert Counter(after_split.owned) == Counter(want), (
        f"owned part after the push differs: missing {sorted(set(want) - set(after_split.owned))[:5]}, "
        f"extra {sorted(set(after_split.owned) - set(want))[:5]}")
    assert _frr_changes(frr_tool, owned.candidate("frr", intended, after), after) == [], "a second plan changes"


def test_frr_stale_owned_objects_are_removed(frr_tool: FRRConfigTool) -> None:
    intended = render_intent(case("frr", "pnh-iig-1").intent, "frr")
    running = _frr_running(intended)
    changes = _frr_changes(frr_tool, owned.candidate("frr", intended, running), running)
    assert "-route-map RM-OLD-IN-V4 deny 100" in changes
    assert "-ip prefix-list PL-OLD-IN-V4 seq 5 permit 10.0.0.0/8" in changes
    assert "-ip route 198.18.17.9/32 blackhole" in changes
    assert "-router bgp 64500\n neighbor 192.0.2.99 remote-as 65099" in changes
    assert "+router bgp 64500\n address-family ipv4 unicast\n  network 198.18.0.0/22" in changes
    assert "+interface eth1\n ip address 203.0.113.0/31" in changes
    assert "-interface eth1\n ip address 203.0.113.250/31" in changes


def test_frr_unmanaged_lines_are_unmanaged_not_drift(frr_tool: FRRConfigTool) -> None:
    intended = render_intent(case("frr", "pnh-iig-1").intent, "frr")
    managed = owned.managed_interfaces("frr", intended)
    # The device as intended, plus hand-made unmanaged lines (inside a managed interface too).
    running = FRR_UNMANAGED + intended.replace("interface eth1\n", "interface eth1\n bandwidth 100000\n")
    diffs, fix = compare(intended, running, "frr", frr_tool)
    assert (diffs, fix) == ([], [])
    # Counted once each: the rendering's preamble is the device's own; + the line inside eth1.
    assert unmanaged_lines(intended, running, "frr") == len(owned.split("frr", FRR_UNMANAGED, managed).unmanaged) + 1
    assert unmanaged_lines(intended, running, "frr") == 19
    # A hand change to an owned part is drift, and its fix names nothing unmanaged.
    hand = running.replace("\n  neighbor 198.51.100.9 maximum-prefix 1000000\n", "\n")
    diffs, fix = compare(intended, hand, "frr", frr_tool)
    assert [(d.kind, d.line) for d in diffs] == [("missing", "neighbor 198.51.100.9 maximum-prefix 1000000")]
    assert not [c for c in fix if FRR_UNMANAGED_WORDS.search(c)]


@pytest.mark.parametrize("name", FRR_CASES)
def test_frr_text_round_trips_through_the_owned_tree(name: str, frr_tool: FRRConfigTool) -> None:
    """The tree dump of a rendering is the same configuration for frr-reload (exits, nesting, `! tc:`)."""
    intended = render_intent(case("frr", name).intent, "frr")
    dumped = owned.dump_frr(owned.parse_frr(intended))
    assert _frr_changes(frr_tool, dumped, intended) == []
    assert tc.split(dumped)[1] == tc.split(intended)[1]
    # A fresh device (nothing but FRR's own preamble) gets the whole owned intent, its preamble kept.
    fresh = "frr version 8.4.4\nfrr defaults traditional\nhostname other\n"
    cand = owned.candidate("frr", intended, fresh)
    assert cand.startswith(fresh) and f"hostname {case('frr', name).intent.hostname}" not in cand
    assert owned.split("frr", cand, owned.managed_interfaces("frr", intended)).owned == \
        owned.split("frr", intended, owned.managed_interfaces("frr", intended)).owned


def test_frr_ownership_is_by_name_and_form() -> None:
    text = ("route-map RM-A permit 10\nexit\nroute-map OPS permit 10\nexit\nip route 198.18.0.0/22 blackhole\n"
            "ip route 192.0.2.0/24 198.51.100.1\nrouter bgp 64500\n neighbor 192.0.2.1 remote-as 1\nexit\n"
            "router bgp 64500 vrf MGMT\n neighbor 192.0.2.2 remote-as 2\nexit\ninterface eth9\n description x\n"
            "exit\ninterface eth1\n description y\n bandwidth 10\nexit\n! tc: qdisc replace dev eth1 root handle 1: "
            "htb default 30\naccess-list PL-X seq 5 permit any\n")
    parts = owned.split("frr", text, ["eth1"])
    assert parts.owned == ["route-map RM-A permit 10", "ip route 198.18.0.0/22 blackhole",
                           "router bgp 64500 > neighbor 192.0.2.1 remote-as 1", "interface eth1 > description y",
                           "! tc: qdisc replace dev eth1 root handle 1: htb default 30"]
    assert "interface eth1 > bandwidth 10" in parts.unmanaged and "interface eth9 > description x" in parts.unmanaged
    assert "access-list PL-X seq 5 permit any" in parts.unmanaged
    assert "router bgp 64500 vrf MGMT > neighbor 192.0.2.2 remote-as 2" in parts.unmanaged


def test_frr_empty_rpki_context_printed_by_bgpd_is_not_owned(frr_tool: FRRConfigTool) -> None:
    """bgpd loaded with `-M rpki` prints `rpki` / `exit` by itself: a rendering without RPKI must neither remove
    it nor see drift in it; a rendering with caches gets them into that same context."""
    intended = render_intent(case("frr", "pnh-iig-1").intent, "frr")
    managed = owned.managed_interfaces("frr", intended)
    head, sep, tail = intended.partition("\nrpki\n")
    assert sep, "the golden device validates origins"
    without = head + "\n" + tail.partition("\nexit\n")[2]
    running = without.rstrip("\n") + "\nrpki\nexit\n!\n"
    assert "rpki" in owned.split("frr", running, managed).unmanaged
    assert not [o for o in owned.split("frr", running, managed).owned if o.startswith("rpki")]
    assert _frr_changes(frr_tool, owned.candidate("frr", without, running), running) == []
    assert compare(without, running, "frr", frr_tool) == ([], [])
    # The intent's caches go into that same context.
    cand = owned.candidate("frr", intended, running)
    assert sorted(c for c in _frr_changes(frr_tool, cand, running) if c.startswith("+rpki")) == [
        "+rpki\n rpki cache 198.19.254.240 3323 preference 1", "+rpki\n rpki cache 198.19.254.241 3323 preference 2"]
    # With a cache under it, the context is Tonlé's: one the intent lacks is removed.
    stale = without.rstrip("\n") + "\nrpki\n rpki cache 198.19.254.250 3323 preference 1\nexit\n!\n"
    assert "rpki > rpki cache 198.19.254.250 3323 preference 1" in owned.split("frr", stale, managed).owned
