"""The one executor: carries out a lab plan's steps in order (programs, files, waits, the lab's record)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import assert_never, cast

from tonle.lab.errors import LabError
from tonle.lab.steps import (
    Command,
    CopyFile,
    DeleteLink,
    DeleteUser,
    ForgetApplied,
    IpBatch,
    LabRecord,
    MakeDir,
    Parallel,
    PinHostKeys,
    Record,
    RecordApplied,
    RemoveNamespaces,
    RemoveTree,
    Say,
    Spawn,
    Step,
    Unlink,
    WaitFor,
    WaitTcp,
    WriteFile,
    merged,
)
from tonle.lab.system import (
    _run,
    link_exists,
    netns_list,
    netns_pids,
    spawn,
    tcp_open,
    terminate,
    user_exists,
    wait_for,
)
from tonle.source.snapshot import capture
from tonle.state.applied import forget, record_applied
from tonle.state.db import StateDB

Progress = Callable[[str], None]


def read_record(state_file: Path) -> LabRecord:
    """The lab's record ({} when there is none)."""
    try:
        return cast(LabRecord, json.loads(state_file.read_text()))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise LabError(f"{state_file}: unreadable lab state: {exc}") from None


def write_record(state_file: Path, record: LabRecord) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(state_file)


class Executor:
    """Runs plans for one lab; `Record` steps go to `state_file`, `Say` steps to `say`."""

    def __init__(self, state_file: Path, say: Progress | None = None) -> None:
        self.state_file = state_file
        self.say = say or (lambda _msg: None)
        self.removed: list[str] = []  # what removal steps found and removed, as "<kind> <name>"

    def run(self, steps: Iterable[Step]) -> list[str]:
        """Carry out `steps` in order; the first failure (a LabError, one line) stops them. Returns `removed`."""
        for step in steps:
            self._one(step)
        return self.removed

    def _one(self, step: Step) -> None:
        match step:
            case Command(argv, stdin):
                _run(list(argv), input_text=stdin)
            case IpBatch(ns, lines):
                if lines:
                    _run(["ip", "-n", ns, "-batch", "-"], input_text="\n".join(lines) + "\n")
            case WriteFile() | CopyFile() | MakeDir() | Unlink() | RemoveTree():
                _file_step(step)
            case WaitFor(path, timeout, message):
                wait_for(path.exists, timeout, message)
            case Spawn(argv, log):
                spawn(list(argv), log)
            case WaitTcp(address, port, timeout, message):
                wait_for(lambda: tcp_open(address, port), timeout, message)
            case Record(changes):
                write_record(self.state_file, merged(read_record(self.state_file), changes))
            case Say(message):
                self.say(message)
            case PinHostKeys():
                _pin_host_keys(step)
            case RecordApplied(state_dir, devices, inv):
                record_applied(StateDB(state_dir), list(devices), "lab-up", capture(inv))
            case ForgetApplied(state_dir, devices):
                forget(StateDB(state_dir), list(devices))
            case RemoveNamespaces(names):
                self._remove_namespaces(names)
            case DeleteLink() | DeleteUser():
                self._delete(step)
            case Parallel(branches):
                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(self.run, branches))
            case _:
                assert_never(step)

    def _remove_namespaces(self, names: tuple[str, ...]) -> None:
        existing = set(netns_list())
        targets = [ns for ns in names if ns in existing]
        # Every process inside our namespaces is one we started (daemons, sshd and its sessions).
        terminate([pid for ns in targets for pid in netns_pids(ns)])
        for ns in targets:
            _run(["ip", "netns", "del", ns])
            self.removed.append(f"namespace {ns}")

    def _delete(self, step: DeleteLink | DeleteUser) -> None:
        if isinstance(step, DeleteLink):
            if link_exists(step.name):
                # A veth whose peer's namespace was just deleted may vanish under us: gone is what we want.
                out = subprocess.run(["ip", "link", "del", step.name], capture_output=True, text=True, check=False)
                if out.returncode != 0 and link_exists(step.name):
                    raise LabError(f"ip link del {step.name}: {(out.stderr or out.stdout).strip()[-200:]}")
                if step.label:
                    self.removed.append(f"{step.label} {step.name}")
        elif user_exists(step.name):
            _run(["userdel", step.name])
            self.removed.append(f"user {step.name}")


def _file_step(step: WriteFile | CopyFile | MakeDir | Unlink | RemoveTree) -> None:
    match step:
        case WriteFile(path, content, mode, owner):
            if mode is not None:
                path.touch(mode=mode)
            path.write_text(content)
            _own(path, mode, owner)
        case CopyFile(src, dest, mode, owner):
            shutil.copy2(src, dest)
            _own(dest, mode, owner)
        case MakeDir(path, mode, owner):
            path.mkdir(parents=True, exist_ok=True, mode=0o777 if mode is None else mode)
            _own(path, mode, owner)
        case Unlink(path):
            path.unlink(missing_ok=True)
        case RemoveTree(path):
            if path.exists():
                shutil.rmtree(path)
        case _:
            assert_never(step)


def _own(path: Path, mode: int | None, owner: tuple[str, str] | None) -> None:
    if owner is not None:
        shutil.chown(path, *owner)
    if mode is not None:
        path.chmod(mode)


def _pin_host_keys(step: PinHostKeys) -> None:
    """Tonlé's connections to lab devices accept exactly these keys (generated by the devices' sshd steps)."""
    lines = []
    for address, pub in step.hosts:
        if pub.exists():
            kind, key = pub.read_text().split()[:2]
            lines.append(f"{address} {kind} {key}\n")
    _file_step(WriteFile(step.path, "".join(lines), 0o600))
