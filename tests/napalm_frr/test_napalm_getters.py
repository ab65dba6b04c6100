"""NAPALM's own generic getter suite (`BaseTestGetters`) on napalm_frr, replaying recorded FRR 8.4 output.

Every getter the driver implements runs on each recorded case in mocked_data/ and must equal its
`expected_result.json`; NAPALM's suite itself skips the getters a driver leaves unimplemented (they raise
NotImplementedError). `test_suite_coverage` pins which those are, so a newly implemented getter without a
recording fails here instead of failing (or being skipped) unnoticed.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from napalm.base import NetworkDriver
from napalm.base.test.getters import BaseTestGetters

from napalm_frr.frr import FRRDriver

MOCKED = Path(__file__).parent / "mocked_data"


@pytest.mark.usefixtures("set_device_parameters")
class TestGetter(BaseTestGetters):
    """NAPALM's generic getter tests (test_method_signatures included) on the FRR driver."""


def suite_tests() -> dict[str, str]:
    """Each test of NAPALM's suite that replays mocked data, with the driver method it exercises."""
    methods = {m for m in dir(NetworkDriver) if not m.startswith("_")}
    out = {}
    for name, func in inspect.getmembers(BaseTestGetters, inspect.isfunction):
        if func.__dict__.get("build_test_cases"):
            words = name.removeprefix("test_").split("_")
            out[name] = next("_".join(words[:n]) for n in range(len(words), 0, -1) if "_".join(words[:n]) in methods)
    return out


def implemented() -> set[str]:
    return {m for m in dir(NetworkDriver) if not m.startswith("_")
            and getattr(FRRDriver, m) is not getattr(NetworkDriver, m)}


def test_suite_coverage() -> None:
    tests = suite_tests()
    ours = {t for t, m in tests.items() if m in implemented()}
    # Every implemented getter has recorded cases; nothing is recorded for a getter the driver lacks.
    recorded = {d.name for d in MOCKED.iterdir() if d.is_dir() and any(c.is_dir() for c in d.iterdir())}
    assert recorded == ours
    # What NAPALM's suite skips (NotImplementedError): every other getter of its list.
    assert set(tests) - ours == {
        "test_get_arp_table", "test_get_arp_table_with_vrf", "test_get_environment", "test_get_firewall_policies",
        "test_get_interfaces_counters", "test_get_ipv6_neighbors_table", "test_get_lldp_neighbors",
        "test_get_lldp_neighbors_detail", "test_get_mac_address_table", "test_get_network_instances",
        "test_get_ntp_peers", "test_get_ntp_servers", "test_get_ntp_stats", "test_get_optics",
        "test_get_probes_config", "test_get_probes_results", "test_get_route_to", "test_get_route_to_longer",
        "test_get_snmp_information", "test_get_users", "test_get_vlans", "test_ping", "test_traceroute",
    }


def test_replayed_qos_state_is_the_rendered_policy() -> None:
    """The recorded device's tc state, read back by get_config, is exactly what templates/frr/qos.j2 rendered."""
    from tests.napalm_frr.conftest import PatchedFRRDriver  # noqa: PLC0415 - the suite's own fake device

    driver = PatchedFRRDriver("192.0.2.1", "user", "")
    driver.open()
    driver.device.current_test, driver.device.current_test_case = "test_get_config", "ebgp_v4_v6_qos"
    running = driver.get_config(retrieve="running")["running"]
    golden = Path(__file__).parent.parent / "golden" / "frr" / "poi-iig-1.conf"
    rendered = {line.replace("dev eth3", "dev eth1") for line in golden.read_text().splitlines()
                if line.startswith("! tc: ") and " dev eth3 " in line}
    assert rendered  # the golden device shapes eth3
    assert {line for line in running.splitlines() if line.startswith("! tc: ")} == rendered
