"""Time from `tonle disconnect` to verified effect, on a lab of the reference inventory, three ways in one run.

Cases, each run several times (disconnect, then restore), medians printed:
  * one upstream session at Poipet;
  * ten upstream sessions over four sites in one action (an explicit session list). That is over the
    blast-radius limit, so a first operator requests it and a second approves it; the time is from the
    approval to the verified effect (the request itself changes nothing).
Ways:
  * cold: the verbs as a CLI acting without a service runs them (a new Nornir and new SSH sessions each time);
  * warm: the same verbs with the service's pool of warm sessions (tonle.targets.pool) in this process;
  * service: `tonle serve` started on the lab, one session disconnected through its socket as root (the
    client's wall time, request to answer, is printed beside the verb's own figure);
  * bare: the single-session change done the way a NAPALM script would (open, load merge candidate,
    commit, close; no guard, no verification): the floor of the device work itself.
"Verified" means our side shows the sessions administratively down (NAPALM) and the carriers' own
namespaces show them down. Under the table, where the time of a warm single-session disconnect goes
(driver calls timed in this process; the rest is the verb's own work), then every round trip on the
devices' sessions during the last warm one (the toggle lines' single write is in "commit: apply lines").

Run as root: .venv/bin/python benchmarks/disconnect_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import napalm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from napalm_frr import diff as frr_diff  # noqa: E402
from napalm_frr.frr import FRRDriver  # noqa: E402
from tests.conftest import lab_copy, unique_lab_name  # noqa: E402
from tonle.emergency import disconnect as verbs  # noqa: E402
from tonle.emergency.disconnect import Scope, approve, disconnect, restore  # noqa: E402
from tonle.interfaces import service  # noqa: E402
from tonle.interfaces.client import call  # noqa: E402
from tonle.interfaces.protocol import DisconnectParams, IdParams, NoParams  # noqa: E402
from tonle.lab.builder import Lab  # noqa: E402
from tonle.lab.probe import lab_peer_probe  # noqa: E402
from tonle.source.inventory import load_from_nornir_config  # noqa: E402
from tonle.state.accounts import Actor, Role  # noqa: E402
from tonle.targets.pool import SessionPool  # noqa: E402

ONE = "poi-iig-1:198.51.100.5"
TEN = ",".join([
    "poi-iig-1:198.51.100.5", "poi-iig-1:2001:db8:0:2::5", "bvt-iig-1:198.51.100.7", "bvt-iig-1:2001:db8:0:2::7",
    "kos-iig-1:198.51.100.1", "kos-iig-1:2001:db8:0:2::1", "kos-iig-1:198.51.100.3", "pnh-iig-1:198.51.100.9",
    "pnh-iig-2:198.51.100.11", "pnh-iig-2:2001:db8:0:2::b",
])

# Two distinct accounts, as `tonle serve` would establish them from two OS users' uids (the verbs' API
# takes who acts explicitly; the benchmark times the verbs, not the authentication).
ALICE = Actor("bench-alice", 1_000_001, Role.APPROVER)
BOB = Actor("bench-bob", 1_000_002, Role.APPROVER)

# ---- where the time goes: driver and verb calls timed on the calling thread ---------------------------

_TIMED: dict[str, float] = defaultdict(float)
_DEPTH = threading.local()


def _timed(name: str, fn: Callable[..., Any], *, part: bool = False) -> Callable[..., Any]:
    """`fn` timed under `name`; nested timed calls count in the outermost only, unless `part` (a line of its own
    whose time is also inside another line)."""
    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        if part:
            t0 = time.monotonic()
            try:
                return fn(*a, **kw)
            finally:
                _TIMED[name] += time.monotonic() - t0
        outer = getattr(_DEPTH, "n", 0) == 0
        _DEPTH.n = getattr(_DEPTH, "n", 0) + 1
        t0 = time.monotonic()
        try:
            return fn(*a, **kw)
        finally:
            _DEPTH.n -= 1
            if outer:
                _TIMED[name] += time.monotonic() - t0
    return wrapper


def _instrument(probe: Callable[..., Any]) -> Callable[..., Any]:
    for name in ("open", "load_replace_candidate", "compare_config", "get_bgp_neighbors", "confirm_commit", "cli",
                 "rollback"):
        setattr(FRRDriver, name, _timed(f"driver {name}", getattr(FRRDriver, name)))
    # commit_config's parts, each on its own line
    for name, label in (("_running_full", "commit: read running config + tc"), ("_apply", "commit: apply lines"),
                        ("_write_memory", "commit: write memory"), ("_arm_revert", "commit: start revert watchdog")):
        setattr(FRRDriver, name, _timed(label, getattr(FRRDriver, name)))
    for name, kind in (("_send", "vtysh"), ("_config_command", "vtysh config"), ("_exec", "exec channel")):
        setattr(FRRDriver, name, _trip(kind, getattr(FRRDriver, name)))
    frr_diff.FRRConfigTool.parse = _timed(  # type: ignore[method-assign]
        "  of which: frr-reload parses (local vtysh -m)", frr_diff.FRRConfigTool.parse, part=True)
    verbs.init_nornir = _timed("nornir + inventory start-up", verbs.init_nornir)  # type: ignore[attr-defined]
    return _timed("peer's side check (lab vtysh)", probe)


# Every round trip on a device's session, in order: (device, kind, first words of the command, seconds).
# Three words at most: a configuration line's value (a key) is never printed.
_TRIPS: list[tuple[str, str, str, float]] = []
_LAST_TRIPS: list[tuple[str, str, str, float]] = []


def _trip(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(self: FRRDriver, command: str, *a: Any, **kw: Any) -> Any:
        t0 = time.monotonic()
        try:
            return fn(self, command, *a, **kw)
        finally:
            _TRIPS.append((self.hostname, kind, " ".join(command.split()[:3]), time.monotonic() - t0))
    return wrapper


@contextmanager
def _phases(into: list[dict[str, float]]) -> Iterator[None]:
    _TIMED.clear()
    _TRIPS.clear()
    yield
    into.append(dict(_TIMED))
    _LAST_TRIPS[:] = _TRIPS


# ---- the cases ------------------------------------------------------------------------------------------

def _one_and_ten(config: Path, state: Path, probe: Any, one: list[float], ten: list[float],
                 phases: list[dict[str, float]] | None = None) -> None:
    if phases is not None:
        with _phases(phases):
            out = disconnect(config, state, Scope("session", ONE), operator=ALICE, reason="bench", ticket="B-1",
                             ttl_seconds=600, peer_probe=probe)
    else:
        out = disconnect(config, state, Scope("session", ONE), operator=ALICE, reason="bench", ticket="B-1",
                         ttl_seconds=600, peer_probe=probe)
    assert out.record and out.status == "active" and out.seconds_to_verified is not None, out.detail
    one.append(out.seconds_to_verified)
    assert restore(config, state, out.record.id, operator=ALICE, peer_probe=probe).status == "restored"
    req = disconnect(config, state, Scope("session", TEN), operator=ALICE, reason="bench", ticket="B-2",
                     ttl_seconds=600, peer_probe=probe)
    assert req.record and req.status == "needs approval", req.status
    out = approve(config, state, req.record.id, approver=BOB, peer_probe=probe)
    assert out.record and out.status == "active" and out.seconds_to_verified is not None, out.detail
    ten.append(out.seconds_to_verified)
    assert restore(config, state, out.record.id, operator=ALICE, peer_probe=probe).status == "restored"


def _through_service(config: Path, state: Path, runs: int) -> tuple[list[float], list[float]]:
    sock = state / "bench.sock"
    service.start(config, state, sock)
    verb, wall = [], []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the pool opens its sessions in the background
            st = call(sock, "status", NoParams(), lambda _m: None)
            pool = (st.data.get("service") or {}).get("sessions") if st else None
            if pool and pool["ready"]:
                break
            time.sleep(0.2)
        for _ in range(runs):
            t0 = time.monotonic()
            ans = call(sock, "disconnect", DisconnectParams(scope_kind="session", scope_value=ONE, reason="bench",
                                                            ticket="B-3", ttl_seconds=600), lambda _m: None)
            wall.append(time.monotonic() - t0)
            assert ans and ans.exit == 0, ans
            verb.append(float(ans.out[-1].split(" in ")[1].split("s")[0]))
            back = call(sock, "restore", IdParams(id=ans.data["id"]), lambda _m: None)
            assert back and back.exit == 0, back
    finally:
        service.stop(state)
    return verb, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tonle-dis-bench-"))
    src = work / "src"
    shutil.copytree(ROOT / "inventory", src / "inventory")
    shutil.copy(ROOT / "nornir.yaml", src)
    config = lab_copy(src, work / "lab", unique_lab_name("b"))
    state = work / "lab" / "state"
    lab = Lab(load_from_nornir_config(config), state)
    probe = _instrument(lab_peer_probe(config, state))
    try:
        lab.up(timeout=90)
        time.sleep(3)
        cold1: list[float] = []
        cold10: list[float] = []
        warm1: list[float] = []
        warm10: list[float] = []
        raw: list[float] = []
        cold_phases: list[dict[str, float]] = []
        warm_phases: list[dict[str, float]] = []
        for _ in range(args.runs):
            _one_and_ten(config, state, probe, cold1, cold10, cold_phases)
            raw.append(_napalm_script(lab))
        pool = SessionPool(config, state, lab=True)
        pool.start()
        try:
            deadline = time.monotonic() + 60
            while not pool.info()["ready"] and time.monotonic() < deadline:
                time.sleep(0.1)
            _one_and_ten(config, state, probe, [], [])  # first use: sessions settle
            for _ in range(args.runs):
                _one_and_ten(config, state, probe, warm1, warm10, warm_phases)
        finally:
            pool.stop()
        svc_verb, svc_wall = _through_service(config, state, args.runs)

        def row(name: str, xs: list[float], goal: str) -> None:
            print(f"{name:<62} {statistics.median(xs):>9.2f} {min(xs):>7.2f} {max(xs):>7.2f}   {goal}")

        print(f"{'case':<62} {'median s':>9} {'min s':>7} {'max s':>7}   goal")
        row("one session (Poipet): warm sessions (service pool), verified", warm1, "<= 0.5 s")
        row("one session: through tonle serve (verb's figure)", svc_verb, "<= 0.5 s")
        row("one session: through tonle serve (client wall time)", svc_wall, "")
        row("one session: current path (new connections), verified", cold1, "was 1.4 s")
        row("one session: bare NAPALM merge+commit, new connection", raw, "floor")
        row("ten sessions / four sites: warm sessions, approved + verified", warm10, "<= 1.5 s")
        row("ten sessions / four sites: current path, approved + verified", cold10, "was 2.2 s")
        m = statistics.median
        print(f"ratios (one session): warm/current {m(warm1) / m(cold1):.2f}x, warm/bare {m(warm1) / m(raw):.2f}x, "
              f"current/bare {m(cold1) / m(raw):.2f}x; ten sessions: warm/current {m(warm10) / m(cold10):.2f}x; "
              f"{args.runs} runs each on {os.cpu_count()} cores")
        for label, ph, total in (("warm", warm_phases, warm1), ("current path", cold_phases, cold1)):
            print(f"\nwhere a one-session disconnect's time goes ({label}; medians over {len(ph)} runs, device "
                  "calls on Nornir's worker threads included):")
            names = sorted({k for p in ph for k in p}, key=lambda k: -m([p.get(k, 0.0) for p in ph]))
            for k in names:
                print(f"  {k:<48} {m([p.get(k, 0.0) for p in ph]):>6.3f} s")
            print(f"  {'total to verified':<48} {m(total):>6.3f} s")
            if label == "warm":
                print(f"round trips on the devices' sessions, the last warm run ({len(_LAST_TRIPS)}, "
                      f"{sum(t[3] for t in _LAST_TRIPS):.3f} s in all; on Nornir's threads, so they may overlap):")
                for host, kind, what, took in _LAST_TRIPS:
                    print(f"  {host:<15} {kind:<13} {what:<36} {took:>6.3f} s")
    finally:
        lab.down()
        shutil.rmtree(work, ignore_errors=True)


def _napalm_script(lab: Lab) -> float:
    """The same shutdown the way a plain NAPALM script does it, then undone (time of the shutdown only)."""
    creds = lab.credentials()
    dev = lab.inv.devices["poi-iig-1"]
    driver = napalm.get_network_driver("frr")(str(dev.mgmt_ip), creds.username, creds.password,
                                              optional_args={"key_file": creds.key_file,
                                                             "state_dir": str(lab.state_dir / "bench")})
    t0 = time.monotonic()
    driver.open()
    driver.load_merge_candidate(config="router bgp 64500\n neighbor 198.51.100.5 shutdown\n")
    driver.commit_config()
    driver.close()
    elapsed = time.monotonic() - t0
    driver.open()
    driver.load_merge_candidate(config="router bgp 64500\n no neighbor 198.51.100.5 shutdown\n")
    driver.commit_config()
    driver.close()
    return elapsed


if __name__ == "__main__":
    main()
