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

from tests.golden.cases import REPO, case
from tonle.compile import owned
from tonle.compile.render import render_intent
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
                                                ("eos", "route-reflector"), ("junos", "route-reflector")])
def test_tonle_renders_only_what_it_owns(platform: str, name: str) -> None:
    intended = render_intent(case(platform, name).intent, platform)
    parts = owned.split(platform, intended, owned.managed_interfaces(platform, intended))
    assert parts.unmanaged == [], f"rendered but not owned: {parts.unmanaged[:5]}"


def test_frr_is_replaced_whole() -> None:
    assert owned.push_mode("frr") == "replace"
    text = render_intent(case("frr", "pnh-iig-1").intent, "frr")
    assert owned.candidate("frr", text, "anything") == text


def test_ownership_is_by_name_and_form() -> None:
    rules = owned.OWNED
    assert {"ios", "eos", "junos"} <= set(rules)
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
