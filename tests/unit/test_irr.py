"""IRR-built filters: bgpq4's JSON answers through the grammar (hostile ones fail closed), aggregation, the
stored sync, and what the route server's filter becomes (rendered) once a sync is in the state."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.golden.cases import REPO
from tonle.change.irr_sync import IrrSyncError, server_of, sync
from tonle.compile.intent import device_intent, load_intent, with_irr
from tonle.compile.irr import (
    IrrData,
    IrrDataError,
    IrrEntry,
    IrrFilter,
    aggregate,
    as_path_regexes,
    parse_asns,
    parse_prefixes,
    split_server,
)
from tonle.compile.render import render_intent
from tonle.errors import EXIT_BAD_INPUT
from tonle.interfaces.cli import main
from tonle.interfaces.protocol import IrrSyncParams, ProtocolError, make_params
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.irr import latest_irr

BOGONS4 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.168.0.0/16", "0.0.0.0/8")]


def v4(text: str) -> list[IrrEntry]:
    return parse_prefixes(text, "NN", 4, max_len=24, bogons=BOGONS4, what="isp-angkor AS-X IPv4")


# What bgpq4 1.9 -j -A writes (recorded from the lab's IRRd: `/` escaped, ranges as greater/less-equal).
BGPQ4_V4 = ('{ "NN": [\n    { "prefix": "198.18.16.0\\/24", "exact": true },\n    { "prefix": "198.18.24.0\\/23", '
            '"exact": false,\n      "greater-equal": 24, "less-equal": 24 }\n] }\n')


def test_bgpq4_answer_parsed_into_entries() -> None:
    assert v4(BGPQ4_V4) == [IrrEntry(4, "198.18.16.0/24"), IrrEntry(4, "198.18.24.0/23", 24, 24)]
    # a bound equal to the prefix's own length is left out (devices want len < ge <= le)
    assert v4('{"NN": [{"prefix": "198.18.24.0/23", "exact": false, "greater-equal": 23, "less-equal": 24}]}') \
        == [IrrEntry(4, "198.18.24.0/23", None, 24)]
    assert parse_prefixes('{"NN": [{"prefix": "2001:db8:1001::\\/48", "exact": true}]}', "NN", 6, max_len=48,
                          bogons=[], what="x") == [IrrEntry(6, "2001:db8:1001::/48")]
    assert v4('{"NN": [\n]}') == []
    assert parse_asns('{"NN": [\n  65001,\n  64500\n]}\n', "NN", what="x", allow_private=True) == [65001, 64500]


@pytest.mark.parametrize(("answer", "problem"), [
    ("", "not JSON"),
    ("{\"NN\": [", "not JSON"),
    ("[" * 100000, "not JSON"),
    ('["198.18.16.0/24"]', "must be an object with the one key 'NN'"),
    ('{"NN": [], "XX": []}', "one key 'NN'"),
    ('{"NN": {"prefix": "198.18.16.0/24"}}', "must be a list"),
    ('{"NN": ["198.18.16.0/24"]}', "must be an object with 'prefix'"),
    ('{"NN": [{"prefix": "198.18.16.0/24", "exact": true, "description": "x"}]}', "must be an object"),
    ('{"NN": [{"prefix": "198.18.16.0/24\\nroute-map X permit 10"}]}', "is not an address/length"),
    ('{"NN": [{"prefix": "198.18.16.1/24"}]}', "host bits set"),
    ('{"NN": [{"prefix": "198.18.16.0/33"}]}', "not a network"),
    ('{"NN": [{"prefix": 3322014720}]}', "is not an address/length"),
    ('{"NN": [{"prefix": "2001:db8::/32"}]}', "is IPv6 in an IPv4 answer"),
    ('{"NN": [{"prefix": "0.0.0.0/0"}]}', "is a default route"),
    ('{"NN": [{"prefix": "198.18.16.0/25"}]}', "longer than the policy's maximum /24"),
    ('{"NN": [{"prefix": "198.18.0.0/16", "exact": false, "greater-equal": 17, "less-equal": 32}]}',
     "up to /32 is longer than the policy's maximum"),
    ('{"NN": [{"prefix": "10.1.0.0/16"}]}', "overlaps the bogon 10.0.0.0/8"),
    ('{"NN": [{"prefix": "198.18.16.0/24", "exact": "yes"}]}', "exact must be true or false"),
    ('{"NN": [{"prefix": "198.18.16.0/24", "exact": true, "less-equal": 24}]}', "exact entry cannot carry"),
    ('{"NN": [{"prefix": "198.18.0.0/16", "exact": false, "greater-equal": 20, "less-equal": 18}]}',
     "greater-equal (20) <= less-equal (18)"),
    ('{"NN": [{"prefix": "198.18.0.0/16", "exact": false, "greater-equal": 8, "less-equal": 18}]}',
     "16 <= greater-equal (8)"),
    ('{"NN": [{"prefix": "198.18.0.0/16", "exact": false, "greater-equal": "17"}]}', "must be an integer"),
    ('{"NN": [{"prefix": "198.18.0.0/16", "exact": false, "greater-equal": true}]}', "must be an integer"),
])
def test_hostile_prefix_answers_fail_closed_with_one_line(answer: str, problem: str) -> None:
    with pytest.raises(IrrDataError) as e:
        v4(answer)
    assert problem in str(e.value)
    assert str(e.value).startswith("isp-angkor AS-X IPv4")
    assert "\n" not in str(e.value) and len(str(e.value)) < 240
    assert e.value.exit_code == EXIT_BAD_INPUT


def test_too_many_entries_fail_closed() -> None:
    with pytest.raises(IrrDataError, match="at most 100000"):
        v4(json.dumps({"NN": [{"prefix": "198.18.16.0/24"}] * 100_001}))


@pytest.mark.parametrize(("answer", "problem"), [
    ('{"NN": ["65001"]}', "is not a usable AS number"),
    ('{"NN": [65001.0]}', "is not a usable AS number"),
    ('{"NN": [true]}', "is not a usable AS number"),
    ('{"NN": [0]}', "is not a usable AS number"),
    ('{"NN": [23456]}', "is not a usable AS number"),
    ('{"NN": [4294967296]}', "is not a usable AS number"),
    ('{"NN": [-1]}', "is not a usable AS number"),
    ('{"NN": [{"asn": 65001}]}', "is not a usable AS number"),
    ('{"NN": [64500]}', "private or documentation"),
    ('{"NN": [4200000001]}', "private or documentation"),
])
def test_hostile_asn_answers_fail_closed(answer: str, problem: str) -> None:
    with pytest.raises(IrrDataError, match=problem):
        parse_asns(answer, "NN", what="x")


def test_public_asns_accepted_without_the_private_flag() -> None:
    assert parse_asns('{"NN": [13335, 4199999999, 65552]}', "NN", what="x") == [13335, 4199999999, 65552]


def test_aggregate_drops_duplicates_and_covered_entries() -> None:
    wide = IrrEntry(4, "198.18.24.0/23", None, 24)
    got = aggregate([IrrEntry(4, "198.18.25.0/24"), wide, IrrEntry(4, "198.18.16.0/24"),
                     IrrEntry(4, "198.18.16.0/24"), IrrEntry(6, "2001:db8:1001::/48"),
                     IrrEntry(4, "198.18.24.0/24", 24, 24)])
    assert got == (IrrEntry(4, "198.18.16.0/24"), wide, IrrEntry(6, "2001:db8:1001::/48"))
    # an exact /23 is not covered by a range that starts at /24
    assert aggregate([IrrEntry(4, "198.18.24.0/23"), IrrEntry(4, "198.18.24.0/23", 24, 24)]) == (
        IrrEntry(4, "198.18.24.0/23"), IrrEntry(4, "198.18.24.0/23", 24, 24))


def test_as_path_regexes_pin_the_peer_first_and_an_origin_of_its_set_last() -> None:
    assert as_path_regexes(65001, [64500, 65001]) == ["^65001(_[0-9]+)*_64500$", "^65001$",
                                                      "^65001(_[0-9]+)*_65001$"]


def _inventory(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    shutil.copy(REPO / "nornir.yaml", tmp_path)
    return tmp_path / "nornir.yaml"


ANGKOR = IrrFilter("isp-angkor", "AS65001:AS-ANGKOR", (64500, 65001),
                   (IrrEntry(4, "198.18.16.0/24"), IrrEntry(4, "198.18.24.0/23", 24, 24),
                    IrrEntry(6, "2001:db8:1001::/48")))


def test_synced_filter_replaces_peers_yaml_list_at_the_route_server(tmp_path: Path) -> None:
    intent = load_intent(load_from_nornir_config(_inventory(tmp_path)))
    before = render_intent(device_intent(intent, "pnh-dix-rs1"), "frr")
    assert "ip prefix-list PL-ISP-ANGKOR-IN-V4 seq 5 permit 198.18.16.0/24 le 24" in before
    synced = with_irr(intent, IrrData("2026-11-29T19:00:00+00:00", "127.0.0.1:43 TONLE-LAB", (ANGKOR,)))
    after = render_intent(device_intent(synced, "pnh-dix-rs1"), "frr")
    assert "ip prefix-list PL-ISP-ANGKOR-IN-V4 seq 5 permit 198.18.16.0/24\n" in after
    assert "ip prefix-list PL-ISP-ANGKOR-IN-V4 seq 10 permit 198.18.24.0/23 ge 24 le 24" in after
    assert "ipv6 prefix-list PL-ISP-ANGKOR-IN-V6 seq 5 permit 2001:db8:1001::/48\n" in after
    assert "bgp as-path access-list AP-ISP-ANGKOR-IN seq 5 permit ^65001(_[0-9]+)*_64500$" in after
    assert "^65001(_[0-9]+)*$" not in after.split("AP-ISP-ANGKOR-IN", 1)[1].split("\n", 1)[0]
    # another ISP (no AS-SET) keeps its peers.yaml list
    assert "ip prefix-list PL-ISP-MEKONG-IN-V4 seq 5 permit 198.18.17.0/24 le 24" in after
    for platform in ("ios", "junos"):  # the route server platforms render the synced lists too (EOS: none)
        text = render_intent(device_intent(synced, "pnh-dix-rs1"), platform)
        assert "198.18.24.0/23" in text, platform


def test_an_as_set_with_no_prefix_in_a_family_accepts_nothing_there(tmp_path: Path) -> None:
    intent = load_intent(load_from_nornir_config(_inventory(tmp_path)))
    only_v4 = IrrFilter("isp-angkor", "AS65001:AS-ANGKOR", (65001,), (IrrEntry(4, "198.18.16.0/24"),))
    di = device_intent(with_irr(intent, IrrData("t", "s", (only_v4,))), "pnh-dix-rs1")
    v6_map = next(rm for rm in di.route_maps if rm.name == "RM-ISP-ANGKOR-IN-V6")
    assert [t.action for t in v6_map.terms if t.seq == 30] == []  # no permit term: nothing in IPv6
    assert not any(pl.name == "PL-ISP-ANGKOR-IN-V6" for pl in di.prefix_lists)


def test_stored_sync_round_trips_and_the_newest_is_used(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state")
    assert latest_irr(db) is None
    from tonle.state.irr import irr_saved  # noqa: PLC0415

    first = IrrData("2026-11-29T18:00:00+00:00", "127.0.0.1:43 TONLE-LAB", (ANGKOR,))
    AuditLog(db, actor="tester").append("irr-sync", "x", {}, change=irr_saved(first))
    second = IrrData("2026-11-29T19:00:00+00:00", "127.0.0.1:43 TONLE-LAB", ())
    AuditLog(db, actor="tester").append("irr-sync", "x", {}, change=irr_saved(second))
    assert latest_irr(db) == second
    assert IrrData.from_json(first.to_json()) == first


def test_server_from_policy_and_command_line_checked(tmp_path: Path) -> None:
    config = _inventory(tmp_path)
    intent = load_intent(load_from_nornir_config(config))
    srv = server_of(intent, None, None, None)
    assert (srv.host, srv.port, srv.sources, srv.private_asns) == ("127.0.0.1", 43, ("TONLE-LAB",), True)
    assert server_of(intent, "irr.example.net", 4343, ["RIPE", "RADB"]).sources == ("RIPE", "RADB")
    for host, sources, problem in (("-h evil", None, "neither an IP address nor a host name"),
                                   ("127.0.0.1", ["ripe;x"], "not an IRR source name")):
        with pytest.raises(IrrSyncError, match=problem):
            server_of(intent, host, 43, sources)


def test_bad_server_argument_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _inventory(tmp_path)
    for server in ("127.0.0.1", "127.0.0.1:http", "-S x:43"):
        rc = main(["--config", str(config), "--state-dir", str(tmp_path / "state"), "irr", "sync", "--server", server])
        err = capsys.readouterr().err
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert latest_irr(StateDB(tmp_path / "state")) is None


GOOD_SERVERS = [("127.0.0.1:43", ("127.0.0.1", 43)), ("irr.example.net:4343", ("irr.example.net", 4343)),
                ("[2001:db8::1]:43", ("2001:db8::1", 43)), ("2001:db8::1:43", ("2001:db8::1", 43))]
BAD_SERVERS = ["127.0.0.1", "127.0.0.1:http", "-S x:43", "host:0", "host:65536", ":43", "a b:43", "h:043 ",
               "x" * 300 + ":43", "irr.example.net:43\n-h evil", "[127.0.0.1:43"]


@pytest.mark.parametrize(("text", "parsed"), GOOD_SERVERS)
def test_the_service_request_takes_the_servers_the_cli_takes(text: str, parsed: tuple[str, int]) -> None:
    assert split_server(text) == parsed
    assert make_params(IrrSyncParams, server=text, sources=["RIPE", "RADB"]).server == text


@pytest.mark.parametrize("text", BAD_SERVERS)
def test_the_service_request_refuses_what_the_cli_refuses_and_echoes_nothing(text: str) -> None:
    assert split_server(text) is None
    with pytest.raises(ProtocolError) as exc:
        make_params(IrrSyncParams, server=text)
    assert str(exc.value).startswith("server: ") and text not in str(exc.value)


def test_the_service_request_checks_each_source() -> None:
    assert make_params(IrrSyncParams, sources=["RIPE", "TONLE-LAB"]).sources == ["RIPE", "TONLE-LAB"]
    assert make_params(IrrSyncParams).model_dump() == {"server": None, "sources": None}  # policy.yaml's `irr`
    for sources, where in ((["RIPE", "ripe"], "sources.1"), (["-h x"], "sources.0"), ([], "sources"),
                           (["RIPE"] * 17, "sources"), ("RIPE", "sources")):
        with pytest.raises(ProtocolError, match=rf"^{re.escape(where)}: "):
            make_params(IrrSyncParams, sources=sources)
    with pytest.raises(ProtocolError, match=r"^as: Extra inputs"):
        make_params(IrrSyncParams, **{"as": "root"})


def test_a_hostile_answer_stores_nothing(tmp_path: Path) -> None:
    """The runner is bgpq4's stand-in only here: what a compromised IRR server could make it print."""
    config = _inventory(tmp_path)
    good = {"-4": BGPQ4_V4, "-6": '{"NN": []}', "-t": '{"NN": [65001]}'}

    def answers(bad: dict[str, str]) -> object:
        def run(args: list[str]) -> str:
            key = next(a for a in ("-4", "-6", "-t") if a in args)
            assert args[:2] == ["-h", "127.0.0.1:43"] and "-p" in args and args[-1] == "AS65001:AS-ANGKOR"
            return {**good, **bad}[key]
        return run

    state = tmp_path / "state"
    result = sync(config, state, operator="tester", run=answers({}))  # type: ignore[arg-type]
    assert [f.peer for f in result.data.filters] == ["isp-angkor"]
    stored = latest_irr(StateDB(state))
    assert stored is not None and stored.filters[0].origins == (65001,)
    for bad in ({"-6": '{"NN": [{"prefix": "2001:db8::/32\\" ; rm -rf"}]}'}, {"-t": '{"NN": []}'},
                {"-4": '{"NN": [{"prefix": "192.168.0.0/24"}]}'}):
        with pytest.raises(IrrDataError):
            sync(config, state, operator="tester", run=answers(bad))  # type: ignore[arg-type]
        assert latest_irr(StateDB(state)) == stored  # the last good sync stays


