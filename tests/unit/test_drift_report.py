"""Drift reports: exit codes, JSON round trip, JUnit XML, the HTML overview, history and the CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tonle.drift import audit as drift
from tonle.drift.audit import (
    CLEAN,
    DRIFT,
    ERROR,
    EXTRA,
    MISSING,
    UNREACHABLE,
    DeviceDrift,
    DriftReport,
    LineDiff,
    StateIssue,
)
from tonle.drift.html import render_html
from tonle.drift.report import junit_xml, summary_lines, to_json
from tonle.interfaces.cli import main


def device(host: str, site: str, status: str = CLEAN, **kw: object) -> DeviceDrift:
    return DeviceDrift(host, site, "iig-border", "frr", status=status, **kw)  # type: ignore[arg-type]


def drifting(host: str = "r2", site: str = "POI") -> DeviceDrift:
    diffs = [LineDiff("bgp-neighbors", ("router bgp 64500",), "neighbor 192.0.2.99 remote-as 65999", EXTRA,
                      ("router bgp 64500", "no neighbor 192.0.2.99 remote-as 65999")),
             LineDiff("policies", (), "ip prefix-list PL-X seq 10 permit 10.0.0.0/8 le 32", MISSING,
                      ("ip prefix-list PL-X seq 10 permit 10.0.0.0/8 le 32",)),
             LineDiff("qos", ("tc dev eth2",), "class replace dev eth2 parent 1:1 classid 1:20 htb rate <5000kbit>",
                      MISSING, ("tc class replace dev eth2 parent 1:1 classid 1:20 htb rate 5000kbit",))]
    return device(host, site, DRIFT, diffs=diffs, remediation=["router bgp 64500", " no neighbor 192.0.2.99"],
                  state=[StateIssue("warning", "192.0.2.99", "192.0.2.99 (AS65999) is a session the intent "
                                                              "does not have & <odd>")])


def report(*devices: DeviceDrift) -> DriftReport:
    return DriftReport("drift-1", "2026-01-01T00:00:00.000+00:00", "noc", "lab",
                       {"sites": [], "roles": [], "hosts": []}, list(devices), 1.5)


def test_exit_codes() -> None:
    assert report(device("r1", "PNH")).exit_code == 0
    assert report(device("r1", "PNH"), drifting()).exit_code == 1
    assert report(drifting(), device("rs1", "PNH", UNREACHABLE, error="refused")).exit_code == 2
    assert report(device("rs1", "PNH", ERROR, error="boom")).exit_code == 2
    # State errors alone are drift; warnings alone are not.
    d = device("r1", "PNH", state=[StateIssue("error", "x", "down")])
    d.settle()
    assert d.status == DRIFT
    w = device("r1", "PNH", state=[StateIssue("warning", "x", "0 prefixes")])
    w.settle()
    assert w.status == CLEAN
    u = device("r1", "PNH", UNREACHABLE)
    u.settle()
    assert u.status == UNREACHABLE  # never turned into clean


def test_json_round_trip() -> None:
    rep = report(device("r1", "PNH"), drifting(), device("rs1", "PNH", UNREACHABLE, error="refused"))
    data = json.loads(to_json(rep))
    assert data["summary"] == {"devices": 3, "clean": 1, "drift": 1, "unreachable": 1, "error": 0, "exit_code": 2}
    r2 = data["devices"][1]
    assert r2["features"] == {"bgp-neighbors": {"missing": 0, "extra": 1}, "policies": {"missing": 1, "extra": 0},
                              "qos": {"missing": 1, "extra": 0}}
    assert r2["diffs"][0]["remediation"] == ["router bgp 64500", "no neighbor 192.0.2.99 remote-as 65999"]
    back = DriftReport.from_json(data)
    assert back.devices == rep.devices and back.exit_code == 2


def test_junit_xml() -> None:
    rep = report(device("r1", "PNH"), drifting(), device("rs1", "PNH", UNREACHABLE, error="Connection refused"))
    root = ET.fromstring(junit_xml(rep).encode())
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"r1", "r2", "rs1"}
    assert cases["r1"].find("failure") is None and cases["r1"].find("error") is None
    fail = cases["r2"].find("failure")
    assert fail is not None and fail.get("type") == "drift"
    assert "bgp-neighbors" in (fail.get("message") or "") and "no neighbor 192.0.2.99" in (fail.text or "")
    err = cases["rs1"].find("error")
    assert err is not None and err.get("type") == UNREACHABLE and err.get("message") == "Connection refused"
    assert cases["r2"].get("classname") == "drift.POI"
    assert "warning" in (cases["r2"].findtext("system-out") or "")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_well_formed_self_contained_and_shows_the_overview() -> None:
    rep = report(device("r1", "PNH"), drifting(), device("rs1", "PNH", UNREACHABLE, error="refused"),
                 device("k1", "KOS", ERROR, error="vtysh <refused> & failed"))
    text = render_html(rep)
    root = ET.fromstring(text.split("\n", 1)[1])  # well-formed XML after the doctype
    ns = {"svg": "http://www.w3.org/2000/svg"}
    svg = root.find(".//svg:svg", ns)
    assert svg is not None
    tiles = {g.get("data-host"): g.get("class") for g in svg.iterfind(".//svg:g", ns) if g.get("data-host")}
    assert tiles == {"r1": "tile clean", "r2": "tile drift", "rs1": "tile unreachable", "k1": "tile error"}
    sites = [t.text for t in svg.iterfind("svg:g[@class='site']/svg:text", ns)]
    assert sites[0::2] == ["PNH", "POI", "KOS"]  # one panel per site, in report order
    assert svg.find(".//svg:rect[@class='bar']", ns) is not None  # the drifting tile's size bar
    sections = {s.get("id"): s.get("class") for s in root.iter("section")}
    assert sections == {"dev-r2": "device drift", "dev-rs1": "device unreachable", "dev-k1": "device error"}
    features = [h.get("data-feature") for h in root.iter("h3") if h.get("data-feature")]
    assert features == ["bgp-neighbors", "policies", "qos"]
    assert "&lt;5000kbit&gt;" in text and "&amp; &lt;odd&gt;" in text  # escaped, not markup
    # Self-contained: no script, no external resource.
    parser = _Tags()
    parser.feed(text)
    assert not [t for t, _ in parser.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for _, a in parser.tags for k, v in a.items() if k in ("src", "href") and v and
                not v.startswith("#")]


def test_summary_lines() -> None:
    out = "\n".join(summary_lines(report(device("r1", "PNH"), drifting(), device("rs1", "PNH", UNREACHABLE,
                                                                                   error="refused"))))
    assert "1 clean, 1 drift, 1 unreachable" in out
    assert "rs1            PNH   UNREACHABLE  refused" in out
    assert "[bgp-neighbors]" in out and "- neighbor 192.0.2.99 remote-as 65999   (extra)" in out
    assert "remediation:" in out


def test_history(tmp_path: Path) -> None:
    drift.save_run(tmp_path, report(drifting()))
    rows = drift.history(tmp_path)
    assert len(rows) == 1
    assert (rows[0]["id"], rows[0]["drifting"], rows[0]["exit_code"]) == ("drift-1", 1, 1)
    assert rows[0]["data"]["r2"]["features"]["policies"] == {"missing": 1, "extra": 0}


@pytest.mark.parametrize(("devices", "code"), [((CLEAN,), 0), ((CLEAN, DRIFT), 1), ((DRIFT, UNREACHABLE), 2)])
def test_cli_exit_codes_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  devices: tuple[str, ...], code: int) -> None:
    devs = [drifting(f"d{i}") if s == DRIFT else device(f"d{i}", "PNH", s, error="refused" if s != CLEAN else "")
            for i, s in enumerate(devices)]
    calls: list[dict[str, object]] = []

    def fake_run(config: Path, state: Path, sel: object, **kw: object) -> DriftReport:
        calls.append({"sel": sel, **kw})
        return report(*devs)

    monkeypatch.setattr(drift, "run_drift", fake_run)
    junit, html = tmp_path / "j.xml", tmp_path / "r.html"
    rc = main(["--config", "x.yaml", "--state-dir", str(tmp_path), "drift", "--json", "--site", "PNH",
               "--junit", str(junit), "--html", str(html), "--workers", "7"])
    assert rc == code
    assert json.loads(capsys.readouterr().out)["summary"]["exit_code"] == code
    assert ET.parse(junit).getroot().tag == "testsuites" and html.read_text().startswith("<!DOCTYPE html>")
    assert calls[0]["workers"] == 7 and calls[0]["lab"] is True
