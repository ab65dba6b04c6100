"""Drift reports for people and for machines: terminal summary, JSON and JUnit XML (CI/cron alerting).

JUnit: one test suite, one test case per device (class name ``drift.<site>``): a ``failure`` when the
device drifts (configuration or state), an ``error`` when it is unreachable or could not be audited,
passed when clean. Jenkins, GitLab and most CI servers read this shape.

Every output here, and the HTML report (tonle.drift.html), is made from :func:`redacted`: each
device's lines, sections, remediation and error with its platform's secret forms masked (the audit
masked the known key values already; this holds for a report read back from JSON too).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from tonle.drift.audit import CLEAN, DRIFT, ERROR, EXTRA, FEATURES, UNREACHABLE, DeviceDrift, DriftReport
from tonle.redact import redact_data

_SHORT = {"bgp-neighbors": "bgp-nbr", "static-routes": "static", "interfaces": "intf", "policies": "policy"}


def redacted(report: DriftReport) -> DriftReport:
    """A copy of the report with every secret form masked (per device platform; see tonle.redact)."""
    return DriftReport.from_json(redact_data(report.to_json()))


def to_json(report: DriftReport) -> str:
    """The whole report as JSON (every device, line difference, state issue and remediation)."""
    return json.dumps(redact_data(report.to_json()), indent=2)


def summary_lines(report: DriftReport, *, details: bool = True) -> list[str]:
    """A terminal summary: one row per device, then per drifting device its differences and fix."""
    report = redacted(report)
    counts = {s: len(report.by_status(s)) for s in (CLEAN, DRIFT, UNREACHABLE, ERROR)}
    out = [f"drift audit {report.id} ({report.target}): {len(report.devices)} device(s): "
           + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
           + f"  [{report.seconds:.2f} s, {report.workers} workers]"]
    cols = [_SHORT.get(f, f) for f in FEATURES]
    out.append(f"{'device':<14} {'site':<5} {'status':<12} " + " ".join(f"{c:>8}" for c in cols) + "  state")
    for d in report.devices:
        feats = d.features
        cells = [_cell(feats.get(f)) for f in FEATURES]
        state = (f"{len(d.state_errors)} error(s)" if d.state_errors else "ok") + \
            (f", {len(d.warnings)} warning(s)" if d.warnings else "") + \
            (f"; {d.unmanaged} unmanaged" if d.unmanaged else "")
        if d.status in (UNREACHABLE, ERROR):
            out.append(f"{d.host:<14} {d.site:<5} {d.status.upper():<12} {d.error}")
            continue
        out.append(f"{d.host:<14} {d.site:<5} {d.status.upper() if d.status == DRIFT else d.status:<12} "
                   + " ".join(f"{c:>8}" for c in cells) + f"  {state}")
    out += rpki_lines(report)
    if details:
        for d in report.devices:
            out += device_lines(d)
    return out


def rpki_lines(report: DriftReport) -> list[str]:
    """Origin validation per device that validates (tonle.drift.rpki): caches, invalid rejected and accepted."""
    rows = [(d.host, d.rpki) for d in report.devices if d.rpki is not None]
    if not rows:
        return []
    out = ["RPKI origin validation (invalid: rejected by the import filters since bgpd started / held now):"]
    for host, r in rows:
        if r.get("error"):
            out.append(f"  {host:<14} unreadable: {r['error']}")
            continue
        rejected = "?" if r.get("rejected") is None else r["rejected"]
        out.append(f"  {host:<14} caches {r.get('connected', 0)}/{r.get('configured', 0)} connected; invalid "
                   f"{rejected} rejected, {r.get('accepted', 0)} accepted"
                   + (f" ({r['ignored']} answer entries ignored)" if r.get("ignored") else ""))
    return out


def _cell(counts: dict[str, int] | None) -> str:
    if not counts:
        return "-"
    return f"+{counts['missing']}/-{counts['extra']}"


def device_lines(d: DeviceDrift) -> list[str]:
    """The differences of one device, grouped by feature and section, and its remediation."""
    if d.status == CLEAN and not d.warnings:
        return []
    d = _redacted_device(d)
    out = [f"\n{d.host} ({d.site} {d.role}, {d.platform}): {d.status}"]
    for f in FEATURES:
        lines = [x for x in d.diffs if x.feature == f]
        if not lines:
            continue
        out.append(f"  [{f}]")
        section: tuple[str, ...] | None = None
        for x in lines:
            if x.section != section:
                section = x.section
                out.append(f"    in {x.where}")
            out.append(f"      {'-' if x.kind == EXTRA else '+'} {x.line}   ({x.kind})")
    for s in d.state:
        out.append(f"  [state {s.severity}] {s.message}")
    if d.remediation:
        out.append("  remediation:")
        out += [f"    {c}" for c in d.remediation]
    return out


def _redacted_device(d: DeviceDrift) -> DeviceDrift:
    return redacted(DriftReport("", "", "", "", {}, [d])).devices[0]


def junit_xml(report: DriftReport) -> str:
    """The report as JUnit XML: one test case per device."""
    report = redacted(report)
    suite = ET.Element("testsuite", {
        "name": f"tonle drift ({report.target})", "tests": str(len(report.devices)),
        "failures": str(len(report.by_status(DRIFT))),
        "errors": str(len(report.by_status(UNREACHABLE)) + len(report.by_status(ERROR))),
        "skipped": "0", "time": f"{report.seconds:.3f}", "timestamp": report.started_at[:19],
        "id": report.id,
    })
    for d in report.devices:
        case = ET.SubElement(suite, "testcase", {"classname": f"drift.{d.site or 'unknown'}", "name": d.host,
                                                 "time": f"{d.seconds:.3f}"})
        if d.status == DRIFT:
            n = len(d.diffs)
            msg = f"{n} line(s) drift in {', '.join(d.features) or 'no feature'}" + \
                (f"; {len(d.state_errors)} state error(s)" if d.state_errors else "")
            fail = ET.SubElement(case, "failure", {"message": msg, "type": "drift"})
            fail.text = "\n".join(device_lines(d)).strip()
        elif d.status in (UNREACHABLE, ERROR):
            err = ET.SubElement(case, "error", {"message": d.error or d.status, "type": d.status})
            err.text = f"{d.host}: {d.status}: {d.error}"
        if d.warnings:
            ET.SubElement(case, "system-out").text = "\n".join(f"warning: {w.message}" for w in d.warnings)
    root = ET.Element("testsuites", {"name": "tonle drift", "tests": suite.get("tests", "0"),
                                     "failures": suite.get("failures", "0"), "errors": suite.get("errors", "0"),
                                     "time": suite.get("time", "0")})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def history_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Past drift runs, newest first (from tonle.drift.audit.history)."""
    out = [f"{'run':<32} {'target':<10} {'devices':>7} {'drift':>6} {'unreach':>7} {'exit':>4} {'secs':>7}"]
    for r in rows:
        out.append(f"{r['id']:<32} {r['target']:<10} {r['devices']:>7} {r['drifting']:>6} {r['unreachable']:>7} "
                   f"{r['exit_code']:>4} {r['seconds']:>7.2f}")
    return out
