"""`tonle serve`: the one writer of the state, for authenticated operators, with the timers inside.

A long-running process listening on a Unix socket (default `<state dir>/tonle.sock`, mode 0660, group
`--group`). Each connection carries one request (tonle.interfaces.protocol). The caller is who the kernel
says (SO_PEERCRED: the uid of the connecting process, mapped to its OS user name); root may do
everything, anyone else needs an account whose role allows the method (tonle.state.accounts). Nothing
the caller sends can claim another identity.

The scheduler thread (tonle.interfaces.scheduler) restores disconnects when their TTL runs out and closes
approvals that lapse; it is supervised (restarted if it dies) and reported by `tonle status`. One service
per state directory (`<state dir>/service.lock`, which holds its pid). SIGTERM or SIGINT: stop accepting,
let the requests and the timer action in progress finish, remove the socket, exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tonle.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput, Failed, TonleError, Unavailable
from tonle.interfaces import actions
from tonle.interfaces.client import service_answers
from tonle.interfaces.protocol import MAX_REQUEST, Answer, ProtocolError, bad_request, decode_request, progress_line
from tonle.interfaces.recovery import recover_at_start
from tonle.interfaces.scheduler import RETRY, Scheduler, lab_is_up, overdue
from tonle.state.accounts import NotPermitted, authenticate
from tonle.state.audit import AuditLog, now_iso
from tonle.state.db import StateDB
from tonle.targets.pool import SessionPool

if TYPE_CHECKING:
    from tonle.interfaces.web.server import WebServer

LOCK_NAME = "service.lock"
READ_TIMEOUT = 10.0  # seconds a caller has to send its request line
SEND_TIMEOUT = 60.0  # seconds a caller may leave a progress line or the answer unread
MAX_CLIENTS = 16  # requests served at once; more are told the service is busy
STOP_GRACE = 300.0  # seconds a stop waits for requests in progress (an apply validates for minutes)
SOCKET_MODE = 0o660

_log = logging.getLogger(__name__)


def default_socket(state_dir: Path) -> Path:
    return state_dir / "tonle.sock"


class ServiceError(Unavailable):
    """The service cannot start (socket in use, another service on this state dir, unknown group)."""


class Service:
    def __init__(self, config_file: Path, state_dir: Path, socket_path: Path, *, group: str | None = None,
                 retry: float = RETRY, https: str | None = None) -> None:
        self.config_file, self.state_dir = config_file.resolve(), state_dir.resolve()
        self.socket_path, self.group = socket_path.absolute(), group
        self.scheduler = Scheduler(self.config_file, self.state_dir, retry=retry)
        self.sessions: SessionPool | None = None  # warm device sessions for the emergency path (tonle.targets.pool)
        self.started_at = now_iso()
        self.requests = 0
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._busy: set[threading.Thread] = set()
        self._lock_file: IO[str] | None = None
        self._listener: socket.socket | None = None
        self.https = https  # the HTTPS front door (tonle.interfaces.web), if asked for
        self.web: WebServer | None = None

    # ---- life cycle ------------------------------------------------------------------------------------
    def serve(self) -> None:
        """Run until stop() (or SIGTERM/SIGINT when called from the main thread)."""
        with self._running():
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, lambda *_: self._stop.set())
            assert self._listener is not None
            self._listener.settimeout(0.5)
            while not self._stop.is_set():
                self._supervise()
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                self._dispatch(conn)

    def stop(self) -> None:
        self._stop.set()

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        StateDB(self.state_dir)  # the state dir (0700) and the schema, before anyone is served
        self._take_lock()
        try:
            self._listener = self._bind()
            late = overdue(self.state_dir)
            AuditLog(StateDB(self.state_dir)).append("service-start", str(self.socket_path), {
                "pid": os.getpid(), "overdue": late})
            _log.info("tonle serve: pid %d on %s; %d timer(s) overdue", os.getpid(), self.socket_path, len(late))
            recover_at_start(self.config_file, self.state_dir)  # before any timer or request acts on a device
            self.scheduler.start()
            self.sessions = SessionPool(self.config_file, self.state_dir, lab=lab_is_up(self.config_file,
                                                                                         self.state_dir))
            self.sessions.start()
            try:
                if self.https:
                    from tonle.interfaces.web.server import WebServer  # noqa: PLC0415 - only with --https

                    self.web = WebServer(self.config_file, self.state_dir, self.https,
                                         on_active=self.scheduler.wake, service=self.info)
                    self.web.start()
                yield
            finally:
                if self.web is not None:
                    self.web.stop()
                self._listener.close()
                self.socket_path.unlink(missing_ok=True)
                deadline = time.monotonic() + STOP_GRACE
                for t in list(self._busy):
                    t.join(max(0.0, deadline - time.monotonic()))
                self.scheduler.stop(max(1.0, deadline - time.monotonic()))
                self.sessions.stop()
                AuditLog(StateDB(self.state_dir)).append("service-stop", str(self.socket_path),
                                                         {"pid": os.getpid()})
        finally:
            self._release_lock()

    def _take_lock(self) -> None:
        f = (self.state_dir / LOCK_NAME).open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise ServiceError(f"another `tonle serve` runs for {self.state_dir} (see {LOCK_NAME})") from None
        f.truncate(0)
        f.write(f"{os.getpid()} {self.socket_path}\n")
        f.flush()
        self._lock_file = f

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.truncate(0)
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    def _bind(self) -> socket.socket:
        path = self.socket_path
        if path.exists() or path.is_symlink():
            if service_answers(path):
                raise ServiceError(f"{path}: a service answers there already")
            path.unlink()  # left by a service that died
        gid = -1
        if self.group is not None:
            try:
                gid = grp.getgrnam(self.group).gr_gid
            except KeyError:
                raise ServiceError(f"--group {self.group}: no such group") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Made ready under a temporary name, then renamed into place: a client never finds a socket that
        # does not listen yet (it would take that for "no service"), nor one open to the wrong group.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o777 & ~SOCKET_MODE)  # created 0660: never a moment open to everyone
        try:
            sock.bind(str(tmp))
        finally:
            os.umask(old)
        try:
            sock.listen(64)
            os.chown(tmp, -1, gid)
            tmp.chmod(SOCKET_MODE)
            tmp.rename(path)
        except BaseException:
            sock.close()
            tmp.unlink(missing_ok=True)
            raise
        return sock

    def _supervise(self) -> None:
        """The scheduler thread must run: if it died, say so in the log and the audit log, and restart it."""
        if not self.scheduler.alive() and not self._stop.is_set():
            _log.error("the scheduler thread died; restarting it")
            AuditLog(StateDB(self.state_dir)).append("scheduler-restart", "scheduler", {
                "last_error": self.scheduler.last_error})
            self.scheduler.start()

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "started_at": self.started_at, "socket": str(self.socket_path),
                "requests": self.requests,
                "scheduler": {"alive": self.scheduler.alive(), "last_run": self.scheduler.last_run,
                              "last_error": self.scheduler.last_error, "restarts": self.scheduler.restarts},
                "sessions": self.sessions.info() if self.sessions else None}

    # ---- one connection ----------------------------------------------------------------------------
    def _dispatch(self, conn: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                conn.sendall(Answer(EXIT_BAD_INPUT, [], ["tonle: error: the service is busy; try again"]).encode())
            conn.close()
            return
        t = threading.Thread(target=self._serve_one, args=(conn,), daemon=True)
        self._busy.add(t)
        t.start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            with conn:
                answer = self._answer(conn)
                with contextlib.suppress(OSError):  # the caller went away: the action is done anyway
                    conn.sendall(answer.encode())
        finally:
            self._busy.discard(threading.current_thread())
            self._slots.release()

    def _answer(self, conn: socket.socket) -> Answer:
        pid, uid, _gid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("iII")))
        try:
            request = decode_request(_read_line(conn))
        except ProtocolError as exc:
            _log.warning("bad request from uid %d (pid %d): %s", uid, pid, exc)
            return bad_request(exc)
        self.requests += 1
        sent = [True]

        def say(text: str) -> None:
            if sent[0]:
                try:
                    conn.sendall(progress_line(text))
                except OSError:
                    sent[0] = False  # keep going without an audience

        try:
            actor = authenticate(StateDB(self.state_dir), uid)
            ctx = actions.Context(self.config_file, self.state_dir, actor, say=say, on_active=self.scheduler.wake,
                                  service=self.info)
            _log.info("%s (uid %d, pid %d): %s", actor.name, uid, pid, request.method)
            return actions.perform(request.method, ctx, request.params)
        except NotPermitted as exc:
            _log.warning("refused uid %d (pid %d) %s: %s", uid, pid, request.method, exc)
            return Answer.from_error(exc)
        except TonleError as exc:
            return Answer.from_error(exc)
        except Exception:  # a bug must not take the service down: log it whole, answer in one line
            _log.exception("%s from uid %d failed", request.method, uid)
            return Answer(EXIT_FAILED, [], ["tonle: error: internal error in tonle serve (see its log)"])


def _read_line(conn: socket.socket) -> bytes:
    """One request line (up to MAX_REQUEST bytes and READ_TIMEOUT seconds)."""
    conn.settimeout(READ_TIMEOUT)
    buf = b""
    deadline = time.monotonic() + READ_TIMEOUT
    while b"\n" not in buf:
        if len(buf) > MAX_REQUEST:
            raise ProtocolError(f"request longer than {MAX_REQUEST} bytes")
        if time.monotonic() > deadline:
            raise ProtocolError(f"no complete request line within {READ_TIMEOUT:.0f}s")
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            raise ProtocolError(f"no complete request line within {READ_TIMEOUT:.0f}s") from None
        if not chunk:
            raise ProtocolError("connection closed before a complete request line")
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    if rest.strip():
        raise ProtocolError("one request per connection")
    # The action takes as long as it takes (an apply validates for minutes); only a caller that stops reading
    # what it is sent for SEND_TIMEOUT is let go (the action goes on without it).
    conn.settimeout(SEND_TIMEOUT)
    return line


# ---- started and stopped by the lab and the demo ------------------------------------------------------

def running_pid(state_dir: Path) -> int | None:
    """The pid of the service that holds this state dir's lock, or None."""
    path = state_dir / LOCK_NAME
    try:
        f = path.open("r")
    except FileNotFoundError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = f.read().split()
            return int(text[0]) if text and text[0].isdigit() else None
        return None  # nobody holds it


