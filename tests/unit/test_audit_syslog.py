"""Audit entries reach a real syslog receiver (UDP, TCP, unix socket on this machine) as RFC 5424 lines,
parsed here by the RFC's grammar independently of tonle's parser; `verify --against` compares the log with
what the collector received and finds what the log lost even when the log itself looks intact."""

from __future__ import annotations

import base64
import logging
import re
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tonle.errors import BadInput
from tonle.interfaces.cli import main
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.signing import public_file
from tonle.state.syslog import SyslogTarget

# RFC 5424 section 6, as a regular expression of its own (not tonle's parser).
SD_NAME = r'[!#-<>-\\^-~]{1,32}'
PARAM_VALUE = r'(?:[^"\\\]]|\\["\\\]])*'
SD_ELEMENT = rf'\[{SD_NAME}(?: {SD_NAME}="{PARAM_VALUE}")*\]'
SYSLOG_MSG = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<version>1) (?P<ts>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
    rf"(?P<sd>-|(?:{SD_ELEMENT})+)(?: (?P<msg>.*))?$")


def rfc5424(line: str) -> dict[str, Any]:
    m = SYSLOG_MSG.match(line)
    assert m, f"not RFC 5424: {line!r}"
    datetime.fromisoformat(m["ts"])
    elements = {}
    for element in re.findall(SD_ELEMENT, m["sd"]):
        sd_id = re.match(rf"\[({SD_NAME})", element)[1]  # type: ignore[index]
        elements[sd_id] = {k: re.sub(r'\\(["\\\]])', r"\1", v)
                           for k, v in re.findall(rf' ({SD_NAME})="({PARAM_VALUE})"', element)}
    return {**m.groupdict(), "sd": elements}


@dataclass
class Receiver:
    target: str
    lines: list[str] = field(default_factory=list)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.lines) >= n, f"{len(self.lines)} of {n} messages arrived"
        return list(self.lines)

    def save(self, path: Path, *extra: str) -> Path:
        path.write_text("".join(f"{line}\n" for line in [*extra, *self.lines]))
        return path


def serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def udp() -> Iterator[Receiver]:
    lines: list[str] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            lines.append(self.request[0].decode())

    with socketserver.UDPServer(("127.0.0.1", 0), Handler) as server:
        serve(server)
        yield Receiver(f"udp://127.0.0.1:{server.server_address[1]}", lines)
        server.shutdown()


@pytest.fixture
def tcp() -> Iterator[Receiver]:
    lines: list[str] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:  # RFC 6587 octet counting: "LEN SP MSG"
            while True:
                digits = b""
                while (c := self.rfile.read(1)) not in (b" ", b""):
                    digits += c
                if not digits:
                    return
                lines.append(self.rfile.read(int(digits)).decode())

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        serve(server)
        yield Receiver(f"tcp://127.0.0.1:{server.server_address[1]}", lines)
        server.shutdown()


def log_for(tmp_path: Path, target: str) -> AuditLog:
    return AuditLog(StateDB(tmp_path / "state"), syslog=target)


def test_udp_receiver_gets_one_rfc5424_line_per_entry(tmp_path: Path, udp: Receiver) -> None:
    log = log_for(tmp_path, udp.target)
    log.append("approve", "D-1", {"approver": "bob", "note": "details-stay-in-the-log"}, actor="bob")
    log.append("restore", 'odd "object" ] \\ name\nsecond line', {}, actor="alice")
    lines = sorted(udp.wait_for(3), key=lambda li: int(rfc5424(li)["sd"]["tonle-audit@32473"]["seq"]))
    entries = log.entries()
    pub = load_pem_public_key(public_file(log.key_file).read_bytes())
    for line, entry in zip(lines, entries, strict=True):
        assert "\n" not in line and "details-stay-in-the-log" not in line
        m = rfc5424(line)
        assert (m["pri"], m["app"], m["msgid"]) == ("109", "tonle", "audit")  # facility 13 log audit, notice
        assert m["ts"] == entry.ts
        sd = m["sd"]["tonle-audit@32473"]
        assert (int(sd["seq"]), sd["hash"], sd["prev"], sd["sig"], sd["key"]) == (
            entry.seq, entry.hash, entry.prev_hash, entry.signature, entry.key_id)
        assert (sd["actor"], sd["action"]) == (entry.actor, entry.action)
        pub.verify(base64.b64decode(sd["sig"]), f"tonle-audit/1 entry {entry.seq} {entry.hash}".encode())
    odd = rfc5424(lines[-1])["sd"]["tonle-audit@32473"]["object"]
    assert odd == 'odd "object" ] \\ name?second line'  # escaped in the SD, control characters shown as ?


def test_tcp_receiver_gets_octet_counted_frames(tmp_path: Path, tcp: Receiver) -> None:
    log = log_for(tmp_path, tcp.target)
    for n in range(5):
        log.append("plan", f"P-{n}", {}, actor="alice")
    lines = tcp.wait_for(6)
    assert sorted(int(rfc5424(li)["sd"]["tonle-audit@32473"]["seq"]) for li in lines) == [1, 2, 3, 4, 5, 6]
    assert log.verify(against=tcp.save(tmp_path / "collector.log")) == []


