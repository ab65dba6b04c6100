"""Who armed a pending commit: the FRR driver keeps the commit's message (the arming action's token) in its
pending record, and an apply or a disconnect whose commit failed treats as its own (to roll back with the
rest) only a pending commit it armed; another's (an orphan of a killed process, another tool) is reported and
left to its owner or `tonle recover`. Real driver objects on a real state directory, through real Nornir
tasks; nothing here needs a device: a pending commit is the driver's own record."""

from __future__ import annotations

import json
from pathlib import Path

from nornir.core import Nornir
from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
from nornir.plugins.runners import SerialRunner
from nornir_napalm.plugins.connections import Napalm
from tonle.tasks.change import left_pending, split_pending

from napalm_frr.frr import FRRDriver

MINE = "tonle apply P-7 run 12 0a1b2c3d"
DEAD = "tonle apply P-3 run 4 99aa88bb"  # a run killed between its commit and its confirm


def driver(state: Path, host: str) -> FRRDriver:
    return FRRDriver(host, "u", "p", optional_args={"state_dir": str(state)})


def arm(drv: FRRDriver, message: str, *, claimed: bool = False) -> None:
    """The record commit_config(message=..., revert_in=...) writes before it touches the device."""
    drv.state.write_pending({"deadline": 1_900_000_000.0, "message": message, "watchdog_pid": None})
    if claimed:  # a confirm or revert holds it right now
        drv.state.pending_file.replace(drv.state.claimed_file)


def test_the_driver_says_who_armed_its_pending_commit(tmp_path: Path) -> None:
    drv = driver(tmp_path, "192.0.2.1")
    assert drv.pending_commit is None
    arm(drv, MINE)
    assert drv.pending_commit == {"message": MINE, "deadline": 1_900_000_000.0, "watchdog": False}
    assert drv._pending_orphaned()  # no watchdog runs for it
    drv.state.pending_file.replace(drv.state.claimed_file)  # a confirm or a revert under way
    assert drv.pending_commit == {"message": MINE, "deadline": 1_900_000_000.0, "watchdog": False}
    drv.state.claimed_file.write_text("{torn")  # a torn record: pending, nobody can say whose
    assert drv.pending_commit == {"message": "", "deadline": None, "watchdog": False}
    drv.state.claimed_file.unlink()
    drv.state.pending_file.write_text(json.dumps({"message": 7, "deadline": "soon"}))
    assert drv.pending_commit == {"message": "", "deadline": None, "watchdog": False}


def test_only_a_pending_commit_armed_with_this_token_is_ours() -> None:
    owners = {"r1": MINE, "r2": DEAD, "r3": None, "r4": "", "r5": "x\n; rm -rf / SECRET"}
    ours, foreign = split_pending(owners, MINE)
    assert ours == {"r1"}
    assert foreign == {"r2": f"a pending commit armed by {DEAD!r}, not by this action",
                       "r4": "a pending commit armed by an unknown owner, not by this action",
                       "r5": "a pending commit armed by an unknown owner, not by this action"}  # not echoed
    ours, foreign = split_pending(owners, "")  # no token: nothing is ours
    assert ours == set() and sorted(foreign) == ["r1", "r2", "r4", "r5"]


def nornir_on(drivers: dict[str, FRRDriver]) -> Nornir:
    """Nornir whose hosts' NAPALM connections are the given (real, unconnected) FRR driver objects."""
    hosts = Hosts({name: Host(name, hostname=drv.hostname, platform="frr") for name, drv in drivers.items()})
    nr = Nornir(inventory=Inventory(hosts=hosts, groups=Groups(), defaults=Defaults()), runner=SerialRunner())
    for name, drv in drivers.items():
        plugin = Napalm()
        plugin.connection = drv
        hosts[name].connections["napalm"] = plugin  # open already: get_connection hands it out
    return nr


def test_a_failed_commit_takes_only_its_own_pending_change(tmp_path: Path) -> None:
    """Before: any pending commit on a device whose commit failed counted as the run's own, so the run rolled
    back an orphan's change (to the orphan's rollback point) and reported it as its own pending change."""
    drivers = {h: driver(tmp_path, f"192.0.2.{n}") for n, h in enumerate(("r1", "r2", "r3"), start=1)}
    arm(drivers["r1"], MINE)  # this run's commit failed at `write memory`: its change pending, timer armed
    arm(drivers["r2"], DEAD, claimed=True)  # the commit failed because a dead run's commit was pending there
    nr = nornir_on(drivers)  # r3: refused, restored, nothing pending
    ours, foreign = left_pending(nr, ["r1", "r2", "r3"], MINE)
    assert ours == {"r1"}
    assert foreign == {"r2": f"a pending commit armed by {DEAD!r}, not by this action"}
    assert left_pending(nr, [], MINE) == (set(), {})
