"""On-disk state shared by driver instances and the revert watchdog.

Per device (host and port) a directory holds:

* ``rollback.conf``: the running configuration saved just before the last commit;
* ``rollback.scope``: the top-level contexts (and ``tc:<interface>``) that commit changed: a rollback
  restores only those, as they were, and leaves the rest of the device as it is now;
* ``pending.json``: present while a ``commit_config(revert_in=...)`` awaits confirmation
  (deadline, watchdog PID, and the commit's ``message``: who armed it, for a caller that passes a token of
  its own there, so that it never takes another's pending commit for its own; never a credential);
* ``watchdog.log``: what the watchdog did.

Everything is created with mode 0600 inside a 0700 directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["DeviceState", "PendingCommit", "default_state_dir"]


class PendingCommit(TypedDict):
    """A commit awaiting confirmation, as ``FRRDriver.pending_commit`` reports it."""

    message: str  # the commit_config message: who armed it ("" when the record does not say)
    deadline: float | None  # when the watchdog reverts it (epoch seconds)
    watchdog: bool  # its revert watchdog is alive (False: orphaned, nothing will revert it)


def default_state_dir(explicit: str | None = None) -> Path:
    """Resolve the state directory: explicit value, ``NAPALM_FRR_STATE_DIR``, ``~/.cache/napalm_frr``.

    Args:
        explicit: The ``state_dir`` optional argument, if given.

    Returns:
        The directory path (not created).
    """
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("NAPALM_FRR_STATE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "napalm_frr"


def _write_private(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path`` with mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


class DeviceState:
    """State files of one device.

    Args:
        state_dir: Root state directory.
        host: Device host name or address.
        port: SSH port.
    """

    def __init__(self, state_dir: Path, host: str, port: int) -> None:
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{host}_{port}")
        self.directory = state_dir / key
        self.rollback_file = self.directory / "rollback.conf"
        self.scope_file = self.directory / "rollback.scope"
        self.pending_file = self.directory / "pending.json"
        self.claimed_file = self.directory / "pending.reverting"
        self.log_file = self.directory / "watchdog.log"

    def ensure(self) -> None:
        """Create the state directory (0700) if needed."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.chmod(0o700)

    def save_rollback(self, config: str, scope: set[str] | None = None) -> None:
        """Store the configuration to restore on rollback/revert, and which parts of it to restore
        (`scope`: what the commit changed; None: all of it)."""
        self.ensure()
        _write_private(self.rollback_file, config)
        if scope is None:
            self.scope_file.unlink(missing_ok=True)
        else:
            _write_private(self.scope_file, json.dumps(sorted(scope)))

    def load_rollback_scope(self) -> set[str] | None:
        """The parts the last commit changed (None: restore the whole configuration)."""
        try:
            data = json.loads(self.scope_file.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # garbled: restoring everything is the safe side of a rollback
        return {str(k) for k in data} if isinstance(data, list) else None

    def load_rollback(self) -> str | None:
        """Return the stored rollback configuration, or None."""
        try:
            return self.rollback_file.read_text()
        except FileNotFoundError:
            return None

    def write_pending(self, data: dict[str, Any]) -> None:
        """Record a pending (unconfirmed) commit."""
        self.ensure()
        _write_private(self.pending_file, json.dumps(data, sort_keys=True))

    def read_pending(self) -> dict[str, Any] | None:
        """Return the pending-commit record, or None when nothing is pending."""
        return _read_record(self.pending_file)

    def read_any_pending(self) -> dict[str, Any] | None:
        """The pending record, or the claimed one while a confirm or revert holds it; None when neither is
        there ({} for a torn or garbled record: something is pending, nobody can say whose)."""
        record = self.read_pending()
        return record if record is not None else _read_record(self.claimed_file)

    def has_pending(self) -> bool:
        """Whether a commit awaits confirmation (or is being reverted right now)."""
        return self.pending_file.exists() or self.claimed_file.exists()

    def claim_pending(self) -> dict[str, Any] | None:
        """Take the pending record atomically (rename), so confirm and revert never both win.

        Returns:
            The record if this caller claimed it, None if there was none (or another took it).
        """
        try:
            data = self.read_pending() or {}
            self.pending_file.replace(self.claimed_file)
        except FileNotFoundError:
            return None
        return data

    def release_claim(self) -> None:
        """Forget a claimed record once the confirm/revert is complete."""
        with contextlib.suppress(FileNotFoundError):
            self.claimed_file.unlink()

    def unclaim(self) -> None:
        """Put a claimed record back (the revert failed and the commit is still pending)."""
        with contextlib.suppress(FileNotFoundError):
            self.claimed_file.replace(self.pending_file)

    def log(self, message: str) -> None:
        """Append a timestamped line to the watchdog log (never pass secrets here)."""
        self.ensure()
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")


def _read_record(path: Path) -> dict[str, Any] | None:
    """A pending-commit record file: None when absent; {} when torn or garbled (still "something is pending")."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

