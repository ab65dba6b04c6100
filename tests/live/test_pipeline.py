"""The change pipeline against a live lab: plan, windows, canary, validation gates, rollback, QoS with traffic.

The tests share one lab and run in order; each leaves intent and devices consistent for the next.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL, SMALL_QOS, lab_copy, require_root, unique_lab_name, wait_until, write_window
from tonle.change.apply import ApplyOptions, ApplyReport, apply_plan
from tonle.change.plan import Plan, Selection, make_plan
from tonle.interfaces.cli import main
from tonle.lab.builder import Lab, LabError
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB


class Pipe:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "nornir.yaml"
        self.state = root / "state"
        self.inv_dir = root / "inventory"

    @property
    def lab(self) -> Lab:
        return Lab(load_from_nornir_config(self.config), self.state)

    def vtysh(self, node: str, cmd: str) -> str:
        return self.lab.vtysh(node, cmd)

    def edit(self, name: str, change: Any) -> None:
        path = self.inv_dir / name
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def peer(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        return next(p for p in data["peers"] if p["name"] == name)

    def window(self, open_now: bool) -> None:
        write_window(self.inv_dir, open_now=open_now)

    def plan(self, **sel: tuple[str, ...]) -> Plan:
        return make_plan(self.config, self.state, Selection(**sel), lab=True, operator="tester")

    def apply(self, plan: Plan, **opts: Any) -> ApplyReport:
        opts.setdefault("settle", 20)
        opts.setdefault("revert_in", 120)
        return apply_plan(self.config, self.state, plan.id, ApplyOptions(**opts), progress=print,
                          operator="tester")

    def routes(self, node: str, afi: int = 4) -> dict[str, Any]:
        cmd = "show ip bgp json" if afi == 4 else "show bgp ipv6 unicast json"
        return json.loads(self.vtysh(node, cmd)).get("routes", {})  # type: ignore[no-any-return]

    def running(self, node: str) -> str:
        return self.vtysh(node, "show running-config")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipe]:
    require_root()
    root = tmp_path_factory.mktemp("pipe")
    lab_copy(SMALL, root, unique_lab_name("p"))
    p = Pipe(root)
    p.lab.up(timeout=90)
    try:
        yield p
    finally:
        p.lab.down()


def test_fresh_lab_plans_no_change(pipe: Pipe) -> None:
    plan = pipe.plan()
    assert [d.host for d in plan.devices] == ["r1", "r2", "rs1"]
    assert plan.changed == [], plan.text()


def test_apply_outside_the_window_is_refused(pipe: Pipe, capsys: pytest.CaptureFixture[str]) -> None:
    pipe.window(open_now=False)
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"export": {"prepend": 2}}))
    before = pipe.running("r2")
    plan = pipe.plan(hosts=("r2",))
    assert [d.host for d in plan.changed] == ["r2"] and "+ set as-path prepend 64500 64500" in plan.changed[0].diff
    assert main(["--config", str(pipe.config), "apply", plan.id]) == 1
    out = capsys.readouterr().out
    assert "REFUSED - outside a change window for r2 (windows: test-window)" in out
    assert pipe.running("r2") == before
    assert [e.action for e in AuditLog(StateDB(pipe.state)).entries()][-2:] == ["apply-refused", "apply-end"]
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").pop("export"))


def test_new_domestic_isp_is_planned_applied_and_validated(pipe: Pipe) -> None:
    pipe.window(open_now=True)

    def add_isp(d: dict[str, Any]) -> None:
        d["peers"].append({"name": "isp3", "asn": 65003, "type": "isp", "country": "KH",
                           "announces": ["198.18.19.0/24"], "max_prefixes": {"ipv4": 10},
                           "sessions": [{"device": "rs1", "link": "dix"}]})
    pipe.edit("peers.yaml", add_isp)
    pipe.edit("links.yaml", lambda d: next(ln for ln in d["links"] if ln["name"] == "dix")["endpoints"].append(
        {"node": "isp3", "ipv4": "203.0.113.73/27"}))
    # The new ISP's network appears in the lab (its side is configured, ours is not yet).
    with pytest.raises(LabError, match=r"rs1->isp3 203\.0\.113\.73 \(NotConfigured\), isp3->rs1 "):
        pipe.lab.up(timeout=3)
    plan = pipe.plan()
    assert [d.host for d in plan.changed] == ["rs1"]
    assert "neighbor 203.0.113.73 remote-as 65003" in plan.changed[0].diff
    report = pipe.apply(plan)
    assert report.outcome == "confirmed", report.lines()
    assert report.devices == {"rs1": "confirmed"}
    wait_until(lambda: "198.18.19.0/24" in pipe.routes("isp1") and "198.18.19.0/24" in pipe.routes("up1"),
               what="the new ISP's prefix at the other ISP and at the upstream")
    assert pipe.routes("r1")["198.18.19.0/24"][0]["path"] == "65003"
    actions = [e.action for e in AuditLog(StateDB(pipe.state)).entries()]
    assert actions[-4:] == ["apply-start", "commit", "confirm", "apply-end"]
    assert pipe.plan().changed == []


def test_wrong_peer_asn_is_rolled_back(pipe: Pipe) -> None:
    before = pipe.running("r2")
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"asn": 65539}))
    report = pipe.apply(pipe.plan(), settle=8)
    assert report.outcome == "rolled back"
    assert report.devices == {"r2": "rolled back"}
    assert any("198.51.100.1 (up1, AS65539) is not Established" in p for p in report.problems["r2"])
    assert pipe.running("r2") == before
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"asn": 65538}))
    wait_until(lambda: "198.19.4.0/24" in pipe.routes("r2"), what="the upstream's routes back")


def test_policy_that_drops_an_upstreams_routes_is_rolled_back(pipe: Pipe) -> None:
    before = pipe.running("r2")
    # Accept only a prefix the upstream does not send: the session stays up, its routes vanish.
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"import": {"prefixes": ["198.19.99.0/24"]}}))
    report = pipe.apply(pipe.plan(), settle=8)
    assert report.outcome == "rolled back", report.lines()
    assert any("accepted prefixes fell from 2 to 0" in p for p in report.problems["r2"]), report.problems
    assert pipe.running("r2") == before
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").pop("import"))


def test_device_changed_since_the_plan_is_refused(pipe: Pipe) -> None:
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"max_prefixes": {"ipv4": 500}}))
    plan = pipe.plan()
    pipe.vtysh("r2", "configure terminal\nrouter bgp 64500\nneighbor 198.51.100.1 description out-of-band")
    report = pipe.apply(plan)
    assert report.outcome == "refused"
    assert report.reason == "r2 changed since the plan was made; make a new plan"
    assert "description out-of-band" in pipe.running("r2")
    # A new plan takes the device as it is now, and converges it to the intent.
    assert pipe.apply(pipe.plan()).outcome == "confirmed"
    assert "out-of-band" not in pipe.running("r2")
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").pop("max_prefixes"))
    assert pipe.apply(pipe.plan()).outcome == "confirmed"


def test_window_closing_mid_run_rolls_back_every_touched_device(pipe: Pipe) -> None:
    # The domestic community changes on r1 (set on DIX routes) and r2 (matched on export): two devices.
    pipe.edit("policy.yaml", lambda d: d["communities"].update({"domestic": 210}))
    before = {h: pipe.running(h) for h in ("r1", "r2")}
    plan = pipe.plan()
    assert sorted(d.host for d in plan.changed) == ["r1", "r2"]
    inside = datetime.now(UTC)
    clock = iter([inside, inside])  # window check and canary inside; the window is over before the next batch
    report = pipe.apply(plan, batch_size=1, canary=["r2"], now=lambda: next(clock, inside + timedelta(hours=5)))
    assert report.outcome == "rolled back"
    assert "change window closed" in report.reason
    assert report.devices == {"r2": "rolled back"}  # r1 was never started
    assert {h: pipe.running(h) for h in ("r1", "r2")} == before
    pipe.edit("policy.yaml", lambda d: d["communities"].update({"domestic": 200}))


def test_ctrl_c_during_apply_rolls_back_and_leaves_nothing_pending(pipe: Pipe) -> None:
    pipe.window(open_now=True)
    before = pipe.running("r2")
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"asn": 65539}))  # never comes up
    plan = pipe.plan()
    proc = subprocess.Popen([sys.executable, "-m", "tonle", "--config", str(pipe.config), "apply", plan.id,
                             "--settle", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # wait until the change is committed and the gates are being polled
        lines.append(line)
        if "validating" in line:
            break
    proc.send_signal(signal.SIGINT)
    out = "".join(lines) + proc.communicate(timeout=60)[0]
    assert proc.returncode == 1, out
    assert "ABORTED - interrupted (Ctrl-C); every touched device rolled back" in out
    assert "r2: rolled back" in out, out
    assert pipe.running("r2") == before
    assert not list((pipe.state / "napalm_frr").glob("*/pending.json"))  # no revert timer left armed
    pipe.edit("peers.yaml", lambda d: pipe.peer(d, "up1").update({"asn": 65538}))


def _iperf(pipe: Pipe, tos: int, mbps: float, port: int, seconds: int = 5) -> subprocess.Popen[str]:
    return subprocess.Popen(
        pipe.lab.in_node("isp1", ["iperf3", "-c", "198.19.4.1", "-B", "198.18.16.1", "-p", str(port), "-u",
                                  "-b", f"{mbps}M", "-S", str(tos), "-t", str(seconds), "-J",
                                  "--get-server-output", "-l", "1200"]),
        stdout=subprocess.PIPE, text=True)


def _received(proc: subprocess.Popen[str]) -> tuple[float, float]:
    """(Mbit/s that arrived, loss %) at the receiver (iperf3 3.12's receiver bit rate reads 0 for UDP)."""
    out, _ = proc.communicate(timeout=60)
    total = json.loads(out)["server_output_json"]["end"]["sum"]
    got = total["packets"] - total["lost_packets"]
    return got * 1200 * 8 / total["seconds"] / 1e6, 100.0 * total["lost_packets"] / max(total["packets"], 1)


def test_qos_push_shapes_real_traffic(pipe: Pipe) -> None:
    (pipe.inv_dir / "qos.yaml").write_text(yaml.safe_dump(SMALL_QOS, sort_keys=False))
    pipe.window(open_now=True)
    plan = pipe.plan()
    assert [d.host for d in plan.changed] == ["r2"]
    assert "+ tc class replace dev eth2 parent 1:1 classid 1:20 htb rate 5000kbit ceil 5000kbit prio 1" \
        in plan.changed[0].diff
    assert pipe.apply(plan).outcome == "confirmed"
    servers = [subprocess.Popen(pipe.lab.in_node("up1", ["iperf3", "-s", "-1", "-J", "-B", "198.19.4.1", "-p", str(p)]),
                                stdout=subprocess.DEVNULL) for p in (5201, 5202, 5203)]
    try:
        time.sleep(0.5)
        # Business class flooded at 3x its 5 Mbit/s cap, best effort flooding, voice (EF) at 3 Mbit/s.
        business = _iperf(pipe, 26 << 2, 15, 5201)
        best_effort = _iperf(pipe, 0, 30, 5202)
        voice = _iperf(pipe, 46 << 2, 3, 5203)
        got = {"business": _received(business), "best-effort": _received(best_effort), "voice": _received(voice)}
    finally:
        for s in servers:
            s.kill()
            s.wait()
    print(f"received (Mbit/s, loss %): {got}")
    assert abs(got["business"][0] - 5.0) <= 0.15 * 5.0, got  # held near its configured rate
    assert got["voice"][1] < 1.0, got  # the priority class loses nothing to the floods
    assert got["best-effort"][1] > 30, got  # while best effort is cut to what is left
    assert sum(v[0] for v in got.values()) <= 20 * 1.1, got  # and the shaper holds
