"""RPKI origin validation in the drift audit: FRR 8.4's answers (recorded on the lab's r2 and r1: the RTR cache
connected, a hijack by up1 rejected by the import filter's `deny 21 match rpki invalid`, then with that term
removed by hand and the session refreshed, the hijack accepted) parsed, judged against the intent, and shown
in the terminal, JSON and HTML reports; hostile answers fail closed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL
from tests.unit.test_drift_report import device, report
from tonle.compile.intent import DeviceIntent, device_intent, load_intent
from tonle.drift import rpki
from tonle.drift.audit import DRIFT, DriftReport, StateIssue
from tonle.drift.html import render_html
from tonle.drift.report import summary_lines, to_json
from tonle.source.inventory import load_from_nornir_config

FRR = Path(__file__).resolve().parents[1] / "fixtures" / "rpki" / "frr"
CACHE = "198.19.128.250"  # where the recorded lab's stayrtr stood


def recorded(name: str) -> str:
    return (FRR / name).read_text()


@pytest.fixture(scope="module")
def intents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DeviceIntent]:
    """The recorded lab's intent: the small inventory with RPKI (reject invalid everywhere, the default)."""
    tmp = tmp_path_factory.mktemp("rpki-drift")
    shutil.copytree(SMALL, tmp / "s")
    pol_file = tmp / "s" / "inventory" / "policy.yaml"
    pol = yaml.safe_load(pol_file.read_text())
    pol["rpki"] = {"caches": [{"address": CACHE, "port": 3323, "preference": 1}]}
    pol_file.write_text(yaml.safe_dump(pol))
    intent = load_intent(load_from_nornir_config(tmp / "s" / "nornir.yaml"))
    return {h: device_intent(intent, h) for h in ("r1", "r2")}


KEYS = {"connection": rpki.CONNECTION, "invalid_4": rpki.INVALID[4], "invalid_6": rpki.INVALID[6],
        "route": rpki.ROUTE_MAPS}


def answers(**changes: str) -> dict[str, str]:
    """r2 after up1's hijack: the cache connected, both hijacked routes rejected, none held."""
    base = {rpki.CONNECTION: recorded("cache-connection.json"), rpki.INVALID[4]: recorded("invalid-v4-none.json"),
            rpki.INVALID[6]: recorded("invalid-v6-none.json"),
            rpki.ROUTE_MAPS: recorded("route-map-hijack-rejected.txt")}
    return base | {KEYS[k]: v for k, v in changes.items()}


def test_the_hijack_rejected_by_the_rpki_term_is_counted_and_clean(intents: dict[str, DeviceIntent]) -> None:
    state = rpki.read_state(intents["r2"], answers())
    assert state.error == "" and state.ignored == 0
    assert state.caches == [{"host": CACHE, "port": 3323, "preference": 1, "connected": True}]
    assert (state.connected, state.configured, state.rejected, state.accepted) == (1, 1, 2, 0)
    assert rpki.issues(intents["r2"], state) == []
    # the counter is the RPKI term's only: up1's accepted routes (term 30) and the export map are not counted
    assert rpki.rejecting_terms(intents["r2"])["198.51.100.1"] == {("RM-UP1-IN-V4", 21)}


def test_an_invalid_route_accepted_against_the_intent_is_drift(intents: dict[str, DeviceIntent]) -> None:
    """The term removed by hand: FRR holds both hijacked routes, and the counter is gone with the term."""
    state = rpki.read_state(intents["r2"], answers(invalid_4=recorded("invalid-v4-accepted.json"),
                                                   route=recorded("route-map-term-removed.txt")))
    assert (state.accepted, state.against_intent, state.rejected) == (2, 2, None)
    assert {(r.prefix, r.peer, r.origin) for r in state.accepted_routes} == {
        ("198.18.20.0/23", "198.51.100.1", 65538), ("198.18.21.0/24", "198.51.100.1", 65538)}
    found = rpki.issues(intents["r2"], state)
    assert [sev for sev, _, _ in found] == ["error", "error"]
    assert "accepted the RPKI-invalid 198.18.21.0/24 (origin AS65538) from 198.51.100.1 (up1, AS65538)" in found[1][2]


