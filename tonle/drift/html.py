"""The drift report as one self-contained HTML file: an overview picture first, details after.

Inline CSS and inline SVG only (no script, no external fetch), so it opens anywhere, offline, and can
be mailed or archived by cron. The overview draws one panel per site with a tile per device, colored
clean / drift / unreachable / error; a drifting tile is darker the more lines drift and carries a bar
sized by that count. Tiles link to the device's section (its differences by feature, state issues
and remediation). The markup is well-formed XML, so it can be checked and post-processed as such.
"""

from __future__ import annotations

import math
from html import escape

from tonle.drift.audit import CLEAN, DRIFT, ERROR, EXTRA, FEATURES, UNREACHABLE, DeviceDrift, DriftReport
from tonle.drift.report import redacted

TILE_W, TILE_H, GAP, PER_ROW, PANEL_PAD, HEADER = 132, 58, 8, 4, 12, 30
COLORS = {CLEAN: "#2f9e5b", UNREACHABLE: "#6c6f75", ERROR: "#8e44ad"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#b9c0cc;font-size:13px}
main{padding:20px 28px;max-width:1400px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 18px;min-width:120px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card b{display:block;font-size:28px}
.card.clean b{color:#2f9e5b}.card.drift b{color:#d9480f}.card.unreachable b{color:#6c6f75}
.card.error b{color:#8e44ad}
.overview{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-x:auto}
table{border-collapse:collapse;background:#fff;margin:18px 0;font-size:13px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left}
th{background:#eef0f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600;border-radius:4px;padding:1px 6px;color:#fff}
.status.clean{background:#2f9e5b}.status.drift{background:#d9480f}.status.unreachable{background:#6c6f75}
.status.error{background:#8e44ad}
section.device{background:#fff;border-radius:8px;margin:14px 0;padding:10px 18px;
 box-shadow:0 1px 2px rgba(0,0,0,.08);border-left:6px solid #2f9e5b}
section.device.drift{border-left-color:#d9480f}section.device.unreachable{border-left-color:#6c6f75}
section.device.error{border-left-color:#8e44ad}
section.device h2{font-size:17px;margin:6px 0}
h3{font-size:14px;margin:12px 0 4px;color:#3b4252}
pre{background:#f7f8fa;border:1px solid #e3e6ea;border-radius:6px;padding:8px 10px;font-size:12px;overflow-x:auto;
 margin:4px 0}
.add{color:#1a7f37;background:#e6ffec;display:block}.del{color:#b42318;background:#ffebe9;display:block}
.ctx{color:#57606a;display:block}
.warn{color:#9a6700}.err{color:#b42318}
.legend{font-size:12px;color:#57606a;margin-top:6px}
footer{color:#8a919c;font-size:12px;padding:10px 28px 30px}
"""


def _drift_color(lines: int) -> str:
    """Amber for a line or two, deep red from about 30 lines (log scale)."""
    t = min(1.0, math.log10(1 + lines) / math.log10(31))
    lo, hi = (0xF0, 0xA2, 0x2E), (0xB4, 0x23, 0x18)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def tile_color(d: DeviceDrift) -> str:
    if d.status == DRIFT:
        return _drift_color(len(d.diffs) + len(d.state_errors))
    return COLORS.get(d.status, COLORS[ERROR])


def _tile_label(d: DeviceDrift) -> str:
    if d.status == DRIFT:
        m = sum(1 for x in d.diffs if x.kind != EXTRA)
        e = len(d.diffs) - m
        state = f" {len(d.state_errors)}st" if d.state_errors else ""
        return f"+{m} -{e}{state}"
    return d.status


def overview_svg(report: DriftReport) -> str:
    """The per-site picture: a panel per site, a tile per device."""
    sites: dict[str, list[DeviceDrift]] = {}
    for d in report.devices:
        sites.setdefault(d.site or "?", []).append(d)
    panels = []
    worst = max([len(d.diffs) + len(d.state_errors) for d in report.devices] + [1])
    x = 0
    height = 0
    for site, devs in sites.items():
        cols = min(PER_ROW, len(devs))
        rows = math.ceil(len(devs) / cols)
        w = PANEL_PAD * 2 + cols * TILE_W + (cols - 1) * GAP
        h = HEADER + PANEL_PAD + rows * TILE_H + (rows - 1) * GAP + PANEL_PAD
        bad = sum(1 for d in devs if d.status != CLEAN)
        parts = [f'<g class="site" transform="translate({x},0)">',
                 f'<rect class="panel" width="{w}" height="{h}" rx="8" fill="#eef0f3"/>',
                 f'<text x="{PANEL_PAD}" y="21" font-size="15" font-weight="700" fill="#1d2330">{escape(site)}</text>',
                 f'<text x="{w - PANEL_PAD}" y="21" font-size="12" text-anchor="end" fill="#57606a">'
                 f'{bad}/{len(devs)} not clean</text>']
        for i, d in enumerate(devs):
            tx = PANEL_PAD + (i % cols) * (TILE_W + GAP)
            ty = HEADER + (i // cols) * (TILE_H + GAP)
            lines = len(d.diffs) + len(d.state_errors)
            bar = 0 if d.status != DRIFT else max(4, round((TILE_W - 16) * math.log1p(lines) / math.log1p(worst)))
            fill = 'url(#hatch)' if d.status == UNREACHABLE else tile_color(d)
            parts += [
                f'<a href="#dev-{escape(d.host)}"><g class="tile {d.status}" data-host="{escape(d.host)}" '
                f'transform="translate({tx},{ty})">',
                f'<title>{escape(d.host)}: {escape(d.status)}'
                f'{escape(" - " + d.error) if d.error else ""} ({lines} line(s))</title>',
                f'<rect width="{TILE_W}" height="{TILE_H}" rx="6" fill="{fill}"/>',
                f'<text x="8" y="20" font-size="13" font-weight="700" fill="#fff">{escape(d.host)}</text>',
                f'<text x="8" y="38" font-size="12" fill="#fff">{escape(_tile_label(d))}</text>',
            ]
            if bar:
                parts.append(f'<rect class="bar" x="8" y="{TILE_H - 12}" width="{bar}" height="5" rx="2" '
                             'fill="#fff" fill-opacity="0.85"/>')
            parts.append("</g></a>")
        parts.append("</g>")
        panels.append("".join(parts))
        x += w + 14
        height = max(height, h)
    defs = ('<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="8" height="8" fill="#6c6f75"/>'
            '<rect width="3" height="8" fill="#8d9096"/></pattern></defs>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="overview-map" width="{max(x - 14, 1)}" '
            f'height="{height}" viewBox="0 0 {max(x - 14, 1)} {height}" role="img" '
            f'aria-label="drift per site and device">{defs}{"".join(panels)}</svg>')


def _table(report: DriftReport) -> str:
    head = "".join(f"<th>{escape(f)}</th>" for f in FEATURES)
    rows = []
    for d in report.devices:
        feats = d.features
        cells = "".join(f'<td class="num">{_cell(feats.get(f))}</td>' for f in FEATURES)
        state = f"{len(d.state_errors)} error(s)" if d.state_errors else ("-" if d.status in (UNREACHABLE, ERROR)
                                                                           else "ok")
        if d.warnings:
            state += f", {len(d.warnings)} warning(s)"
        rows.append(f'<tr><td><a href="#dev-{escape(d.host)}">{escape(d.host)}</a></td><td>{escape(d.site)}</td>'
                    f'<td>{escape(d.role)}</td><td><span class="status {d.status}">{d.status}</span></td>{cells}'
                    f'<td>{escape(state)}</td><td class="rpki">{escape(_rpki_cell(d))}</td>'
                    f'<td class="num">{d.seconds:.2f}</td></tr>')
    return (f"<table><thead><tr><th>device</th><th>site</th><th>role</th><th>status</th>{head}<th>state</th>"
            f"<th>RPKI (invalid)</th><th>s</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _rpki_cell(d: DeviceDrift) -> str:
    """Origin validation in a few words: caches connected, invalid routes rejected and accepted."""
    r = d.rpki
    if r is None:
        return "-"
    if r.get("error"):
        return "unreadable"
    rejected = "?" if r.get("rejected") is None else r["rejected"]
    return (f"{rejected} rejected, {r.get('accepted', 0)} accepted; cache "
            f"{r.get('connected', 0)}/{r.get('configured', 0)}")


def _cell(c: dict[str, int] | None) -> str:
    return f"+{c['missing']} / -{c['extra']}" if c else ""


def _device(d: DeviceDrift) -> str:
    out = [f'<section class="device {d.status}" id="dev-{escape(d.host)}">',
           f'<h2>{escape(d.host)} <span class="status {d.status}">{d.status}</span></h2>',
           f"<p>{escape(d.site)} · {escape(d.role)} · compared as {escape(d.platform)} · {d.seconds:.2f} s</p>"]
    if d.error:
        out.append(f'<p class="err">{escape(d.error)}</p>')
    for f in FEATURES:
        lines = [x for x in d.diffs if x.feature == f]
        if not lines:
            continue
        body: list[str] = []
        section: tuple[str, ...] | None = None
        for x in lines:
            if x.section != section:
                section = x.section
                body += [f'<span class="ctx">{" " * i}{escape(s)}</span>' for i, s in enumerate(x.section)]
            cls, mark = ("del", "-") if x.kind == EXTRA else ("add", "+")
            body.append(f'<span class="{cls}">{mark}{" " * len(x.section)}{escape(x.line)}</span>')
        out.append(f'<h3 class="feature" data-feature="{f}">{escape(f)} ({len(lines)} line(s))</h3>'
                   f'<pre>{"".join(body)}</pre>')
    if d.rpki is not None:
        out.append(f'<h3>RPKI origin validation</h3><p class="rpki">{escape(_rpki_cell(d))}</p>')
        routes = d.rpki.get("accepted_routes", [])
        if routes:
            items = "".join(f"<li>{escape(str(r.get('prefix')))} from {escape(str(r.get('peer')))} (origin "
                            f"AS{escape(str(r.get('origin')))})</li>" for r in routes)
            out.append(f'<ul class="rpki-invalid">{items}</ul>')
    if d.state:
        items = "".join(f'<li class="{"err" if s.severity == "error" else "warn"}">{escape(s.severity)}: '
                        f"{escape(s.message)}</li>" for s in d.state)
        out.append(f"<h3>BGP state</h3><ul>{items}</ul>")
    if d.remediation:
        out.append(f'<h3>remediation</h3><pre class="remediation">{escape(chr(10).join(d.remediation))}</pre>')
    out.append("</section>")
    return "".join(out)


def render_html(report: DriftReport) -> str:
    """The complete HTML document (made from the redacted report)."""
    report = redacted(report)
    counts = {s: len(report.by_status(s)) for s in (CLEAN, DRIFT, UNREACHABLE, ERROR)}
    cards = "".join(f'<div class="card {s}"><b>{n}</b>{s}</div>' for s, n in counts.items())
    not_clean = [d for d in report.devices if d.status != CLEAN or d.warnings]
    details = "".join(_device(d) for d in not_clean) or "<p>Every device matches its intent.</p>"
    legend = ('<p class="legend">Green: clean. Amber to red: drift (darker and a longer bar the more lines '
              "drift; +missing -extra, st = BGP state errors). Grey hatched: unreachable (never counted as "
              "clean). Purple: could not be audited.</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>Tonlé drift {escape(report.id)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Drift audit: {counts[DRIFT]} of {len(report.devices)} device(s) drift</h1>"
        f"<p>{escape(report.id)} · target {escape(report.target)} · started {escape(report.started_at)} by "
        f"{escape(report.operator)} · {report.seconds:.2f} s · exit code {report.exit_code}</p></header>"
        f'<main><div class="cards">{cards}</div><div class="overview">{overview_svg(report)}{legend}</div>'
        f"{_table(report)}{details}</main>"
        "<footer>Generated by tonle drift. Remediation is applied only through `tonle drift --remediate` "
        "(a plan) and `tonle apply`.</footer></body></html>\n"
    )
