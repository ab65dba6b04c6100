"""Configuration diffing with FRR's own ``frr-reload.py`` logic, run on the controller.

``frr-reload.py`` is imported as a module (it is a script, not a package) and fed two config
texts: the candidate and the running configuration fetched over SSH. Only the local ``vtysh``
binary is needed, for its ``-m`` (mark contexts) mode, which also rejects bad syntax; no FRR
daemon has to run on the controller.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import tempfile
import threading
import warnings
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "DEFAULT_FRR_RELOAD",
    "CandidateSyntaxError",
    "Change",
    "FRRConfigTool",
    "FRRReloadUnavailable",
    "addition_blocks",
    "deletion_command",
    "format_diff",
    "frr_lines",
]

DEFAULT_FRR_RELOAD = "/usr/lib/frr/frr-reload.py"

# Lines frr-reload.py never deletes or that vtysh prints only as decoration.
_SKIP_LINES = {"!"}

_MODULE_CACHE: dict[str, ModuleType] = {}
_PARSED_KEPT = 8  # parsed texts a tool keeps (see FRRConfigTool.parse)


class FRRReloadUnavailable(RuntimeError):
    """``frr-reload.py`` or the local ``vtysh`` binary cannot be used."""


class CandidateSyntaxError(ValueError):
    """vtysh rejected a line of a configuration text.

    Attributes:
        reason: vtysh's one-line message, e.g. ``line 4: % Unknown command: bogus``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Change:
    """One frr-reload.py change: a line in a context, or a whole context when ``line`` is None."""

    ctx_keys: tuple[str, ...]
    line: str | None
    delete: bool


