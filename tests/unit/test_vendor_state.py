"""Vendor state NAPALM does not give (BFD sessions, QoS drops per class), parsed with TextFSM from show output.

The recorded outputs in tests/unit/vendor_state/ follow the vendors' documented layouts (each file's header
cites its source); ntc-templates parses IOS-XE BFD, Tonlé's templates/textfsm/ the rest.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from napalm.ios.ios import IOSDriver
from tonle.tasks.validate import bfd_sessions

from napalm_frr.frr import FRRDriver
from tests.conftest import ROOT
from tonle.change.gates import bfd_check
from tonle.compile.intent import device_intent, load_intent, with_md5_keys
from tonle.source.inventory import load_from_nornir_config
from tonle.targets.vendor_state import (
    BfdSession,
    Platform,
    QueueDrops,
    VendorStateError,
    bfd_command,
    parse_bfd,
    parse_qos_drops,
    qos_command,
)

RECORDED = Path(__file__).parent / "vendor_state"


def recorded(name: str) -> str:
    """A recorded answer without its citation header (leading lines starting with '# ')."""
    lines = (RECORDED / name).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "".join(lines)


def test_every_recording_cites_its_source() -> None:
    for path in sorted(RECORDED.glob("*.txt")):
        header = [ln for ln in path.read_text().splitlines() if ln.startswith("# ")]
        assert any("https://www." in ln for ln in header), path.name


def test_ios_bfd_through_ntc_templates() -> None:
    sessions = parse_bfd("ios", recorded("ios_show_bfd_neighbors_details.txt"))
    assert sessions == [BfdSession("198.51.100.9", "up", "Hu0/2/0"),
                        BfdSession("2001:db8:0:2::9", "down", "Hu0/2/0")]  # canonical form


def test_eos_bfd_peers() -> None:
    sessions = parse_bfd("eos", recorded("eos_show_bfd_peers.txt"))
    assert sessions == [BfdSession("198.51.100.5", "up", "Ethernet3(14)"),
                        BfdSession("198.51.100.13", "down", "Ethernet4(15)"),
                        BfdSession("2001:db8:0:2::5", "up", "Ethernet3(14)")]


def test_junos_bfd_session() -> None:
    sessions = parse_bfd("junos", recorded("junos_show_bfd_session.txt"))
    assert [(s.peer, s.state, s.up) for s in sessions] == [
        ("198.51.100.1", "up", True), ("2001:db8:0:2::1", "up", True), ("198.51.100.3", "init", False)]
    assert {s.interface for s in sessions} == {"et-0/0/2.0", "et-0/0/3.0"}


def test_ios_qos_drops_per_class() -> None:
    drops = parse_qos_drops("ios", "FortyGigabitEthernet0/3/0", recorded("ios_show_policy-map_interface.txt"))
    by_class = [(d.queue, d.dropped_packets) for d in drops]
    # The parent's class-default (the shaper) first, then the child policy's classes; voice drops are the
    # priority queue's exceed drops, business its tail drops.
    assert by_class == [("class-default", 0), ("CM-NETWORK-CONTROL", 0), ("CM-VOICE", 191),
                        ("CM-BUSINESS", 63610), ("class-default", 0)]
    assert {d.interface for d in drops} == {"FortyGigabitEthernet0/3/0"}


def test_eos_qos_drops_per_tx_queue() -> None:
    drops = parse_qos_drops("eos", "Ethernet3", recorded("eos_show_interfaces_counters_queue.txt"))
    assert len(drops) == 10
    assert [d for d in drops if d.dropped_packets] == [QueueDrops("Ethernet3", "UC2", 63610)]
    assert drops[-1] == QueueDrops("Ethernet3", "MC1", 0)  # N/A: not counted on this queue


def test_junos_qos_drops_per_forwarding_class() -> None:
    drops = parse_qos_drops("junos", "et-0/0/2", recorded("junos_show_interfaces_queue.txt"))
    assert [(d.queue, d.dropped_packets) for d in drops] == [
        ("best-effort", 1880), ("network-control", 0), ("voice", 0), ("business", 63610)]


@pytest.mark.parametrize("platform", ["ios", "eos", "junos"])
def test_an_answer_the_templates_do_not_know_fails_closed(platform: Platform) -> None:
    # A refusal, a wrong command or another OS's output is never read as "no sessions" or "no drops".
    hostile = "% Invalid input detected at '^' marker.\nsecret-looking line 0xdeadbeef\n"
    with pytest.raises(VendorStateError) as bfd:
        parse_bfd(platform, hostile if platform != "ios" else "IPv4 Sessions\n" + hostile)
    with pytest.raises(VendorStateError) as qos:
        parse_qos_drops(platform, "Ethernet3", hostile)
    for exc in (bfd.value, qos.value):
        assert "0xdeadbeef" not in str(exc) and "Invalid input" not in str(exc)
        assert platform in str(exc)


def test_other_platforms_bfd_output_is_refused() -> None:
    with pytest.raises(VendorStateError):
        parse_bfd("junos", recorded("eos_show_bfd_peers.txt"))
    with pytest.raises(VendorStateError):
        parse_qos_drops("eos", "Ethernet3", recorded("junos_show_interfaces_queue.txt"))


def test_a_peer_that_is_not_an_address_fails_closed() -> None:
    text = recorded("junos_show_bfd_session.txt").replace("198.51.100.3 ", "198.51.100.3.7 ")
    with pytest.raises(VendorStateError, match="not an IP address"):
        parse_bfd("junos", text)


def test_commands_and_interface_names() -> None:
    assert bfd_command("eos") == "show bfd peers"
    assert qos_command("junos", "et-0/0/2") == "show interfaces queue et-0/0/2"
    assert qos_command("ios", "FortyGigabitEthernet0/3/0") == \
        "show policy-map interface FortyGigabitEthernet0/3/0 output"
    for bad in ("Et3; reload", "Et3 | json", "", "Et3\nreload"):
        with pytest.raises(VendorStateError):
            qos_command("eos", bad)


def test_bfd_gate_on_vendor_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate: every intended BFD session is Up; th-carrier's BFD on poi-iig-1 (eos)."""
    monkeypatch.setenv("TONLE_MD5_GLOBAL_TRANSIT", "k")
    inv = load_from_nornir_config(ROOT / "nornir.yaml")
    di = device_intent(with_md5_keys(load_intent(inv), {"TONLE_MD5_GLOBAL_TRANSIT": "k"}), "poi-iig-1")
    bfd_peers = {n.ip for n in di.neighbors if n.bfd}
    assert bfd_peers == {"198.51.100.5", "2001:db8:0:2::5"}
    sessions = parse_bfd("eos", recorded("eos_show_bfd_peers.txt"))
    assert bfd_check(di, sessions) == []  # th-carrier-b (no BFD in the intent) being down is not a problem
    down = [BfdSession(s.peer, "down", s.interface) if s.peer == "198.51.100.5" else s for s in sessions]
    assert bfd_check(di, down) == ["198.51.100.5 (th-carrier): BFD session down"]
    assert bfd_check(di, [s for s in sessions if ":" not in s.peer]) == [
        "2001:db8:0:2::5 (th-carrier): no BFD session on the device"]