def test_policy_irr_section_is_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _inventory(tmp_path)
    pol_file = tmp_path / "inventory" / "policy.yaml"
    pol = yaml.safe_load(pol_file.read_text())
    pol["irr"] = {"host": "127.0.0.1", "port": 70000, "sources": []}
    pol_file.write_text(yaml.safe_dump(pol))
    assert main(["--config", str(config), "inventory", "check"]) == 2
    err = capsys.readouterr().err
    assert "irr" in err and "port" in err


def test_emergencies_render_from_the_irr_filters_the_devices_run(tmp_path: Path) -> None:
    """apply stores the sync it rendered with in the applied snapshot; the emergency path renders from that."""
    from tonle.compile.irr import SNAPSHOT_FILE  # noqa: PLC0415
    from tonle.emergency.applied import applied_device_intents  # noqa: PLC0415
    from tonle.source.snapshot import capture  # noqa: PLC0415
    from tonle.state.applied import record_applied  # noqa: PLC0415

    inv = load_from_nornir_config(_inventory(tmp_path))
    data = IrrData("2026-11-29T19:00:00+00:00", "127.0.0.1:43 TONLE-LAB", (ANGKOR,))
    state = tmp_path / "state"
    record_applied(StateDB(state), ["pnh-dix-rs1"], "p1", capture(inv).with_file(SNAPSHOT_FILE, data.to_json()))
    record_applied(StateDB(state), ["kos-dix-rs1"], "lab-up", capture(inv))
    got = applied_device_intents(state, ["pnh-dix-rs1", "kos-dix-rs1"])
    assert got["pnh-dix-rs1"].irr == {"isp-angkor": ANGKOR}
    assert got["kos-dix-rs1"].irr == {}  # built before any sync: peers.yaml's lists
    text = render_intent(device_intent(got["pnh-dix-rs1"], "pnh-dix-rs1"), "frr")
    assert "permit 198.18.24.0/23 ge 24 le 24" in text
