"""An apply and emergency disconnects at the same time, on the small lab (3 devices, batches of one).

Issue 12: a disconnect verified ACTIVE on the last batch's device while the canary validates must stay
in force after the apply (the batch renders with it); a disconnect on a device the apply holds pre-empts
the apply (which rolls back and yields); a plan runs once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL, lab_copy, require_root, unique_lab_name, wait_until, write_window
from tonle.change.apply import ApplyOptions, ApplyReport, apply_plan
from tonle.change.plan import Plan, Selection, make_plan
from tonle.emergency.disconnect import Outcome, Scope, disconnect, restore
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab
from tonle.lab.probe import lab_peer_probe
from tonle.source.inventory import load_from_nornir_config
from tonle.state.accounts import Actor, Role
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import get

ISP1 = "rs1:203.0.113.71"  # rs1's session to isp1 at the PNH exchange
UP1 = "r2:198.51.100.1"  # r2's session to the upstream up1 at POI


NOC = Actor("noc-alice", 1_000_010, Role.OPERATOR)  # who the interface would say acts

class Lab3:
    def __init__(self, root: Path) -> None:
        self.config = root / "nornir.yaml"
        self.state = root / "state"
        self.inv_dir = root / "inventory"
        self.lab = Lab(load_from_nornir_config(self.config), self.state)

    def edit(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.inv_dir / name
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def plan(self) -> Plan:
        return make_plan(self.config, self.state, Selection(), lab=True, operator=NOC.name)

    def apply(self, plan: Plan, on_progress: Callable[[str], None] = lambda _m: None, **opts: Any) -> ApplyReport:
        opts.setdefault("settle", 30)
        opts.setdefault("revert_in", 180)

        def progress(message: str) -> None:
            print(f"apply: {message}", flush=True)
            on_progress(message)

        return apply_plan(self.config, self.state, plan.id, ApplyOptions(**opts), progress=progress,
                          operator=NOC.name)

    def disconnect(self, session: str, ticket: str) -> Outcome:
        return disconnect(self.config, self.state, Scope("session", session), operator=NOC,
                          reason="drill during an apply", ticket=ticket, ttl_seconds=900,
                          peer_probe=lab_peer_probe(self.config, self.state),
                          progress=lambda m: print(f"disconnect: {m}", flush=True))

    def restore(self, rid: str) -> Outcome:
        return restore(self.config, self.state, rid, operator=NOC, peer_probe=lab_peer_probe(self.config, self.state))

    def state_of(self, node: str, peer_ip: str) -> str:
        summary = json.loads(self.lab.vtysh(node, "show bgp vrf default summary json"))
        return str(summary["ipv4Unicast"]["peers"].get(peer_ip, {}).get("state", "Missing"))

    def running(self, node: str) -> str:
        return self.lab.vtysh(node, "show running-config")

    def drift_exit(self) -> int:
        return main(["--config", str(self.config), "--state-dir", str(self.state), "drift"])


class Background:
    """One call in another thread (an operator at another terminal), started from the apply's progress."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,))

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as exc:  # handed to the test thread
            self.error = exc

    def start(self) -> None:
        if not self.thread.is_alive() and self.thread.ident is None:
            self.thread.start()

    def join(self) -> Any:
        self.thread.join(timeout=180)
        assert not self.thread.is_alive(), "the background call did not end"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture(scope="module")
def lab3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab3]:
    require_root()
    root = tmp_path_factory.mktemp("applydis")
    lab_copy(SMALL, root, unique_lab_name("a"))
    # The small lab has one upstream session and two at its exchange: the drill's disconnects would need a
    # second operator under the reference limits. The guard itself is tested elsewhere (unit tests).
    policy = root / "inventory" / "policy.yaml"
    data = yaml.safe_load(policy.read_text())
    data["guard"].update({"max_site_share": 1.0, "protect_last_site_upstream": False,
                          "protect_last_international_path": False})
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    write_window(root / "inventory", open_now=True)
    lab = Lab3(root)
    lab.lab.up(timeout=90)
    try:
        yield lab
    finally:
        lab.lab.down()


