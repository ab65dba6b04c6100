"""The lab with its service: `tonle lab up` starts `tonle serve` for the lab's state directory (socket under
it), `tonle lab down` stops that service before it takes the lab down, and closes the lab's disconnects.

So nothing keeps running after the lab: no service, no timer (the service holds the timers; a fallback
expiry process, if root acted without a service, sees the records closed and exits).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tonle.emergency.disconnect import end_with_lab
from tonle.interfaces import service
from tonle.lab.builder import Lab, LabStatus
from tonle.state.disconnects import DisconnectStatus, records


def up(lab: Lab, config_file: Path, state_dir: Path, *, timeout: float = 60.0,
       progress: Callable[[str], None] | None = None, socket_path: Path | None = None, group: str | None = None,
       retry: float | None = None, https: str | None = None) -> LabStatus:
    """Build the lab (lab.up) and start its service (left alone if one answers already)."""
    say = progress or (lambda _m: None)
    status = lab.up(timeout=timeout, progress=say)
    sock = socket_path or service.default_socket(state_dir)
    pid = service.start(config_file, state_dir, sock, group=group, retry=retry, https=https)
    say(f"tonle serve (pid {pid}) on {sock}")
    return status


def down(lab: Lab, state_dir: Path) -> list[str]:
    """Stop the service, take the lab down, close the lab's disconnects (nothing is left to restore)."""
    removed = []
    if (pid := service.stop(state_dir)) is not None:
        removed.append(f"service pid {pid}")
    removed += lab.down()
    ended = [r for r in records(state_dir, DisconnectStatus.ACTIVE) if r.target == "lab"]
    if ended:
        end_with_lab(state_dir, ended)
        removed.append(f"{len(ended)} active disconnect(s) ended")
    return removed
