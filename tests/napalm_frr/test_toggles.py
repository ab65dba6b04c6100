"""Which changes the driver applies in one pass (emergency toggles), against the local frr-reload.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from napalm_frr.diff import Change, FRRConfigTool
from napalm_frr.frr import _toggles_only

FIXTURES = Path(__file__).parent / "mocked_data"
RUNNING = (FIXTURES / "test_get_facts" / "ebgp_v4_v6" / "show_running_config.txt").read_text()
SHUT = " neighbor 203.0.113.2 shutdown message tonle D20261129190000ab T-1\n"


@pytest.fixture(scope="module")
def tool() -> FRRConfigTool:
    return FRRConfigTool()


def _with_shutdown(running: str) -> str:
    return running.replace(" neighbor 203.0.113.2 remote-as 64502\n", " neighbor 203.0.113.2 remote-as 64502\n" + SHUT)


def test_a_session_shut_down_and_back_is_toggles_only(tool: FRRConfigTool) -> None:
    shut = _with_shutdown(RUNNING)
    adds, dels = tool.replace_changes(shut, RUNNING)
    assert (len(adds), dels) == (1, []) and _toggles_only(adds + dels)
    adds, dels = tool.replace_changes(RUNNING, shut)
    assert (adds, len(dels)) == ([], 1) and _toggles_only(adds + dels)


def test_an_interface_shut_down_is_toggles_only(tool: FRRConfigTool) -> None:
    down = RUNNING.replace("interface eth1\n", "interface eth1\n shutdown\n")
    adds, dels = tool.replace_changes(down, RUNNING)
    assert _toggles_only(adds + dels)


@pytest.mark.parametrize("change", [
    # the case a second pass exists for: a prefix-list entry (sequence numbers, seen missing after one pass)
    Change(("ip prefix-list PL-A seq 10 permit 198.18.0.0/23",), None, False),
    # a whole context, a line below address-family, another neighbor line, a blackhole route
    Change(("router bgp 64501",), None, False),
    Change(("router bgp 64501", "address-family ipv4 unicast"), "network 198.18.0.0/24", False),
    Change(("router bgp 64501",), "neighbor 203.0.113.2 remote-as 64502", True),
    Change(("ip route 198.18.17.9/32 blackhole",), None, False),
    Change(("router bgp 64501",), "neighbor 203.0.113.2 shutdown-not", False),
])
def test_anything_else_gets_the_second_pass(change: Change) -> None:
    toggle = Change(("router bgp 64501",), SHUT.strip(), False)
    assert _toggles_only([toggle])
    assert not _toggles_only([change])
    assert not _toggles_only([toggle, change])


def test_nothing_is_not_toggles_only() -> None:
    assert not _toggles_only([])
