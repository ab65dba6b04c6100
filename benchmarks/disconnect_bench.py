"""Time from `tonle disconnect` to verified effect, on a lab of the reference inventory.

Two cases, each run several times (disconnect, then restore), medians printed:
  * one upstream session at Poipet;
  * ten upstream sessions over four sites in one action (an explicit session list). That is over the
    blast-radius limit, so a first operator requests it and a second approves it; the time is from the
    approval to the verified effect (the request itself changes nothing).
"Verified" means our side shows the sessions administratively down (NAPALM) and the carriers' own
namespaces show them down. Side by side, the same single-session change done the way a NAPALM script
would do it (open, load merge candidate, commit, close; no guard, no verification) gives the floor of
the device work itself.

Run as root: .venv/bin/python benchmarks/disconnect_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import napalm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import lab_copy, unique_lab_name  # noqa: E402
from tonle.emergency.disconnect import Scope, approve, disconnect, restore  # noqa: E402
from tonle.lab.builder import Lab  # noqa: E402
from tonle.lab.probe import lab_peer_probe  # noqa: E402
from tonle.source.inventory import load_from_nornir_config  # noqa: E402
from tonle.state.accounts import Actor, Role  # noqa: E402

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
    probe = lab_peer_probe(config, state)
    try:
        lab.up(timeout=90)
        time.sleep(3)
        one: list[float] = []
        ten: list[float] = []
        raw: list[float] = []
        for _ in range(args.runs):
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
            raw.append(_napalm_script(lab))
        print(f"{'case':<52} {'median s':>9} {'min s':>7} {'max s':>7}   goal")
        for name, xs, goal in (("one session (Poipet), guarded + verified", one, "<= 2 s"),
                               ("ten sessions over four sites, approved + verified", ten, "<= 5 s"),
                               ("one session, bare NAPALM merge+commit (no checks)", raw, "floor")):
            print(f"{name:<52} {statistics.median(xs):>9.2f} {min(xs):>7.2f} {max(xs):>7.2f}   {goal}")
        print(f"ratio guarded/bare (one session): {statistics.median(one) / statistics.median(raw):.2f}x; "
              f"{args.runs} runs each on {os.cpu_count()} cores")
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