def test_an_invalid_route_over_ibgp_is_a_warning_where_the_intent_does_not_check(
        intents: dict[str, DeviceIntent]) -> None:
    """r1 holds the hijack r2 accepted, learned over iBGP (no RPKI term there): shown, not r1's drift."""
    state = rpki.read_state(intents["r1"], answers(invalid_4=recorded("invalid-v4-ibgp-r1.json")))
    found = rpki.issues(intents["r1"], state)
    assert state.accepted == 1 and state.against_intent == 0 and state.accepted_routes[0].peer == "203.0.113.1"
    assert {sev for sev, _, _ in found} == {"warning"} and "does not check" in found[0][2]


def test_no_cache_connected_is_drift(intents: dict[str, DeviceIntent]) -> None:
    state = rpki.read_state(intents["r2"], answers(connection=recorded("cache-connection-none.json")))
    assert (state.connected, state.configured) == (0, 1)
    (issue,) = rpki.issues(intents["r2"], state)
    assert issue[0] == "error" and "no RPKI cache connected (1 configured)" in issue[2]


HOSTILE_WHOLE = ["% Unknown command: show rpki cache-connection json", "[1, 2]", '{"a": 1} SECRET-MARK', "{" * 3000,
                 '{"connections": "SECRET-MARK"}']


@pytest.mark.parametrize("text", HOSTILE_WHOLE)
def test_an_answer_that_is_not_frrs_json_makes_the_state_unreadable(intents: dict[str, DeviceIntent],
                                                                     text: str) -> None:
    state = rpki.read_state(intents["r2"], answers(connection=text))
    assert state.error and "SECRET-MARK" not in state.error and state.accepted == 0 and state.caches == []
    (issue,) = rpki.issues(intents["r2"], state)
    assert issue[0] == "error" and "could not be read" in issue[2]


def test_a_missing_answer_is_unreadable_never_nothing_invalid(intents: dict[str, DeviceIntent]) -> None:
    partial = {k: v for k, v in answers().items() if k != rpki.INVALID[6]}
    assert rpki.read_state(intents["r2"], partial | {rpki.INVALID[6]: ""}).error == ""  # empty text: no routes
    assert rpki.read_state(intents["r2"], partial | {rpki.INVALID[6]: "not json"}).error


def _route(prefix: Any = "198.18.21.0/24", peer: Any = "198.51.100.1", path: Any = "65538") -> dict[str, Any]:
    return {"valid": True, "bestpath": True, "peerId": peer, "path": path, "prefix": "x"}


@pytest.mark.parametrize(("routes", "kept", "ignored"), [
    ({"198.18.21.0/24": [_route()]}, 1, 0),
    ({"198.18.21.0/24": [_route(peer="198.51.100.1; rm -rf /")]}, 0, 1),
    ({"198.18.21.0/24": [_route(peer=None)]}, 0, 1),
    ({"198.18.21.0/24": [_route(path="65538 {1,2}")]}, 1, 0),  # origin unknown, still held
    ({"198.18.21.0/24": "SECRET-MARK"}, 0, 1),
    ({"198.18.21.1/24": [_route()]}, 0, 1),  # host bits
    ({"2001:db8::/32": [_route()]}, 0, 1),  # the other family
    ({"SECRET-MARK": [_route()]}, 0, 1),
    ({"198.18.21.0/24": [1, "x", None]}, 0, 3),
])
def test_each_route_of_the_answer_is_checked(intents: dict[str, DeviceIntent], routes: dict[str, Any], kept: int,
                                             ignored: int) -> None:
    text = json.dumps({"routes": routes})
    state = rpki.read_state(intents["r2"], answers(invalid_4=text))
    assert (state.accepted, state.ignored) == (kept, ignored)
    assert not any("SECRET-MARK" in m or "rm -rf" in m for _, _, m in rpki.issues(intents["r2"], state))


@pytest.mark.parametrize(("row", "ok"), [
    ({"host": CACHE, "port": "3323", "preference": 1, "state": "connected"}, True),
    ({"host": CACHE, "port": 3323, "preference": 1, "state": "connected"}, True),
    ({"host": CACHE, "port": "70000", "state": "connected"}, False),
    ({"host": CACHE, "port": "3323; x", "state": "connected"}, False),
    ({"host": "cache.example", "port": "3323", "state": "connected"}, False),
    ({"host": CACHE, "port": "3323", "state": "SECRET-MARK"}, False),
    ({"host": CACHE, "port": True, "state": "connected"}, False),
    ("SECRET-MARK", False),
])
def test_each_cache_of_the_answer_is_checked(row: Any, ok: bool) -> None:
    caches, ignored = rpki.parse_caches(json.dumps({"connections": [row]}))
    assert (len(caches), ignored) == ((1, 0) if ok else (0, 1))


