"""NOC playbooks through ansible-runner: same inventory, same safe paths, same audit log as the CLI.

`run_playbook` runs `playbooks/<name>.yml` with ansible-runner's Python API. The inventory is the
dynamic script `playbooks/inventory/tonle_inventory.py` (the Nornir inventory, converted on every
run); the modules in `playbooks/library/` run on the controller with this process's interpreter
and call the project's Python API (plan, apply, validate, drift, backup, disconnect, restore), so
every guard (change windows, blast-radius limit, fingerprints) and every audit entry applies as
from the CLI. Ansible never reaches a device itself.

Everything Ansible writes goes under `<state dir>/ansible/`: the run's private data directory and
artifacts (`<state dir>/ansible/<run id>/`), and ANSIBLE_HOME, local and remote temp directories
(`<state dir>/ansible/home/`), never the user's home. Each run is recorded in the audit log
(`playbook-run`: name, limit, status, rc, failed tasks, operator).

Module helpers (`module_paths`, `disconnect_outcome`, `parse_duration`) live here too so that the
Ansible modules stay thin and say exactly what the CLI says.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tonle.emergency.disconnect import DisconnectError, Outcome, duration_seconds
from tonle.errors import BadInput, TonleError
from tonle.interfaces.playbook_redact import run_secrets, scrub_artifacts
from tonle.redact import redact, redact_data
from tonle.resources import playbooks_dir
from tonle.state.accounts import Actor, NotPermitted, root_actor
from tonle.state.audit import AuditLog, process_identity
from tonle.state.db import StateDB

PLAYBOOKS_DIR = playbooks_dir()
INVENTORY_SCRIPT = PLAYBOOKS_DIR / "inventory" / "tonle_inventory.py"
LIBRARY_DIR = PLAYBOOKS_DIR / "library"
APPROVAL_FILE = "approval"  # in the run's private data directory; read by change-window.yml

Progress = Callable[[str], None]
# Asked once a plan is made in a run without auto_approve: (plan id, plan text) -> (approved, why).
Approver = Callable[[str, str], tuple[bool, str]]

_SENSITIVE = re.compile(r"pass|secret|token|key", re.IGNORECASE)


class PlaybookError(BadInput):
    """Bad input (unknown playbook, malformed extra var); one line, nothing ran."""


@dataclass
class FailedTask:
    host: str
    task: str
    msg: str

    def __str__(self) -> str:
        return f"{self.host}: {self.task}: {self.msg}"


@dataclass
class PlaybookResult:
    """What a playbook run did."""

    run_id: str
    name: str
    status: str  # successful | failed | timeout | canceled
    rc: int
    failed_tasks: list[FailedTask] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # Ansible's own errors (syntax, inventory, no hosts)
    artifacts: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def reason(self) -> str:
        """Why the run failed, readable: the failing host/task/message, else Ansible's own error."""
        if self.ok:
            return ""
        if self.failed_tasks:
            return "; ".join(str(f) for f in self.failed_tasks)
        if self.errors:
            return " ".join(self.errors)
        return f"ansible-playbook ended with status {self.status}, rc {self.rc} (see {self.artifacts})"


# ---- the playbook catalogue -------------------------------------------------------------------------

def list_playbooks() -> dict[str, str]:
    """Playbook name -> its description (the first comment line of the file)."""
    out = {}
    for path in sorted(PLAYBOOKS_DIR.glob("*.yml")):
        first = next((ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), "#")
        out[path.stem] = first.lstrip("#").strip()
    return out


