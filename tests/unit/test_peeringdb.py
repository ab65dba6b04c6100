"""PeeringDB (a local copy in its API format) against peers.yaml: disagreements are warnings with both values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.golden.cases import REPO
from tonle.interfaces.cli import main
from tonle.source.peeringdb import as_sets

FIXTURE = REPO / "tests" / "fixtures" / "peeringdb-net.json"


def _copy(tmp_path: Path, pdb: Any) -> Path:
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    shutil.copy(REPO / "nornir.yaml", tmp_path)
    (tmp_path / "inventory" / "peeringdb.json").write_text(pdb if isinstance(pdb, str) else json.dumps(pdb))
    return tmp_path / "nornir.yaml"


def test_disagreements_are_warnings_with_both_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _copy(tmp_path, FIXTURE.read_text())
    assert main(["--config", str(config), "inventory", "check"]) == 0
    warnings = [x for x in capsys.readouterr().out.splitlines() if x.startswith("warning: ")]
    assert warnings == [
        # Angkor agrees on everything (its as-set with the IRR source prefix PeeringDB writes)
        "warning: inventory/peers.yaml: peer isp-mekong: field max_prefixes.ipv4: 100 here, PeeringDB AS65002 "
        "says 250 (info_prefixes4)",
        "warning: inventory/peers.yaml: peer isp-mekong: field as_set: unset here, PeeringDB AS65002 says AS-MEKONG "
        "(irr_as_set)",
        "warning: inventory/peers.yaml: peer isp-bayon: field sessions: peers with route server pnh-dix-rs1 here, "
        "PeeringDB AS65003 says never via route servers (info_never_via_route_servers)",
    ]


def test_no_peeringdb_file_no_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(REPO / "nornir.yaml"), "inventory", "check"]) == 0
    assert "warning:" not in capsys.readouterr().out


@pytest.mark.parametrize(("pdb", "line"), [
    ("{not json", "inventory/peeringdb.json: (top level): not readable PeeringDB JSON"),
    ({"data": {"asn": 1}}, "inventory/peeringdb.json: (top level): field data: expected"),
    ({"data": [{"asn": "65001"}]}, "inventory/peeringdb.json: data[0]: field asn: "),
    ({"data": [{"asn": 65001, "info_prefixes4": -1}]}, "inventory/peeringdb.json: data[0]: field info_prefixes4: "),
    ({"data": [{"asn": 65001, "info_never_via_route_servers": "yes"}]},
     "inventory/peeringdb.json: data[0]: field info_never_via_route_servers: "),
])
def test_bad_peeringdb_file_is_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], pdb: Any,
                                               line: str) -> None:
    assert main(["--config", str(_copy(tmp_path, pdb)), "inventory", "check"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith(line), err


def test_as_sets_from_peeringdb_free_text() -> None:
    assert as_sets("RIPE::AS65001:AS-ANGKOR as-two, junk; <script>") == {"AS65001:AS-ANGKOR", "AS-TWO"}
    assert as_sets("") == set()
