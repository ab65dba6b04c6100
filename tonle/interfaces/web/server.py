"""uvicorn in a thread of `tonle serve`: the HTTPS front door lives and dies with the service.

`--https ADDR:PORT` (loopback by default: 127.0.0.1:8443). The certificate is the pair named in nornir.yaml
(`user_defined: {tonle_https_cert: F, tonle_https_key: F}`, production), else a self-signed one made for the
lab in `<state dir>/keys/` on first use.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from tonle.errors import BadInput, Failed
from tonle.interfaces.web import tls
from tonle.interfaces.web.app import Door, create_app

DEFAULT_ADDRESS = "127.0.0.1:8443"
_log = logging.getLogger(__name__)


def parse_address(text: str) -> tuple[str, int]:
    """ADDR:PORT or [V6]:PORT -> (host, port); only literal addresses (no name to resolve)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port) if port.isascii() and port.isdigit() else -1
    except ValueError:
        raise BadInput(f"--https {text[:60]!r}: ADDR:PORT with a literal address (127.0.0.1:8443)") from None
    if not sep or not 1 <= number <= 65535:
        raise BadInput(f"--https {text[:60]!r}: port 1-65535")
    return host, number


def certificate(config_file: Path, state_dir: Path, host: str) -> tuple[Path, Path]:
    loaded = yaml.safe_load(config_file.read_text())
    user = loaded.get("user_defined") if isinstance(loaded, dict) else None
    user = user if isinstance(user, dict) else {}
    pair = tls.configured(user.get("tonle_https_cert"), user.get("tonle_https_key"), config_file.parent)
    if pair is not None:
        return pair
    return tls.self_signed(state_dir / "keys", host)


class WebServer:
    def __init__(self, config_file: Path, state_dir: Path, address: str, *, on_active: Callable[[], None],
                 service: Callable[[], dict[str, Any]]) -> None:
        self.host, self.port = parse_address(address)
        self.cert, self.key = certificate(config_file, state_dir, self.host)
        self._door = Door(config_file, state_dir, on_active=on_active, service=service)
        app = create_app(self._door)
        cfg = uvicorn.Config(app, host=self.host, port=self.port, ssl_certfile=str(self.cert),
                             ssl_keyfile=str(self.key), log_level="warning", access_log=False,
                             timeout_graceful_shutdown=3, proxy_headers=False, server_header=False)
        self._server = uvicorn.Server(cfg)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/"

    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._server.run, name="https", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise Failed(f"the console could not listen on {self.host}:{self.port} (see the service log)")
            if time.monotonic() > deadline:
                raise Failed(f"the console did not start on {self.host}:{self.port} within {timeout:.0f}s")
            time.sleep(0.05)
        _log.info("console and REST API on %s (OpenAPI: %sapi/v1/openapi.json)", self.url, self.url)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._door.reader.close()  # a device read still waiting on a dead device is not waited for
