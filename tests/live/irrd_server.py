"""A real IRRd for the tests: Debian's PostgreSQL and Redis, irrd from its own virtualenv (made by ./dev).

Everything runs as unprivileged system users on loopback or a Unix socket in a temporary directory:
PostgreSQL as `postgres` (initdb + pg_ctl, socket only, no TCP), Redis and IRRd as `nobody` (IRRd is
started as root only to be told, by its config, to drop to `nobody` itself). `stop()` ends exactly the
processes `start()` started (each in a session of its own, ended by its process group) and removes the
temporary directory, also after a failed start.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
IRRD_VENV = REPO / ".venv-irrd"  # ./dev makes it: irrd pins its own dependencies
SOURCE = "TONLE-LAB"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: object, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class IrrdServer:
    """IRRd with its database and cache; `whois_port` is where bgpq4 asks (127.0.0.1)."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="tonle-irrd-"))
        self.tmp.chmod(0o755)  # the unprivileged daemons reach their own folders below
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pg_started = False
        self.whois_port = free_port()
        self.config = self.tmp / "irrd" / "irrd.yaml"
        self.log = self.tmp / "irrd" / "irrd.log"

    # ---- life ----------------------------------------------------------------------------------
    def start(self) -> IrrdServer:
        try:
            self._postgres()
            self._redis()
            self._irrd()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.pg_started:
            subprocess.run(["/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(self.tmp / "pg" / "data"), "-m",
                            "immediate", "-w", "stop"], user="postgres", capture_output=True, check=False, timeout=60)
        for p in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)  # its own session: the daemon and the workers it forked
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            # Workers outlive a main process that exited first: their group is still ours to end.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> IrrdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the parts -----------------------------------------------------------------------------
    def _dir(self, name: str, user: str) -> Path:
        d = self.tmp / name
        d.mkdir(mode=0o755)
        pw = pwd.getpwnam(user)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        return d

    def _postgres(self) -> None:
        base = self._dir("pg", "postgres")
        self.pg_sock = base  # Unix socket only: no TCP listener at all
        data = base / "data"
        subprocess.run(["/usr/lib/postgresql/15/bin/initdb", "-D", str(data), "-U", "irrd", "--auth=trust", "-E",
                        "UTF8", "--no-sync"], user="postgres", capture_output=True, check=True, timeout=120)
        options = (f"-c listen_addresses='' -c unix_socket_directories={base} -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off")
        subprocess.run(["/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(data), "-w", "-t", "30", "-l",
                        str(base / "pg.log"), "-o", options, "start"],
                       user="postgres", capture_output=True, check=True, timeout=60)
        self.pg_started = True
        for db, sql in (("postgres", "CREATE DATABASE irrd"), ("irrd", "CREATE EXTENSION IF NOT EXISTS pgcrypto")):
            subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-h", str(base), "-U", "irrd", "-d", db, "-v",
                            "ON_ERROR_STOP=1", "-c", sql], user="postgres", capture_output=True, check=True, timeout=60)

    def _redis(self) -> None:
        d = self._dir("redis", "nobody")
        self.redis_port = free_port()
        self.procs.append(subprocess.Popen(
            ["/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
             "--appendonly", "no", "--dir", str(d), "--logfile", str(d / "redis.log")],
            user="nobody", group="nogroup", start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        _wait(lambda: _listening(self.redis_port), "redis-server")

    def _irrd_config(self, d: Path) -> dict[str, object]:
        http_port = free_port()
        return {"irrd": {
            "database_url": f"postgresql://irrd@/irrd?host={self.pg_sock}",
            "redis_url": f"redis://127.0.0.1:{self.redis_port}",
            "piddir": str(d),
            "user": "nobody", "group": "nogroup",
            "server": {"http": {"interface": "127.0.0.1", "port": http_port, "url": f"http://127.0.0.1:{http_port}/",
                                "workers": 1},
                       "whois": {"interface": "127.0.0.1", "port": self.whois_port,
                                 # one worker: a query seen answered is what the next (bgpq4) sees too
                                 "max_connections": 1}},
            "auth": {"gnupg_keyring": str(d / "gnupg")},
            "email": {"from": "irrd@example.net", "smtp": "localhost"},
            "rpki": {"roa_source": None},  # never fetch ROAs from the Internet
            "log": {"logfile_path": str(self.log), "level": "INFO"},
            "sources_default": [SOURCE],
            "sources": {SOURCE: {"authoritative": True, "keep_journal": False}},
        }}

    def _irrd(self) -> None:
        d = self._dir("irrd", "nobody")
        (d / "gnupg").mkdir(mode=0o700)
        pw = pwd.getpwnam("nobody")
        os.chown(d / "gnupg", pw.pw_uid, pw.pw_gid)
        self.config.write_text(yaml.safe_dump(self._irrd_config(d)), encoding="utf-8")
        subprocess.run([str(IRRD_VENV / "bin" / "irrd_database_upgrade"), "--config", str(self.config)],
                       capture_output=True, check=True, timeout=120)
        # Started as root so that it can drop to `nobody` itself (it refuses to stay root).
        self.procs.append(subprocess.Popen(
            [*self._daemon_argv(), "--config", str(self.config), "--foreground"],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            _wait(lambda: _listening(self.whois_port), "irrd whois")
        except RuntimeError as e:
            tail = self.log.read_text(encoding="utf-8")[-1500:] if self.log.exists() else "no log"
            raise RuntimeError(f"{e}; irrd log: {tail}") from None

    def _daemon_argv(self) -> list[str]:
        """The command that starts IRRd. After it drops to `nobody` it still imports its modules: from the
        virtualenv when `nobody` can read it, else (a checkout under root's private home, as on a fresh
        machine) from a copy of the virtualenv's packages in this server's folder (hard links where the file
        system allows), run by the same Debian python3 the virtualenv was made from."""
        sites = sorted(IRRD_VENV.glob("lib/python3*/site-packages"))
        if not sites:
            raise RuntimeError(f"{IRRD_VENV}: no IRRd virtualenv (./dev setup makes it)")
        probe = "import os, sys; sys.exit(0 if all(os.access(p, os.R_OK | os.X_OK) for p in sys.argv[1:]) else 1)"
        if subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", probe, str(sites[0])],
                          capture_output=True, check=False, timeout=30).returncode == 0:
            return [str(IRRD_VENV / "bin" / "irrd")]
        shared = self.tmp / "irrd-site"

        def link(src: str, dst: str) -> None:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        shutil.copytree(sites[0], shared, copy_function=link, symlinks=True)
        for folder in (shared, *(p for p in shared.rglob("*") if p.is_dir())):
            folder.chmod(0o755)
        start = (f"import site, sys; site.addsitedir({str(shared)!r}); from irrd.daemon.main import main; "
                 "sys.argv[0] = 'irrd'; sys.exit(main())")
        return ["/usr/bin/python3", "-c", start]

    # ---- data ----------------------------------------------------------------------------------
    def load(self, rpsl: str) -> None:
        """Replace the source's objects with these (irrd_load_database) and wait until whois serves them."""
        f = self.tmp / "irrd" / "load.rpsl"
        f.write_text(rpsl, encoding="utf-8")
        out = subprocess.run([str(IRRD_VENV / "bin" / "irrd_load_database"), "--config", str(self.config),
                              "--source", SOURCE, str(f)], capture_output=True, text=True, check=False, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"irrd_load_database failed: {out.stdout.strip()} {out.stderr.strip()[-500:]}")

    def whois(self, query: str) -> str:
        with socket.create_connection(("127.0.0.1", self.whois_port), timeout=10) as s:
            s.sendall(query.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()
