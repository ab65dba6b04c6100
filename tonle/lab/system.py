"""The few ways the lab touches this machine: run a program, ask what exists, stop processes, wait."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tonle.lab.errors import LabError, LabUnavailable
from tonle.redact import redact


def _run(cmd: list[str], *, input_text: str | None = None, check: bool = True, timeout: float = 30) -> str:
    """Run `cmd`; its stdout, or a one-line LabError (its last error line, redacted) when it fails."""
    try:
        proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LabUnavailable(f"command not found: {cmd[0]}") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout:.0f}s: {' '.join(cmd[:6])}") from None
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()  # vtysh -b quotes the line it refuses
        raise LabError(redact(f"{' '.join(cmd[:8])}: {err[-1] if err else f'exit {proc.returncode}'}"))
    return proc.stdout


def spawn(cmd: list[str], log: Path) -> None:
    """Start `cmd` detached (its own session, stdin closed, output appended to `log`); it is not waited for."""
    with log.open("ab") as out:
        try:
            subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        except FileNotFoundError:
            raise LabUnavailable(f"command not found: {cmd[0]}") from None


def tcp_open(address: str, port: int) -> bool:
    """Whether `address:port` accepts a connection now (from the root namespace)."""
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def netns_list() -> list[str]:
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    return [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).split()]


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0


def user_exists(name: str) -> bool:
    return _run(["getent", "passwd", name], check=False).strip() != ""


def ipv4_routes() -> list[dict[str, Any]]:
    """Every IPv4 route of the root namespace, all tables (`ip -j` objects)."""
    routes: list[dict[str, Any]] = json.loads(_run(["ip", "-j", "-4", "route", "show", "table", "all"]) or "[]")
    return routes


def pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def terminate(pids: list[int], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `grace` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _exists(p)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone once its state says so.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_for(cond: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise LabError(message)
        time.sleep(0.02)
