"""Apply against concurrent actors, without a lab: per-device leases, pre-emption requests, the plan's
compare-and-set, and the check that a device moved since its plan by nothing but an override's lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SMALL
from tonle.change.apply import ApplyOptions, ApplyOutcome, _Abort, _Preempted, apply_plan
from tonle.change.plan import DevicePlan
from tonle.errors import Unavailable
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.leases import UNKNOWN, Holder, Leases

APPLY = Holder("apply", "P-1")
EMERGENCY = Holder("emergency", "D-1")


def test_a_lease_is_exclusive_and_says_who_holds_it(tmp_path: Path) -> None:
    with Leases(tmp_path, APPLY) as a, Leases(tmp_path, EMERGENCY) as e:
        assert a.try_take("r1") is None and a.try_take("r1") is None  # taken; taking it again is a no-op
        held_by = e.try_take("r1")
        assert held_by is not None and (held_by.kind, held_by.ref) == ("apply", "P-1")
        assert str(held_by) == "the apply of plan P-1"
        a.release()
        assert e.try_take("r1") is None and e.held == ["r1"]
    with Leases(tmp_path, APPLY) as a:  # released on leaving the block
        assert a.try_take("r1") is None


def test_take_all_is_all_or_nothing(tmp_path: Path) -> None:
    seen: list[dict[str, Holder]] = []
    with Leases(tmp_path, APPLY) as a, Leases(tmp_path, EMERGENCY) as e:
        assert a.try_take("r2") is None
        busy = e.take_all(["r1", "r2", "rs1"], timeout=0.3, on_wait=seen.append)
        assert list(busy) == ["r2"] and busy["r2"].ref == "P-1"
        assert e.held == []  # r1 and rs1 were free, yet none is kept while it waits
        assert seen and all(list(b) == ["r2"] for b in seen)
        assert a.try_take("r1") is None  # so the holder is never blocked by a waiter
        a.release()
        assert e.take_all(["r1", "r2", "rs1"], timeout=1, on_wait=seen.append) == {}
        assert e.held == ["r1", "r2", "rs1"]


def test_take_all_waits_for_a_release(tmp_path: Path) -> None:
    with Leases(tmp_path, EMERGENCY) as e:
        e.try_take("r1")
        threading.Timer(0.5, e.release).start()
        with Leases(tmp_path, APPLY) as a:
            t0 = time.monotonic()
            assert a.take_all(["r1"], timeout=10, on_wait=lambda _b: None) == {}
            assert 0.4 < time.monotonic() - t0 < 5


def test_a_request_to_yield_reaches_the_holder_and_is_withdrawn(tmp_path: Path) -> None:
    with Leases(tmp_path, APPLY) as a:
        a.try_take("r2")
        assert a.yield_requests() == {}
        with Leases(tmp_path, EMERGENCY) as e:
            e.take_all(["r2"], timeout=0, on_wait=lambda busy: [e.request_yield(d) for d in busy])
            assert {d: h.ref for d, h in a.yield_requests().items()} == {"r2": "D-1"}
        assert a.yield_requests() == {}  # the emergency gave up: its request went with it
        e2 = Leases(tmp_path, EMERGENCY)
        e2.request_yield("r2")
        a.release()
        assert a.try_take("r2") is None and a.yield_requests() == {}  # a new lease starts with no stale request
        e2.release()


def test_an_apply_checks_for_requests_at_its_safe_points(tmp_path: Path) -> None:
    with _Abort() as abort, Leases(tmp_path, APPLY) as a:
        abort.leases = a
        a.try_take("r2")
        abort.check()  # nothing asked
        Leases(tmp_path, EMERGENCY).request_yield("r2")
        with pytest.raises(_Preempted, match="pre-empted by emergency action D-1 on r2"):
            abort.check()


def test_the_kernel_releases_the_lease_of_a_dead_process(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from tonle.state.leases import Holder, Leases;"
            "ls = Leases(Path(sys.argv[1]), Holder('apply', 'P-dead')); ls.try_take('r1'); print('held', flush=True);"
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with Leases(tmp_path, EMERGENCY) as e:
            holder = e.try_take("r1")
            assert holder is not None and holder.ref == "P-dead" and holder.pid == proc.pid
            proc.kill()
            proc.wait(timeout=10)
            assert e.try_take("r1") is None
    finally:
        proc.kill()


def test_a_holder_not_yet_written_reads_as_unknown(tmp_path: Path) -> None:
    with Leases(tmp_path, APPLY) as a:
        a.try_take("r1")
        (tmp_path / "leases" / "r1.lock").write_text("")  # the instant between flock and the write
        assert Leases(tmp_path, EMERGENCY).try_take("r1") == UNKNOWN


# ---- the plan's compare-and-set --------------------------------------------------------------------------

def saved_plan(state: Path, status: str = "planned") -> str:
    db = StateDB(state)
    db.save_plan("P-1", "2024-01-01T00:00:00+00:00", "alice", "lab", {
        "id": "P-1", "created_at": "2024-01-01T00:00:00+00:00", "operator": "alice", "target": "lab",
        "selection": {}, "overrides": [],
        "devices": [{"host": "r2", "platform": "frr", "diff": "+ x", "intended_sha256": "0", "running_sha256": "0"}]})
    db.set_plan_status("P-1", status)
    return "P-1"


def test_one_claim_wins(tmp_path: Path) -> None:
    plan = saved_plan(tmp_path)
    won: list[str | None] = []
    start = threading.Barrier(8)

    def claim() -> None:
        db = StateDB(tmp_path)
        start.wait()
        won.append(db.claim_plan(plan))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count("planned") == 1 and won.count(None) == 7
    assert StateDB(tmp_path).plan(plan)["status"] == "applying"  # type: ignore[index]


@pytest.mark.parametrize(("status", "claimable"), [("planned", True), ("rolled back", True), ("aborted", True),
                                                   ("pre-empted", True), ("partially applied", True),
                                                   ("applying", False), ("applied", False)])
def test_which_plans_may_be_applied(tmp_path: Path, status: str, claimable: bool) -> None:
    plan = saved_plan(tmp_path, status)
    assert (StateDB(tmp_path).claim_plan(plan) == status) is claimable
    assert StateDB(tmp_path).claim_plan("P-unknown") is None


@pytest.mark.parametrize(("status", "reason"), [
    ("applying", "this plan is being applied by another run (status applying); if that run died, make a new plan"),
    ("applied", "this plan was applied already; make a new plan")])
def test_a_second_apply_of_a_plan_is_refused_before_any_device(tmp_path: Path, status: str, reason: str) -> None:
    shutil.copytree(SMALL, tmp_path / "small")
    state = tmp_path / "state"
    plan = saved_plan(state, status)
    # No lab exists: reaching for a device would fail with "unreachable", never with this refusal.
    report = apply_plan(tmp_path / "small" / "nornir.yaml", state, plan, ApplyOptions(), operator="root")
    assert (report.outcome, report.reason) == (ApplyOutcome.REFUSED, reason)
    assert StateDB(state).plan(plan)["status"] == status  # type: ignore[index]
    assert AuditLog(StateDB(state)).entries()[-1].action == "apply-refused"


def test_a_refused_run_gives_the_plan_back(tmp_path: Path) -> None:
    shutil.copytree(SMALL, tmp_path / "small")
    state = tmp_path / "state"
    plan = saved_plan(state)
    with pytest.raises(Unavailable, match="is not up"):  # no lab: nothing to reach (an error, exit 2)
        apply_plan(tmp_path / "small" / "nornir.yaml", state, plan, ApplyOptions(emergency=True), operator="root")
    assert StateDB(state).plan(plan)["status"] == "planned"  # type: ignore[index]


# ---- moved since the plan by nothing but an override --------------------------------------------------------

PLANNED = """router bgp 64500
+ neighbor 198.51.100.1 description upstream up1
- neighbor 198.51.100.1 description old
"""


def test_the_same_change_is_not_a_move() -> None:
    dp = DevicePlan("r2", "frr", PLANNED, "0", "0")
    assert dp.moved_beyond(PLANNED, set()) == []
    assert dp.moved_beyond(PLANNED.replace("router bgp", " router bgp"), set()) == []  # context lines do not count


def test_override_lines_are_the_only_allowed_move() -> None:
    dp = DevicePlan("r2", "frr", PLANNED, "0", "0")
    shut = " neighbor 198.51.100.1 shutdown message tonle D-1 T-1"
    now = PLANNED + "+" + shut + "\n"  # the override is in force but not on the device: the stage re-applies it
    assert dp.moved_beyond(now, {shut.strip()}) == []
    assert dp.moved_beyond(now, set()) == [shut.strip()]
    oob = PLANNED + "- ip route 192.0.2.128/25 Null0\n"  # out-of-band: never carried along
    assert dp.moved_beyond(oob, {shut.strip()}) == ["ip route 192.0.2.128/25 Null0"]
    partly = "router bgp 64500\n+ neighbor 198.51.100.1 description upstream up1\n"  # half of it done by hand
    assert dp.moved_beyond(partly, set()) == ["neighbor 198.51.100.1 description old"]
