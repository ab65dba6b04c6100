"""NAPALM's generic getter suite on napalm_frr, the way community drivers prove conformance.

`napalm.base.test.getters.BaseTestGetters` runs every getter against recorded device output in NAPALM's
mocked-data layout (`mocked_data/test_<getter>/<case>/`: `expected_result.json` and the device's answers).
The fake device replays real FRR 8.4 answers: one file per command, named as NAPALM's test doubles name them
(`BaseTestDouble.sanitize_text(command)` + `.txt`/`.json`); exec-channel requests (the driver's `tc` reads)
as `exec_<sanitized command>.txt`. A command with no recording fails the test: nothing is invented here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from napalm.base.test import conftest as parent_conftest
from napalm.base.test.double import BaseTestDouble

from napalm_frr.frr import FRRDriver


@pytest.fixture(scope="class")
def set_device_parameters(request: pytest.FixtureRequest) -> None:
    """The class fixture NAPALM's BaseTestGetters expects: the driver, its patched twin, an open device."""
    request.cls.driver = FRRDriver
    request.cls.patched_driver = PatchedFRRDriver
    request.cls.vendor = "frr"
    parent_conftest.set_device_parameters(request)
    request.addfinalizer(request.cls.device.close)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per recorded case directory under mocked_data/test_<getter>/."""
    parent_conftest.pytest_generate_tests(metafunc, __file__)


class PatchedFRRDriver(FRRDriver):
    """The real driver, its SSH session replaced by a replay of recorded FRR output."""

    def __init__(self, hostname: str, username: str, password: str, timeout: int = 60,
                 optional_args: dict[str, Any] | None = None) -> None:
        # Getters write no state (only commits do); point it away from the user's home all the same.
        args = {**(optional_args or {}), "state_dir": str(Path(tempfile.gettempdir()) / "napalm-frr-suite")}
        super().__init__(hostname, username, password, timeout, args)
        self.patched_attrs = ["device"]

    def open(self) -> None:
        self.device = FakeFRRDevice()


class FakeFRRDevice(BaseTestDouble):
    """A netmiko session into vtysh that answers from the current test case's recorded files."""

    def __init__(self) -> None:
        super().__init__()
        self.remote_conn_pre = _FakeSSHClient(self)
        self.connected = True
        self.base_prompt = "frr"  # as Netmiko sets it at login: the prompt without its "#"

    def recorded(self, stem: str) -> str:
        for ext in (".txt", ".json"):
            try:
                return self.read_txt_file(self.find_file(stem + ext))
            except OSError:
                continue
        raise OSError(f"no recorded output {stem}.txt/.json for {self.current_test}/{self.current_test_case}")

    def send_command(self, command: str, **_kwargs: Any) -> str:
        return self.recorded(self.sanitize_text(command))

    def is_alive(self) -> bool:
        return self.connected

    def disconnect(self) -> None:
        self.connected = False


class _FakeSSHClient:
    """paramiko's client as the driver reaches it for exec requests (`remote_conn_pre.get_transport()`)."""

    def __init__(self, device: FakeFRRDevice) -> None:
        self._device = device

    def get_transport(self) -> _FakeTransport:
        return _FakeTransport(self._device)


class _FakeTransport:
    def __init__(self, device: FakeFRRDevice) -> None:
        self._device = device

    def open_session(self, timeout: float | None = None) -> _FakeChannel:
        del timeout
        return _FakeChannel(self._device)


class _FakeChannel:
    """One exec request: its recorded stdout, exit status 0 (a missing recording fails the test)."""

    def __init__(self, device: FakeFRRDevice) -> None:
        self._device = device
        self._out = ""

    def settimeout(self, timeout: float) -> None:
        del timeout

    def exec_command(self, command: str) -> None:
        self._out = self._device.recorded("exec_" + self._device.sanitize_text(command))

    def sendall(self, data: bytes) -> None:
        raise AssertionError(f"the getters send nothing to a device ({len(data)} bytes)")

    def shutdown_write(self) -> None:
        pass

    def makefile(self, mode: str) -> _Buffer:
        del mode
        return _Buffer(self._out.encode())

    def makefile_stderr(self, mode: str) -> _Buffer:
        del mode
        return _Buffer(b"")

    def recv_exit_status(self) -> int:
        return 0

    def close(self) -> None:
        pass


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data
