"""NAPALM driver for FRRouting, reached over SSH into an interactive ``vtysh``.

Transport is netmiko's ``cisco_ios`` session (vtysh's prompts and modes match IOS closely enough), with
a preparation of its own (:mod:`napalm_frr.session`). Getters parse FRR's ``show ... json`` output with
:mod:`napalm_frr.parsers`.
FRR 8.x has no candidate datastore for bgpd, so the candidate lives in the driver; diffs and
command sequences come from ``frr-reload.py`` (see :mod:`napalm_frr.diff`), and rollback /
commit-confirm state lives on the controller's disk (see :mod:`napalm_frr.state`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from napalm.base import NetworkDriver, models
from napalm.base.exceptions import (
    CommandErrorException,
    CommandTimeoutException,
    CommitConfirmException,
    CommitError,
    ConnectAuthError,
    ConnectionClosedException,
    ConnectionException,
    MergeConfigException,
    ReplaceConfigException,
)
from napalm.base.netmiko_helpers import netmiko_args
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout

from napalm_frr import parsers, tc, tc_grammar
from napalm_frr.diff import (
    DEFAULT_FRR_RELOAD,
    CandidateSyntaxError,
    Change,
    FRRConfigTool,
    FRRReloadUnavailable,
    addition_blocks,
    command_failed,
    format_diff,
)
from napalm_frr.session import VtyshSession
from napalm_frr.state import DeviceState, PendingCommit, default_state_dir
from tonle.redact import redact

__all__ = ["FRRDriver"]

log = logging.getLogger(__name__)

# Any vtysh prompt: "host#", "host(config)#", "host(config-router-af)#".
_PROMPT = r"[\w.\-]+(?:\([\w\-]+\))?#\s*$"
_TOP_CONFIG_PROMPT = re.compile(r"\(config\)#\s*$")
_ALREADY_GONE = re.compile(r"can't find|not found|does not exist|no such", re.IGNORECASE)



def _redact(text: str) -> str:
    """FRR configuration text or an error quoting it, with its secrets masked (tonle.redact, FRR forms).

    Every message this driver raises that may quote a configuration line or device output goes
    through here: callers show and store exception messages.
    """
    return redact(text, platform="frr")


def scope_key(change: Change) -> str:
    """The part of the configuration a change belongs to: its top-level context (``router bgp 64500``,
    ``interface eth1``, ``route-map RM-X permit 10``) or single-line statement, without frr-reload's
    ``no`` (removing ``ip route X`` is adding ``no ip route X``)."""
    key = change.ctx_keys[0].strip() if change.ctx_keys else (change.line or "").strip()
    return key[3:].strip() if key.startswith("no ") else key


def _within(changes: list[Change], only: set[str] | None) -> list[Change]:
    return changes if only is None else [ch for ch in changes if scope_key(ch) in only]


class _ApplyError(Exception):
    """A command was refused by vtysh while applying a change set (the message is redacted)."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(_redact(f"{command!r} rejected: {message}"))
        self.command = command
        self.message = message


# Emergency toggles: lines that stand alone in their context. Adding or removing one takes no other line along
# and carries no sequence number to re-add, so one pass of them leaves the device at the candidate (see _apply).
_TOGGLES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"router bgp \d+(?: vrf \S+)?"), re.compile(r"neighbor \S+ shutdown(?: message .+)?")),
    (re.compile(r"interface \S+(?: vrf \S+)?"), re.compile(r"shutdown")),
)


def _toggles_only(changes: list[Change]) -> bool:
    """Whether every change is one emergency toggle line (a session or interface shut down or back)."""
    return bool(changes) and all(
        ch.line is not None and len(ch.ctx_keys) == 1
        and any(ctx.fullmatch(ch.ctx_keys[0].strip()) and line.fullmatch(ch.line.strip()) for ctx, line in _TOGGLES)
        for ch in changes)