def load_frr_reload(path: str = DEFAULT_FRR_RELOAD) -> ModuleType:
    """Import ``frr-reload.py`` from ``path`` as a module (cached per path).

    Args:
        path: Location of ``frr-reload.py``.

    Returns:
        The imported module.

    Raises:
        FRRReloadUnavailable: The file is missing or does not import.
    """
    if path in _MODULE_CACHE:
        return _MODULE_CACHE[path]
    if not Path(path).is_file():
        raise FRRReloadUnavailable(f"frr-reload.py not found at {path}")
    spec = importlib.util.spec_from_file_location("napalm_frr_frr_reload", path)
    if spec is None or spec.loader is None:
        raise FRRReloadUnavailable(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # The script has regexes with invalid escapes; keep their warnings out of user output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spec.loader.exec_module(module)
        except (SyntaxError, ImportError) as exc:
            raise FRRReloadUnavailable(f"cannot import {path}: {exc}") from exc
    for name in ("Config", "compare_context_objects", "lines_to_config", "ignore_delete_re_add_lines"):
        if not hasattr(module, name):
            raise FRRReloadUnavailable(f"{path} has no {name}; unsupported frr-reload.py version")
    _MODULE_CACHE[path] = module
    return module


class _Marker:
    """Stand-in for frr-reload.py's ``Vtysh`` object: only ``mark_file`` is ever called."""

    def __init__(self, vtysh_path: str, workdir: str) -> None:
        self.vtysh_path = vtysh_path
        self.workdir = workdir

    def mark_file(self, filename: str, stdin: Any = None) -> str:
        del stdin
        try:
            proc = subprocess.run(
                [self.vtysh_path, "--config_dir", self.workdir, "-m", "-f", filename],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError as exc:
            raise FRRReloadUnavailable(f"local vtysh not found: {self.vtysh_path}") from exc
        except subprocess.TimeoutExpired as exc:
            raise FRRReloadUnavailable("local vtysh -m timed out") from exc
        if proc.returncode != 0:
            reasons = [ln.strip() for ln in proc.stderr.splitlines() if "%" in ln]
            raise CandidateSyntaxError(
                reasons[0] if reasons else f"vtysh -m exited with status {proc.returncode}"
            )
        return proc.stdout


class FRRConfigTool:
    """Parse and compare FRR configuration texts with frr-reload.py.

    Args:
        frr_reload_path: Path of ``frr-reload.py``.
        vtysh_path: Local ``vtysh`` binary used for marking/validation.
    """

    def __init__(self, frr_reload_path: str = DEFAULT_FRR_RELOAD, vtysh_path: str = "vtysh") -> None:
        self.frr_reload_path = frr_reload_path
        self.vtysh_path = vtysh_path
        # The last texts parsed, by content: one commit parses the same candidate and running config up to
        # three times each (validate, compare, apply), each a local vtysh run. frr-reload.py only reads the
        # Config objects it compares, so sharing one is safe; the lock makes the tool usable from threads.
        self._parsed: OrderedDict[str, Any] = OrderedDict()
        self._parsed_lock = threading.Lock()

    @property
    def module(self) -> ModuleType:
        """The imported frr-reload.py module."""
        return load_frr_reload(self.frr_reload_path)

    def parse(self, text: str) -> Any:
        """Parse a configuration text into a frr-reload.py ``Config`` object.

        Args:
            text: Configuration, with or without the ``show running-config`` banner.

        Returns:
            The ``Config`` object (contexts keyed by tuples of context lines).

        Raises:
            CandidateSyntaxError: vtysh rejected a line.
            FRRReloadUnavailable: frr-reload.py or vtysh cannot be used.
        """
        key = hashlib.sha256(text.encode()).hexdigest()
        with self._parsed_lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        config = self._parse(text)
        with self._parsed_lock:
            self._parsed[key] = config
            while len(self._parsed) > _PARSED_KEPT:
                self._parsed.popitem(last=False)
        return config

    def _parse(self, text: str) -> Any:
        module = self.module
        with tempfile.TemporaryDirectory(prefix="napalm_frr-") as workdir:
            # vtysh reads vtysh.conf from --config_dir; an empty one keeps it quiet.
            Path(workdir, "vtysh.conf").touch(mode=0o600)
            conf = Path(workdir, "candidate.conf")
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_drop_banner(text))
            config = module.Config(_Marker(self.vtysh_path, workdir))
            config.load_from_file(str(conf))
        return config

    def validate(self, text: str) -> None:
        """Check a configuration text's syntax with the local vtysh.

        Args:
            text: Configuration text.

        Raises:
            CandidateSyntaxError: vtysh rejected a line (reason names it).
        """
        self.parse(text)

    def replace_changes(self, candidate: str, running: str) -> tuple[list[Change], list[Change]]:
        """Changes turning ``running`` into ``candidate``, as frr-reload.py computes them.

        Args:
            candidate: Wanted configuration.
            running: Current running configuration.

        Returns:
            ``(additions, deletions)``, each in frr-reload.py's order; ``!`` lines removed.
        """
        new = self.parse(candidate)
        old = self.parse(running)
        to_add, to_del = self.module.compare_context_objects(new, old)
        return _changes(to_add, delete=False), _changes(to_del, delete=True)

    def merge_changes(self, candidate: str, running: str) -> list[Change]:
        """Lines of ``candidate`` not already present in ``running`` (merge semantics).

        Args:
            candidate: Configuration lines to merge.
            running: Current running configuration.

        Returns:
            The additions, in candidate order; whole contexts missing from running are
            announced by a ``line=None`` change before their lines.
        """
        new = self.parse(candidate)
        old = self.parse(running)
        result: list[Change] = []
        for keys, ctx in new.contexts.items():
            existing = old.contexts.get(keys)
            if existing is None:
                result.append(Change(tuple(keys), None, False))
                missing = list(ctx.lines)
            else:
                missing = [line for line in ctx.lines if line not in existing.dlines]
            result.extend(Change(tuple(keys), line, False) for line in missing if line not in _SKIP_LINES)
        return result

    def lines(self, change: Change) -> list[str]:
        """The vtysh commands (without indentation) that carry out ``change``.

        Args:
            change: A change from :meth:`replace_changes` or :meth:`merge_changes`.

        Returns:
            Context-entering commands followed by the command itself.
        """
        raw = self.module.lines_to_config(list(change.ctx_keys), change.line, change.delete)
        return [str(line).strip() for line in raw]


_FRR_SKIP = {"!", "end", "Building configuration...", "Current configuration:"}
_FRR_EXITS = {"exit", "exit-address-family", "exit-vrf", "exit-vni", "quit"}


def frr_lines(text: str) -> Counter[tuple[tuple[str, ...], str]]:
    """Every line of an FRR configuration with its enclosing contexts (by indentation), order-free.

    Two texts with equal lines are no change for frr-reload.py either: the fast path that skips its two
    local vtysh runs (drift audits and plans of devices already as intended).
    """
    out: Counter[tuple[tuple[str, ...], str]] = Counter()
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line in _FRR_SKIP:
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if line in _FRR_EXITS:
            continue
        out[(tuple(c for _, c in stack), line)] += 1
        stack.append((indent, line))
    return out


def _drop_banner(text: str) -> str:
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n")]
    kept = [ln for ln in lines if ln.strip() not in ("Building configuration...", "Current configuration:")]
    return "\n".join(kept).strip("\n") + "\n"


def _changes(raw: list[tuple[Any, Any]], delete: bool) -> list[Change]:
    result = []
    for keys, line in raw:
        if line is not None and line.strip() in _SKIP_LINES:
            continue
        result.append(Change(tuple(keys), line, delete))
    return result


def deletion_command(tool: FRRConfigTool, change: Change) -> list[str]:
    """Commands removing one line or context: context entries, then the ``no`` form.

    Args:
        tool: The config tool (provides frr-reload.py's ``lines_to_config``).
        change: A deletion.

    Returns:
        Command list; the last element is the ``no ...`` (or un-``no``-ed) command.
    """
    return tool.lines(change)


def addition_blocks(tool: FRRConfigTool, changes: list[Change]) -> list[list[str]]:
    """Group consecutive additions in the same context into one command block.

    Each block starts from configuration top level: the context-entering commands once, then
    every line of that context.

    Args:
        tool: The config tool.
        changes: Additions (``delete`` False), in the order to apply.

    Returns:
        List of command blocks.
    """
    blocks: list[list[str]] = []
    current_keys: tuple[str, ...] | None = None
    for change in changes:
        commands = tool.lines(change)
        if change.line is None:
            # Entering (creating) the context itself; lines of the context may follow.
            blocks.append(commands)
            current_keys = change.ctx_keys
            continue
        depth = len(change.ctx_keys)
        if current_keys == change.ctx_keys and blocks:
            blocks[-1].append(commands[-1])
        else:
            blocks.append(commands if depth else commands[-1:])
            current_keys = change.ctx_keys
    return blocks


def as_shown(change: Change) -> tuple[bool, tuple[str, ...], str]:
    """What a change does to the device's config, in the device's own words.

    frr-reload.py removes some single-line contexts (``ip route …``) by *adding* ``no ip route …``;
    a reader wants "this line is on the device and should not be", never the internal ``no`` form.

    Returns:
        ``(removed, enclosing contexts, line)``.
    """
    if change.line is None:
        header, text = change.ctx_keys[:-1], change.ctx_keys[-1]
    else:
        header, text = change.ctx_keys, change.line.strip()
    if not change.delete and text.startswith("no "):
        return True, header, text[3:].strip()
    return change.delete, header, text


def format_diff(additions: list[Change], deletions: list[Change]) -> str:
    """Render changes as a unified-diff-like text grouped by context.

    Context lines start with a space, removed lines with ``-``, added lines with ``+``; nested
    lines keep FRR's one-space-per-level indentation after the marker.

    Args:
        additions: Lines/contexts to add.
        deletions: Lines/contexts to delete.

    Returns:
        The diff text, or ``""`` when there is no change.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    # A context created by this change set whose lines follow: show "+context" as the head of
    # its own group instead of repeating it as a context line.
    filled = {c.ctx_keys for c in additions if c.line is not None}
    created: set[tuple[str, ...]] = set()
    for change in [*deletions, *additions]:
        if change.line is None and not change.delete and change.ctx_keys in filled:
            created.add(change.ctx_keys)
            depth = len(change.ctx_keys) - 1
            groups.setdefault(change.ctx_keys, []).append(f"+{' ' * depth}{change.ctx_keys[-1]}")
            continue
        removed, header, text = as_shown(change)
        groups.setdefault(header, []).append(f"{'-' if removed else '+'}{' ' * len(header)}{text}")
    out: list[str] = []
    for header, body in groups.items():
        context = header[:-1] if header in created else header
        out.extend(f" {' ' * depth}{key}" for depth, key in enumerate(context))
        out.extend(body)
    return "\n".join(out)


def command_failed(output: str) -> str:
    """Return the first error line vtysh printed for a command, or ``""``.

    FRR reports errors with a leading ``%`` (``% Unknown command``, ``% Invalid input``,
    ``% Command incomplete``, ...); ``router bgp N`` with another AS already running prints a
    bare ``BGP is already running`` and stays in the parent node, so it counts as an error too.
    Warnings without ``%`` (e.g. a route-map referenced before it is defined) are not errors.

    Args:
        output: What the device answered to one command.

    Returns:
        The offending message line, or ``""`` if none.
    """
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("%") or re.match(r"^BGP is already running", text):
            return text
    return ""
