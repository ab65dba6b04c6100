"""diff.py against the local frr-reload.py and vtysh (no FRR daemon needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from napalm_frr.diff import (
    CandidateSyntaxError,
    FRRConfigTool,
    FRRReloadUnavailable,
    addition_blocks,
    command_failed,
    format_diff,
)

# No skip: frr-reload.py and vtysh are in tonle/host-requirements.txt, so a machine set up by ./dev has
# them, and a machine that lacks them must fail here rather than pass quietly.

FIXTURES = Path(__file__).parent / "mocked_data"
RUNNING_A = (FIXTURES / "test_get_facts" / "ebgp_v4_v6" / "show_running_config.txt").read_text()
RUNNING_B = (FIXTURES / "test_get_facts" / "peer_group_and_shutdown" / "show_running_config.txt").read_text()


@pytest.fixture(scope="module")
def tool() -> FRRConfigTool:
    return FRRConfigTool()


def test_identical_configs_give_empty_diff(tool: FRRConfigTool) -> None:
    for running in (RUNNING_A, RUNNING_B):
        additions, deletions = tool.replace_changes(running, running)
        assert (additions, deletions) == ([], [])
        assert format_diff(additions, deletions) == ""


def test_banner_does_not_matter(tool: FRRConfigTool) -> None:
    body = RUNNING_A.split("Current configuration:\n", 1)[1]
    assert format_diff(*tool.replace_changes(body, RUNNING_A)) == ""


def test_replace_diff(tool: FRRConfigTool) -> None:
    candidate = (
        RUNNING_B.replace("description nfdev-a v4", "description changed")
        .replace(" neighbor 203.0.113.9 shutdown\n", "")
        .replace("hostname nfdev-b", "hostname nfdev-b2")
    )
    additions, deletions = tool.replace_changes(candidate, RUNNING_B)
    diff = format_diff(additions, deletions)
    assert diff.splitlines() == [
        "-hostname nfdev-b",
        "+hostname nfdev-b2",
        " router bgp 64502",
        "- neighbor 203.0.113.1 description nfdev-a v4",
        "- neighbor 203.0.113.9 shutdown",
        "+ neighbor 203.0.113.1 description changed",
    ]
    assert [tool.lines(d) for d in deletions] == [
        ["no hostname nfdev-b"],
        ["router bgp 64502", "no neighbor 203.0.113.1 description nfdev-a v4"],
        ["router bgp 64502", "no neighbor 203.0.113.9 shutdown"],
    ]


def test_replace_without_no_ip_forwarding_turns_it_on(tool: FRRConfigTool) -> None:
    # Lab gotcha: "no ip forwarding" missing from a replace candidate enables forwarding.
    candidate = RUNNING_A.replace("no ip forwarding\n", "")
    diff = format_diff(*tool.replace_changes(candidate, RUNNING_A))
    assert diff == "-no ip forwarding"
    _, deletions = tool.replace_changes(candidate, RUNNING_A)
    assert tool.lines(deletions[0]) == ["ip forwarding"]


def test_new_context_with_lines(tool: FRRConfigTool) -> None:
    candidate = RUNNING_A + "route-map RM-NEW permit 10\n match ip address prefix-list NEW\nexit\n"
    additions, deletions = tool.replace_changes(candidate, RUNNING_A)
    assert deletions == []
    assert format_diff(additions, deletions).splitlines() == [
        "+route-map RM-NEW permit 10",
        "+ match ip address prefix-list NEW",
    ]
    assert addition_blocks(tool, additions) == [["route-map RM-NEW permit 10", "match ip address prefix-list NEW"]]


def test_merge_shows_only_missing_lines(tool: FRRConfigTool) -> None:
    merge = (
        "router bgp 64502\n"
        " neighbor 203.0.113.9 shutdown\n"  # already there
        " neighbor 203.0.113.1 description merged\n"
        " address-family ipv6 unicast\n"
        "  network 2001:db8:c::/64\n"
        " exit-address-family\n"
        "exit\n"
        "ip prefix-list PL-OUT seq 5 permit 203.0.113.128/26\n"  # already there
        "ip prefix-list NEW seq 5 permit 203.0.113.0/24\n"
    )
    changes = tool.merge_changes(merge, RUNNING_B)
    assert format_diff(changes, []).splitlines() == [
        " router bgp 64502",
        "+ neighbor 203.0.113.1 description merged",
        " router bgp 64502",
        "  address-family ipv6 unicast",
        "+  network 2001:db8:c::/64",
        "+ip prefix-list NEW seq 5 permit 203.0.113.0/24",
    ]
    assert addition_blocks(tool, changes) == [
        ["router bgp 64502", "neighbor 203.0.113.1 description merged"],
        ["router bgp 64502", "address-family ipv6 unicast", "network 2001:db8:c::/64"],
        ["ip prefix-list NEW seq 5 permit 203.0.113.0/24"],
    ]


def test_merge_of_present_lines_is_empty(tool: FRRConfigTool) -> None:
    merge = "router bgp 64502\n neighbor 203.0.113.9 shutdown\nexit\n"
    assert tool.merge_changes(merge, RUNNING_B) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("router bgp 1\n neighbor 192.0.2.1 remote-as\n", "% Command incomplete"),
        ("hostname x\nbogus command\n", "% Unknown command"),
    ],
)
def test_syntax_errors_name_the_line(tool: FRRConfigTool, text: str, reason: str) -> None:
    with pytest.raises(CandidateSyntaxError) as info:
        tool.validate(text)
    assert reason in info.value.reason and info.value.reason.startswith("line ")


def test_missing_frr_reload() -> None:
    with pytest.raises(FRRReloadUnavailable):
        FRRConfigTool(frr_reload_path="/nonexistent/frr-reload.py").validate("hostname x\n")


def test_missing_vtysh() -> None:
    with pytest.raises(FRRReloadUnavailable):
        FRRConfigTool(vtysh_path="/nonexistent/vtysh").validate("hostname x\n")


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ("neighbor 1.1.1.1 route-reflector-client\n% Invalid command. Not an internal neighbor\nr1(config-router)# ",
         "% Invalid command. Not an internal neighbor"),
        ("router bgp 2\nBGP is already running; AS is 1\nr1(config)# ", "BGP is already running; AS is 1"),
        ("neighbor 1.1.1.1 route-map X in\nThe route-map 'X' does not exist.\nr1(config-router-af)# ", ""),
        ("network 203.0.113.0/24\nr1(config-router-af)# ", ""),
    ],
)
def test_command_failed(output: str, error: str) -> None:
    assert command_failed(output) == error


def test_removed_static_route_shows_as_the_device_line(tool: FRRConfigTool) -> None:
    # frr-reload.py deletes a static route by adding "no ip route …"; the diff says "-ip route …".
    running = "frr defaults traditional\nhostname r1\nip route 192.0.2.128/25 Null0\n"
    candidate = "frr defaults traditional\nhostname r1\n"
    additions, deletions = tool.replace_changes(candidate, running)
    text = format_diff(additions, deletions)
    assert "-ip route 192.0.2.128/25 Null0" in text.splitlines()
    assert "no ip route" not in text