class _ReplayedSession:
    """A netmiko session that answers from the recordings, as NAPALM's own driver tests replay devices."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def send_command(self, command: str, **_kwargs: object) -> str:
        return self.answers[command]


def _task_with(conn: object, platform: str) -> SimpleNamespace:
    host = SimpleNamespace(name="dev", platform=platform, get_connection=lambda _name, _config: conn)
    return SimpleNamespace(host=host, nornir=SimpleNamespace(config=None))


def test_the_gate_task_reads_bfd_through_napalm_cli() -> None:
    """tasks/validate.bfd_sessions on NAPALM's real IOS driver (its SSH session replayed), and on FRR: None."""
    ios = IOSDriver("192.0.2.1", "user", "")
    ios.device = _ReplayedSession({"show bfd neighbors details": recorded("ios_show_bfd_neighbors_details.txt")})
    result = bfd_sessions(_task_with(ios, "ios"))  # type: ignore[arg-type]
    assert [(s.peer, s.up) for s in result.result] == [("198.51.100.9", True), ("2001:db8:0:2::9", False)]
    # The lab twins run FRR (the connection's platform, whatever the inventory's): no vendor state read.
    frr = FRRDriver("192.0.2.1", "user", "")
    assert bfd_sessions(_task_with(frr, "ios")).result is None  # type: ignore[arg-type]
