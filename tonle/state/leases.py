"""Per-device leases: one actor changes a device at a time (an apply batch, or an emergency action).

A lease is an exclusive `flock` on `<state dir>/leases/<device>.lock`, taken before a device is committed
and kept until it is confirmed or rolled back; the kernel drops it when its process dies. The holder
writes who it is into the file, so that a waiter can say whom it waits for.

Emergencies pre-empt changes. An emergency action that finds a device leased by an apply writes
`<device>.preempt`; the apply reads it at its next safe point (between device operations, and at least
once a second while it validates), rolls back every device it touched and releases its leases. The
emergency takes all its leases or none (it never holds one while it waits), so the two cannot deadlock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) a lease."""

    kind: str  # apply | emergency
    ref: str  # the plan or the disconnect
    pid: int = 0

    def __str__(self) -> str:
        what = {"apply": "the apply of plan", "emergency": "emergency action"}.get(self.kind, self.kind)
        return f"{what} {self.ref}"


UNKNOWN = Holder("another process", "(just starting)")


class Leases:
    """The leases one actor holds in a state directory; release them all with `release()` (or `with`)."""

    def __init__(self, state_dir: Path, holder: Holder) -> None:
        self.dir = state_dir / "leases"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.holder = Holder(holder.kind, holder.ref, holder.pid or os.getpid())
        self._held: dict[str, IO[str]] = {}
        self._asked: set[str] = set()  # devices we asked another holder to yield

    def __enter__(self) -> Leases:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    def _path(self, device: str, suffix: str) -> Path:
        name = device if _SAFE.fullmatch(device) else hashlib.sha256(device.encode()).hexdigest()[:32]
        return self.dir / f"{name}{suffix}"

    def try_take(self, device: str) -> Holder | None:
        """Take the lease of `device` if it is free: None when taken (or held already), else who holds it."""
        if device in self._held:
            return None
        f = self._path(device, ".lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read()
            f.close()
            return _holder(text)
        f.seek(0)
        f.truncate()
        f.write(json.dumps(asdict(self.holder)))
        f.flush()
        self._held[device] = f
        # A request to yield left for an earlier holder is not addressed to us (a waiter asks again).
        self._path(device, ".preempt").unlink(missing_ok=True)
        return None

    def take_all(self, devices: list[str], *, timeout: float,
                 on_wait: Callable[[dict[str, Holder]], None]) -> dict[str, Holder]:
        """Take the leases of every device in `devices`, all or none of the new ones.

        While some are held by others, `on_wait` is called with them (it may ask them to yield, or raise)
        and none of the new ones is kept. Returns {} once all are held, else who still holds what at the
        timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            got, busy = [], {}
            for d in sorted(set(devices) - set(self._held)):
                holder = self.try_take(d)
                if holder is None:
                    got.append(d)
                else:
                    busy[d] = holder
            if not busy:
                return {}
            for d in got:
                self._release(d)
            on_wait(busy)
            if time.monotonic() >= deadline:
                return busy
            time.sleep(0.1)

    def request_yield(self, device: str) -> None:
        """Ask the holder of `device` (an apply) to roll back and release it."""
        path = self._path(device, ".preempt")
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self.holder)), encoding="utf-8")
        tmp.replace(path)
        self._asked.add(device)

    def yield_requests(self) -> dict[str, Holder]:
        """Held devices that another actor asked us to yield, and who asked."""
        out = {}
        for d in self._held:
            try:
                text = self._path(d, ".preempt").read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            out[d] = _holder(text)
        return out

    def _release(self, device: str) -> None:
        f = self._held.pop(device)
        f.seek(0)
        f.truncate()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()

    def release(self) -> None:
        """Release every lease held, and withdraw the requests to yield we left (we no longer wait)."""
        for d in list(self._held):
            self._release(d)
        for d in self._asked:
            path = self._path(d, ".preempt")
            try:
                mine = _holder(path.read_text(encoding="utf-8")) == self.holder
            except FileNotFoundError:
                continue
            if mine:
                path.unlink(missing_ok=True)
        self._asked.clear()


def _holder(text: str) -> Holder:
    try:
        data = json.loads(text)
        return Holder(str(data["kind"]), str(data["ref"]), int(data["pid"]))
    except (ValueError, KeyError, TypeError):
        return UNKNOWN  # taken a moment ago, its holder not written yet


__all__ = ["UNKNOWN", "Holder", "Leases"]
