"""The validation gates and the apply's staging without a lab: each check with hand-made snapshots (the
getters' output as NAPALM shapes it), the polling loop with a fake clock (the hold time included), and
the canary and batch choice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT
from tonle.change.apply import ApplyOptions, ApplyOutcome, ApplyReport, _Refused, _stages, window_confirm_verdict
from tonle.change.gates import Problems, check, meant_down, poll, snapshot_diff
from tonle.change.plan import DevicePlan, Plan
from tonle.compile.intent import DeviceIntent, Intent, SessionOverride, device_intent, load_intent
from tonle.source.inventory import load_from_nornir_config

DEVICE = "poi-iig-1"
UPSTREAM = "198.51.100.5"  # th-carrier, max 1,000,000 prefixes


@pytest.fixture(scope="module")
def ref() -> Intent:
    return load_intent(load_from_nornir_config(ROOT / "nornir.yaml"))


@pytest.fixture(scope="module")
def di(ref: Intent) -> DeviceIntent:
    return device_intent(ref, DEVICE, [])


def healthy(di: DeviceIntent, accepted: int = 100) -> dict[str, dict[str, Any]]:
    return {n.ip: {"up": True, "enabled": True, "remote_as": n.remote_asn, "received": accepted,
                   "accepted": accepted} for n in di.neighbors}


# ---- check: one problem per broken rule, none when healthy ---------------------------------------------

def test_healthy_device_has_no_problem(di: DeviceIntent) -> None:
    assert check(di, healthy(di), healthy(di)) == []


def test_session_down_or_missing_is_a_problem(di: DeviceIntent) -> None:
    post = healthy(di)
    post[UPSTREAM]["up"] = False
    assert check(di, healthy(di), post) == [f"{UPSTREAM} (th-carrier, AS65538) is not Established"]
    del post[UPSTREAM]
    assert check(di, healthy(di), post) == [f"{UPSTREAM} (th-carrier) is not configured on the device"]


def test_max_prefixes_is_a_strict_limit(di: DeviceIntent) -> None:
    pre, post = healthy(di), healthy(di)
    pre[UPSTREAM]["accepted"] = post[UPSTREAM]["accepted"] = 1_000_000
    assert check(di, pre, post) == []
    post[UPSTREAM]["accepted"] = 1_000_001
    assert check(di, pre, post) == [
        f"{UPSTREAM} (th-carrier) accepts 1000001 prefixes, over its maximum 1000000"]


def test_prefix_floor_is_half_of_before(di: DeviceIntent) -> None:
    post = healthy(di)
    post[UPSTREAM]["accepted"] = 50
    assert check(di, healthy(di, 100), post) == []  # exactly half: still in bounds
    post[UPSTREAM]["accepted"] = 49
    assert check(di, healthy(di, 100), post) == [f"{UPSTREAM} (th-carrier) accepted prefixes fell from 100 to 49"]
    # a session that was down before, or had nothing, sets no floor
    pre = healthy(di, 100)
    pre[UPSTREAM]["up"] = False
    assert check(di, pre, post) == []


def test_a_shut_session_must_be_down(ref: Intent) -> None:
    shut = device_intent(ref, DEVICE, [SessionOverride(DEVICE, UPSTREAM, shutdown=True)])
    post = healthy(shut)
    assert check(shut, healthy(shut), post) == [f"{UPSTREAM} (th-carrier) is still up although the intent shuts it"]
    post[UPSTREAM].update(up=False, enabled=False)
    assert check(shut, healthy(shut), post) == []
    assert meant_down(shut, healthy(shut)) == {UPSTREAM}
    assert snapshot_diff(healthy(shut), post) == [f"{UPSTREAM}: up 100 pfx -> shut 100 pfx"]


# ---- poll: healthy only when held ------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def run(results: list[Problems], *, settle: float, hold: float) -> tuple[Problems, int]:
    """Poll fake gates that answer `results` in turn (the last one for ever); (verdict, polls made)."""
    clock, polls = Clock(), [0]

    def step() -> Problems:
        polls[0] += 1
        return results[min(polls[0], len(results)) - 1]

    return poll(["r1"], step, settle=settle, hold=hold, clock=clock, sleep=clock.sleep), polls[0]


BAD: Problems = {"r1": ["198.51.100.5 is not Established"]}


def test_healthy_once_held() -> None:
    assert run([{}], settle=60, hold=7) == ({}, 8)  # passes at t=0 .. t=7


def test_failing_gates_report_their_problems_at_the_deadline() -> None:
    assert run([BAD], settle=10, hold=3) == (BAD, 11)


def test_a_pass_too_short_at_the_deadline_is_not_healthy() -> None:
    # Only the last two polls (t=9, t=10) pass: 1 s of health at the deadline, less than the 7 s hold.
    verdict, polls = run([BAD] * 9 + [{}], settle=10, hold=7)
    assert polls == 11 and verdict == {"r1": ["healthy for only 1.0s at the deadline, not the 7s hold"]}


def test_a_flap_restarts_the_hold() -> None:
    # healthy 5 s, one failing poll, then healthy again: needs 7 s from the flap on
    verdict, polls = run([{}] * 5 + [BAD] + [{}] * 100, settle=60, hold=7)
    assert verdict == {} and polls == 5 + 1 + 8


def test_between_runs_between_polls() -> None:
    clock, seen = Clock(), []

    def stop() -> None:
        seen.append(clock())
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        poll(["r1"], lambda: BAD, settle=60, hold=7, clock=clock, sleep=clock.sleep, between=stop)
    assert seen == [1000.0, 1001.0, 1002.0]


# ---- staging: the canary and the batches -------------------------------------------------------------

def plan_of(hosts: list[str], unchanged: tuple[str, ...] = ()) -> Plan:
    devs = [DevicePlan(h, "frr", "" if h in unchanged else "+x\n", "i", "r") for h in hosts]
    return Plan("P1", "now", "root", "lab", {}, devs)


def test_canary_is_the_changed_device_with_fewest_external_sessions(ref: Intent) -> None:
    hosts = list(ref.inv.devices)
    # pnh-iig-1, pnh-iig-2 and bvt-iig-1 have 2 external sessions each: the name breaks the tie
    stages = _stages(plan_of(hosts), ref, ApplyOptions(batch_size=2))
    assert stages == [["bvt-iig-1"], ["pnh-iig-1", "pnh-iig-2"], ["kos-iig-1", "poi-iig-1"],
                      ["pnh-dix-rs1", "kos-dix-rs1"]]
    # an unchanged device is never staged, not even as the canary
    assert _stages(plan_of(hosts, ("bvt-iig-1",)), ref, ApplyOptions(batch_size=10))[0] == ["pnh-iig-1"]


def test_chosen_canary_and_batch_size(ref: Intent) -> None:
    hosts = ["kos-iig-1", "poi-iig-1", "pnh-dix-rs1"]
    assert _stages(plan_of(hosts), ref, ApplyOptions(canary=["pnh-dix-rs1"], batch_size=0)) == [
        ["pnh-dix-rs1"], ["kos-iig-1"], ["poi-iig-1"]]  # batch size at least 1
    with pytest.raises(_Refused, match="--canary bvt-iig-1: not a changed device"):
        _stages(plan_of(hosts), ref, ApplyOptions(canary=["bvt-iig-1"]))



# ---- on_window_close=confirm says what happened -----------------------------------------------------------

def test_window_confirm_failure_is_not_called_rolled_back_when_devices_were_confirmed() -> None:
    report = ApplyReport("P1", ApplyOutcome.REFUSED)
    window_confirm_verdict(report, ["r1", "r2"], {"r2": "No pending commit-confirm"}, {})
    assert report.outcome == ApplyOutcome.PARTIAL
    assert report.devices == {"r1": "confirmed", "r2": "confirm failed: No pending commit-confirm; rolled back"}
    assert report.reason == "the change window closed; confirmed r1; confirm failed on r2, rolled back"


def test_window_confirm_all_failed_and_a_rollback_failed() -> None:
    report = ApplyReport("P1", ApplyOutcome.REFUSED)
    window_confirm_verdict(report, ["r1", "r2"], {"r1": "x", "r2": "y"}, {"r2": "unreachable"})
    assert report.outcome == ApplyOutcome.ROLLED_BACK
    assert report.devices["r2"] == "confirm failed: y; ROLLBACK FAILED: unreachable"
    assert report.reason.endswith("rollback FAILED on r2: check them")


def test_window_confirm_success() -> None:
    report = ApplyReport("P1", ApplyOutcome.REFUSED)
    window_confirm_verdict(report, ["r1"], {}, {})
    assert report.outcome == ApplyOutcome.PARTIAL and report.devices == {"r1": "confirmed"}
