"""Fallback timer for when no `tonle serve` runs: restores disconnects when their TTL runs out.

Started detached by the CLI after root acted locally (no service answered); the service's scheduler is
the normal home of the timers. One per state directory (a lock file). It runs the scheduler's `run_due`
(the same records, the same retries and audit entries), sleeps until the next timer, and exits when no
disconnect is active or waiting for approval, or as soon as a service holds the state directory (its
scheduler takes over). Lab credentials come from the lab's state; production ones from the environment
it inherited (never from disk).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tonle.interfaces.scheduler import IDLE, next_due, run_due
from tonle.interfaces.service import running_pid
from tonle.state.disconnects import DisconnectStatus, records

LOCK_NAME = "expiry.lock"


def start_detached(config_file: Path, state_dir: Path) -> None:
    """Start the fallback timer for this state directory unless one runs already, or a service holds the
    directory (its scheduler re-reads the records and sees the new disconnect)."""
    if running_pid(state_dir) is not None:
        return
    with (state_dir / LOCK_NAME).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a timer is running; it re-reads the records and sees the new one
        fcntl.flock(lock, fcntl.LOCK_UN)
    subprocess.Popen(
        [sys.executable, "-m", "tonle.interfaces.expiry", "--config", str(config_file.resolve()),
         "--state-dir", str(state_dir.resolve())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, env=os.environ.copy())


def run(config_file: Path, state_dir: Path) -> None:
    """Run the timers until none is left or a service takes over."""
    with (state_dir / LOCK_NAME).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another timer serves this state directory
        while running_pid(state_dir) is None:
            run_due(config_file, state_dir)
            if not records(state_dir, DisconnectStatus.ACTIVE):
                return
            due = next_due(state_dir)
            wait = IDLE if due is None else (due - datetime.now(UTC)).total_seconds()
            time.sleep(min(IDLE, max(0.05, wait)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="tonle-expiry")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    run(args.config, args.state_dir)


if __name__ == "__main__":
    main()
