"""Revert watchdog for ``commit_config(revert_in=...)``: ``python -m napalm_frr.watchdog``.

The driver starts this module and writes one JSON object on its standard input (connection
parameters including the password, the state directory and the deadline); credentials are
therefore never on a command line nor on disk. The process prints the PID of a detached
grandchild and exits; the grandchild sleeps until the deadline and then, if the commit is
still pending (``pending.json`` exists), reconnects and restores the rollback configuration.
``confirm_commit`` removes the pending state and terminates the grandchild by PID.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from napalm_frr.state import DeviceState

# The driver waits for this process's answer while committing: the heavy imports (napalm, netmiko)
# happen only in the detached child, after the PID is printed. The driver runs this file as a
# script, so importing the napalm_frr package is not on that path either.

ATTEMPTS = 3
RETRY_DELAY = 10.0


def _revert(params: dict[str, Any], state: DeviceState) -> None:
    from napalm.base.exceptions import NapalmException  # noqa: PLC0415 - see the note at the top

    from napalm_frr.frr import FRRDriver  # noqa: PLC0415

    for attempt in range(1, ATTEMPTS + 1):
        record = state.read_pending()
        if record is None:
            state.log("commit confirmed before revert; nothing to do")
            return
        if record.get("deadline", params["deadline"]) != params["deadline"]:  # a later commit's: not ours
            state.log("the pending commit is a later one; nothing to do")
            return
        driver = FRRDriver(
            params["hostname"],
            params["username"],
            params.get("password", ""),
            timeout=int(params.get("timeout", 60)),
            optional_args=params.get("optional_args") or {},
        )
        try:
            driver.open()
            try:
                reverted = driver._revert_pending()  # private: NAPALM drivers add no public methods
            finally:
                driver.close()
        except NapalmException as exc:
            state.log(f"revert attempt {attempt} failed: {type(exc).__name__}: {exc}")
            time.sleep(RETRY_DELAY)
            continue
        state.log("commit not confirmed in time: reverted" if reverted else "nothing pending")
        return
    state.log("giving up; commit still pending, run rollback()")


def _state_class() -> type[DeviceState]:
    """napalm_frr.state's DeviceState, loaded from its file: importing it as ``napalm_frr.state`` runs the
    package's __init__, which imports the driver, NAPALM and Netmiko (over a second of CPU per watchdog, spent
    while the commit it guards is still running, once per device)."""
    spec = importlib.util.spec_from_file_location("_napalm_frr_watchdog_state", Path(__file__).with_name("state.py"))
    if spec is None or spec.loader is None:
        raise ImportError("napalm_frr/state.py not found beside the watchdog")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls: type[DeviceState] = module.DeviceState
    return cls


def _run(params: dict[str, Any]) -> None:
    state_class = _state_class()
    port = int((params.get("optional_args") or {}).get("port", 22))
    state = state_class(Path(params["state_dir"]), params["hostname"], port)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    delay = float(params["deadline"]) - time.time()
    state.log(f"watchdog {os.getpid()} armed, reverting in {max(delay, 0):.0f}s unless confirmed")
    if delay > 0:
        time.sleep(delay)
    _revert(params, state)


def main() -> int:
    """Read parameters from stdin, detach, print the detached PID, return."""
    params = json.loads(sys.stdin.read())
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        return 0
    # Detached child: own session, no ties to the caller's terminal or pipes.
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        _run(params)
    finally:
        os._exit(0)
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
