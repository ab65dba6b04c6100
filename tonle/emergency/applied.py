"""The intent an emergency action renders from: the last applied one, never the working tree."""

from __future__ import annotations

from pathlib import Path

from tonle.compile.intent import Intent, load_intent, with_irr
from tonle.compile.irr import SNAPSHOT_FILE, IrrData
from tonle.errors import Refused
from tonle.source.snapshot import IntentSnapshot, materialize
from tonle.state import applied
from tonle.state.db import StateDB


class NotApplied(Refused):
    """No confirmed apply (or lab build) is recorded for a device: there is no reviewed intent to start from."""


_LOADED: dict[str, Intent] = {}


def _intent(state_dir: Path, snap: IntentSnapshot) -> Intent:
    if snap.sha256 not in _LOADED:
        irr = snap.files.get(SNAPSHOT_FILE)  # the IRR filters the change was rendered with, if any
        _LOADED[snap.sha256] = with_irr(load_intent(materialize(snap, state_dir / "snapshots")),
                                        IrrData.from_json(irr) if irr is not None else None)
    return _LOADED[snap.sha256]


def applied_intent(state_dir: Path) -> Intent:
    """The most recently applied intent (scope resolution and the guard count against it)."""
    found = applied.latest(StateDB(state_dir))
    if found is None:
        raise NotApplied(f"no confirmed apply is recorded in {state_dir}: an emergency change is made only on "
                         "top of reviewed, applied intent (apply a plan first; `tonle lab up` records the lab's build)")
    return _intent(state_dir, found[1])


def applied_device_intents(state_dir: Path, devices: list[str]) -> dict[str, Intent]:
    """Each device's own last applied intent."""
    db = StateDB(state_dir)
    if missing := applied.devices_without(db, devices):
        raise NotApplied(f"no confirmed apply is recorded for {', '.join(missing)}: apply a plan there first")
    out = {}
    for d in devices:
        found = applied.applied(db, d)
        if found is None:  # removed between the two reads (a lab taken down meanwhile)
            raise NotApplied(f"no confirmed apply is recorded for {d}")
        out[d] = _intent(state_dir, found[1])
    return out
