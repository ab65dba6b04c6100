"""Four processes appending at once to a fresh state dir lose nothing: one key, one genesis, every entry
in, sequence numbers contiguous, the chain and head intact, and every entry at the syslog collector."""

from __future__ import annotations

import multiprocessing
import socketserver
import threading
import time
from pathlib import Path

import pytest

from tonle.state.audit import GENESIS_ACTION, AuditLog
from tonle.state.db import StateDB

PROCESSES, EACH = 4, 100


def writer(state: str, worker: int, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait()
    log = AuditLog(StateDB(Path(state)))
    for n in range(EACH):
        log.append("plan", f"P-{worker}-{n}", {"worker": worker, "n": n}, actor=f"op{worker}")


def test_four_processes_append_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[bytes] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            received.append(self.rfile.read())

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True

    state = tmp_path / "state"
    with Server(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        monkeypatch.setenv("TONLE_AUDIT_SYSLOG", f"tcp://127.0.0.1:{server.server_address[1]}")
        ctx = multiprocessing.get_context("spawn")
        start = ctx.Barrier(PROCESSES)
        procs = [ctx.Process(target=writer, args=(str(state), w, start)) for w in range(PROCESSES)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=240)
        assert [p.exitcode for p in procs] == [0] * PROCESSES
        deadline = time.monotonic() + 10
        while len(received) < PROCESSES * EACH + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.shutdown()

    entries = AuditLog(StateDB(state), syslog="").entries()
    assert [e.seq for e in entries] == list(range(1, PROCESSES * EACH + 2))  # the genesis, then all 400
    assert [e.action for e in entries].count(GENESIS_ACTION) == 1 and entries[0].action == GENESIS_ACTION
    mine = [e for e in entries if e.action == "plan"]
    assert len(mine) == PROCESSES * EACH
    assert {(e.details["worker"], e.details["n"]) for e in mine} == {(w, n) for w in range(PROCESSES)
                                                                     for n in range(EACH)}
    assert len({e.key_id for e in entries}) == 1
    collector = tmp_path / "collector.log"
    collector.write_text("".join(b.decode().split(" ", 1)[1] + "\n" for b in received))
    assert len(received) == PROCESSES * EACH + 1
    log = AuditLog(StateDB(state), syslog="")
    assert log.verify() == []
    assert log.verify(against=collector) == []
