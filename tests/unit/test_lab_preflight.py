"""The lab refuses early, with a clear reason, when the machine cannot run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tonle.interfaces.cli import main
from tonle.lab import builder as labmod
from tonle.targets import hostdeps


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(labmod.os, "geteuid", lambda: 1000)
    with pytest.raises(labmod.LabError, match="needs root"):
        labmod.preflight()
    assert main(["--config", str(ROOT / "nornir.yaml"), "lab", "up"]) == 2  # unavailable
    err = capsys.readouterr().err.strip()
    assert err.startswith("tonle: error: the lab needs root") and "\n" not in err


@pytest.mark.parametrize(("program", "package"), [("/nonexistent/frr/zebra", "frr"),
                                                  ("/nonexistent/frr-reload.py", "frr-pythontools"),
                                                  ("/nonexistent/sshd", "openssh-server")])
def test_missing_program_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   program: str, package: str) -> None:
    req = tmp_path / "host-requirements.txt"
    req.write_text(f"ip iproute2\n{program}   {package}\n")
    monkeypatch.setattr(labmod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hostdeps, "REQUIREMENTS", req)
    with pytest.raises(labmod.LabUnavailable, match=rf"^missing {program} \(Debian package {package}\);"):
        labmod.preflight()