def parse_extra_vars(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs (values stay strings, as with ansible-playbook -e) or JSON objects."""
    out: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                data = json.loads(item)
            except json.JSONDecodeError as exc:
                raise PlaybookError(f"--extra-vars {item!r}: not a JSON object ({exc.msg})") from None
            if not isinstance(data, dict):
                raise PlaybookError(f"--extra-vars {item!r}: not a JSON object")
            out.update(data)
            continue
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise PlaybookError(f"--extra-vars {item!r}: expected KEY=VALUE (KEY a variable name)")
        out[key] = value
    return out


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "y", "on")


# ---- running -----------------------------------------------------------------------------------------

def ansible_env(config_file: Path, state_dir: Path, target: str) -> dict[str, str]:
    """Environment of ansible-playbook: where the project is and every Ansible dir in the state dir (never who
    acts: the modules ask the kernel, see `module_actor`)."""
    home = state_dir.resolve() / "ansible" / "home"
    venv_bin = str(Path(sys.executable).parent)
    return {
        "TONLE_CONFIG": str(config_file.resolve()),
        "TONLE_STATE_DIR": str(state_dir.resolve()),
        "TONLE_TARGET": target,
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote_tmp"),  # default ~/.ansible/tmp, even on localhost
        "ANSIBLE_LIBRARY": str(LIBRARY_DIR),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        # The inventory script's `#!/usr/bin/env python3` must find this interpreter (it imports tonle).
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    }


def _msg(res: dict[str, Any]) -> str:
    msg = res.get("msg")
    text = " ".join(str(m) for m in msg) if isinstance(msg, list) else str(msg or "")
    if text.startswith("MODULE FAILURE") or (not text and res.get("module_stderr")):
        err = str(res.get("module_stderr") or res.get("module_stdout") or "").strip().splitlines()
        text = f"{text or 'module failure'}: {err[-1] if err else 'no output'}"
    return text.strip()


class _Events:
    """ansible-runner event handler: live progress, failed tasks, approval of a plan."""

    def __init__(self, say: Progress, approval: Path | None, approver: Approver, audit: AuditLog,
                 run_id: str, secrets: list[str] | None = None) -> None:
        self.say, self.approval, self.approver, self.audit, self.run_id = say, approval, approver, audit, run_id
        self.secrets = secrets or []
        self.failed: list[FailedTask] = []
        self.errors: list[str] = []
        self.items: dict[tuple[str, str], list[str]] = {}  # failed loop items, by host and task
        self.skipped: set[str] = set()

    def __call__(self, event: dict[str, Any]) -> bool:
        # Redacted in place: ansible-runner writes this very dict to job_events/ once we return.
        clean = redact_data(event, self.secrets)
        event.clear()
        event.update(clean)
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = str(data.get("host", ""))
        task = str(data.get("task", "")).strip()
        res = data.get("res") or {}
        if kind == "playbook_on_play_start":
            self.say(f"PLAY {data.get('play', '')}")
        elif kind == "playbook_on_task_start":
            self.say(f"  TASK {task}")
        elif kind == "runner_on_ok":
            changed = " (changed)" if res.get("changed") else ""
            msg = _msg(res) if data.get("task_action") != "ansible.builtin.debug" else ""
            self.say(f"    ok: {host}{changed}" + (f" - {msg}" if msg else ""))
            self._lines(res)
            if data.get("task_action") in ("tonle_plan", "tonle.tonle_plan"):
                self._approve(res)
        elif kind == "runner_item_on_failed":  # the task's own message is only "One or more items failed"
            self.items.setdefault((host, task), []).append(_msg(res))
        elif kind == "runner_on_skipped" and task not in self.skipped:
            self.skipped.add(task)
            self.say("    skipped")
        elif kind == "runner_on_failed":
            ignored = data.get("ignore_errors")
            msg = "; ".join(self.items.pop((host, task), [])) or _msg(res)
            self.say(f"    {'failed (ignored)' if ignored else 'FAILED'}: {host} - {msg}")
            self._lines(res)
            if not ignored:
                self.failed.append(FailedTask(host, task, msg))
        elif kind == "runner_on_unreachable":
            msg = _msg(res)
            self.say(f"    UNREACHABLE: {host} - {msg}")
            self.failed.append(FailedTask(host, task, msg))
        elif kind == "playbook_on_stats":
            self.say("  stats: " + ", ".join(f"{k} {sum((data.get(k) or {}).values())}"
                                             for k in ("ok", "changed", "failures", "dark", "skipped")))
        elif kind in {"verbose", "error"}:
            text = str(event.get("stdout", "")).strip()
            if "ERROR" in text:  # Ansible's own failures (syntax, inventory, no hosts) have no task event
                self.errors.append(re.sub(r"\s+", " ", text))
                self.say(text)
        return True  # keep every event in the artifacts

    def _lines(self, res: dict[str, Any]) -> None:
        lines = res.get("lines")
        if isinstance(lines, list):
            for ln in lines:
                self.say(f"      {ln}")
        if isinstance(res.get("msg"), list):  # debug with a list of lines
            for ln in res["msg"]:
                self.say(f"      {ln}")

    def _approve(self, res: dict[str, Any]) -> None:
        """Answer change-window's approval step for this plan (the playbook waits for the file)."""
        if self.approval is None or not res.get("changed_devices"):
            return
        plan_id = str(res.get("plan_id", ""))
        ok, why = self.approver(plan_id, "\n".join(str(x) for x in res.get("lines", [])))
        self.audit.append("playbook-approval", plan_id, {"run": self.run_id, "approved": ok, "why": why})
        tmp = self.approval.with_suffix(".tmp")
        tmp.write_text(f"yes {plan_id}\n" if ok else f"no: {why}\n", encoding="utf-8")
        tmp.replace(self.approval)  # atomic: the playbook never reads half an answer


def deny_without_terminal(plan_id: str, _text: str) -> tuple[bool, str]:
    """The approver when nobody can be asked: refuse, and say how to approve."""
    return False, (f"plan {plan_id} not approved: no operator to ask; review it and run again with "
                   "-e auto_approve=true")


def run_playbook(name: str, config_file: Path, state_dir: Path, *, limit: str | None = None,
                 extravars: dict[str, Any] | None = None, target: str = "lab", progress: Progress | None = None,
                 approver: Approver = deny_without_terminal) -> PlaybookResult:
    """Run `playbooks/<name>.yml` through ansible-runner and record the run in the audit log.

    Args:
        name: Playbook name (file name without `.yml`); see `list_playbooks`.
        config_file: nornir.yaml; the inventory script and the modules use the same one.
        state_dir: State directory; ansible artifacts and temp dirs go under `<state_dir>/ansible/`.
        limit: Ansible host pattern (`--limit`).
        extravars: Extra variables (`-e`).
        target: lab or production (the modules' default target).
        progress: Receives one line per play, task and host result, as they happen.
        approver: Asked when change-window made a plan with changes and `auto_approve` is not set.

    Raises:
        PlaybookError: unknown playbook, or an invalid inventory.
    """
    import ansible_runner  # noqa: PLC0415 - not needed by the modules that import this file

    books = list_playbooks()
    if name not in books:
        raise PlaybookError(f"unknown playbook {name!r} (one of {', '.join(books)}; see `tonle playbook list`)")
    say = progress or (lambda _m: None)
    state_dir = state_dir.resolve()
    known = run_secrets(config_file, state_dir, target)  # what events, artifacts and the audit must never show
    now = datetime.now(UTC)
    run_id = f"{name}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    pdd = state_dir / "ansible" / run_id
    pdd.mkdir(parents=True, mode=0o700)
    env = ansible_env(config_file, state_dir, target)
    for d in ("ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_REMOTE_TEMP"):
        Path(env[d]).mkdir(parents=True, exist_ok=True, mode=0o700)
    evars: dict[str, Any] = dict(extravars or {})
    evars["ansible_python_interpreter"] = sys.executable  # the modules import tonle
    approval = None
    if not _truthy(evars.get("auto_approve", False)):
        approval = pdd / APPROVAL_FILE
        evars["tonle_approval_file"] = str(approval)
    known += [str(v) for k, v in evars.items() if _SENSITIVE.search(k) and str(v)]
    audit = AuditLog(StateDB(state_dir), known)
    events = _Events(say, approval, approver, audit, run_id, known)
    say(f"playbook {name} (run {run_id}, operator {process_identity()}, target {target}"
        + (f", limit {limit}" if limit else "") + ")")
    try:
        runner = ansible_runner.run(
            private_data_dir=str(pdd), project_dir=str(PLAYBOOKS_DIR), playbook=f"{name}.yml",
            inventory=str(INVENTORY_SCRIPT), limit=limit, extravars=evars, envvars=env, ident="run",
            event_handler=events, quiet=True, settings={"suppress_ansible_output": True},
        )
    finally:  # the command file holds the whole environment, stdout whatever Ansible printed
        scrub_artifacts(pdd, known)
    result = PlaybookResult(run_id, name, str(runner.status), int(runner.rc if runner.rc is not None else 1),
                            events.failed, dict(runner.stats or {}), events.errors, str(pdd / "artifacts" / "run"))
    if not result.ok and not result.failed_tasks and not result.errors:
        result.errors = _stdout_errors(Path(result.artifacts))
    shown = {k: ("<redacted>" if _SENSITIVE.search(k) else v) for k, v in (extravars or {}).items()}
    audit.append("playbook-run", run_id, {
        "playbook": name, "limit": limit, "extra_vars": shown, "target": target, "status": result.status,
        "rc": result.rc, "failed_tasks": [vars(f) for f in result.failed_tasks], "errors": result.errors[:5],
        "operator": process_identity(), "artifacts": result.artifacts,
    })
    return result


def _stdout_errors(artifacts: Path) -> list[str]:
    """Error lines of ansible-playbook's output, when no event carried them."""
    try:
        text = (artifacts / "stdout").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [ln.strip() for ln in text.splitlines() if "ERROR" in ln][:5]


# ---- helpers of the Ansible modules (playbooks/library) ------------------------------------------------

@contextmanager
def api_errors(module: Any) -> Iterator[None]:
    """The project's API inside an Ansible module: what it prints goes to stderr (stdout carries the
    module's JSON answer), and its one-line errors become the task's failure message."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except TonleError as exc:
        module.fail_json(msg=redact("; ".join(exc.lines())))


def module_actor() -> Actor:
    """Who a module acts for: the user running the playbook, as the kernel says (the real uid). The modules
    write the state directly, as the CLI does without a service: root alone may."""
    if os.getuid() == 0:
        return root_actor()
    raise NotPermitted(f"{process_identity()}: playbook modules act on the state directly, which only root may; "
                       "use the tonle commands, which go through `tonle serve`")


def module_paths(config: str | None, state_dir: str | None, target: str | None) -> tuple[Path, Path, bool]:
    """Config file, state dir and lab flag of a module: its parameters, else the run's environment."""
    cfg = Path(config or os.environ.get("TONLE_CONFIG") or "nornir.yaml")
    state = state_dir or os.environ.get("TONLE_STATE_DIR")
    tgt = target or os.environ.get("TONLE_TARGET") or "lab"
    if tgt not in ("lab", "production"):
        raise PlaybookError(f"target {tgt!r}: lab or production")
    return cfg, Path(state) if state else cfg.resolve().parent / "state", tgt == "lab"


def parse_duration(text: str | int | None) -> int | None:
    """90s, 30m, 2h or a bare number of minutes -> seconds (as `tonle disconnect --ttl`)."""
    if text is None or str(text).strip() == "":
        return None
    try:
        return duration_seconds(str(text))
    except DisconnectError as exc:
        raise PlaybookError(str(exc)) from None


def disconnect_outcome(out: Outcome) -> tuple[bool, str]:
    """(succeeded, the line the CLI prints) for a disconnect, approval or restore outcome."""
    return out.verdict()
