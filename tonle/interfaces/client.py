"""The client side of `tonle serve`: is a service there, send it one request, stream its answer back.

Also who may act when no service answers: root alone, as the kernel names it (the real uid's user name;
never $USER, $SUDO_USER or $TONLE_OPERATOR). Anyone else is refused: the state is written by the service.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

from tonle.errors import Failed, Refused, Unavailable
from tonle.interfaces.protocol import MAX_RESPONSE_LINE, Answer, Params, ProtocolError, decode_response, encode_request
from tonle.state.accounts import Actor, root_actor

CONNECT_TIMEOUT = 5.0


class NoService(Unavailable):
    """No service answers, and this user may not act without one."""


def _connect(path: Path) -> socket.socket | None:
    """A connection to the service at `path`, or None when none answers there (no socket, or a stale one)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        sock.close()
        return None
    except PermissionError:
        sock.close()
        raise Refused(f"{path}: the system refused access to the service's socket (permission denied); its group "
                      "must include you") from None
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENOTSOCK, errno.EPROTOTYPE):
            return None
        raise Unavailable(f"{path}: cannot reach the service: {exc.strerror or exc}") from None
    sock.settimeout(None)  # an answer takes as long as the action
    return sock


def service_answers(path: Path) -> bool:
    """A service accepts connections on `path` (the socket exists and someone listens)."""
    try:
        sock = _connect(path)
    except (Refused, Unavailable):
        return True  # something is there, even if this user may not talk to it
    if sock is None:
        return False
    sock.close()
    return True


def call(path: Path, method: str, params: Params, progress: Callable[[str], None]) -> Answer | None:
    """Send one request; progress lines go to `progress`; the final Answer, or None when no service answers."""
    sock = _connect(path)
    if sock is None:
        return None
    with sock, sock.makefile("rb") as stream:
        sock.sendall(encode_request(method, params))
        while True:
            line = stream.readline(MAX_RESPONSE_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_RESPONSE_LINE:
                    raise ProtocolError("the service sent a line longer than the protocol allows")
                raise Failed(f"the service at {path} closed the connection without an answer (see its log; "
                             "`tonle disconnects` and `tonle audit show` say what was done)")
            item = decode_response(line)
            if isinstance(item, Answer):
                return item
            progress(item)


def local_actor(socket_path: Path) -> Actor:
    """Who acts without a service: root only (the kernel's real uid); anyone else is refused."""
    if os.getuid() == 0:
        return root_actor()
    raise NoService(f"no tonle service answers at {socket_path}; without one only root may act (ask for "
                    "`tonle serve` to be started, or name its socket with --socket or $TONLE_SOCKET)")
