"""What a lab plan is made of: typed steps, carried out in order by `tonle.lab.execute` (nothing runs here).

A plan is a tuple of steps. `Record` steps come before the steps that make what they record, so that
`down` finds everything even after a crashed `up`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from tonle.source.inventory import Inventory


class LabRecord(TypedDict, total=False):
    """The lab's state file: what it has made (or is about to make)."""

    status: str  # building | up
    namespaces: list[str]
    bridge: str
    run_dir: str
    user: str
    created_user: bool  # the login user is ours: `down` deletes it
    nodes: list[str]  # nodes built and started
    wired: dict[str, list[str]]  # link -> the nodes whose end of it is wired


@dataclass(frozen=True)
class Command:
    """Run a program (as root, in the root namespace unless argv enters one); a failure stops the plan."""

    argv: tuple[str, ...]
    stdin: str | None = field(default=None, repr=False)


def run(argv: list[str], *, stdin: str | None = None) -> Command:
    """The step that runs `argv`. (Plans spell their programs as literal lists: tests/unit/test_hostdeps.py.)"""
    return Command(tuple(argv), stdin)


@dataclass(frozen=True)
class IpBatch:
    """`ip -n NAMESPACE -batch -` with these lines."""

    namespace: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class WriteFile:
    """Write a file; created with `mode` when given (never readable by others on the way), then chowned."""

    path: Path
    content: str = field(repr=False)
    mode: int | None = None
    owner: tuple[str, str] | None = None  # (user, group)


@dataclass(frozen=True)
class CopyFile:
    """Copy a file with its metadata, then chown and chmod it."""

    src: Path
    dest: Path
    mode: int
    owner: tuple[str, str] | None = None


@dataclass(frozen=True)
class MakeDir:
    """Make a directory and its parents if missing; then chown / chmod it when asked."""

    path: Path
    mode: int | None = None
    owner: tuple[str, str] | None = None


@dataclass(frozen=True)
class Unlink:
    """Remove a file if it is there."""

    path: Path


@dataclass(frozen=True)
class WaitFor:
    """Wait until `path` exists (a daemon's socket); LabError(`message`) after `timeout` seconds."""

    path: Path
    timeout: float
    message: str


@dataclass(frozen=True)
class Spawn:
    """Start a long-running program (argv enters its namespace) in a session of its own, output to `log`.

    For daemons that do not detach (stayrtr); `down` stops them with their namespace.
    """

    argv: tuple[str, ...]
    log: Path


@dataclass(frozen=True)
class WaitTcp:
    """Wait until `address:port` accepts a TCP connection; LabError(`message`) after `timeout` seconds."""

    address: str
    port: int
    timeout: float
    message: str


@dataclass(frozen=True)
class Record:
    """Merge `changes` into the lab's state file."""

    changes: LabRecord


@dataclass(frozen=True)
class Say:
    """A progress line for the person waiting."""

    message: str


@dataclass(frozen=True)
class PinHostKeys:
    """Write `path` as a known_hosts file: one line per (address, public key file) whose file exists."""

    path: Path
    hosts: tuple[tuple[str, Path], ...]


@dataclass(frozen=True)
class RecordApplied:
    """These devices now run the inventory's intent (`tonle.state.applied`, plan id `lab-up`)."""

    state_dir: Path
    devices: tuple[str, ...]
    inventory: Inventory = field(repr=False, compare=False)


@dataclass(frozen=True)
class ForgetApplied:
    """These devices are gone: no intent of theirs is applied any more."""

    state_dir: Path
    devices: tuple[str, ...]


@dataclass(frozen=True)
class RemoveNamespaces:
    """Stop every process in those of these namespaces that exist, then delete them."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class DeleteLink:
    """Delete a root-namespace link if it exists; reported as `<label> <name>` when labelled."""

    name: str
    label: str | None = None


@dataclass(frozen=True)
class RemoveTree:
    """Remove a directory and everything in it, if it is there."""

    path: Path


@dataclass(frozen=True)
class DeleteUser:
    """Delete a system user if it exists."""

    name: str


@dataclass(frozen=True)
class Parallel:
    """Branches run side by side (up to 8 at once), each in order.

    The first failing branch's error (in branch order) is raised once the running branches end; branches
    not yet started are dropped.
    """

    branches: tuple[tuple[Step, ...], ...]


Step = (Command | IpBatch | WriteFile | CopyFile | MakeDir | Unlink | WaitFor | Spawn | WaitTcp | Record | Say
        | PinHostKeys | RecordApplied | ForgetApplied | RemoveNamespaces | DeleteLink | RemoveTree | DeleteUser
        | Parallel)


def walk(steps: Iterable[Step]) -> Iterator[Step]:
    """Every step, parallel branches flattened in branch order."""
    for step in steps:
        if isinstance(step, Parallel):
            for branch in step.branches:
                yield from walk(branch)
        else:
            yield step


def merged(record: LabRecord, changes: LabRecord) -> LabRecord:
    """The record after a `Record(changes)` step."""
    return record | changes
