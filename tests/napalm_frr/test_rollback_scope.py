"""A rollback restores only what the commit changed: the scope keys of a commit's changes cover every change
of its rollback, and none of a change made by hand elsewhere in the meantime (frr-reload.py's own diff)."""

from __future__ import annotations

from napalm_frr.diff import FRRConfigTool
from napalm_frr.frr import _within, scope_key

BEFORE = """\
hostname r9
ip route 198.18.17.9/32 blackhole
interface eth1
 description old
 ip address 203.0.113.250/31
 bandwidth 100000
exit
ip prefix-list PL-A seq 5 permit 198.18.0.0/22
router bgp 64500
 neighbor 192.0.2.1 remote-as 65001
 neighbor 192.0.2.99 remote-as 65099
 address-family ipv4 unicast
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.99 activate
 exit-address-family
exit
route-map RM-OLD deny 100
exit
"""
# What the commit leaves: the blackhole, the stale neighbor and route-map gone, an address and a
# prefix-list entry changed.
AFTER = """\
hostname r9
interface eth1
 description new
 ip address 203.0.113.0/31
 bandwidth 100000
exit
ip prefix-list PL-A seq 5 permit 198.18.0.0/23
router bgp 64500
 neighbor 192.0.2.1 remote-as 65001
 address-family ipv4 unicast
  neighbor 192.0.2.1 activate
 exit-address-family
exit
"""
HAND = "log syslog informational\naccess-list OPS seq 5 permit any\n"


def _keys(tool: FRRConfigTool, target: str, running: str) -> set[str]:
    adds, dels = tool.replace_changes(target, running)
    return {scope_key(c) for c in [*adds, *dels]}


def test_rollback_scope_is_what_the_commit_changed() -> None:
    tool = FRRConfigTool()
    committed = _keys(tool, AFTER, BEFORE)
    assert committed == {"ip route 198.18.17.9/32 blackhole", "interface eth1",
                         "ip prefix-list PL-A seq 5 permit 198.18.0.0/22",
                         "ip prefix-list PL-A seq 5 permit 198.18.0.0/23", "router bgp 64500",
                         "route-map RM-OLD deny 100"}
    # Meanwhile lines were added by hand outside those parts: the rollback restores the commit's parts
    # as they were and leaves the hand-made lines.
    now = AFTER + HAND
    adds, dels = tool.replace_changes(BEFORE, now)
    kept = _within([*adds, *dels], committed)
    assert {scope_key(c) for c in kept} == committed
    dropped = [c for c in [*adds, *dels] if c not in kept]
    assert sorted(scope_key(c) for c in dropped) == ["access-list OPS seq 5 permit any", "log syslog informational"]
    # Without a scope (an old rollback point) everything is restored, as before.
    assert _within([*adds, *dels], None) == [*adds, *dels]
