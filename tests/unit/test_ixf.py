"""`tonle ixf export`: the DIX fabrics as an IX-F member list, valid against Euro-IX's schema 1.0."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.golden.cases import REPO
from tonle.compile.ixf import export, load_ixf
from tonle.interfaces.cli import main
from tonle.source.inventory import load_from_nornir_config

SCHEMA = json.loads((REPO / "tests" / "fixtures" / "ixf" / "ixp-member-list-1.0.schema.json").read_text())


def _errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _reference() -> dict[str, Any]:
    inv = load_from_nornir_config(REPO / "nornir.yaml")
    return export(inv, load_ixf(inv), datetime(2026, 11, 29, 12, 0, tzinfo=UTC))


def test_the_export_of_both_fabrics_is_valid_ixf_1_0() -> None:
    doc = _reference()
    assert _errors(doc) == []
    assert [x["shortname"] for x in doc["ixp_list"]] == ["DIX-PNH", "DIX-KOS"]


def test_the_schema_check_catches_a_broken_export() -> None:
    doc = _reference()
    doc["member_list"][0]["member_type"] = "customer"  # not one of peering / ixp / other
    doc["ixp_list"][1].pop("ixf_id")
    doc["member_list"][1]["connection_list"][0]["vlan_list"][0]["ipv4"]["address"] = "203.0.113"
    errors = _errors(doc)
    assert len(errors) == 3, errors


def test_members_come_from_the_inventory() -> None:
    doc = _reference()
    by_as = {(m["asnum"], m["member_type"]): m for m in doc["member_list"]}
    angkor = by_as[(65001, "peering")]  # at both fabrics, with its max-prefix, a route-server client
    assert sorted(c["ixp_id"] for c in angkor["connection_list"]) == [1, 2]
    v4 = angkor["connection_list"][0]["vlan_list"][0]["ipv4"]
    assert v4 == {"address": "203.0.113.71", "routeserver": True, "max_prefix": 100}
    rs = by_as[(64501, "ixp")]["connection_list"][0]["vlan_list"][0]["ipv4"]  # the PNH route server
    assert rs["address"] == "203.0.113.65" and rs["services"] == [{"type": "ixrouteserver", "daemon": "FRRouting"}]
    ours = by_as[(64500, "peering")]  # our border routers at both fabrics
    assert {c["vlan_list"][0]["ipv4"]["address"] for c in ours["connection_list"]} == {
        "203.0.113.66", "203.0.113.67", "203.0.113.98"}


def test_cli_writes_the_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ixf.json"
    assert main(["--config", str(REPO / "nornir.yaml"), "ixf", "export", "--output", str(out)]) == 0
    assert _errors(json.loads(out.read_text())) == []


@pytest.mark.parametrize(("edit", "line"), [
    (lambda d: d["exchanges"].update({"pnh-kos": d["exchanges"].pop("dix-kos")}),
     "inventory/ixf.yaml: exchange pnh-kos: field (name): not a `lan` link of links.yaml"),
    (lambda d: d["exchanges"]["dix-kos"].update(ixp_id=1), "field ixp_id: 1 is also dix-kos's"),
    (lambda d: d["exchanges"]["dix-kos"].update(url="javascript:alert(1)"), "field exchanges.dix-kos.url"),
    (lambda d: d["exchanges"]["dix-kos"].update(shortname="DIX;KOS\n"), "field exchanges.dix-kos.shortname"),
    (lambda d: d["exchanges"]["dix-kos"].update(ixf_id=0), "field exchanges.dix-kos.ixf_id"),
    (lambda d: d.update(country="Cambodia"), "field country"),
])
def test_bad_ixf_file_is_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any,
                                         line: str) -> None:
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    shutil.copy(REPO / "nornir.yaml", tmp_path)
    path = tmp_path / "inventory" / "ixf.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    assert main(["--config", str(tmp_path / "nornir.yaml"), "ixf", "export"]) == 2
    captured = capsys.readouterr()
    err = [x for x in captured.err.splitlines() if x.strip()]
    assert len(err) == 1 and line in err[0], err
    assert captured.out == ""  # nothing half-written
