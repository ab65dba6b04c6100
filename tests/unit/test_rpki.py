"""RPKI intent and the lab's VRP fixture: bad input refused with one line naming file, entry and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SMALL
from tests.golden.cases import REPO
from tonle.compile.intent import device_intent, load_intent
from tonle.interfaces.cli import main
from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.rpki import check_caches, check_vrps, plan_rpki_added
from tonle.lab.steps import Command, Record, RemoveNamespaces, Spawn
from tonle.source.inventory import load_from_nornir_config

GOOD_RPKI: dict[str, Any] = {"caches": [{"address": "198.19.253.250", "port": 3323, "preference": 1}]}


def _small(tmp_path: Path, rpki: Any) -> Path:
    shutil.copytree(SMALL, tmp_path / "s")
    pol_file = tmp_path / "s" / "inventory" / "policy.yaml"
    pol = yaml.safe_load(pol_file.read_text())
    pol["rpki"] = rpki
    pol_file.write_text(yaml.safe_dump(pol))
    return tmp_path / "s" / "nornir.yaml"


@pytest.mark.parametrize(("rpki", "field", "why"), [
    ({"caches": []}, "rpki.caches", "at least 1"),
    ({"caches": [{"address": "10.0.0.1"}]}, "rpki.caches[0].address", "outside the documentation ranges"),
    ({"caches": [{"address": "198.19.253.250", "port": 70000}]}, "rpki.caches[0].port", "65535"),
    ({"caches": [{"address": "198.19.253.250", "preference": 11}]}, "rpki.caches[0].preference", "10"),
    ({**GOOD_RPKI, "invalid": {"upstream": "drop", "domestic": "reject", "private": "reject",
                               "route_server": "reject"}}, "rpki.invalid.upstream", "reject"),
    ({**GOOD_RPKI, "not_found": {"upstream": "accept"}}, "rpki.not_found.domestic", "missing"),
    ({"caches": [GOOD_RPKI["caches"][0]] * 2}, "rpki.caches", "listed twice"),
    ({**GOOD_RPKI, "validators": 1}, "rpki.validators", "unknown"),
])
def test_bad_rpki_intent_is_one_line_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      rpki: Any, field: str, why: str) -> None:
    config = _small(tmp_path, rpki)
    assert main(["--config", str(config), "inventory", "check"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert err and all(x.startswith("inventory/policy.yaml: policy: field rpki") for x in err), err  # one per problem
    assert len(err) == (3 if why == "missing" else 1), err  # the example leaves out three keys
    assert field in err[0] and why in err[0], err[0]


def test_reject_not_found_on_upstreams_only(tmp_path: Path) -> None:
    rpki = {**GOOD_RPKI, "not_found": {"upstream": "reject", "domestic": "accept", "private": "accept",
                                       "route_server": "accept"}}
    intent = load_intent(load_from_nornir_config(_small(tmp_path, rpki)))
    r2, rs1 = device_intent(intent, "r2"), device_intent(intent, "rs1")
    up = next(rm for rm in r2.route_maps if rm.name == "RM-UP1-IN-V4")
    assert [t.match_rpki for t in up.terms if t.match_rpki] == ["invalid", "notfound"]
    rs_terms = [t.match_rpki for rm in rs1.route_maps if rm.name.endswith("-IN-V4") for t in rm.terms if t.match_rpki]
    assert rs_terms and set(rs_terms) == {"invalid"}
    assert r2.rpki_caches == rs1.rpki_caches and str(r2.rpki_caches[0].address) == "198.19.253.250"


def test_no_rpki_section_renders_no_rpki(tmp_path: Path) -> None:
    intent = load_intent(load_from_nornir_config(_small(tmp_path, None)))
    r2 = device_intent(intent, "r2")
    assert not r2.rpki_caches and not any(t.match_rpki for rm in r2.route_maps for t in rm.terms)


def _vrps(tmp_path: Path, roas: Any) -> Path:
    path = tmp_path / "vrps.json"
    path.write_text(json.dumps({"metadata": {}, "roas": roas}))
    return path


def test_the_lab_fixtures_are_lab_vrps() -> None:
    assert check_vrps(REPO / "inventory" / "lab-vrps.json", "inventory/lab-vrps.json") == 14
    assert check_vrps(REPO / "tests" / "fixtures" / "rpki" / "vrps.json", "vrps.json") == 4


@pytest.mark.parametrize(("roa", "field"), [
    ({"asn": 65001, "prefix": "8.8.8.0/24", "maxLength": 24}, "prefix"),  # a real prefix: never in the lab
    ({"asn": 15169, "prefix": "198.18.16.0/24", "maxLength": 24}, "asn"),  # a real ASN
    ({"asn": "AS65001", "prefix": "198.18.16.1/24", "maxLength": 24}, "prefix"),
    ({"asn": 65001, "prefix": "198.18.16.0/24", "maxLength": 23}, "maxLength"),
    ({"asn": 65001, "prefix": "198.18.16.0/24", "maxLength": True}, "maxLength"),
    ("198.18.16.0/24", "(entry)"),
])
def test_bad_vrp_is_one_line_naming_the_entry_and_field(tmp_path: Path, roa: Any, field: str) -> None:
    good = {"asn": 65001, "prefix": "198.18.17.0/24", "maxLength": 24}
    with pytest.raises(LabError) as exc:
        check_vrps(_vrps(tmp_path, [good, roa]), "inventory/v.json")
    assert str(exc.value).startswith(f"inventory/v.json: roas[1]: field {field}: ")
    assert "\n" not in str(exc.value)


def test_not_json_or_no_roas_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(LabError, match=r"^x.json: not JSON"):
        check_vrps(tmp_path / "x.json", "x.json")
    with pytest.raises(LabError, match=r"field roas: expected a list"):
        check_vrps(_vrps(tmp_path, []), "v.json")


def test_cache_addresses_must_stand_on_the_management_network(tmp_path: Path) -> None:
    import ipaddress  # noqa: PLC0415

    inv = load_from_nornir_config(_small(tmp_path, GOOD_RPKI))
    check_caches(inv, [(ipaddress.ip_address("198.19.253.250"), 3323)])
    with pytest.raises(LabError, match="not a host address of the lab's management network"):
        check_caches(inv, [(ipaddress.ip_address("198.18.0.250"), 3323)])
    with pytest.raises(LabError, match="device's or the gateway's"):
        check_caches(inv, [(inv.devices["r1"].mgmt_ip, 3323)])


def test_a_running_lab_without_its_cache_gets_it_recorded_first_then_started(tmp_path: Path) -> None:
    import ipaddress  # noqa: PLC0415

    config = _small(tmp_path, GOOD_RPKI)
    lab_file = config.parent / "inventory" / "lab.yaml"
    lab_file.write_text(yaml.safe_dump(yaml.safe_load(lab_file.read_text()) | {"rpki_vrps": "vrps.json"}))
    shutil.copy(REPO / "tests" / "fixtures" / "rpki" / "vrps.json", config.parent / "inventory" / "vrps.json")
    inv = load_from_nornir_config(config)
    lay = Layout(inv.lab.name, tmp_path / "state")
    caches = [(ipaddress.ip_address("198.19.253.250"), 3323)]
    record = {"status": "up", "namespaces": ["a", "b"]}
    # up and answering: nothing to do; no cache in the inventory: nothing either
    assert plan_rpki_added(lay, inv, caches, record, {"a", "b", lay.rpki_ns}, answering=True) == ()
    assert plan_rpki_added(lay, inv, [], record, {"a", "b"}, answering=False) == ()
    steps = plan_rpki_added(lay, inv, caches, record, {"a", "b"}, answering=False)
    assert steps[0] == Record({"namespaces": ["a", "b", lay.rpki_ns]})  # recorded before it is made
    assert not any(isinstance(s, RemoveNamespaces) for s in steps)
    spawned = [s for s in steps if isinstance(s, Spawn)]
    assert len(spawned) == 1 and "198.19.253.250:3323" in spawned[0].argv
    resets = [s.argv for s in steps if isinstance(s, Command) and s.argv[-1] == "rpki reset"]
    assert len(resets) == len(inv.devices)  # each device's bgpd retries at once, not in 10 minutes
    assert steps.index(spawned[0]) < min(i for i, s in enumerate(steps) if isinstance(s, Command)
                                         and s.argv[-1] == "rpki reset")
    # its namespace there but stayrtr not answering: removed and started afresh
    again = plan_rpki_added(lay, inv, caches, {"namespaces": ["a", lay.rpki_ns]}, {"a", lay.rpki_ns},
                            answering=False)
    assert again[0] == Record({"namespaces": ["a", lay.rpki_ns]}) and again[1] == RemoveNamespaces((lay.rpki_ns,))
