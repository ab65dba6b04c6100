"""RFC 5424 copies of audit entries for a remote collector, and the parser that reads a collector's file back.

Target from `$TONLE_AUDIT_SYSLOG`: `udp://HOST:PORT` (one datagram per entry, RFC 5426), `tcp://HOST:PORT`
(octet-counted frames, RFC 6587 3.4.1, as RFC 5425 uses), or a unix socket path (`/dev/log`, datagram, else
stream). One message per entry, one line, facility 13 (log audit), severity notice:

    <109>1 2026-01-01T10:00:00.000+00:00 gw1 tonle 4242 audit [tonle-audit@32473 seq="7" hash="…" prev="…"
    sig="…" key="ed25519:…" actor="alice" action="approve" object="D-1"] alice approve D-1

The structured data carries what a later comparison needs (seq, hash, signature, key) and who did what; the
entry's details stay in the log (they are covered by the hash). Nothing secret is in a message.
"""

from __future__ import annotations

import errno
import re
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from tonle.errors import BadInput

SD_ID = "tonle-audit@32473"  # 32473: RFC 5612's example enterprise number, until Tonlé registers its own
PRI = 13 * 8 + 5  # facility 13 "log audit" (RFC 5424 table 1), severity 5 notice
APP_NAME = "tonle"
MSGID = "audit"
SEND_TIMEOUT = 2.0
_SHOWN_MAX = 128  # actor / action / object as shown in the message (the log has them in full)


@dataclass(frozen=True)
class AuditRecord:
    """What the collector gets, and reads back, for one entry."""

    seq: int
    ts: str
    hash: str
    prev: str
    signature: str
    key_id: str
    actor: str = ""
    action: str = ""
    object: str = ""