def test_a_disconnect_during_an_apply_stays_in_force(lab3: Lab3) -> None:
    # A change on every device: a new bogon range, used by every external import policy.
    lab3.edit("policy.yaml", lambda d: d["bogons"]["ipv4"].append("198.51.100.128/25"))
    plan = lab3.plan()
    assert sorted(d.host for d in plan.changed) == ["r1", "r2", "rs1"], plan.text()
    assert lab3.state_of("isp1", "203.0.113.65") == "Established"
    dis = Background(lambda: lab3.disconnect(ISP1, "INC-12"))
    again = Background(lambda: lab3.apply(plan))  # the same plan from another terminal

    def on_progress(message: str) -> None:
        if message.startswith("canary: validating"):
            dis.start()  # made while the canary (r2) validates, on the last batch's device (rs1)
            again.start()
        if message.startswith("batch 1: healthy"):
            dis.join()  # verified ACTIVE before the last batch starts

    report = lab3.apply(plan, on_progress, canary=["r2"], batch_size=1)
    assert report.stages == [["r2"], ["r1"], ["rs1"]]
    assert report.outcome == "confirmed", report.lines()
    out = dis.join()
    assert out.status == "active", out.detail
    second = again.join()
    assert (second.outcome, second.reason) == (
        "refused", "this plan is being applied by another run (status applying); if that run died, make a new plan")
    # The last batch rendered with the disconnect: the session is still down, from both sides.
    assert lab3.state_of("isp1", "203.0.113.65") != "Established"
    assert lab3.state_of("rs1", "203.0.113.71") != "Established"
    running = lab3.running("rs1")
    assert f"neighbor 203.0.113.71 shutdown message tonle {out.record.id} INC-12" in running
    assert "198.51.100.128/25" in running  # and the change itself is there
    assert get(lab3.state, out.record.id).status == "active"
    assert StateDB(lab3.state).plan(plan.id)["status"] == "applied"  # type: ignore[index]
    # Drift and a new plan both see the session as down on purpose.
    assert lab3.drift_exit() == 0
    assert lab3.plan().changed == []
    entries = [(e.action, e.object) for e in AuditLog(StateDB(lab3.state)).entries()]
    commits = [o for a, o in entries if a == "commit"]
    assert commits == ["r2", "r1", "rs1"]
    # The restore renders from what the apply recorded: the session comes back, the change stays.
    back = lab3.restore(out.record.id)
    assert back.status == "restored", back.detail
    wait_until(lambda: lab3.state_of("isp1", "203.0.113.65") == "Established", what="isp1's session back")
    assert "198.51.100.128/25" in lab3.running("rs1")
    assert lab3.drift_exit() == 0


def test_a_disconnect_on_a_leased_device_preempts_the_apply(lab3: Lab3) -> None:
    lab3.edit("peers.yaml", lambda d: next(p for p in d["peers"] if p["name"] == "up1").update(
        {"export": {"prepend": 2}}))
    plan = lab3.plan()
    assert [d.host for d in plan.changed] == ["r2"]
    before = lab3.running("r2")
    dis = Background(lambda: lab3.disconnect(UP1, "INC-13"))

    def on_progress(message: str) -> None:
        if message.startswith("canary: validating"):
            dis.start()  # r2 is committed and leased by the apply

    report = lab3.apply(plan, on_progress)
    out = dis.join()
    assert report.outcome == "pre-empted", report.lines()
    assert report.reason.startswith(f"pre-empted by emergency action {out.record.id} on r2: every touched "
                                    "device rolled back"), report.reason
    assert report.devices == {"r2": "rolled back"}
    assert out.status == "active", out.detail
    assert lab3.state_of("up1", "198.51.100.0") != "Established"
    during = lab3.running("r2")
    added = [ln.strip() for ln in during.splitlines() if ln not in before.splitlines()]
    assert added == [f"neighbor 198.51.100.1 shutdown message tonle {out.record.id} INC-13"]  # no prepend
    actions = [e.action for e in AuditLog(StateDB(lab3.state)).entries()]
    assert actions[actions.index("apply-preempted"):] == ["apply-preempted", "rollback", "apply-end", "disconnect"]
    # The same plan applies afterwards: r2 moved since it was planned, but only by the disconnect's line.
    assert StateDB(lab3.state).plan(plan.id)["status"] == "pre-empted"  # type: ignore[index]
    report = lab3.apply(plan)
    assert report.outcome == "confirmed", report.lines()
    now = lab3.running("r2")
    assert "set as-path prepend 64500 64500" in now
    assert f"neighbor 198.51.100.1 shutdown message tonle {out.record.id} INC-13" in now
    assert lab3.state_of("up1", "198.51.100.0") != "Established"
    assert lab3.drift_exit() == 0
    assert lab3.restore(out.record.id).status == "restored"
    wait_until(lambda: lab3.state_of("up1", "198.51.100.0") == "Established", what="up1's session back")
