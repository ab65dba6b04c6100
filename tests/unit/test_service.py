"""`tonle serve` without a lab: the protocol under hostile input, identity from the kernel (SO_PEERCRED),
accounts and roles, the CLI going through the service, and the scheduler's timers (lapse, failure, retry,
restart). Runs as root, like the rest of the suite; a caller of another uid is a forked child that drops to
`nobody` (an OS account every Debian system has) before it connects."""

from __future__ import annotations

import contextlib
import grp
import io
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tonle.interfaces.actions
import tonle.interfaces.client
import tonle.interfaces.expiry  # noqa: F401 - loaded before a child drops root (stdlib may be out of its reach)
from tests.conftest import SMALL, wait_until
from tonle.interfaces import service as service_mod
from tonle.interfaces.cli import main
from tonle.interfaces.client import service_answers
from tonle.interfaces.scheduler import run_due
from tonle.interfaces.service import Service
from tonle.source.inventory import load_from_nornir_config
from tonle.source.snapshot import capture
from tonle.state import accounts
from tonle.state.accounts import Actor, NotPermitted, Role, authenticate
from tonle.state.applied import record_applied
from tonle.state.audit import AuditLog, process_identity
from tonle.state.db import SCHEMA_VERSION, StateDB
from tonle.state.disconnects import get, open_db, records, save

NOBODY = pwd.getpwnam("nobody")


@dataclass
class Served:
    config: Path
    state: Path
    sock: Path
    svc: Service

    def cli(self, *argv: str) -> int:
        return main(["--config", str(self.config), "--state-dir", str(self.state), "--socket", str(self.sock), *argv])

    def audit(self) -> list[Any]:
        return AuditLog(StateDB(self.state)).entries()


def _small(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(SMALL, tmp_path / "small")
    config, state = tmp_path / "small" / "nornir.yaml", tmp_path / "state"
    inv = load_from_nornir_config(config)
    record_applied(StateDB(state), list(inv.devices), "lab-up", capture(inv))
    return config, state


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if os.geteuid() != 0:
        pytest.skip("the service tests run as root (they switch to another uid)")
    config, state = _small(tmp_path)
    run = Path(tempfile.mkdtemp(prefix="tnlt-sock-"))
    run.chmod(0o755)  # reachable by `nobody`; the socket itself is 0660, group nogroup
    sock = run / "tonle.sock"
    svc = Service(config, state, sock, group=grp.getgrgid(NOBODY.pw_gid).gr_name, retry=60)
    t = threading.Thread(target=svc.serve, daemon=True)
    t.start()
    wait_until(lambda: service_answers(sock), 10, "the service to answer")
    try:
        yield Served(config, state, sock, svc)
    finally:
        svc.stop()
        t.join(30)
        shutil.rmtree(run, ignore_errors=True)
    assert not t.is_alive() and not sock.exists()


def _raw(sock: Path, data: bytes) -> list[dict[str, Any]]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR) if not data.endswith(b"\n") else None
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return [json.loads(line) for line in out.decode().splitlines()]


