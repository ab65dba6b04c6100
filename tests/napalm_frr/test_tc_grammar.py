"""`! tc:` lines: only the exact forms of templates/frr/qos.j2 reach tc, rendered from parsed commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from napalm.base.exceptions import MergeConfigException, ReplaceConfigException

from napalm_frr import tc, tc_grammar
from napalm_frr.frr import FRRDriver
from napalm_frr.tc_grammar import (
    DscpFilter,
    HtbClass,
    HtbQdisc,
    TcLineError,
    TcSyntaxError,
    parse,
    parse_config,
    parse_line,
    render,
)
from tests.golden.cases import GOLDEN, cases
from tonle.compile.render import render_intent

GOLDEN_FRR = sorted((GOLDEN / "frr").glob("*.conf"))
QDISC = "qdisc replace dev eth3 root handle 1: htb default 40"
ROOT_CLASS = "class replace dev eth3 parent 1: classid 1:1 htb rate 40000000kbit ceil 40000000kbit"
LEAF_CLASS = "class replace dev eth3 parent 1:1 classid 1:20 htb rate 8000000kbit ceil 8000000kbit prio 0"
FILTER_V4 = "filter replace dev eth3 parent 1: protocol ip prio 201 u32 match ip dsfield 0xb8 0xfc classid 1:20"
FILTER_V6 = ("filter replace dev eth3 parent 1: protocol ipv6 prio 251 u32 match ip6 priority 0xb8 0xfc "
             "classid 1:20")
GOOD = f"! tc: {QDISC}\n! tc: {ROOT_CLASS}\n! tc: {LEAF_CLASS}\n! tc: {FILTER_V4}\n! tc: {FILTER_V6}\n"


def tc_lines_of(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("! tc:")]


# ---- every line the template produces parses and round-trips ------------------------------------------

def test_the_goldens_have_qos_lines() -> None:
    assert sum(len(tc_lines_of(p.read_text())) for p in GOLDEN_FRR) > 100


@pytest.mark.parametrize("path", GOLDEN_FRR, ids=lambda p: p.stem)
def test_every_golden_tc_line_parses_and_round_trips(path: Path) -> None:
    text = path.read_text()
    for line in tc_lines_of(text):
        assert f"! tc: {render(parse_line(line))}" == line
    assert [render(c) for c in parse_config(text)] == [ln.removeprefix("! tc: ") for ln in tc_lines_of(text)]


@pytest.mark.parametrize("name", [c.name for c in cases()])
def test_freshly_rendered_tc_lines_round_trip(name: str) -> None:
    """Not only the files: what the template renders now for every reference case (feature cases included)."""
    text = render_intent(next(c for c in cases() if c.name == name).intent, "frr")
    assert tc.boot_batch(text) or not tc_lines_of(text)
    for line in tc_lines_of(text):
        assert f"! tc: {render(parse_line(line))}" == line


def test_parsed_structure() -> None:
    assert parse(QDISC) == HtbQdisc("eth3", 0x40)
    assert parse(ROOT_CLASS) == HtbClass("eth3", None, 1, 40_000_000, 40_000_000, None)
    assert parse(LEAF_CLASS) == HtbClass("eth3", 1, 0x20, 8_000_000, 8_000_000, 0)
    assert parse(FILTER_V4) == DscpFilter("eth3", "ip", 201, 0xB8, 0x20)
    assert parse(FILTER_V6) == DscpFilter("eth3", "ipv6", 251, 0xB8, 0x20)
    assert parse("class replace dev eth3 parent 1:1 classid 1:ffff htb rate 1kbit ceil 1000000000kbit prio 7") == \
        HtbClass("eth3", 1, 0xFFFF, 1, 1_000_000_000, 7)


def test_the_batch_is_rendered_from_parsed_commands() -> None:
    lines = tc.boot_batch(GOOD)
    assert lines == [QDISC, f"{ROOT_CLASS} quantum 1514", f"{LEAF_CLASS} quantum 1514", FILTER_V4, FILTER_V6]


# ---- anything else is refused ---------------------------------------------------------------------------

INJECTIONS = {
    "semicolon after a delete": "qdisc del dev eth0 root; reboot",
    "semicolon after a valid command": f"{QDISC}; reboot",
    "semicolon in the device": "qdisc replace dev eth0;reboot root handle 1: htb default 10",
    "command substitution": "qdisc replace dev $(reboot) root handle 1: htb default 10",
    "backticks": "qdisc replace dev `reboot` root handle 1: htb default 10",
    "pipe": f"{QDISC} | sh",
    "and-and": f"{QDISC} && reboot",
    "redirect": f"{QDISC} > /etc/passwd",
    "newline": f"{QDISC}\nreboot",
    "carriage return": f"{QDISC}\rreboot",
    "NUL": f"{QDISC}\x00reboot",
    "tab separator": QDISC.replace(" ", "\t"),
    "double space": QDISC.replace(" ", "  ", 1),
    "trailing space": f"{QDISC} ",
    "leading space": f" {QDISC}",
    "exec": "exec /bin/sh -c reboot",
    "unknown verb": "action add action drop",
    "chain": "chain add dev eth0 chain 1",
    "qdisc add": "qdisc add dev eth3 root handle 1: htb default 40",
    "qdisc del": "qdisc del dev eth3 root",
    "other qdisc kind": "qdisc replace dev eth3 root handle 1: netem delay 100ms",
    "ingress qdisc": "qdisc replace dev eth3 ingress",
    "batch option": "-force qdisc replace dev eth3 root handle 1: htb default 40",
    "filter add with mirred": ("filter add dev eth3 parent 1: protocol ip prio 1 u32 match ip dsfield 0xb8 0xfc "
                               "action mirred egress redirect dev eth9"),
    "filter replace with mirred": f"{FILTER_V4} action mirred egress mirror dev eth9",
    "filter with flowid": FILTER_V4.replace("classid", "flowid"),
    "filter on another parent": FILTER_V4.replace("parent 1:", "parent ffff:"),
    "filter mask 0xff": FILTER_V4.replace("0xfc", "0xff"),
    "filter TOS with low bits": FILTER_V4.replace("0xb8", "0xb9"),
    "filter uppercase hex": FILTER_V4.replace("0xb8", "0xB8"),
    "ipv4 protocol with the ipv6 field": FILTER_V4.replace("ip dsfield", "ip6 priority"),
    "filter prio 0": FILTER_V4.replace("prio 201", "prio 0"),
    "filter prio 65536": FILTER_V4.replace("prio 201", "prio 65536"),
    "rate 0": ROOT_CLASS.replace("rate 40000000kbit", "rate 0kbit"),
    "rate above 1 Tbit": ROOT_CLASS.replace("40000000kbit", "1000000001kbit"),
    "rate with 13 digits": ROOT_CLASS.replace("40000000kbit", "9999999999999kbit"),
    "rate in mbit": ROOT_CLASS.replace("40000000kbit", "40000mbit"),
    "fractional rate": ROOT_CLASS.replace("40000000kbit", "1.5kbit"),
    "ceil below rate": LEAF_CLASS.replace("ceil 8000000kbit", "ceil 7000000kbit"),
    "leading zero": LEAF_CLASS.replace("rate 8000000kbit", "rate 08000000kbit"),
    "HTB prio 8": LEAF_CLASS.replace("prio 0", "prio 8"),
    "classid 0": LEAF_CLASS.replace("classid 1:20", "classid 1:0"),
    "classid of 5 hex digits": LEAF_CLASS.replace("classid 1:20", "classid 1:10000"),
    "another major": LEAF_CLASS.replace("classid 1:20", "classid 2:20"),
    "own parent": LEAF_CLASS.replace("parent 1:1 classid 1:20", "parent 1:20 classid 1:20"),
    "default of 5 hex digits": QDISC.replace("default 40", "default 10000"),
    "extra class option": f"{LEAF_CLASS} burst 15k",
    "device with a slash": QDISC.replace("eth3", "eth/3"),
    "device with a colon": QDISC.replace("eth3", "eth3:1"),
    "device starting with a digit": QDISC.replace("eth3", "3eth"),
    "device starting with a dash": QDISC.replace("eth3", "-eth3"),
    "device of 16 characters": QDISC.replace("eth3", "e" * 16),
    "device in Cyrillic": QDISC.replace("eth3", "\u0435th3"),
    "empty": "",
    "too long": f"{QDISC} " + "x" * 300,
}


@pytest.mark.parametrize("command", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_refused(command: str) -> None:
    with pytest.raises(TcSyntaxError) as err:
        parse(command)
    assert "reboot" not in str(err.value) and "mirred" not in str(err.value)


@pytest.mark.parametrize("line", [
    "! tc:qdisc replace dev eth3 root handle 1: htb default 40",  # no space after the colon
    "! tc:  qdisc replace dev eth3 root handle 1: htb default 40",  # two
    "! tc:",
    "! tc: ",
])
def test_a_line_with_the_mark_must_parse(line: str) -> None:
    with pytest.raises(TcLineError, match=r"^line 2: `! tc:` line refused: "):
        parse_config(f"hostname r1\n{line}\n")


def test_refusal_names_the_line_number_never_the_line() -> None:
    config = GOOD + "! tc: qdisc replace dev eth3 root handle 1: htb default 40 password Sup3rS3cret; reboot\n"
    with pytest.raises(TcLineError) as err:
        parse_config(config)
    assert err.value.lineno == 6
    assert "line 6" in str(err.value)
    assert "Sup3rS3cret" not in str(err.value) and "reboot" not in str(err.value)


def test_a_newline_starts_a_new_line_that_is_parsed_on_its_own() -> None:
    with pytest.raises(TcLineError, match=r"^line 2: "):
        parse_config(f"! tc: {QDISC}\n! tc: exec reboot\n")


def test_duplicates_and_missing_qdisc_are_refused() -> None:
    with pytest.raises(TcLineError, match=r"^line 6: .*same class as line 3"):
        parse_config(GOOD + f"! tc: {LEAF_CLASS}\n")
    with pytest.raises(TcLineError, match=r"^line 1: .*no `qdisc replace"):
        parse_config(f"! tc: {LEAF_CLASS}\n")


def test_lines_without_the_mark_are_not_tc() -> None:
    assert parse_config("!tc: exec reboot\n ! tc: exec reboot\n! comment\n") == []


def test_batch_refuses_commands_that_were_not_parsed() -> None:
    with pytest.raises(TcSyntaxError):
        tc.batch({"eth3": [QDISC, "qdisc del dev eth0 root; reboot"]}, {}, replace=True)
    with pytest.raises(TcSyntaxError, match="another interface"):
        tc.batch({"eth3": [QDISC.replace("eth3", "eth4")]}, {}, replace=True)
    with pytest.raises(TcSyntaxError):
        tc.batch({}, {"eth3;reboot": [QDISC]}, replace=True)  # would be `qdisc del dev eth3;reboot root`
    with pytest.raises(TcSyntaxError):
        tc.by_interface(["exec reboot"])


def test_device_state_with_odd_interface_names_is_refused() -> None:
    qdiscs = [{"kind": "htb", "root": True, "handle": "1:", "dev": "eth0;reboot", "options": {"default": "0x10"}}]
    with pytest.raises(TcSyntaxError):
        tc.managed_interfaces(json.dumps(qdiscs))


def test_device_state_rates_become_the_template_form() -> None:
    classes = ("class htb 1:1 root rate 40Gbit ceil 40Gbit burst 0b cburst 0b\n"
               "class htb 1:20 parent 1:1 prio 0 rate 8Gbit ceil 8Gbit burst 0b cburst 0b\n")
    filters = [{"kind": "u32", "protocol": "ip", "pref": 201,
                "options": {"flowid": "1:20", "match": {"value": "b80000", "mask": "fc0000"}}}]
    assert tc.state_commands("eth3", "40", classes, json.dumps(filters)) == [QDISC, ROOT_CLASS, LEAF_CLASS, FILTER_V4]


# ---- the driver refuses such a candidate at load time ----------------------------------------------------

@pytest.mark.parametrize(("load", "error"), [("load_merge_candidate", MergeConfigException),
                                             ("load_replace_candidate", ReplaceConfigException)])
def test_load_candidate_refuses_a_bad_tc_line(tmp_path: Path, load: str, error: type[Exception]) -> None:
    driver = FRRDriver("192.0.2.1", "u", "p", optional_args={"state_dir": str(tmp_path)})
    config = "hostname r1\n" + GOOD + "! tc: qdisc del dev eth0 root; reboot # key Sup3rS3cret\n"
    with pytest.raises(error, match=r"line 7: `! tc:` line refused") as err:
        getattr(driver, load)(config=config)
    assert "reboot" not in str(err.value) and "Sup3rS3cret" not in str(err.value)
    assert driver._candidate is None  # nothing loaded
    with pytest.raises(error, match="line 2"):
        getattr(driver, load)(config=f"hostname r1\n! tc: {tc_grammar.PREFIX}{QDISC}\n")
