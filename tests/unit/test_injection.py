"""Nothing reaches a device that Tonlé did not render from reviewed, validated intent (no lab needed)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from tonle.tasks.change import changed_lines, unexpected_lines

from tests.conftest import SMALL
from tonle.compile.intent import SessionOverride, device_intent, load_intent
from tonle.compile.render import PLATFORMS, UnsafeValue, render_intent
from tonle.emergency.applied import NotApplied, applied_device_intents, applied_intent
from tonle.emergency.fields import FieldError, check_reason, check_ticket, device_message
from tonle.interfaces.cli import main
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import records

INJECTION = "fibre cut\nexit\nip route 192.0.2.0/24 blackhole\nrouter bgp 64500"


@pytest.fixture
def small(small_applied: tuple[Path, Path]) -> tuple[Path, Path]:
    return small_applied


def cli(config: Path, state: Path, *argv: str) -> int:
    return main(["--config", str(config), "--state-dir", str(state), *argv])


@pytest.mark.parametrize(("field", "value", "why"), [
    ("--reason", INJECTION, "control characters"),
    ("--reason", "ok\rrouter bgp 1", "control characters"),
    ("--reason", "tab\tseparated", "control characters"),
    ("--reason", "x" * 501, "at most 500"),
    ("--reason", "   ", "required"),
    ("--ticket", "INC-1\nip route 192.0.2.0/24 blackhole", "letters, digits"),
    ("--ticket", "INC 1", "letters, digits"),
    ("--ticket", "INC-1 */ set system", "letters, digits"),
    ("--ticket", "!INC", "letters, digits"),
    ("--ticket", "T" * 41, "at most 40"),
])
def test_bad_free_text_is_refused_before_anything(small: tuple[Path, Path], field: str, value: str, why: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config, state = small
    args = {"--reason": "fibre cut", "--ticket": "INC-1", field: value}
    code = cli(config, state, "disconnect", "--session", "r2:198.51.100.1", "--reason", args["--reason"],
               "--ticket", args["--ticket"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"tonle: error: {field}") and why in err[0]
    assert records(state) == [] and AuditLog(StateDB(state)).entries() == []  # nothing stored, nothing pushed


def test_valid_fields_pass() -> None:
    assert check_reason("  fibre cut at POI, carrier ticket 55-1  ") == "fibre cut at POI, carrier ticket 55-1"
    assert check_ticket("INC-2026/11#4") == "INC-2026/11#4"
    with pytest.raises(FieldError):
        check_ticket("")


def test_the_device_sees_only_id_and_ticket(small: tuple[Path, Path]) -> None:
    config, _ = small
    intent = load_intent(load_from_nornir_config(config))
    msg = device_message("D20261129120000abcd", "INC-1")
    assert msg == "tonle D20261129120000abcd INC-1"
    shut = [SessionOverride("r2", "198.51.100.1", shutdown=True, message=msg)]
    for platform in PLATFORMS:
        base = render_intent(device_intent(intent, "r2"), platform)
        down = render_intent(device_intent(intent, "r2", shut), platform)
        added = [ln for ln in down.splitlines() if ln not in base.splitlines()]
        assert added and all("fibre" not in ln for ln in added)
        assert any(msg in ln for ln in added) or platform != "frr"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_template_refuses_a_control_character_from_any_field(small: tuple[Path, Path], platform: str) -> None:
    config, _ = small
    intent = load_intent(load_from_nornir_config(config))
    # An override whose message escaped validation (a future caller, say): the environment itself refuses.
    bad = [SessionOverride("r2", "198.51.100.1", shutdown=True, message=INJECTION)]
    with pytest.raises(UnsafeValue, match=r"r2 \(" + platform + r"\): .*control character"):
        render_intent(device_intent(intent, "r2", bad), platform)
    # The same for a field deep in the intent (a neighbour's description).
    di = device_intent(intent, "r2")
    n0 = dataclasses.replace(di.neighbors[0], description="up1\nip route 192.0.2.0/24 blackhole")
    with pytest.raises(UnsafeValue):
        render_intent(dataclasses.replace(di, neighbors=[n0, *di.neighbors[1:]]), platform)


def test_override_diff_is_only_the_override_lines() -> None:
    before = "router bgp 64500\n neighbor 198.51.100.1 remote-as 65538\nexit\n!\n"
    after = ("router bgp 64500\n neighbor 198.51.100.1 remote-as 65538\n"
             " neighbor 198.51.100.1 shutdown message tonle D1 INC-1\nexit\n!\n")
    allowed = changed_lines(before, after)
    assert allowed == {"neighbor 198.51.100.1 shutdown message tonle D1 INC-1"}
    ok = "router bgp 64500\n+ neighbor 198.51.100.1 shutdown message tonle D1 INC-1\n"
    assert unexpected_lines(ok, allowed) == []
    drifted = ok + "-ip route 192.0.2.128/25 Null0\n+ip prefix-list X seq 5 permit 0.0.0.0/0\n"
    assert unexpected_lines(drifted, allowed) == ["ip route 192.0.2.128/25 Null0", "ip prefix-list X seq 5 permit "
                                                                                    "0.0.0.0/0"]


def test_emergencies_render_from_the_applied_intent_not_the_working_tree(small: tuple[Path, Path]) -> None:
    config, state = small
    before = applied_intent(state)
    # An unreviewed edit of the working tree: a new prefix in an ISP's announcements.
    peers = config.parent / "inventory" / "peers.yaml"
    data = yaml.safe_load(peers.read_text())
    data["peers"][1]["announces"].append("198.18.19.0/24")
    peers.write_text(yaml.safe_dump(data, sort_keys=False))
    edited = load_intent(load_from_nornir_config(config))
    devices = sorted(edited.inv.devices)
    changed = [d for d in devices
               if render_intent(device_intent(edited, d), "frr") != render_intent(device_intent(before, d), "frr")]
    assert changed, "the edit must change some device's rendering"
    now = applied_device_intents(state, devices)
    for d in devices:  # still what was applied: the edit reaches devices only through plan and apply
        assert render_intent(device_intent(now[d], d), "frr") == render_intent(device_intent(before, d), "frr")


def test_no_applied_intent_means_no_emergency_push(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(SMALL, tmp_path / "small")
    with pytest.raises(NotApplied):
        applied_intent(tmp_path / "state")
    code = cli(tmp_path / "small" / "nornir.yaml", tmp_path / "state", "disconnect", "--session", "r2:198.51.100.1",
               "--reason", "fibre cut", "--ticket", "INC-1")
    assert code == 1 and "no confirmed apply is recorded" in capsys.readouterr().err
