"""Production connections need pinned SSH host keys; the lab pins the keys it generates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import SMALL
from tonle.interfaces.cli import main
from tonle.targets.nornir import init_nornir
from tonle.targets.target import NoKnownHosts


@pytest.fixture
def small(tmp_path: Path) -> Path:
    shutil.copytree(SMALL, tmp_path / "small")
    return tmp_path / "small" / "nornir.yaml"


def test_production_without_known_hosts_is_refused(small: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NoKnownHosts, match=r"user_defined\.tonle_known_hosts"):
        init_nornir(small, tmp_path / "state", lab=False)
    assert main(["--config", str(small), "--state-dir", str(tmp_path / "state"), "plan", "--target",
                 "production"]) == 2
    assert "pinned SSH host keys" in capsys.readouterr().err


def test_production_known_hosts_file_must_exist(small: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load(small.read_text())
    cfg["user_defined"] = {"tonle_known_hosts": "known_hosts"}
    small.write_text(yaml.safe_dump(cfg))
    with pytest.raises(NoKnownHosts, match="does not exist"):
        init_nornir(small, tmp_path / "state", lab=False)
    (small.parent / "known_hosts").write_text("198.19.253.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO\n")
    nr, _ = init_nornir(small, tmp_path / "state", lab=False)
    for host in nr.inventory.hosts.values():
        args = host.connection_options["napalm"].extras["optional_args"]  # type: ignore[index]
        assert args["ssh_strict"] is True and args["system_host_keys"] is False
        assert args["alt_key_file"] == str((small.parent / "known_hosts").resolve())
        assert host.connection_options["netmiko"].extras["ssh_strict"] is True  # type: ignore[index]