def test_unix_socket_receiver(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    lines: list[str] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            lines.append(self.request[0].decode())

    with socketserver.UnixDatagramServer(str(path), Handler) as server:
        serve(server)
        log_for(tmp_path, str(path)).append("plan", "P-1", {}, actor="alice")
        Receiver(str(path), lines).wait_for(2)
        server.shutdown()
    assert [rfc5424(li)["sd"]["tonle-audit@32473"]["action"] for li in lines] == ["audit-genesis", "plan"]


def test_environment_names_the_target(tmp_path: Path, udp: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONLE_AUDIT_SYSLOG", udp.target)
    AuditLog(StateDB(tmp_path / "state")).append("plan", "P-1", {}, actor="alice")
    udp.wait_for(2)
    monkeypatch.setenv("TONLE_AUDIT_SYSLOG", "syslog.example:514")
    with pytest.raises(BadInput, match="expected udp://HOST:PORT"):
        AuditLog(StateDB(tmp_path / "state"))


@pytest.mark.parametrize(("spec", "parsed"), [
    ("udp://127.0.0.1:514", ("udp", "127.0.0.1", 514)),
    ("tcp://[::1]:6514", ("tcp", "::1", 6514)),
    ("/dev/log", ("unix", "/dev/log", 0)),
    ("unix:///run/syslog.sock", ("unix", "/run/syslog.sock", 0)),
])
def test_targets(spec: str, parsed: tuple[str, str, int]) -> None:
    t = SyslogTarget.parse(spec)
    assert (t.transport, t.address, t.port) == parsed


@pytest.mark.parametrize("spec", ["udp://host", "http://h:1", "tcp://:514", "udp://h:99999", "tcp://h:1/x"])
def test_bad_targets(spec: str) -> None:
    with pytest.raises(BadInput):
        SyslogTarget.parse(spec)


def test_collector_down_does_not_stop_the_action(tmp_path: Path, udp: Receiver, caplog: pytest.LogCaptureFixture
                                                 ) -> None:
    log = log_for(tmp_path, udp.target)
    log.append("plan", "P-1", {}, actor="alice")
    udp.wait_for(2)
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    down = log_for(tmp_path, f"tcp://127.0.0.1:{port}")
    with caplog.at_level(logging.WARNING, logger="tonle.state.audit"):
        entry = down.append("plan", "P-2", {}, actor="alice")
    assert f"audit entry {entry.seq} not sent to syslog tcp://127.0.0.1:{port}" in caplog.text
    log.append("plan", "P-3", {}, actor="alice")
    udp.wait_for(3)
    found = log.verify(against=udp.save(tmp_path / "collector.log"))
    assert found == ["entry 3: in the log but not in the collector's copy (never sent, lost on the way, or inserted)"]


def test_against_finds_what_the_log_lost_behind_an_older_valid_head(tmp_path: Path, udp: Receiver,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Cut the log back to an older, validly signed head: the log alone cannot tell; the collector can."""
    log = log_for(tmp_path, udp.target)
    state = tmp_path / "state"
    for n in range(3):
        log.append("plan", f"P-{n}", {}, actor="alice")
    older = (state / "audit.head").read_bytes()
    log.append("approve", "D-1", {"approver": "bob"}, actor="bob")
    log.append("disconnect", "D-1", {"approver": "bob"}, actor="alice")
    udp.wait_for(6)
    collector = udp.save(tmp_path / "collector.log", "<13>1 - otherhost cron 1 - - not ours", "garbage line")
    with StateDB(state).connect() as db:
        db.execute("DELETE FROM audit WHERE seq > 4")
    (state / "audit.head").write_bytes(older)
    assert log.verify() == []  # consistent on its own
    assert log.verify(against=collector) == [
        "entries 5-6: the collector received it but the log does not have it (removed)"]
    argv = ["--state-dir", str(state), "audit", "verify", "--against", str(collector)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "audit: entries 5-6: the collector received it but the log does not have it (removed)" in captured.err
    assert f"compared with {collector}: 6 audit messages, 2 other lines ignored" in captured.out


def test_against_finds_a_rewritten_entry(tmp_path: Path, udp: Receiver) -> None:
    log = log_for(tmp_path, udp.target)
    log.append("approve", "D-1", {"approver": "bob"}, actor="bob")
    udp.wait_for(2)
    with StateDB(tmp_path / "state").connect() as db:
        db.execute("UPDATE audit SET hash = ? WHERE seq = 2", ("0" * 64,))
    found = log.verify(against=udp.save(tmp_path / "collector.log"))
    assert "entry 2: differs from the collector's copy (rewritten)" in found


def test_against_rejects_forged_collector_lines(tmp_path: Path, udp: Receiver) -> None:
    log = log_for(tmp_path, udp.target)
    log.append("plan", "P-1", {}, actor="alice")
    udp.wait_for(2)
    forged = re.sub(r'sig="[^"]*"', 'sig="AAAA"', udp.lines[-1])
    found = log.verify(against=udp.save(tmp_path / "collector.log", forged))
    assert any("is not signed by" in p for p in found)
    assert any("a second, different entry" in p for p in found)


def test_against_notes_what_lies_outside_the_collectors_copy(tmp_path: Path, udp: Receiver) -> None:
    quiet = log_for(tmp_path, "")
    quiet.append("plan", "P-1", {}, actor="alice")  # before the collector was set up
    log = log_for(tmp_path, udp.target)
    log.append("plan", "P-2", {}, actor="alice")
    udp.wait_for(1)
    collector = udp.save(tmp_path / "collector.log")
    quiet.append("plan", "P-3", {}, actor="alice")  # after the copy was taken
    result = log.check(against=collector)
    assert result.ok
    assert result.notes == ["entries 1-2 older than the collector's copy (not compared)",
                            "entry 4 newer than the collector's copy (not compared)",
                            f"compared with {collector}: 1 audit message"]
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert log.verify(against=empty) == ["the collector's copy holds no audit message (wrong file, or nothing was "
                                         "sent)"]