@dataclass(frozen=True)
class SyslogTarget:
    """Where the copies go."""

    transport: Literal["udp", "tcp", "unix"]
    address: str  # host, or the socket's path
    port: int = 0

    @classmethod
    def parse(cls, spec: str) -> SyslogTarget:
        """`udp://HOST:PORT`, `tcp://HOST:PORT` (IPv6 as `[::1]`), a socket path or `unix:///path`."""
        if spec.startswith("/"):
            return cls("unix", spec)
        url = urlsplit(spec)
        if url.scheme == "unix" and url.path:
            return cls("unix", url.path)
        if url.scheme not in ("udp", "tcp"):
            raise BadInput(f"TONLE_AUDIT_SYSLOG={spec!r}: expected udp://HOST:PORT, tcp://HOST:PORT or a socket path")
        try:
            port = url.port
        except ValueError as exc:
            raise BadInput(f"TONLE_AUDIT_SYSLOG={spec!r}: bad port") from exc
        if not url.hostname or port is None or url.path not in ("", "/"):
            raise BadInput(f"TONLE_AUDIT_SYSLOG={spec!r}: expected {url.scheme}://HOST:PORT")
        return cls("udp" if url.scheme == "udp" else "tcp", url.hostname, port)

    def __str__(self) -> str:
        if self.transport == "unix":
            return self.address
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.transport}://{host}:{self.port}"

    def send(self, line: str) -> None:
        """Send one message; OSError if it cannot be handed over."""
        data = line.encode()
        if self.transport == "udp":
            family, kind, proto, _, addr = socket.getaddrinfo(self.address, self.port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(family, kind, proto) as s:
                s.sendto(data, addr)
        elif self.transport == "tcp":
            with socket.create_connection((self.address, self.port), timeout=SEND_TIMEOUT) as s:
                s.sendall(b"%d %s" % (len(data), data))
        else:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                    s.settimeout(SEND_TIMEOUT)
                    s.connect(self.address)
                    s.send(data)
            except OSError as exc:
                if exc.errno != errno.EPROTOTYPE:
                    raise
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(SEND_TIMEOUT)
                    s.connect(self.address)
                    s.sendall(b"%d %s" % (len(data), data))


# ---- format -----------------------------------------------------------------------------------------

def _printable(text: str, limit: int = _SHOWN_MAX) -> str:
    """One line: control characters shown as `?`, capped."""
    return "".join("?" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text[:limit])


def _header_field(text: str, limit: int) -> str:
    """RFC 5424 header fields are 1*N printable US-ASCII, or `-`."""
    kept = "".join(c for c in text if 33 <= ord(c) <= 126)[:limit]
    return kept or "-"


def _param(value: str) -> str:
    """An SD-PARAM value with `"`, `\\` and `]` escaped (RFC 5424 6.3.3)."""
    return re.sub(r'(["\\\]])', r"\\\1", _printable(value))


def format_line(rec: AuditRecord, hostname: str, procid: str) -> str:
    """The RFC 5424 message for one entry, one line."""
    params = [("seq", str(rec.seq)), ("hash", rec.hash), ("prev", rec.prev), ("sig", rec.signature),
              ("key", rec.key_id), ("actor", rec.actor), ("action", rec.action), ("object", rec.object)]
    sd = f"[{SD_ID} " + " ".join(f'{name}="{_param(value)}"' for name, value in params) + "]"
    msg = _printable(f"{rec.actor} {rec.action} {rec.object}", 3 * _SHOWN_MAX)
    return (f"<{PRI}>1 {_header_field(rec.ts, 64)} {_header_field(hostname, 255)} {APP_NAME} "
            f"{_header_field(procid, 128)} {MSGID} {sd} {msg}")


# ---- parse ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyslogMessage:
    """One parsed RFC 5424 message."""

    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: dict[str, dict[str, str]]
    msg: str


_HEADER = re.compile(r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) (?P<msgid>\S+) ")
_SD_NAME = r'[!#-<>-\\^-~]{1,32}'  # PRINTUSASCII except '=', SP, ']', '"'
_ELEMENT_START = re.compile(rf"\[({_SD_NAME})")
_PARAM = re.compile(rf' ({_SD_NAME})="((?:[^"\\]|\\.)*)"')


def parse_line(line: str) -> SyslogMessage | None:
    """The RFC 5424 message in `line` (a collector may prefix its own fields); None if there is none."""
    header = _HEADER.search(line)
    if header is None or int(header["pri"]) > 191:
        return None
    rest = line[header.end():].rstrip("\r\n")
    sd: dict[str, dict[str, str]] = {}
    if rest.startswith("-"):
        rest = rest[1:]
    else:
        while rest.startswith("["):
            start = _ELEMENT_START.match(rest)
            if start is None:
                return None
            params: dict[str, str] = {}
            pos = start.end()
            while (param := _PARAM.match(rest, pos)) is not None:
                params[param[1]] = re.sub(r'\\(["\\\]])', r"\1", param[2])  # only these three are escapes
                pos = param.end()
            if not rest.startswith("]", pos) or start[1] in sd:
                return None
            sd[start[1]] = params
            rest = rest[pos + 1:]
        if not sd:
            return None
    if rest and not rest.startswith(" "):
        return None
    return SyslogMessage(int(header["pri"]), header["ts"], header["host"], header["app"], header["proc"],
                         header["msgid"], sd, rest[1:])


def audit_record(message: SyslogMessage) -> AuditRecord | None:
    """The audit record a message carries; None if it carries none; ValueError if it carries a broken one."""
    p = message.structured_data.get(SD_ID)
    if p is None:
        return None
    missing = [k for k in ("seq", "hash", "prev", "sig", "key") if k not in p]
    if missing or not p["seq"].isdigit():
        raise ValueError(f"{SD_ID} without {', '.join(missing) or 'a sequence number'}")
    return AuditRecord(int(p["seq"]), message.timestamp, p["hash"], p["prev"], p["sig"], p["key"],
                       p.get("actor", ""), p.get("action", ""), p.get("object", ""))
