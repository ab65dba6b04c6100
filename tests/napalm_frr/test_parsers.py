"""Replay real FRR 8.4 output (recorded from running zebra/bgpd) through the parsers.

The recordings are in NAPALM's mocked-data layout (`mocked_data/test_<getter>/<case>/`), shared with NAPALM's
generic getter suite (test_napalm_getters.py); `mocked_data_empty/` holds the cases that suite cannot take
(it asserts get_bgp_neighbors_detail returns at least one VRF; a router without BGP peers returns none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from napalm.base import models
from napalm.base.test import helpers

from napalm_frr import parsers
from tests.napalm_frr.model_check import check_getter

HERE = Path(__file__).parent
DATA = (HERE / "mocked_data", HERE / "mocked_data_empty")

V = "show_version.txt"
R = "show_running_config.txt"
INTF = "show_interface_json.json"
SUM = "show_bgp_vrf_all_summary_json.json"
NEI = "show_bgp_vrf_all_neighbors_json.json"

# getter -> (parser, recorded inputs in argument order)
PARSERS: dict[str, tuple[Any, list[str]]] = {
    "get_facts": (parsers.parse_facts, [V, R, INTF]),
    "get_interfaces": (parsers.parse_interfaces, [INTF]),
    "get_interfaces_ip": (parsers.parse_interfaces_ip, [INTF]),
    "get_bgp_neighbors": (parsers.parse_bgp_neighbors, [SUM, NEI]),
    "get_bgp_neighbors_detail": (parsers.parse_bgp_neighbors_detail, [NEI]),
    "get_bgp_config": (parsers.parse_bgp_config, [R]),
}

CASES = sorted(
    (getter, case.name) for getter in PARSERS for data in DATA if (data / f"test_{getter}").is_dir()
    for case in (data / f"test_{getter}").iterdir() if case.is_dir()
)


def case_dir(getter: str, case: str) -> Path:
    return next(d / f"test_{getter}" / case for d in DATA if (d / f"test_{getter}" / case).is_dir())


def run_case(getter: str, case: str) -> Any:
    func, files = PARSERS[getter]
    return func(*[(case_dir(getter, case) / name).read_text() for name in files])


def as_json(data: Any) -> Any:
    # expected.json has string keys where NAPALM uses int keys (remote AS).
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(("getter", "case"), CASES, ids=[f"{g}-{c}" for g, c in CASES])
def test_parser_matches_expected(getter: str, case: str) -> None:
    expected = json.loads((case_dir(getter, case) / "expected_result.json").read_text())
    assert as_json(run_case(getter, case)) == expected


@pytest.mark.parametrize(("getter", "case"), CASES, ids=[f"{g}-{c}" for g, c in CASES])
def test_parser_output_conforms_to_napalm_model(getter: str, case: str) -> None:
    check_getter(getter, run_case(getter, case))


def test_every_getter_has_fixtures() -> None:
    assert {g for g, _ in CASES} == set(PARSERS)


def test_napalm_own_helper_agrees() -> None:
    facts = run_case("get_facts", "ebgp_v4_v6")
    assert helpers.test_model(models.FactsDict, facts)
    for peer in run_case("get_bgp_neighbors", "peer_group_and_shutdown")["global"]["peers"].values():
        assert helpers.test_model(models.PeerDict, peer)


def test_bgp_neighbors_semantics() -> None:
    data = run_case("get_bgp_neighbors", "peer_group_and_shutdown")["global"]
    assert data["router_id"] == "203.0.113.2"
    peers = data["peers"]
    assert peers["203.0.113.1"]["is_up"] and peers["203.0.113.1"]["remote_id"] == "203.0.113.1"
    assert set(peers["2001:db8:ab::1"]["address_family"]) == {"ipv6"}
    shut = peers["203.0.113.9"]
    assert not shut["is_enabled"] and not shut["is_up"] and shut["uptime"] == -1


def test_bgp_config_groups() -> None:
    data = run_case("get_bgp_config", "peer_group_and_shutdown")
    assert set(data) == {"_", "DOWNSTREAM"}
    grp = data["DOWNSTREAM"]
    assert grp["type"] == "external" and grp["multihop_ttl"] == 3
    assert grp["prefix_limit"] == {"inet": {"unicast": {"limit": 50, "teardown": {"threshold": 80, "timeout": 5}}}}
    member = grp["neighbors"]["203.0.113.10"]
    assert member["nhs"] and member["import_policy"] == "RM-IN"
    assert data["_"]["neighbors"]["203.0.113.1"]["authentication_key"] == "s3cret"


def test_bgp_config_filters() -> None:
    running = (case_dir("get_bgp_config", "peer_group_and_shutdown") / R).read_text()
    assert list(parsers.parse_bgp_config(running, group="DOWNSTREAM")) == ["DOWNSTREAM"]
    only = parsers.parse_bgp_config(running, neighbor="203.0.113.9")
    assert list(only) == ["_"] and list(only["_"]["neighbors"]) == ["203.0.113.9"]


def test_neighbors_detail_filter() -> None:
    nei = (case_dir("get_bgp_neighbors_detail", "peer_group_and_shutdown") / NEI).read_text()
    data = parsers.parse_bgp_neighbors_detail(nei, "203.0.113.1")
    assert [p["remote_address"] for p in data["global"][64501]] == ["203.0.113.1"]


def test_strip_config_header() -> None:
    text = (case_dir("get_facts", "ebgp_v4_v6") / R).read_text()
    body = parsers.strip_config_header(text)
    assert body.startswith("!\nfrr version") and "Building configuration" not in body


@pytest.mark.parametrize(
    "output", ["% Unknown command: show bgp vrf all summary json", "", "[1, 2]", "{ broken"]
)
def test_garbage_raises_instead_of_returning_empty(output: str) -> None:
    with pytest.raises(parsers.FRRParseError):
        parsers.parse_bgp_neighbors(output, "{}")
    with pytest.raises(parsers.FRRParseError):
        parsers.parse_interfaces(output)


def test_show_version_garbage_raises() -> None:
    with pytest.raises(parsers.FRRParseError):
        parsers.parse_show_version("% Unknown command: show version")


def test_address_family_names() -> None:
    assert parsers.address_family_name("ipv4Unicast") == "ipv4"
    assert parsers.address_family_name("ipv6Unicast") == "ipv6"
    assert parsers.address_family_name("ipv4Multicast") == "ipv4 multicast"
    assert parsers.address_family_name("l2VpnEvpn") == "l2vpn evpn"


def test_a_reconnect_notice_is_dropped_only_when_the_reconnect_succeeded() -> None:
    # Seen live after bgpd was killed and restarted: the kept vtysh session prints this before the next output.
    config = "Building configuration...\n\nfrr version 8.4.4\nhostname r2\n"
    ok = "Warning: connecting to bgpd...success!\n" + config
    assert parsers.strip_reconnect_notice(ok) == config
    assert parsers.strip_config_header(parsers.strip_reconnect_notice(ok)) == "frr version 8.4.4\nhostname r2\n"
    failed = "Warning: connecting to bgpd...failed!\n" + config  # bgpd's part is missing: kept, so parsing fails
    assert parsers.strip_reconnect_notice(failed) == failed
    assert parsers.strip_reconnect_notice("description Warning: connecting to bgpd...success!\n") == (
        "description Warning: connecting to bgpd...success!\n")
