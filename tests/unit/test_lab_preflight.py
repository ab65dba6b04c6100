"""The lab refuses early, with a clear reason, when the machine cannot run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tonle import lab as labmod
from tonle.cli import main


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(labmod.os, "geteuid", lambda: 1000)
    with pytest.raises(labmod.LabError, match="needs root"):
        labmod.preflight()
    assert main(["--config", str(ROOT / "nornir.yaml"), "lab", "up"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tonle: error: the lab needs root") and "\n" not in err


def test_missing_frr_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labmod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(labmod, "FRR_BIN", Path("/nonexistent/frr"))
    with pytest.raises(labmod.LabError, match=r"missing /nonexistent/frr/zebra.*install Debian packages frr"):
        labmod.preflight()


def test_missing_sshd_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labmod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(labmod, "SSHD", Path("/nonexistent/sshd"))
    with pytest.raises(labmod.LabError, match=r"missing /nonexistent/sshd.*openssh-server"):
        labmod.preflight()