def _as_nobody(sock: Path, request: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """One request from a forked child running as `nobody` (the kernel's uid 65534), whatever its environment says."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody for good, then talk to the service
        try:
            os.close(r)
            os.environ.update(env or {})
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            lines = _raw(sock, (json.dumps(request) + "\n").encode())
            os.write(w, json.dumps(lines[-1]).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)  # type: ignore[no-any-return]


# ---- the protocol under hostile input -------------------------------------------------------------------

HOSTILE = [
    (b"garbage\n", "not one JSON object"),
    (b"[1, 2]\n", "not a JSON object"),
    (b'"SECRET-MARK"\n', "not a JSON object"),
    (b"\xff\xfeSECRET-MARK\n", "not UTF-8"),
    (b"[" * 70_000 + b"\n", "longer than 65536 bytes"),
    (b"{" * 5000 + b"\n", "not one JSON object"),
    (b'{"v": 2, "method": "status", "params": {}}\n', "v: Input should be 1"),
    (b'{"v": 1, "method": "SECRET-MARK", "params": {}}\n', "unknown method"),
    (b'{"v": 1, "method": "status", "params": {}, "as": "root"}\n', "as: Extra inputs are not permitted"),
    (b'{"v": 1, "method": "restore", "params": {"id": "D1", "operator": "SECRET-MARK"}}\n',
     "restore: operator: Extra inputs are not permitted"),
    (b'{"v": 1, "method": "restore", "params": {}}\n', "restore: id: Field required"),
    (b'{"v": 1, "method": "restore", "params": {"id": "D1; rm -rf /"}}\n', "restore: id: String should match"),
    (b'{"v": 1, "method": "disconnect", "params": {"scope_kind": "session", "scope_value": "r2:x", "reason": "r", '
     b'"ticket": "t", "ttl_seconds": "600"}}\n', "disconnect: ttl_seconds: Input should be a valid integer"),
    (b'{"v": 1, "method": "disconnect", "params": {"scope_kind": "everything", "scope_value": "x", "reason": "r", '
     b'"ticket": "t"}}\n', "disconnect: scope_kind: Input should be"),
    (b'{"v": 1, "method": "apply", "params": {"plan": "latest", "batch_size": 1e999}}\n', "apply: batch_size"),
    (b'{"v": 1, "method": "approve", "params": {"id": "D1", "confirm": "yes"}}\n', "approve: confirm: String should"),
    (b'{"v": 1, "method": "irr.sync", "params": {"server": "-h SECRET-MARK:43"}}\n',
     "irr.sync: server: Value error, must be HOST:PORT"),
    (b'{"v": 1, "method": "irr.sync", "params": {"sources": ["RIPE", "SECRET-MARK;x"]}}\n',
     "irr.sync: sources.1: Value error, not an IRR source name"),
    (b'{"v": 1, "method": "irr.sync", "params": {"server": 43}}\n', "irr.sync: server: Input should be a valid string"),
    (b'{"v": 1, "method": "status", "params": {}}\n{"v": 1, "method": "status", "params": {}}\n',
     "one request per connection"),
    (b'{"v": 1, "method": "status"', "connection closed before a complete request line"),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE, ids=[m for _, m in HOSTILE])
def test_hostile_requests_get_one_line_errors(served: Served, data: bytes, message: str) -> None:
    (answer,) = _raw(served.sock, data)
    assert answer["exit"] == 2 and answer["out"] == [] and len(answer["err"]) == 1, answer
    assert message in answer["err"][0] and "\n" not in answer["err"][0], answer
    assert "SECRET-MARK" not in json.dumps(answer)  # nothing of the input comes back
    (ok,) = _raw(served.sock, b'{"v": 1, "method": "status", "params": {}}\n')  # and the service still serves
    assert "service: pid" in ok["out"][0]


def test_a_caller_that_sends_nothing_is_cut_off(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_mod, "READ_TIMEOUT", 0.5)
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(served.sock))
    s.sendall(b'{"v": 1, "meth')
    t0 = time.monotonic()
    answer = json.loads(s.makefile("rb").readline())
    s.close()
    assert answer["exit"] == 2 and "no complete request line within" in answer["err"][0]
    assert time.monotonic() - t0 < 5


# ---- identity: the kernel's uid, never the environment -----------------------------------------------------

def test_identity_is_the_kernels_never_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TONLE_OPERATOR", "USER", "LOGNAME", "SUDO_USER"):
        monkeypatch.setenv(var, "someone-else")
    assert process_identity() == pwd.getpwuid(os.getuid()).pw_name


def test_no_module_reads_identity_from_the_environment() -> None:
    reads = re.compile(r"""(environ(\.get)?\s*[\[(]|getenv\()\s*["'](TONLE_OPERATOR|USER|LOGNAME|SUDO_USER)["']"""
                       r"|getuser|os\.getlogin")  # getpass.getuser reads $LOGNAME/$USER; getpass.getpass is a prompt
    root = Path(__file__).resolve().parents[2]
    for path in [*root.joinpath("tonle").rglob("*.py"), *root.joinpath("playbooks").rglob("*.py"),
                 *root.joinpath("tasks").rglob("*.py")]:
        assert not reads.search(path.read_text()), path
    assert reads.search('os.environ.get("TONLE_OPERATOR")') and reads.search("os.environ['USER']")
    assert reads.search("getpass.getuser()") and reads.search("from getpass import getuser")


def test_same_account_is_the_uid_or_the_name_in_any_letter_case() -> None:
    bob = Actor("bob", 1001, Role.APPROVER)
    assert bob.is_same_account("alice", 1001)  # same uid, whatever the name
    assert bob.is_same_account("BOB", None) and bob.is_same_account("Bob", 2002)
    assert not bob.is_same_account("alice", 1002)


def test_a_user_without_an_account_is_refused_and_a_viewer_only_reads(served: Served) -> None:
    env = {"TONLE_OPERATOR": "root", "USER": "root", "SUDO_USER": "root", "LOGNAME": "root"}
    refused = _as_nobody(served.sock, {"v": 1, "method": "disconnects", "params": {}}, env)
    assert refused["exit"] == 1
    assert refused["err"] == ["tonle: error: nobody (uid 65534) has no Tonlé account; an admin adds one: "
                              "tonle users add nobody --role ROLE"]
    assert served.cli("users", "add", "nobody", "--role", "viewer") == 0
    listed = _as_nobody(served.sock, {"v": 1, "method": "disconnects", "params": {}}, env)
    assert listed["exit"] == 0, listed
    dis = _as_nobody(served.sock, {"v": 1, "method": "disconnect", "params": {
        "scope_kind": "site-upstreams", "scope_value": "POI", "reason": "drill", "ticket": "T-1"}}, env)
    assert dis["exit"] == 1 and "nobody (role viewer) may not disconnect" in dis["err"][0], dis
    users = _as_nobody(served.sock, {"v": 1, "method": "users.add", "params": {"name": "nobody", "role": "admin"}})
    assert users["exit"] == 1 and "may not manage accounts" in users["err"][0]
    listed = _as_nobody(served.sock, {"v": 1, "method": "users.list", "params": {}})
    assert listed["exit"] == 1 and "nobody (role viewer) may not list accounts" in listed["err"][0]
    assert records(served.state) == []


def test_an_account_follows_its_uid(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state")
    accounts.add(db, "nobody", "operator", Actor("root", 0, "root"))
    assert authenticate(db, NOBODY.pw_uid) == Actor("nobody", NOBODY.pw_uid, "operator")
    with db.connect() as c:  # the OS user was deleted and its name given to another uid
        c.execute("UPDATE accounts SET uid = ? WHERE name = 'nobody'", (pwd.getpwnam("daemon").pw_uid,))
    with pytest.raises(NotPermitted, match="the account 'nobody' was made for uid 1, which is now 'daemon'"):
        authenticate(db, pwd.getpwnam("daemon").pw_uid)
    with pytest.raises(NotPermitted, match="has no Tonlé account"):
        authenticate(db, NOBODY.pw_uid)
    assert authenticate(db, 0).role == "root"


def test_users_add_list_remove(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert served.cli("users", "add", "nobody", "--role", "approver") == 0
    assert "account nobody (uid 65534): approver" in capsys.readouterr().out
    for name, message in (("nobody", "has an account already"), ("tnlt-no-such-user", "no such OS user"),
                          ("root", "root needs no account"), ("Bad Name", "is not an OS user name")):
        assert served.cli("users", "add", name, "--role", "viewer") == 2
        assert message in capsys.readouterr().err
    assert served.cli("users", "list") == 0
    assert "nobody                 65534  approver" in capsys.readouterr().out
    assert served.cli("users", "remove", "nobody") == 0
    assert served.cli("users", "remove", "nobody") == 2
    actions = [(e.action, e.actor, e.object) for e in served.audit() if e.action.startswith("account")]
    assert actions == [("account-add", "root", "nobody"), ("account-remove", "root", "nobody")]


# ---- the CLI through the service -----------------------------------------------------------------------

def test_the_cli_goes_through_the_service_with_the_same_exit_codes(served: Served,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = served.svc.requests
    assert served.cli("disconnect", "--site-upstreams", "POI", "--reason", "drill", "--ticket", "T-1") == 1
    out = capsys.readouterr().out
    assert "OVER LIMIT: the last upstream of POI goes dark" in out and "REFUSED D" in out
    (rec,) = records(served.state, "pending-approval")
    assert rec.operator == "root" and rec.operator_uid == 0
    assert served.cli("approve", rec.id, "--yes") == 1  # root requested it: root cannot approve it
    assert "root requested it and cannot approve it" in capsys.readouterr().err
    assert served.cli("restore", "D-does-not-exist") == 2
    assert served.cli("disconnect", "--site-upstreams", "POI", "--reason", " ", "--ticket", "T-1") == 2
    assert served.cli("disconnect", "--site-upstreams", "POI", "--reason", "x" * 3000, "--ticket", "T-1") == 2
    assert served.svc.requests - before == 4  # the over-long reason is refused by the client before sending
    assert get(served.state, rec.id).status == "pending-approval"
    assert [(e.action, e.actor) for e in served.audit()][-2:] == [("disconnect-refused", "root"),
                                                                  ("approval-refused", "root")]


def test_irr_sync_goes_through_the_service_as_an_operator_action(served: Served,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = served.svc.requests
    # The small inventory has no AS-SET: the verb, run by the service, says so (exit 2) and stores nothing.
    assert served.cli("irr", "sync", "--server", "127.0.0.1:4343", "--sources", "RIPE") == 2
    assert "no domestic ISP in peers.yaml has an as_set" in capsys.readouterr().err
    assert served.cli("irr", "sync", "--sources", "ripe") == 2  # refused by the client: never sent
    assert served.svc.requests - before == 1
    refused = _as_nobody(served.sock, {"v": 1, "method": "irr.sync", "params": {}})
    assert refused["exit"] == 1 and "has no Tonlé account" in refused["err"][0], refused
    with StateDB(served.state).connect() as db:
        assert db.execute("SELECT count(*) FROM irr_syncs").fetchone()[0] == 0


def test_without_a_service_only_root_acts(tmp_path: Path) -> None:
    config, state = _small(tmp_path)
    run = Path(tempfile.mkdtemp(prefix="tnlt-nosock-"))
    run.chmod(0o755)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(NOBODY.pw_gid)
                os.setuid(NOBODY.pw_uid)
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    code = main(["--config", str(config), "--state-dir", str(state), "--socket",
                                 str(run / "none.sock"), "disconnects"])
                os.write(w, f"{err.getvalue()}exit {code}".encode())
            finally:
                os._exit(0)
        os.close(w)
        out = b""
        while chunk := os.read(r, 65536):
            out += chunk
        os.close(r)
        os.waitpid(pid, 0)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    text = out.decode()
    assert "no tonle service answers at" in text and "without one only root may act" in text
    assert text.endswith("exit 2")


# ---- the scheduler -----------------------------------------------------------------------------------------

def _pending(config: Path, state: Path) -> str:
    assert main(["--config", str(config), "--state-dir", str(state), "--socket", str(state / "none.sock"),
                 "disconnect", "--site-upstreams", "POI", "--reason", "drill", "--ticket", "T-1"]) == 1
    (rec,) = records(state, "pending-approval")
    return rec.id


def _lapse(state: Path, rid: str) -> None:
    db = sqlite3.connect(state / "tonle.db")
    db.execute("UPDATE disconnects SET approval_expires_at = ? WHERE id = ?",
               ((datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="seconds"), rid))
    db.commit()
    db.close()


def test_an_unanswered_approval_lapses_on_the_scheduler(tmp_path: Path) -> None:
    config, state = _small(tmp_path)
    rid = _pending(config, state)
    assert run_due(config, state).done == []
    _lapse(state, rid)
    assert run_due(config, state).done == [f"{rid}: approval expired"]
    assert get(state, rid).status == "expired"
    last = AuditLog(StateDB(state)).entries()[-1]
    assert (last.action, last.actor, last.object) == ("approval-expired", "tonle-scheduler", rid)
    assert last.details["late_seconds"] >= 5


def test_a_restarted_service_does_what_fell_due_and_says_so(tmp_path: Path) -> None:
    config, state = _small(tmp_path)
    rid = _pending(config, state)
    _lapse(state, rid)  # fell due while no service ran
    run = Path(tempfile.mkdtemp(prefix="tnlt-sock-"))
    svc = Service(config, state, run / "tonle.sock")
    t = threading.Thread(target=svc.serve, daemon=True)
    t.start()
    try:
        wait_until(lambda: get(state, rid).status == "expired", 10, "the scheduler to close the lapsed approval")
    finally:
        svc.stop()
        t.join(30)
        shutil.rmtree(run, ignore_errors=True)
    log = [(e.action, e.actor, e.object, e.details) for e in AuditLog(StateDB(state)).entries()]
    start = next(d for a, _, _, d in log if a == "service-start")
    assert start["overdue"] == [rid]
    assert ("approval-expired", "tonle-scheduler", rid) in [(a, who, o) for a, who, o, _ in log]
    assert log[-1][0] == "service-stop"


def _active_production_record(config: Path, state: Path) -> str:
    """An active disconnect on production devices (none reachable here) whose TTL ran out a minute ago."""
    rid = _pending(config, state)
    rec = get(state, rid)
    rec.status, rec.target = "active", "production"
    rec.expires_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    rec.approval_expires_at = None
    save(open_db(state), rec)
    return rid


def test_a_failed_expiry_is_recorded_retried_and_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, state = _small(tmp_path)
    rid = _active_production_record(config, state)
    now = datetime.now(UTC)
    first = run_due(config, state, retry=60, now=now)
    assert first.done == [] and len(first.failed) == 1
    rec = get(state, rid)
    assert rec.status == "active" and rec.timer_attempts == 1 and rec.timer_error
    assert datetime.fromisoformat(rec.timer_retry_at or "") == (now + timedelta(seconds=60)).replace(microsecond=0)
    assert run_due(config, state, retry=60, now=now + timedelta(seconds=30)).failed == []  # not before its retry
    assert run_due(config, state, retry=60, now=now + timedelta(seconds=61)).failed  # retried, failed again
    assert get(state, rid).timer_attempts == 2
    failures = [e for e in AuditLog(StateDB(state)).entries() if e.action == "expiry-failed"]
    assert [(e.actor, e.object, e.details["attempt"]) for e in failures] == [("tonle-scheduler", rid, 1),
                                                                               ("tonle-scheduler", rid, 2)]
    capsys.readouterr()
    local = ["--config", str(config), "--state-dir", str(state), "--socket", str(state / "none.sock")]
    assert main([*local, "disconnects"]) == 0
    assert f"! expiry failed 2 time(s), retrying at {get(state, rid).timer_retry_at}" in capsys.readouterr().out
    assert main([*local, "status"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: no `tonle serve` runs" in out and f"PROBLEM: {rid}: expiry failed 2 time(s)" in out
    assert out.strip().endswith("status: 2 problem(s)")


def test_a_dead_scheduler_is_restarted_and_recorded(served: Served) -> None:
    wait_until(served.svc.scheduler.alive, 10, "the scheduler to start")
    served.svc.scheduler.stop(10)  # the thread ends, as if it had died
    wait_until(lambda: served.svc.scheduler.alive() and served.svc.scheduler.restarts >= 1, 10,
               "the service to restart its scheduler")
    assert served.audit()[-1].action == "scheduler-restart"


def test_status_is_ok_when_the_service_runs_and_no_timer_fails(served: Served,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert served.cli("status") == 0
    out = capsys.readouterr().out
    assert "scheduler: running" in out and out.strip().endswith("status: OK")


# ---- the schema -------------------------------------------------------------------------------------------

def test_migration_keeps_disconnects_and_adds_accounts(tmp_path: Path) -> None:
    from tonle.state.db import MIGRATIONS  # noqa: PLC0415

    path = tmp_path / "tonle.db"
    db = sqlite3.connect(path)
    for sql in MIGRATIONS[:5]:
        db.executescript(sql)
    db.execute("PRAGMA user_version = 5")
    db.execute("INSERT INTO disconnects VALUES ('D1', 't', 'alice', 'r', 'T', 'session', 'x', 'lab', 60, 0, "
               "'pending-approval', NULL, NULL, NULL, NULL, '[]', '[]', '{}')")
    db.commit()
    db.close()
    StateDB(tmp_path)
    rec = get(tmp_path, "D1")
    assert (rec.operator, rec.operator_uid, rec.timer_attempts) == ("alice", None, 0)
    with StateDB(tmp_path).connect() as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 6
        assert c.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def test_processes_migrating_at_once_do_not_collide(tmp_path: Path) -> None:
    import multiprocessing  # noqa: PLC0415

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=StateDB, args=(tmp_path,)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    with StateDB(tmp_path).connect() as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# ---- the fallback timer (root acted without a service) ---------------------------------------------------

def test_the_fallback_timer_runs_the_same_timers_and_ends(tmp_path: Path) -> None:
    from tonle.interfaces import expiry  # noqa: PLC0415

    config, state = _small(tmp_path)
    rid = _pending(config, state)
    rec = get(state, rid)
    rec.status, rec.approval_expires_at = "active", None
    rec.expires_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
    save(open_db(state), rec)
    t0 = time.monotonic()
    expiry.run(config, state)  # the lab of this record is not up: due, it is ended, and the timer exits
    assert get(state, rid).status == "ended" and time.monotonic() - t0 < 15
    assert AuditLog(StateDB(state)).entries()[-1].action == "disconnect-ended"


def test_the_fallback_timer_leaves_the_timers_to_a_running_service(served: Served) -> None:
    from tonle.interfaces import expiry  # noqa: PLC0415

    rid = _active_production_record(served.config, served.state)
    t0 = time.monotonic()
    expiry.run(served.config, served.state)  # a service holds the state dir: its scheduler does this
    assert time.monotonic() - t0 < 2
    assert get(served.state, rid).status == "active"
