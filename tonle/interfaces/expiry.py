"""Detached timer: restores disconnects when their TTL runs out (started by `tonle disconnect`).

One per state directory (a lock file); it sleeps until the next expiry, restores what is due, and
exits when no disconnect is active. Lab credentials come from the lab's state; production ones from
the environment it inherited (never from disk).
"""

from __future__ import annotations

import argparse
import fcntl
import time
from datetime import UTC, datetime
from pathlib import Path

from tonle.emergency.disconnect import end_with_lab, expire_due
from tonle.lab.builder import Lab
from tonle.lab.probe import lab_peer_probe
from tonle.source.inventory import InventoryError, load_from_nornir_config
from tonle.state.disconnects import DisconnectStatus, records

RETRY = 30.0  # after a failed restore (a device unreachable): try again, the disconnect must end


def run(config_file: Path, state_dir: Path) -> None:
    """Restore due disconnects until none is active."""
    with (state_dir / "expiry.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another timer serves this state directory
        while True:
            active = [r for r in records(state_dir, DisconnectStatus.ACTIVE) if r.expires_at]
            on_lab = [r for r in active if r.target == "lab"]
            if on_lab and not _lab_up(config_file, state_dir):
                end_with_lab(state_dir, on_lab)  # nothing to restore, and no process left waiting
                continue
            if not active:
                return
            due = min(datetime.fromisoformat(r.expires_at or "") for r in active)
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                time.sleep(min(wait, 5.0))  # re-read often: a newer, shorter disconnect may come first
                continue
            outcomes = [o for lab in {r.target == "lab" for r in active}
                        for o in expire_due(config_file, state_dir, lab=lab,
                                            peer_probe=lab_peer_probe(config_file, state_dir) if lab else None)]
            if any(o.status == "failed" for o in outcomes):
                time.sleep(RETRY)


def _lab_up(config_file: Path, state_dir: Path) -> bool:
    try:
        lab = Lab(load_from_nornir_config(config_file), state_dir)
    except InventoryError:
        return False  # the inventory (a test's temporary copy, say) is gone
    return lab.state_file.exists()


def main() -> None:
    parser = argparse.ArgumentParser(prog="tonle-expiry")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    run(args.config, args.state_dir)


if __name__ == "__main__":
    main()
