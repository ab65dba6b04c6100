"""Warm device sessions for the emergency path: `tonle serve` keeps one NAPALM session open to every device that
carries an external session, so a disconnect or restore does not pay for an SSH login, a vtysh start and a
Nornir start-up while a carrier is being cut off.

* Opened when the service starts (in the background: the socket answers at once), through Nornir's own
  connection plugin, so the tasks of the change pipeline run on them unchanged.
* Lent whole: `lend(devices)` holds each device's lock until the lender is done, so a session is never used by
  two threads at once (the keeper's own checks take the same locks).
* Checked before use: a session is lent only after a round trip on it (`is_alive` and one `show version`);
  a dead one is closed and opened again. One that cannot be reopened is left out: the task then opens its
  own connection and fails on that device as it would without the pool, so a dead session never reports
  success.
* Kept: a keeper thread checks idle sessions every `check_every` seconds and reopens dead ones (this is
  also their keepalive against a device's idle timeout).
* The inventory is read once; when its files change, `lend` answers None (the caller opens its own
  connections, as without a service) until the keeper has rebuilt the pool on the new inventory.

The pool of a process is found by state directory and target (`active`): the service registers its pool,
the verbs ask for it; a CLI acting without a service has none and opens connections as before.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornir.core import Nornir
from nornir.core.task import Result, Task

from tonle.redact import exception_text
from tonle.source.inventory import Inventory
from tonle.targets.nornir import init_nornir

CONNECTION = "napalm"
PROBE = "show version"  # every NAPALM platform answers it; a round trip that a closed session fails
CHECK_EVERY = 30.0  # seconds between the keeper's checks of idle sessions

_log = logging.getLogger(__name__)
_registry: dict[tuple[Path, bool], SessionPool] = {}
_registry_lock = threading.Lock()


def external_devices(inv: Inventory) -> list[str]:
    """The devices that carry a session to an external network (a carrier or a domestic ISP)."""
    return sorted({ref.device for peer in inv.peers.values() for ref in peer.sessions})


def active(state_dir: Path, lab: bool) -> SessionPool | None:
    """The warm sessions this process keeps for this state directory and target, if any (the service's)."""
    with _registry_lock:
        return _registry.get((state_dir.resolve(), lab))


@dataclass
class Stats:
    opened: int = 0  # sessions opened (at start and again after a failure)
    reopened: int = 0  # dead sessions found and replaced
    lent: int = 0
    last_error: str | None = None
    checked_at: float = 0.0


@dataclass
class _Built:
    nr: Nornir
    inv: Inventory
    fingerprint: tuple[tuple[str, int, int], ...]
    locks: dict[str, threading.Lock] = field(default_factory=dict)


class Lent:
    """Warm sessions lent to one thread: `nr` runs tasks on them; `release()` gives them back (once)."""

    def __init__(self, pool: SessionPool, nr: Nornir, inv: Inventory, locks: list[threading.Lock]) -> None:
        self.nr, self.inv, self._pool, self._locks = nr, inv, pool, locks

    def release(self) -> None:
        locks, self._locks = self._locks, []
        for lock in reversed(locks):
            lock.release()


class SessionPool:
    """One warm NAPALM session per device carrying external sessions, for one state directory and target."""

    def __init__(self, config_file: Path, state_dir: Path, *, lab: bool, check_every: float = CHECK_EVERY) -> None:
        self.config_file, self.state_dir, self.lab = config_file.resolve(), state_dir.resolve(), lab
        self.check_every = check_every
        self.stats = Stats()
        self._built: _Built | None = None
        self._build_lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # ---- life cycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Register the pool, then open its sessions and keep them, in a background thread."""
        with _registry_lock:
            _registry[(self.state_dir, self.lab)] = self
        self._stop.clear()
        self._keeper = threading.Thread(target=self._keep, name="tonle-session-pool", daemon=True)
        self._keeper.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Unregister, stop the keeper and close every session (waiting for lent ones to come back)."""
        with _registry_lock:
            if _registry.get((self.state_dir, self.lab)) is self:
                del _registry[(self.state_dir, self.lab)]
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout)
        with self._build_lock:
            built, self._built = self._built, None
        if built is not None:
            self._close_all(built, timeout)

    def info(self) -> dict[str, Any]:
        built = self._built
        return {"target": "lab" if self.lab else "production", "devices": sorted(built.locks) if built else [],
                "ready": built is not None, "opened": self.stats.opened, "reopened": self.stats.reopened,
                "lent": self.stats.lent, "last_error": self.stats.last_error}

    # ---- lending -----------------------------------------------------------------------------------------
    def lend(self, devices: list[str]) -> Lent | None:
        """Checked, warm sessions to `devices` for this thread alone, or None when the pool cannot serve them
        (not ready yet, a device it does not keep, the inventory changed since it was read)."""
        built = self._built
        if built is None or any(d not in built.locks for d in devices) or _fingerprint(built.inv) != built.fingerprint:
            return None
        locks = []
        for d in sorted(set(devices)):  # always in this order: two lenders never wait for each other in a circle
            lock = built.locks[d]
            lock.acquire()
            locks.append(lock)
        try:
            wanted = sorted(set(devices))
            # Checked at once (one round trip each, on their own sessions), not one device after the other.
            with ThreadPoolExecutor(max_workers=max(len(wanted), 1), thread_name_prefix="tonle-pool-check") as ex:
                list(ex.map(lambda d: self._ensure(built, d), wanted))
        except BaseException:
            for lock in locks:
                lock.release()
            raise
        self.stats.lent += 1
        return Lent(self, built.nr.filter(filter_func=lambda h: h.name in devices), built.inv, locks)

    @contextlib.contextmanager
    def lent(self, devices: list[str]) -> Iterator[Lent | None]:
        out = self.lend(devices)
        try:
            yield out
        finally:
            if out is not None:
                out.release()

    # ---- the sessions (each under its device's lock) ------------------------------------------------------
    def _ensure(self, built: _Built, device: str) -> bool:
        """The device's session is open and answers; a dead one is replaced. False: none could be opened."""
        host = built.nr.inventory.hosts[device]
        if CONNECTION in host.connections:
            if healthy(host.connections[CONNECTION].connection):
                return True
            _log.warning("session pool: the session to %s is dead; opening a new one", device)
            self.stats.reopened += 1
            with contextlib.suppress(Exception):  # closing a dead transport may fail any way: it is dropped
                host.close_connection(CONNECTION)
            host.connections.pop(CONNECTION, None)
        try:
            host.open_connection(CONNECTION, configuration=built.nr.config)
        except Exception as exc:  # a device down: the task opens its own and reports it
            host.connections.pop(CONNECTION, None)
            self.stats.last_error = f"{device}: {exception_text(exc)}"
            _log.warning("session pool: cannot open a session to %s: %s", device, self.stats.last_error)
            return False
        self.stats.opened += 1
        return True

    def _keep(self) -> None:
        """Open the sessions, then check idle ones every `check_every` seconds; rebuild on an inventory change."""
        while not self._stop.is_set():
            try:
                built = self._built
                if built is None or _fingerprint(built.inv) != built.fingerprint:
                    self._rebuild()
                else:
                    for d, lock in built.locks.items():
                        if self._stop.is_set():
                            break
                        if lock.acquire(blocking=False):  # a lent session is in use: checked when lent
                            try:
                                self._ensure(built, d)
                            finally:
                                lock.release()
                self.stats.checked_at = time.time()
            except Exception as exc:  # the keeper must not die (an inventory typo, a lab gone)
                self.stats.last_error = exception_text(exc)
                _log.warning("session pool: %s", self.stats.last_error)
            self._stop.wait(self.check_every)

    def _rebuild(self) -> None:
        with self._build_lock:
            old = self._built
            self._built = None  # lenders use their own connections meanwhile
            if old is not None:
                self._close_all(old, 30.0)
            nr, inv = init_nornir(self.config_file, self.state_dir, lab=self.lab)
            devices = [d for d in external_devices(inv) if d in nr.inventory.hosts]
            built = _Built(nr, inv, _fingerprint(inv), {d: threading.Lock() for d in devices})
            # Opened in parallel by Nornir's runner; a device that fails stays without a session (retried later).
            res = nr.filter(filter_func=lambda h: h.name in devices).run(task=_open_task, on_failed=True)
            for d, multi in res.items():
                if multi.failed:
                    exc = multi[0].exception
                    self.stats.last_error = f"{d}: {exception_text(exc) if exc else 'failed'}"
                else:
                    self.stats.opened += 1
            if not self._stop.is_set():
                self._built = built
            else:
                self._close_all(built, 5.0)
            _log.info("session pool: %d of %d device session(s) open (%s)", self.stats.opened, len(devices),
                      "lab" if self.lab else "production")

    @staticmethod
    def _close_all(built: _Built, timeout: float) -> None:
        for d, lock in built.locks.items():
            got = lock.acquire(timeout=timeout)
            try:
                with contextlib.suppress(Exception):  # closing: a dead session may fail any way
                    built.nr.inventory.hosts[d].close_connections()
            finally:
                if got:
                    lock.release()


def _open_task(task: Task) -> Result:
    task.host.get_connection(CONNECTION, task.nornir.config)
    return Result(host=task.host, result="open")


def healthy(driver: Any) -> bool:
    """A round trip on the session: alive at the transport and answering a command."""
    try:
        if not driver.is_alive().get("is_alive"):
            return False
        driver.cli([PROBE])
    except Exception:  # whatever a dead session raises, it is dead
        return False
    return True


def _fingerprint(inv: Inventory) -> tuple[tuple[str, int, int], ...]:
    """Names, times and sizes of the inventory's files: the pool is rebuilt when they change."""
    out = []
    for p in sorted(inv.directory.rglob("*")):
        with contextlib.suppress(OSError):
            if p.is_file():
                st = p.stat()
                out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


__all__ = ["Lent", "SessionPool", "active", "external_devices", "healthy"]