@pytest.mark.parametrize("invoked", [-1, "2", True, 1e400, None, 2**70])
def test_a_counter_that_is_not_a_count_is_not_read(invoked: Any) -> None:
    def rules(value: Any) -> str:
        return json.dumps({"BGP": {"RM-X": {"rules": [{"sequenceNumber": 21, "invoked": value}]}}})
    assert rpki.parse_denied(rules(invoked), {("RM-X", 21)}) == (None, 1)
    assert rpki.parse_denied(rules(7), {("RM-X", 21)}) == (7, 0)


def test_the_route_map_answer_is_one_object_per_daemon() -> None:
    two = json.dumps({"ZEBRA": {}}) + "\n" + json.dumps({"BGP": {"RM-X": {"rules": [
        {"sequenceNumber": 21, "invoked": 3}, {"sequenceNumber": 30, "invoked": 9}]}}})
    assert rpki.parse_denied(two, {("RM-X", 21)}) == (3, 0)
    assert rpki.parse_denied(json.dumps({"ZEBRA": {}}), {("RM-X", 21)}) == (None, 0)  # bgpd has no route-map
    with pytest.raises(rpki.RpkiAnswerError):
        rpki.parse_denied(two + json.dumps({"BGP": {}}), {("RM-X", 21)})  # two of bgpd's: which one?
    with pytest.raises(rpki.RpkiAnswerError, match="more than 16"):
        rpki.parse_denied("{}" * 17, {("RM-X", 21)})


def test_only_the_first_routes_are_listed_and_the_rest_still_counts(intents: dict[str, DeviceIntent]) -> None:
    routes = {f"198.18.{i // 256}.{i % 256}/32": [_route()] for i in range(rpki.MAX_LISTED + 7)}
    state = rpki.read_state(intents["r2"], answers(invalid_4=json.dumps({"routes": routes})))
    assert (state.accepted, state.against_intent, len(state.accepted_routes)) == (57, 57, 50)
    found = rpki.issues(intents["r2"], state)
    assert len(found) == 51 and "7 more RPKI-invalid route(s) accepted against the intent" in found[-1][2]


# ---- the reports --------------------------------------------------------------------------------------------

def _with_rpki(intents: dict[str, DeviceIntent], **changes: str) -> DriftReport:
    state = rpki.read_state(intents["r2"], answers(**changes))
    dev = device("r2", "POI", rpki=state.to_json(),
                 state=[StateIssue(s, w, m) for s, w, m in rpki.issues(intents["r2"], state)])
    dev.settle()
    return report(device("r1", "PNH"), dev)


def test_reports_show_rejected_and_accepted_per_device(intents: dict[str, DeviceIntent]) -> None:
    clean = _with_rpki(intents)
    assert clean.exit_code == 0
    lines = summary_lines(clean)
    assert any(ln.split() == ["r2", "caches", "1/1", "connected;", "invalid", "2", "rejected,", "0", "accepted"]
               for ln in lines), lines
    assert not any(ln.strip().startswith("r1 ") and "caches" in ln for ln in lines)  # r1: not read (no rpki)
    data = json.loads(to_json(clean))
    r2 = next(d for d in data["devices"] if d["host"] == "r2")
    assert (r2["rpki"]["rejected"], r2["rpki"]["accepted"], r2["rpki"]["connected"]) == (2, 0, 1)
    assert DriftReport.from_json(data).devices[1].rpki == r2["rpki"]
    assert "2 rejected, 0 accepted; cache 1/1" in render_html(clean)

    hijacked = _with_rpki(intents, invalid_4=recorded("invalid-v4-accepted.json"),
                          route=recorded("route-map-term-removed.txt"))
    assert hijacked.exit_code == 1 and hijacked.devices[1].status == DRIFT
    text = "\n".join(summary_lines(hijacked))
    assert "invalid ? rejected, 2 accepted" in text and "[state error] accepted the RPKI-invalid 198.18.20.0/23" in text
    page = render_html(hijacked)
    assert "198.18.21.0/24 from 198.51.100.1 (origin AS65538)" in page and "? rejected, 2 accepted" in page
