"""Every FRR rendering through FRR's own parser: `vtysh --dryrun` (FRR 8.4, no daemon needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.golden.cases import PARAMS, case
from tonle.compile.render import render_intent


def _dryrun(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "frr.conf"
    conf.write_text(text)
    return subprocess.run(["vtysh", "--dryrun", "-f", str(conf)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("platform", "name"), [p for p in PARAMS if p[0] == "frr"])
def test_frr_accepts_the_rendering(platform: str, name: str, tmp_path: Path) -> None:
    res = _dryrun(render_intent(case(platform, name).intent, platform), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_dryrun_catches_a_mutant(tmp_path: Path) -> None:
    text = render_intent(case("frr", "pnh-dix-rs1").intent, "frr")
    assert " local-role rs-server" in text and "set as-path prepend last-as 2" in text
    for good, bad in ((" local-role rs-server", " local-role rs-serverx"), ("match rpki invalid", "match rpki bogus"),
                      ("prepend last-as 2", "prepend last-as 20")):
        res = _dryrun(text.replace(good, bad, 1), tmp_path)
        assert res.returncode != 0, f"{bad!r} passed vtysh --dryrun"