def _renames(changes: list[Change]) -> bool:
    """Whether a change set touches the hostname (and so the prompt)."""
    return any(c.ctx_keys and c.ctx_keys[0].split()[:1] == ["hostname"] for c in changes)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class FRRDriver(NetworkDriver):  # type: ignore[misc]
    """NAPALM driver for FRRouting (vtysh over SSH).

    Args:
        hostname: Device address.
        username: SSH user.
        password: SSH password (may be empty with key authentication).
        timeout: Seconds to wait for a command's output.
        optional_args: ``port``, ``key_file``, ``use_keys``, ``conn_timeout``,
            ``frr_reload_path``, ``state_dir``, ``vtysh_path`` and any other netmiko argument.
    """

    platform = "frr"

    def __init__(
        self,
        hostname: str,
        username: str,
        password: str,
        timeout: int = 60,
        optional_args: dict[str, Any] | None = None,
    ) -> None:
        self.hostname = hostname
        self.username = username
        self.password = password or ""
        self.timeout = int(timeout)
        self.optional_args: dict[str, Any] = dict(optional_args or {})
        self.port = int(self.optional_args.get("port", 22))
        self.tool = FRRConfigTool(
            frr_reload_path=str(self.optional_args.get("frr_reload_path", DEFAULT_FRR_RELOAD)),
            vtysh_path=str(self.optional_args.get("vtysh_path", "vtysh")),
        )
        self.state = DeviceState(
            default_state_dir(self.optional_args.get("state_dir")), self.hostname, self.port
        )
        self.device: Any = None
        self._below_top = False  # in a config sub-node since the last block (see _to_top)
        self._candidate: str | None = None
        self._replace = False
        self._base: str | None = None  # the full running config the candidate was built from (see _load_candidate)

    # ------------------------------------------------------------------ connection

    def _netmiko_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(netmiko_args(self.optional_args))
        kwargs["port"] = self.port
        if "conn_timeout" in kwargs:
            kwargs["conn_timeout"] = float(kwargs["conn_timeout"])
        if kwargs.get("key_file"):
            kwargs["use_keys"] = True
        if "use_keys" in kwargs:
            kwargs["use_keys"] = _as_bool(kwargs["use_keys"])
        kwargs.setdefault("allow_agent", False)
        return kwargs

    def open(self) -> None:
        """Open the SSH session into vtysh.

        Raises:
            ConnectAuthError: The device refused the credentials.
            ConnectionException: The device cannot be reached or is not a vtysh.
        """
        try:
            self.device = VtyshSession(
                device_type="cisco_ios",
                host=self.hostname,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
                **self._netmiko_kwargs(),
            )
        except NetmikoAuthenticationException as exc:
            raise ConnectAuthError(f"Authentication to {self.hostname} failed: {exc}") from exc
        except (NetmikoTimeoutException, ReadTimeout, OSError, EOFError) as exc:
            # With pinned host keys (ssh_strict), paramiko's refusal reaches us inside netmiko's timeout error.
            if "does not match" in str(exc):
                raise ConnectionException(f"{self.hostname}: SSH host key CHANGED, not the pinned one; refusing "
                                          "to connect") from exc
            if "not found in known_hosts" in str(exc):
                raise ConnectionException(f"{self.hostname}: SSH host key unknown (not in the pinned known_hosts); "
                                          "refusing to connect") from exc
            raise ConnectionException(f"Cannot connect to {self.hostname}:{self.port}: {exc}") from exc
        except ValueError as exc:
            # netmiko raises ValueError when it cannot find a prompt.
            raise ConnectionException(f"No vtysh prompt from {self.hostname}: {exc}") from exc

    def close(self) -> None:
        """Close the SSH session."""
        if self.device is not None:
            with contextlib.suppress(OSError, EOFError):
                self.device.disconnect()
        self.device = None

    def __del__(self) -> None:
        """Drop the transport quietly. NAPALM's own finaliser probes the session: on a dead one Netmiko logs a
        traceback from inside the garbage collector, and formatting it calls ast.parse, which on Python 3.11
        breaks an ast.parse that the collection interrupted (CPython gh-106905: "AST constructor recursion
        depth mismatch")."""
        device = self.__dict__.get("device")
        channel = getattr(device, "remote_conn", None) if device is not None else None
        if channel is not None:
            with contextlib.suppress(Exception):
                channel.close()

    def is_alive(self) -> models.AliveDict:
        """Report whether the SSH session is usable."""
        if self.device is None:
            return {"is_alive": False}
        channel = getattr(self.device, "remote_conn", None)
        if channel is not None and getattr(channel, "closed", False):
            # Netmiko would write to the closed socket and log a traceback: answered here without a write.
            return {"is_alive": False}
        try:
            alive = bool(self.device.is_alive())
        except (OSError, EOFError):
            alive = False
        return {"is_alive": alive}

    def _conn(self) -> Any:
        if self.device is None:
            raise ConnectionClosedException(f"Not connected to {self.hostname}; call open() first")
        return self.device

    def _send(self, command: str) -> str:
        """Run one exec-mode command and return its output.

        Read up to this session's own exec prompt at the very end of the output (``host#``): Netmiko would
        otherwise first send an empty line to find the prompt (a round trip and a pause per command).
        """
        conn = self._conn()
        prompt = re.escape(str(conn.base_prompt)) + r"#\s*$"
        try:
            output = conn.send_command(command, expect_string=prompt, read_timeout=self.timeout)
        except ReadTimeout as exc:
            raise CommandTimeoutException(_redact(f"Timed out running {command!r}: {exc}")) from None
        except (OSError, EOFError) as exc:
            raise ConnectionClosedException(_redact(f"Connection lost running {command!r}: {exc}")) from None
        return parsers.strip_reconnect_notice(str(output))  # a daemon restarted (watchfrr): vtysh says so first

    def _show(self, command: str) -> str:
        """Run a ``show`` command, raising CommandErrorException on a vtysh error."""
        output = self._send(command)
        error = command_failed(output)
        if error:
            raise CommandErrorException(_redact(f"{command!r} failed: {error}"))
        return output

    def _json(self, command: str) -> str:
        """Run a JSON ``show`` command; parse errors are raised by the parsers."""
        return self._show(command)

    def _parsed(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a parser, turning FRRParseError into a NAPALM exception."""
        try:
            return func(*args, **kwargs)
        except parsers.FRRParseError as exc:
            raise CommandErrorException(f"Unexpected output from {self.hostname}: {exc}") from exc

    def _exec(self, command: str, stdin: str | None = None) -> tuple[int, str, str]:
        """Run one exec request on the open SSH connection (a new channel, not the vtysh session).

        The device's login runs ``tc`` requests with tc (QoS on FRR/Linux); anything else in vtysh.
        """
        try:
            transport = self._conn().remote_conn_pre.get_transport()
            chan = transport.open_session(timeout=self.timeout)
            chan.settimeout(self.timeout)
            chan.exec_command(command)
            if stdin is not None:
                chan.sendall(stdin.encode())
            chan.shutdown_write()
            out = chan.makefile("rb").read().decode(errors="replace")
            err = chan.makefile_stderr("rb").read().decode(errors="replace")
            status = int(chan.recv_exit_status())
            chan.close()
        except (OSError, EOFError) as exc:
            raise ConnectionClosedException(_redact(f"Connection lost running {command!r}: {exc}")) from None
        return status, out, err

    def _tc_state(self) -> dict[str, list[str]] | None:
        """The device's managed QoS (HTB) state as canonical tc commands; None if it has no tc."""
        status, qdiscs, _ = self._exec("tc -j qdisc show")
        if status != 0:
            return None
        state: dict[str, list[str]] = {}
        try:
            managed = tc.managed_interfaces(qdiscs)
            commands = [c for i in managed for c in (f"tc class show dev {i}", f"tc -j filter show dev {i} parent 1:")]
            with ThreadPoolExecutor(max_workers=max(len(commands), 1), thread_name_prefix="napalm_frr-tc") as pool:
                outs = dict(zip(commands, pool.map(self._exec, commands), strict=True))  # channels at once
            for iface, default in managed.items():
                classes = outs[f"tc class show dev {iface}"][1]
                filters = outs[f"tc -j filter show dev {iface} parent 1:"][1]
                state[iface] = tc.state_commands(iface, default, classes, filters)
        except (ValueError, KeyError, tc.TcSyntaxError) as exc:
            raise CommandErrorException(f"Unexpected tc output from {self.hostname}: {exc}") from exc
        return state

    def _running_full(self) -> str:
        """Running configuration plus the QoS state as ``! tc:`` lines (what a rollback must restore).

        The QoS state is read on exec channels of the same SSH connection while vtysh prints the configuration
        (each on its own channel: at once, not one after the other).
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="napalm_frr-tc") as pool:
            state = pool.submit(self._tc_state)
            running = self._running()
            return running + (tc.block(st) if (st := state.result()) else "")

    # ------------------------------------------------------------------ getters

    def cli(self, commands: list[str], encoding: str = "text") -> dict[str, str]:
        """Run exec-mode vtysh commands.

        Args:
            commands: Commands to run.
            encoding: Only ``"text"`` is supported.

        Returns:
            Command to output.

        Raises:
            TypeError: ``commands`` is not a list.
            NotImplementedError: ``encoding`` is not ``"text"``.
            CommandErrorException: vtysh rejected a command.
        """
        if encoding != "text":
            raise NotImplementedError(f"{encoding} is not a supported encoding")
        if not isinstance(commands, list):
            raise TypeError("Please enter a valid list of commands!")
        return {command: self._show(command) for command in commands}

    def get_facts(self) -> models.FactsDict:
        """Return FRR version, hostname and interfaces (uptime is -1.0: not exposed by vtysh)."""
        version = self._show("show version")
        running = self._show("show running-config")
        interfaces = self._json("show interface json")
        result: models.FactsDict = self._parsed(parsers.parse_facts, version, running, interfaces)
        return result

    def get_interfaces(self) -> dict[str, models.InterfaceDict]:
        """Return interfaces from ``show interface json``."""
        result: dict[str, models.InterfaceDict] = self._parsed(
            parsers.parse_interfaces, self._json("show interface json")
        )
        return result

    def get_interfaces_ip(self) -> dict[str, models.InterfacesIPDict]:
        """Return interface addresses from ``show interface json``."""
        result: dict[str, models.InterfacesIPDict] = self._parsed(
            parsers.parse_interfaces_ip, self._json("show interface json")
        )
        return result

    def get_bgp_neighbors(self) -> dict[str, models.BGPStateNeighborsPerVRFDict]:
        """Return BGP sessions of every VRF (default VRF as ``global``)."""
        summary = self._json("show bgp vrf all summary json")
        neighbors = self._json("show bgp vrf all neighbors json")
        result: dict[str, models.BGPStateNeighborsPerVRFDict] = self._parsed(
            parsers.parse_bgp_neighbors, summary, neighbors
        )
        return result

    def get_bgp_neighbors_detail(
        self, neighbor_address: str = ""
    ) -> dict[str, dict[int, list[models.PeerDetailsDict]]]:
        """Return per-VRF, per-AS BGP neighbor details.

        Args:
            neighbor_address: Only this neighbor when given.
        """
        result: dict[str, dict[int, list[models.PeerDetailsDict]]] = self._parsed(
            parsers.parse_bgp_neighbors_detail,
            self._json("show bgp vrf all neighbors json"),
            neighbor_address,
        )
        return result

    def get_bgp_config(self, group: str = "", neighbor: str = "") -> dict[str, models.BGPConfigGroupDict]:
        """Return the default-VRF BGP configuration grouped by peer-group (``_`` for none).

        Args:
            group: Only this peer-group.
            neighbor: Only this neighbor.
        """
        result: dict[str, models.BGPConfigGroupDict] = self._parsed(
            parsers.parse_bgp_config, self._show("show running-config"), group, neighbor
        )
        return result

    def get_config(
        self,
        retrieve: str = "all",
        full: bool = False,
        sanitized: bool = False,
        format: str = "text",
    ) -> models.ConfigDict:
        """Return running, startup (saved) and candidate configuration.

        Args:
            retrieve: ``all``, ``running``, ``startup`` or ``candidate``.
            full: Unsupported by FRR (defaults are never shown); ignored.
            sanitized: Replace passwords and keys with ``<removed>``.
            format: Only ``text``.
        """
        del full
        if format != "text":
            raise NotImplementedError("FRR driver only supports format='text'")
        configs: models.ConfigDict = {"running": "", "startup": "", "candidate": ""}
        if retrieve in ("all", "running"):
            configs["running"] = self._running_full()
        if retrieve in ("all", "startup"):
            configs["startup"] = parsers.strip_config_header(self._show("show startup-config"))
        if retrieve in ("all", "candidate"):
            configs["candidate"] = self._candidate or ""
        if sanitized:
            return {"running": _redact(configs["running"]), "startup": _redact(configs["startup"]),
                    "candidate": _redact(configs["candidate"])}
        return configs

    # ------------------------------------------------------------------ candidate

    def _load_candidate(
        self, filename: str | None, config: str | None, replace: bool, running: str | None = None
    ) -> None:
        error = ReplaceConfigException if replace else MergeConfigException
        if config is None:
            if filename is None:
                raise error("Provide either filename or config")
            try:
                config = Path(filename).read_text()
            except OSError as exc:
                raise error(f"Cannot read {filename}: {exc}") from exc
        frr_part, _ = tc.split(config)
        # The base is parsed (the tool keeps it) while the candidate is checked: the diff then needs neither
        # again. Two local vtysh runs at once; an error in the base shows where it is diffed (compare, commit).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="napalm_frr-parse") as pool:
            if running is not None:
                pool.submit(self.tool.parse, tc.split(running)[0])
            try:
                tc.by_interface(tc_grammar.commands(config))  # strict grammar; refusals name the line number only
                self.tool.validate(frr_part)
            except tc.TcSyntaxError as exc:
                raise error(f"Invalid configuration: {exc}") from exc
            except CandidateSyntaxError as exc:
                raise error(f"Invalid configuration: {_redact(exc.reason)}") from None
            except FRRReloadUnavailable as exc:
                raise error(str(exc)) from exc
        self._candidate = config
        self._replace = replace
        self._base = running

    def load_replace_candidate(self, filename: str | None = None, config: str | None = None,
                               *, running: str | None = None) -> None:
        """Load a full configuration to replace the running one at commit.

        Args:
            running: The full running configuration (``get_config``'s, with its ``! tc:`` lines) that the
                caller read on this session just before and built the candidate from. ``compare_config`` and
                ``commit_config`` then use it instead of reading it again (two reads of the configuration and
                the QoS state saved); the rollback point is that configuration, the one the candidate was
                made from. Only for a caller that holds the device (no other writer in between).

        Raises:
            ReplaceConfigException: Unreadable file or a line vtysh rejects.
        """
        self._load_candidate(filename, config, replace=True, running=running)

    def load_merge_candidate(self, filename: str | None = None, config: str | None = None,
                             *, running: str | None = None) -> None:
        """Load configuration lines to add to the running one at commit (``running``: as for a replace).

        Raises:
            MergeConfigException: Unreadable file or a line vtysh rejects.
        """
        self._load_candidate(filename, config, replace=False, running=running)

    def discard_config(self) -> None:
        """Forget the loaded candidate (and the running configuration it was built from)."""
        self._candidate = None
        self._replace = False
        self._base = None

    def _running(self) -> str:
        return parsers.strip_config_header(self._show("show running-config"))

    def _changes(self, candidate: str, running: str, replace: bool) -> tuple[list[Change], list[Change]]:
        try:
            if replace:
                return self.tool.replace_changes(candidate, running)
            return self.tool.merge_changes(candidate, running), []
        except CandidateSyntaxError as exc:
            # The device's own running config failing local validation means the local vtysh
            # is older than the device's FRR.
            raise CommitError(f"Local vtysh cannot parse configuration: {_redact(exc.reason)}") from None
        except FRRReloadUnavailable as exc:
            raise CommitError(str(exc)) from exc

    def compare_config(self) -> str:
        """Diff the candidate against the running config; ``""`` when nothing would change."""
        if self._candidate is None:
            return ""
        frr_part, tc_lines = tc.split(self._candidate)
        if self._base is not None:
            run_frr, run_tc = tc.split(self._base)
            have_tc = tc.by_interface(run_tc)
            if not have_tc and tc_lines:
                have_tc = self._tc_running(True)  # refused here as without a base: this device has no tc
        else:
            run_frr, have_tc = self._running(), self._tc_running(bool(tc_lines))
        additions, deletions = self._changes(frr_part, run_frr, self._replace)
        text = format_diff(additions, deletions)
        tc_diff = tc.diff(tc.by_interface(tc_lines), have_tc, self._replace)
        if tc_diff:
            text = (text.rstrip("\n") + "\n" if text.strip() else "") + "\n".join(tc_diff) + "\n"
        return text

    def _tc_running(self, needed: bool) -> dict[str, list[str]]:
        """The running tc state; a device without tc has none, unless the candidate needs it."""
        state = self._tc_state()
        if state is None and needed:
            raise CommandErrorException(f"{self.hostname} does not accept tc: cannot manage QoS there")
        return state or {}

    # ------------------------------------------------------------------ applying changes

    def _config_command(self, command: str) -> str:
        try:
            output = self._conn().send_command(
                command,
                expect_string=_PROMPT,
                strip_prompt=False,
                strip_command=False,
                read_timeout=self.timeout,
            )
        except ReadTimeout:
            raise CommandTimeoutException(_redact(f"Timed out on config command {command!r}")) from None
        except (OSError, EOFError):
            raise ConnectionClosedException(_redact(f"Connection lost on config command {command!r}")) from None
        return str(output)

    def _enter_config(self) -> None:
        output = self._config_command("configure terminal")
        error = command_failed(output)
        if error or "(config" not in output:
            raise CommitError(_redact(f"Cannot enter configuration mode: {error or output.strip()[-200:]}"))
        self._below_top = False

    def _leave_config(self, renamed: bool = True) -> None:
        self._config_command("end")
        self._below_top = False
        if renamed:  # a committed "hostname" changes the prompt netmiko waits for (one more round trip)
            with contextlib.suppress(ValueError, ReadTimeout, OSError):
                self._conn().set_base_prompt()

    def _to_top(self, last_output: str) -> None:
        """Note that a block left us in a sub-node: the next block first returns to the global node
        (`_at_top`); after the last one, `end` leaves from wherever we are (two round trips saved)."""
        self._below_top = not _TOP_CONFIG_PROMPT.search(last_output.rstrip() + " ")

    def _at_top(self) -> None:
        if self._below_top:
            self._config_command("end")
            self._enter_config()

    def _run_deletion(self, commands: list[str], errors: list[str] | None) -> None:
        """Send a deletion; like frr-reload.py, retry with the last word dropped on refusal."""
        self._at_top()
        output = ""
        for command in commands[:-1]:
            output = self._config_command(command)
            error = command_failed(output)
            if error:
                self._fail(command, error, errors)
                self._to_top(output)
                return
        words = commands[-1].split()
        while True:
            output = self._config_command(" ".join(words))
            error = command_failed(output)
            if not error:
                break
            if len(words) <= 3:
                # "no neighbor X" is as short as frr-reload.py goes; give up there.
                self._fail(commands[-1], error, errors)
                break
            words = words[:-1]
        self._to_top(output)

    def _run_block(self, block: list[str], errors: list[str] | None) -> None:
        self._at_top()
        output = ""
        for command in block:
            output = self._config_command(command)
            error = command_failed(output)
            # frr-reload.py emits "no <old line>" after re-adding a sequence number (community and
            # prefix lists): the new line already replaced it, so "not found" means done.
            if error and not (command.lstrip().startswith("no ") and _ALREADY_GONE.search(error)):
                self._fail(command, error, errors)
        self._to_top(output)

    def _run_toggles(self, additions: list[Change], deletions: list[Change]) -> None:
        """Emergency toggles (see _toggles_only) in one write: configure terminal, each context with its line
        and ``exit``, then ``end``; one read up to the exec prompt. Any refusal raises _ApplyError (the commit
        then restores the configuration it started from, step by step).

        A toggle is removed by its short form (``no neighbor X shutdown``, ``no shutdown``): vtysh accepts it
        whatever the message was, where frr-reload's full line may need words dropped one refusal at a time.
        """
        commands = ["configure terminal"]
        for change in [*deletions, *additions]:
            line = (change.line or "").strip()
            if change.delete:
                line = "no " + re.sub(r" message .+$", "", line)
            commands += [change.ctx_keys[0].strip(), line, "exit"]
        commands.append("end")
        conn = self._conn()
        prompt = re.escape(str(conn.base_prompt)) + r"#\s*$"
        batch = _redact(" / ".join(commands[1:-1]))
        try:
            conn.write_channel("\n".join(commands) + "\n")
            output = str(conn.read_until_pattern(pattern=prompt, read_timeout=self.timeout))
        except ReadTimeout:
            raise CommandTimeoutException(f"Timed out on config commands {batch!r}") from None
        except (OSError, EOFError):
            raise ConnectionClosedException(f"Connection lost on config commands {batch!r}") from None
        self._below_top = False
        error = command_failed(output)
        if error:
            raise _ApplyError(" / ".join(commands[1:-1]), error)

    @staticmethod
    def _fail(command: str, message: str, errors: list[str] | None) -> None:
        if errors is None:
            raise _ApplyError(command, message)
        errors.append(_redact(f"{command!r}: {message}"))

    def _apply(self, target: str, replace: bool, errors: list[str] | None = None,
               running: str | None = None, only: set[str] | None = None) -> set[str]:
        """Bring the running config to ``target`` (replace) or add ``target``'s lines (merge).

        With ``errors`` None the first refused command raises _ApplyError; otherwise refusals
        are collected and applying goes on (used when restoring after a failure).
        Replace runs frr-reload.py's two passes: deletions and additions, then additions
        again for lines a deletion took along (e.g. ``no neighbor X remote-as``).
        ``running`` is the full running config (with ``! tc:`` lines) if the caller just read it.
        ``only``: change nothing outside these parts (see :func:`scope_key`; a rollback's scope).

        Returns:
            The parts changed (scope keys), what a rollback of this change must restore.
        """
        target, tc_lines = tc.split(target)
        run_frr, run_tc = tc.split(running) if running is not None else (None, None)
        touched: set[str] = set()
        try:
            touched |= self._apply_tc(tc.by_interface(tc_lines), replace, bool(tc_lines), errors,
                                      have=tc.by_interface(run_tc) if run_tc is not None else None, only=only)
        except CommandErrorException as exc:
            self._fail("tc", str(exc), errors)
        additions, deletions = self._changes(target, run_frr if run_frr is not None else self._running(), replace)
        additions, deletions = _within(additions, only), _within(deletions, only)
        if not additions and not deletions:
            return touched
        touched |= {scope_key(ch) for ch in [*additions, *deletions]}
        if errors is None and _toggles_only(additions + deletions):
            self._run_toggles(additions, deletions)
            return touched
        self._enter_config()
        try:
            for change in deletions:
                self._run_deletion(self.tool.lines(change), errors)
            for block in addition_blocks(self.tool, additions):
                self._run_block(block, errors)
        finally:
            self._leave_config(_renames(additions + deletions))
        if not replace or _toggles_only(additions + deletions):
            # A merge adds lines and nothing else. A change of emergency toggles alone has nothing for a second
            # pass to find (nothing taken along, nothing re-sequenced); its effect is verified by the caller.
            return touched
        # Otherwise always a second look, deletions or not: a first pass of additions alone can leave the device short
        # of the candidate (seen live: an entry appended to a prefix-list was missing after it, and the compliance
        # gate rolled the change back; tests/live/test_apply_disconnect.py). One more read beats a false rollback.
        # Lines a deletion took along belong to a context the first pass changed (so in scope already).
        second = _within(self._changes(target, self._running(), replace)[0], only)
        if second:
            touched |= {scope_key(ch) for ch in second}
            self._enter_config()
            try:
                for block in addition_blocks(self.tool, second):
                    self._run_block(block, errors)
            finally:
                self._leave_config(_renames(second))
        return touched

    def _apply_tc(self, want: dict[str, list[str]], replace: bool, needed: bool, errors: list[str] | None,
                  have: dict[str, list[str]] | None = None, only: set[str] | None = None) -> set[str]:
        """Bring QoS (tc) to `want`: changed interfaces are rebuilt in one tc batch; returns their scope keys."""
        if not needed and not replace:
            return set()
        have = self._tc_running(needed) if have is None else have
        if only is not None:
            want = {i: c for i, c in want.items() if f"tc:{i}" in only}
            have = {i: c for i, c in have.items() if f"tc:{i}" in only}
        ifaces = set(want) | (set(have) if replace else set())
        changed = {f"tc:{i}" for i in ifaces if want.get(i, []) != have.get(i, [])}
        lines = tc.batch(want, have, replace)
        if not lines:
            return changed
        status, out, err = self._exec("tc -batch -", stdin="\n".join(lines) + "\n")
        if status != 0:
            self._fail("tc -batch", (err or out).strip().splitlines()[-1] if (err or out).strip() else
                       f"exit {status}", errors)
        return changed

    def _write_memory(self) -> None:
        output = self._send("write memory")
        if "saved" not in output.lower() and "[OK]" not in output:
            raise CommitError(_redact(f"Configuration applied but 'write memory' failed: {output.strip()[-300:]}"))

    def _restore(self, config: str, only: set[str] | None = None) -> list[str]:
        """Replace the running config (the parts in ``only``, or all) with ``config`` best-effort; return
        refused commands."""
        errors: list[str] = []
        self._apply(config, replace=True, errors=errors, only=only)
        return errors

    # ------------------------------------------------------------------ commit lifecycle

    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        """Apply the candidate, save it, and optionally arm an automatic revert.

        Args:
            message: Recorded in the pending-commit state only (FRR keeps no commit log).
            revert_in: Seconds after which the change is reverted unless ``confirm_commit``
                is called.

        Raises:
            CommitError: No candidate, a commit is already pending, or a command was refused
                (the pre-commit configuration has then been restored), or ``write memory`` failed
                (with ``revert_in`` the change then stays pending with its timer armed: roll back).
        """
        if self._candidate is None:
            raise CommitError("No candidate configuration loaded")
        if self.has_pending_commit():
            if self._pending_orphaned():
                raise CommitError("A commit is pending but no revert timer runs for it (its controller died): "
                                  "roll back (or confirm) first")
            raise CommitError("Pending commit confirm in progress; confirm or roll back first")
        if revert_in is not None and int(revert_in) <= 0:
            raise CommitError("revert_in must be a positive number of seconds")
        before = self._base if self._base is not None else self._running_full()
        touched: set[str] = set()
        previous, previous_scope = self.state.load_rollback(), self.state.load_rollback_scope()
        # Junos-style order: the rollback point and the revert timer exist before the device changes, so a
        # failure (or this process killed) at any later step leaves either the old config or a timer armed.
        self.state.save_rollback(before)
        if revert_in is not None:
            try:
                self._arm_revert(int(revert_in), message)
            except BaseException:
                self._disarm()
                self._put_back_rollback(previous, previous_scope)
                raise
        try:
            touched = self._apply(self._candidate, self._replace, running=before)
        except _ApplyError as exc:
            restore_errors = self._restore(before)
            if restore_errors:  # the device is neither old nor new: leave the timer armed, say so
                raise CommitError(_redact(
                    f"Commit aborted, restore refused {restore_errors}; the change is pending"
                    + (" (revert timer armed): roll back" if revert_in is not None else ": roll back"))) from exc
            self._disarm()
            self._put_back_rollback(previous, previous_scope)  # nothing was committed: the last commit's point stays
            raise CommitError(
                _redact(f"Commit aborted, configuration restored: {exc.command!r} -> {exc.message}")
            ) from exc
        # The rollback point now carries this commit's scope: a rollback restores only what this commit
        # changed; a line changed by hand meanwhile in a context the commit did not touch stays as it is now.
        self.state.save_rollback(before, touched)
        try:
            self._write_memory()
        except CommitError:
            if revert_in is None:  # no timer to fall back on: put the running config back now
                errors = self._restore(before)
                if not errors:
                    self._put_back_rollback(previous, previous_scope)
                raise CommitError("'write memory' failed; " + (
                    "the configuration was restored" if not errors else
                    _redact(f"restoring refused {errors}: the change is live, roll back"))) from None
            raise CommitError("Configuration applied but 'write memory' failed; the change is pending with its "
                              "revert timer armed: roll back (or confirm)") from None
        self.discard_config()

    def _disarm(self) -> None:
        """Cancel a pending record and its watchdog (nothing of the change is live)."""
        record = self.state.claim_pending()
        if record is not None:
            self._stop_watchdog(record.get("watchdog_pid"))
            self.state.release_claim()

    def _put_back_rollback(self, previous: str | None, scope: set[str] | None = None) -> None:
        if previous is None:
            self.state.rollback_file.unlink(missing_ok=True)
            self.state.scope_file.unlink(missing_ok=True)
        else:
            self.state.save_rollback(previous, scope)

    def _arm_revert(self, revert_in: int, message: str) -> None:
        deadline = time.time() + revert_in
        self.state.write_pending({"deadline": deadline, "message": message, "watchdog_pid": None})
        payload = {
            "hostname": self.hostname,
            "username": self.username,
            "password": self.password,
            "timeout": self.timeout,
            "optional_args": self.optional_args,
            "state_dir": str(self.state.directory.parent),
            "deadline": deadline,
        }
        # Credentials go over the pipe only: never argv (visible in ps), never disk.
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("watchdog.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        out, _ = proc.communicate(json.dumps(payload).encode(), timeout=30)
        try:
            pid = int(out.decode().strip())
        except ValueError as exc:
            raise CommitError(f"Could not start the revert watchdog (got {out!r})") from exc
        self.state.write_pending({"deadline": deadline, "message": message, "watchdog_pid": pid})

    def has_pending_commit(self) -> bool:
        """Whether a ``commit_config(revert_in=...)`` awaits confirmation for this device."""
        return self.state.has_pending()

    @property
    def pending_commit(self) -> PendingCommit | None:
        """The commit that awaits confirmation (or whose confirm or revert is under way), or None.

        Its ``message`` is the one given to ``commit_config``: a caller that passes a token of its own
        there tells a pending commit it armed from another's (a controller that died, another tool).
        A property, not a method: NAPALM's conformance suite allows a driver no public method of its own.
        """
        if not self.has_pending_commit():
            return None
        record = self.state.read_any_pending() or {}
        message, deadline = record.get("message"), record.get("deadline")
        return PendingCommit(message=message if isinstance(message, str) else "",
                             deadline=float(deadline) if isinstance(deadline, int | float) else None,
                             watchdog=self._is_watchdog(record.get("watchdog_pid")))

    def _pending_orphaned(self) -> bool:
        """Whether a commit is pending (or a confirm/revert of it was cut short) with no watchdog alive to
        revert it: its controller died between the record and the watchdog, or mid-confirm."""
        pending = self.pending_commit
        return pending is not None and not pending["watchdog"]

    @staticmethod
    def _is_watchdog(pid: Any) -> bool:
        if not isinstance(pid, int) or pid <= 1:
            return False
        # Only a PID that still is our watchdog counts (PIDs get reused).
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"napalm_frr/watchdog.py" in cmdline or b"napalm_frr.watchdog" in cmdline

    @classmethod
    def _stop_watchdog(cls, pid: Any) -> None:
        if cls._is_watchdog(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def confirm_commit(self) -> None:
        """Keep the pending commit: cancel the automatic revert.

        Raises:
            CommitConfirmException: Nothing is pending, or the revert already started.
        """
        record = self.state.claim_pending()
        if record is None:
            raise CommitConfirmException("No pending commit-confirm (or its revert already started)")
        self._stop_watchdog(record.get("watchdog_pid"))
        self.state.release_claim()

    def rollback(self) -> None:
        """Restore the configuration saved before the last commit (and cancel a pending revert).

        Raises:
            CommitError: No rollback point, or a command was refused while restoring.
        """
        config = self.state.load_rollback()
        if config is None:
            raise CommitError(f"No rollback point stored for {self.hostname} in {self.state.directory}")
        record = self.state.claim_pending()  # the watchdog, if it wakes meanwhile, finds nothing to revert
        if record is None and self.state.claimed_file.exists() and self._pending_orphaned():
            record = {}  # a confirm or revert that died midway: this rollback finishes it
        try:
            errors = self._restore(config, self.state.load_rollback_scope())
            if errors:
                raise CommitError(f"Rollback incomplete, refused: {errors}")
            self._write_memory()
        except BaseException:
            if record is not None:  # still pending, its timer still armed (or orphaned: recovery finds it)
                self.state.unclaim()
            raise
        if record is not None:
            self._stop_watchdog(record.get("watchdog_pid"))
            self.state.release_claim()

    def _revert_pending(self) -> bool:
        """Revert an unconfirmed commit now (used by the watchdog at its deadline).

        Returns:
            True if a pending commit was reverted, False if none was pending.

        Raises:
            CommitError: The revert failed; the commit stays pending.
        """
        record = self.state.claim_pending()
        if record is None:
            return False
        try:
            self._restore_saved()
        except Exception:
            # Leave the commit pending so that a later rollback() can still undo it.
            self.state.unclaim()
            raise
        self.state.release_claim()
        return True

    def _restore_saved(self) -> None:
        config = self.state.load_rollback()
        if config is None:
            raise CommitError("pending commit without rollback point")
        errors = self._restore(config, self.state.load_rollback_scope())
        if errors:
            raise CommitError(f"revert incomplete, refused: {errors}")
        self._write_memory()