def start(config_file: Path, state_dir: Path, socket_path: Path, *, group: str | None = None,
          retry: float | None = None, timeout: float = 30.0, https: str | None = None) -> int:
    """Start `tonle serve` in the background (its output in `<state dir>/service.log`); its pid once it answers.

    A service already answering on `socket_path` is left alone (its pid is returned).
    """
    if service_answers(socket_path) and (pid := running_pid(state_dir)):
        return pid
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = [sys.executable, "-m", "tonle", "--config", str(config_file.resolve()), "--state-dir",
            str(state_dir.resolve()), "serve", "--socket", str(socket_path.absolute())]
    argv += ["--group", group] if group else []
    argv += ["--retry", str(retry)] if retry is not None else []
    argv += ["--https", https] if https else []
    with (state_dir / "service.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True)
    deadline = time.monotonic() + timeout
    while not service_answers(socket_path):
        if proc.poll() is not None:
            raise Failed(f"tonle serve exited with {proc.returncode} (see {state_dir / 'service.log'})")
        if time.monotonic() > deadline:
            proc.terminate()
            raise Failed(f"tonle serve did not answer on {socket_path} within {timeout:.0f}s")
        time.sleep(0.1)
    return proc.pid


def stop(state_dir: Path, timeout: float = STOP_GRACE) -> int | None:
    """Stop the state dir's service (SIGTERM, then wait for it to finish what it does); its pid, or None."""
    pid = running_pid(state_dir)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):  # the lock goes first; wait for the process itself to be gone
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        time.sleep(0.05)
    return pid


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child (started by `start` here): reaped
            return False
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # after "(comm)"
    except (ProcessLookupError, FileNotFoundError):
        return False


def main_serve(config_file: Path, state_dir: Path, socket_path: Path | None, group: str | None,
               retry: float, https: str | None = None) -> int:
    """`tonle serve`: runs in the foreground until SIGTERM/SIGINT (systemd: Type=simple)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s tonle-serve %(levelname)s %(message)s")
    svc = Service(config_file, state_dir, socket_path or default_socket(state_dir), group=group, retry=retry,
                  https=https)
    try:
        svc.serve()
    except OSError as exc:
        raise BadInput(f"cannot serve on {svc.socket_path}: {exc.strerror or exc}") from None
    return 0
