"""Drift audit: each device's running configuration and BGP state against its intent.

Per device: render the intended configuration (active disconnects included), fetch the running one
through NAPALM on the host's one Nornir connection, and compare them section-aware and
order-insensitive with the platform's own semantics:

* FRR: FRR's ``frr-reload.py`` logic (``napalm_frr.diff``) run on the controller, and the ``! tc:``
  QoS lines per interface (``napalm_frr.tc``);
* IOS-XE and EOS: hier_config (indented sections, its negation rules for remediation);
* Junos: ``set`` lines, ``delete`` for extra lines.

On every platform only the parts Tonlé owns are compared (`tonle.compile.owned`, the same view as plan,
apply and the compliance gate); every other line of the device is *unmanaged*: counted, never drift.

Every differing line is classified into a feature (BGP neighbours, BGP, policies, QoS, interfaces,
static routes, other) with the commands that bring the device to its intent. State drift: every
intended session not shut by the intent must be Established and within its maximum prefixes; a shut
one must be down; an upstream that is up but gives no prefix is a warning.

A device that cannot be reached is ``unreachable``, never clean. Exit codes (see `DriftReport.exit_code`):
0 every device clean, 1 drift found (configuration or state), 2 a device unreachable or not auditable
(this wins over 1: an audit with a hole in it must not read as "only drift").
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from napalm.base.exceptions import ConnectionException
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
from nornir.core.task import Result, Task
from nornir.plugins.runners import ThreadedRunner

from napalm_frr import tc
from napalm_frr.diff import Change, FRRConfigTool, as_shown, frr_lines
from tonle.change.gates import Snapshot
from tonle.change.plan import Plan, Selection, make_plan, secret_values
from tonle.compile import owned
from tonle.compile.intent import (
    DeviceIntent,
    Override,
    device_intent,
    load_intent,
    override_from_dict,
    override_to_dict,
    with_irr,
    with_md5_keys,
)
from tonle.compile.render import render_intent
from tonle.drift import rpki
from tonle.redact import exception_text, redact
from tonle.state.audit import AuditLog, now_iso, process_identity
from tonle.state.db import StateDB
from tonle.state.irr import latest_irr
from tonle.targets.nornir import init_nornir
from tonle.targets.target import Target, md5_keys
from tonle.tasks.drift import fetch_running_state

FEATURES = ("bgp-neighbors", "bgp", "policies", "qos", "interfaces", "static-routes", "other")
MISSING, EXTRA = "missing", "extra"  # missing: intended, not running; extra: running, not intended
CLEAN, DRIFT, UNREACHABLE, ERROR = "clean", "drift", "unreachable", "error"
EXIT_CLEAN, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
DEFAULT_WORKERS = 32

_POLICY_ROOTS = ("route-map", "ip prefix-list", "ipv6 prefix-list", "bgp as-path", "bgp community-list",
                 "bgp large-community-list", "bgp extcommunity-list", "ip as-path", "ip community-list",
                 "ip extcommunity-list", "ip large-community-list", "peer-filter")
_QOS_ROOTS = ("class-map", "policy-map", "qos ", "platform qos")
_QOS_LINES = ("service-policy", "qos ", "shape ", "tx-queue", "priority", "bandwidth")


@dataclass(frozen=True)
class LineDiff:
    """One line that differs: where it is, whether it is missing or extra, and what fixes it."""

    feature: str
    section: tuple[str, ...]  # enclosing contexts, outermost first ((), for a top-level line)
    line: str
    kind: str  # missing | extra
    remediation: tuple[str, ...]  # commands from the top level that fix this line

    @property
    def where(self) -> str:
        return " > ".join(self.section) or "(top level)"


@dataclass(frozen=True)
class StateIssue:
    severity: str  # error (drift) | warning
    neighbor: str
    message: str


@dataclass
class DeviceDrift:
    """The audit of one device."""

    host: str
    site: str
    role: str
    platform: str  # platform compared (frr for a lab twin)
    status: str = CLEAN  # clean | drift | unreachable | error
    error: str = ""
    diffs: list[LineDiff] = field(default_factory=list)
    state: list[StateIssue] = field(default_factory=list)
    remediation: list[str] = field(default_factory=list)  # the whole fix, in apply order
    seconds: float = 0.0
    unmanaged: int = 0  # device lines outside what Tonlé owns (left alone; not drift)
    rpki: dict[str, Any] | None = None  # origin validation as the device runs it (tonle.drift.rpki); None: not read

    @property
    def state_errors(self) -> list[StateIssue]:
        return [s for s in self.state if s.severity == "error"]

    @property
    def warnings(self) -> list[StateIssue]:
        return [s for s in self.state if s.severity == "warning"]

    @property
    def features(self) -> dict[str, dict[str, int]]:
        """Per feature with drift: counts of missing and extra lines, in FEATURES order."""
        out: dict[str, dict[str, int]] = {}
        for f in FEATURES:
            m = sum(1 for d in self.diffs if d.feature == f and d.kind == MISSING)
            e = sum(1 for d in self.diffs if d.feature == f and d.kind == EXTRA)
            if m or e:
                out[f] = {MISSING: m, EXTRA: e}
        return out

    def settle(self) -> None:
        """Set the status from the findings (unreachable and error stay as they are)."""
        if self.status in (CLEAN, DRIFT):
            self.status = DRIFT if self.diffs or self.state_errors else CLEAN


@dataclass
class DriftReport:
    """One drift audit over a selection of devices."""

    id: str
    started_at: str
    operator: str
    target: str  # lab | production
    selection: dict[str, list[str]]
    devices: list[DeviceDrift]
    seconds: float = 0.0
    workers: int = DEFAULT_WORKERS
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def by_status(self, status: str) -> list[DeviceDrift]:
        return [d for d in self.devices if d.status == status]

    @property
    def drifting(self) -> list[str]:
        return [d.host for d in self.devices if d.status == DRIFT]

    @property
    def exit_code(self) -> int:
        """0 clean, 1 drift, 2 a device unreachable or not auditable (wins over drift)."""
        if any(d.status in (UNREACHABLE, ERROR) for d in self.devices):
            return EXIT_ERROR
        return EXIT_DRIFT if self.drifting else EXIT_CLEAN

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for dev, d in zip(self.devices, data["devices"], strict=True):
            d["features"] = dev.features
        data["summary"] = {"devices": len(self.devices), **{s: len(self.by_status(s))
                                                             for s in (CLEAN, DRIFT, UNREACHABLE, ERROR)},
                           "exit_code": self.exit_code}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DriftReport:
        devices = []
        for raw in data["devices"]:
            d = {k: v for k, v in raw.items() if k != "features"}
            d["diffs"] = [LineDiff(x["feature"], tuple(x["section"]), x["line"], x["kind"], tuple(x["remediation"]))
                          for x in d["diffs"]]
            d["state"] = [StateIssue(**s) for s in d["state"]]
            devices.append(DeviceDrift(**d))
        keys = ("id", "started_at", "operator", "target", "selection", "seconds", "workers", "overrides")
        return cls(devices=devices, **{k: data[k] for k in keys if k in data})


# ---- classification ------------------------------------------------------------------------------

def classify(section: Iterable[str], line: str) -> str:
    """The feature a configuration line belongs to, from its contexts and its first words."""
    ctx = [s.strip() for s in section]
    root = ctx[0] if ctx else line.strip()
    text = line.strip()
    if root.startswith("set ") or root.startswith("delete "):  # Junos set format: the path says it
        return _classify_junos(root.split(maxsplit=1)[1])
    if root.startswith("router bgp"):
        return "bgp-neighbors" if text.startswith(("neighbor", "no neighbor")) and ctx else "bgp"
    if root.startswith(_POLICY_ROOTS):
        return "policies"
    if root.startswith(_QOS_ROOTS):
        return "qos"
    if root.startswith("interface"):
        return "qos" if any(c.startswith(_QOS_LINES) for c in [*ctx[1:], text]) else "interfaces"
    if root.startswith(("ip route", "ipv6 route")):
        return "static-routes"
    return "other"


def _classify_junos(path: str) -> str:
    if path.startswith("protocols bgp"):
        return "bgp-neighbors" if " neighbor " in f" {path} " else "bgp"
    if path.startswith("policy-options"):
        return "policies"
    if path.startswith("class-of-service"):
        return "qos"
    if path.startswith("interfaces"):
        return "interfaces"
    if path.startswith("routing-options") and " static " in f" {path} ":
        return "static-routes"
    return "other"


# ---- comparison -----------------------------------------------------------------------------------

def compare(intended: str, running: str, platform: str, tool: FRRConfigTool | None = None
            ) -> tuple[list[LineDiff], list[str]]:
    """Differences between an intended and a running configuration, and the commands that remove them.

    Returns:
        (line differences, remediation commands in apply order).

    Raises:
        ValueError: no comparison for the platform.
        napalm_frr.diff.CandidateSyntaxError: (FRR) the local vtysh rejects a line of either text.
    """
    if platform == "frr":
        return compare_frr(intended, running, tool or FRRConfigTool())
    if platform in ("ios", "eos"):
        return compare_hier(intended, running, platform)
    if platform == "junos":
        return compare_junos(intended, running)
    raise ValueError(f"no drift comparison for platform {platform!r}")


def compare_frr(intended: str, running: str, tool: FRRConfigTool) -> tuple[list[LineDiff], list[str]]:
    """FRR: frr-reload.py semantics for vtysh configuration, per-interface tc state for QoS, on the owned
    parts of both sides (the view `tasks.change` pushes: what is not owned is never removed, so not drift)."""
    managed = owned.managed_interfaces("frr", intended)
    want_cfg, want_tc = tc.split(owned.owned_text("frr", intended, managed))
    have_cfg, have_tc = tc.split(owned.owned_text("frr", running, managed))
    # Fast path (the common, clean case): the same lines in the same contexts, in whatever order, is
    # no change for frr-reload either; skip its two local vtysh runs.
    same = frr_lines(want_cfg) == frr_lines(have_cfg)
    additions, deletions = ([], []) if same else tool.replace_changes(want_cfg, have_cfg)
    diffs = [_frr_line(ch, tool.lines(ch)) for ch in [*deletions, *additions]]
    qos_diffs, qos_script = _compare_tc(tc.by_interface(want_tc), tc.by_interface(have_tc))
    return diffs + qos_diffs, grouped_script([list(d.remediation) for d in diffs]) + qos_script


def _frr_line(ch: Change, cmds: list[str]) -> LineDiff:
    # The line as it is (or should be) on the device, never frr-reload's internal "no …" addition.
    removed, section, line = as_shown(ch)
    return LineDiff(classify(section, line), tuple(section), line, EXTRA if removed else MISSING, tuple(cmds))


def grouped_script(commands: list[list[str]]) -> list[str]:
    """Fix commands (each: context-entering commands, then the command) as one vtysh-style script.

    Consecutive commands in the same context share one context line; nested levels are indented one
    space per level.
    """
    script: list[str] = []
    open_ctx: list[str] = []
    for cmds in commands:
        ctx, last = cmds[:-1], cmds[-1]
        keep = 0
        while keep < min(len(ctx), len(open_ctx)) and ctx[keep] == open_ctx[keep]:
            keep += 1
        script += [f"{' ' * i}{c}" for i, c in enumerate(ctx) if i >= keep]
        script.append(f"{' ' * len(ctx)}{last}")
        open_ctx = ctx
    return script


def _tc_identity(cmd: str) -> str:
    """What a tc command configures (the same object with other parameters is a replacement)."""
    m = re.match(r"(qdisc replace dev \S+ root|class replace dev \S+ parent \S+ classid \S+|"
                 r"filter replace dev \S+ parent \S+ protocol \S+ prio \S+)", cmd)
    return m.group(1) if m else cmd


def _tc_delete(cmd: str) -> str:
    t = cmd.split()
    if t[0] == "qdisc":
        return f"qdisc del dev {t[3]} root"
    if t[0] == "class":
        return f"class del dev {t[3]} classid {t[7]}"
    return f"filter del dev {t[3]} parent {t[5]} protocol {t[7]} prio {t[9]}"


def _compare_tc(want: dict[str, list[str]], have: dict[str, list[str]]) -> tuple[list[LineDiff], list[str]]:
    diffs: list[LineDiff] = []
    for iface in sorted(set(want) | set(have)):
        w, h = want.get(iface, []), have.get(iface, [])
        if w == h:
            continue
        section = (f"tc dev {iface}",)
        replaced = {_tc_identity(c) for c in w}
        for c in h:
            if c not in w:  # superseded by the intended command of the same object: nothing to delete
                fix = () if _tc_identity(c) in replaced else (f"tc {_tc_delete(c)}",)
                diffs.append(LineDiff("qos", section, c, EXTRA, fix))
        diffs += [LineDiff("qos", section, c, MISSING, (f"tc {c}",)) for c in w if c not in h]
    # The whole fix is the driver's own: each changed interface rebuilt in one tc batch.
    script = [f"tc {c}" for c in tc.batch(want, have, replace=True)]
    return diffs, script


def compare_hier(intended: str, running: str, platform: str) -> tuple[list[LineDiff], list[str]]:
    """IOS-XE / EOS: hier_config's section-aware comparison and remediation."""
    from hier_config import Platform, get_hconfig  # noqa: PLC0415 - heavy, vendor only

    plat = Platform.CISCO_IOS if platform == "ios" else Platform.ARISTA_EOS
    managed = owned.managed_interfaces(platform, intended)
    want = get_hconfig(plat, owned.owned_text(platform, intended, managed))
    have = get_hconfig(plat, owned.owned_text(platform, running, managed))
    diffs: list[LineDiff] = []
    for kind, tree in ((MISSING, want.difference(have)), (EXTRA, have.difference(want))):
        for leaf in tree.all_children_sorted():
            if leaf.children:
                continue
            lineage = [p.text for p in leaf.lineage()]
            section, line = tuple(lineage[:-1]), lineage[-1]
            fix = [*section, line] if kind == MISSING else [*section, leaf.negate().text]
            diffs.append(LineDiff(classify(section, line), section, line, kind, tuple(fix)))
    return diffs, owned.owned_remediation(platform, intended, running).splitlines()


def compare_junos(intended: str, running: str) -> tuple[list[LineDiff], list[str]]:
    """Junos: the owned parts as ``set`` lines, compared as sets; the fix is the `load replace` file."""
    managed = owned.managed_interfaces("junos", intended)
    want, have = owned.split("junos", intended, managed).owned, owned.split("junos", running, managed).owned
    diffs: list[LineDiff] = []
    extra = [ln for ln in have if ln not in set(want)]
    missing = [ln for ln in want if ln not in set(have)]
    for ln in extra:
        diffs.append(LineDiff(classify((), ln), (), ln, EXTRA, ("delete " + ln.removeprefix("set "),)))
    for ln in missing:
        diffs.append(LineDiff(classify((), ln), (), ln, MISSING, (ln,)))
    return diffs, owned.junos_candidate(intended, running).splitlines() if diffs else []


def unmanaged_lines(intended: str, running: str, platform: str) -> int:
    """How many lines of the running configuration Tonlé does not own."""
    return len(owned.split(platform, running, owned.managed_interfaces(platform, intended)).unmanaged)


def junos_set_lines(text: str) -> list[str]:
    """A Junos configuration (curly or set format) as its ``set`` lines."""
    from hier_config import Platform, get_hconfig  # noqa: PLC0415

    return [ln for ln in get_hconfig(Platform.JUNIPER_JUNOS, text).dump_simple() if ln.startswith("set ")]


# ---- state ----------------------------------------------------------------------------------------

def state_issues(di: DeviceIntent, snap: Snapshot) -> list[StateIssue]:
    """BGP state against the intent: sessions expected up that are not, prefix counts out of bounds."""
    out: list[StateIssue] = []
    intended = {n.ip for n in di.neighbors}
    for n in di.neighbors:
        now = snap.get(n.ip)
        who = f"{n.ip} ({n.peer}, AS{n.remote_asn})"
        if n.shutdown:
            if now is not None and now["up"]:
                out.append(StateIssue("error", n.ip, f"{who} is up although the intent shuts it"))
            continue
        if now is None:
            out.append(StateIssue("error", n.ip, f"{who} is not configured on the device"))
            continue
        if not now["up"]:
            why = "administratively shut" if not now["enabled"] else "down"
            out.append(StateIssue("error", n.ip, f"{who} should be Established but is {why}"))
            continue
        if n.max_prefixes is not None and now["accepted"] > n.max_prefixes:
            out.append(StateIssue("error", n.ip, f"{who} accepts {now['accepted']} prefixes, over its maximum "
                                                 f"{n.max_prefixes}"))
        if n.kind == "upstream" and now["accepted"] == 0:
            out.append(StateIssue("warning", n.ip, f"{who} is up but 0 prefixes are accepted from this upstream"))
    for ip in sorted(set(snap) - intended):
        out.append(StateIssue("warning", ip, f"{ip} (AS{snap[ip]['remote_as']}) is a session the intent does "
                                             "not have"))
    return out


# ---- the run --------------------------------------------------------------------------------------

_UNREACHABLE = (ConnectionException, NetmikoTimeoutException, NetmikoAuthenticationException, OSError, EOFError)


class _Unreachable(Exception):
    """The device could not be read (connection refused, timed out, authentication failed)."""


def _audit_task(task: Task, intents: dict[str, DeviceIntent], platform: str | None, tool: FRRConfigTool,
                secrets: list[str]) -> Result:
    t0 = time.monotonic()
    di = intents[task.host.name]
    plat = platform or di.device.platform
    intended = render_intent(di, plat)
    # Origin validation is read where the intent validates and FRR answers (lab twins, FRR in production).
    read_rpki = plat == "frr" and bool(di.rpki_caches)
    try:
        data = (fetch_running_state(task, rpki.COMMANDS) if read_rpki else fetch_running_state(task)).result
    except _UNREACHABLE as exc:
        raise _Unreachable(exception_text(exc, secrets)) from None
    diffs, script = compare(intended, data["running"], plat, tool)
    dev = DeviceDrift(task.host.name, di.device.site, di.device.role, plat,
                      diffs=[_redacted(d, secrets, plat) for d in diffs], state=state_issues(di, data["bgp"]),
                      remediation=[redact(c, secrets, plat) for c in script],
                      unmanaged=unmanaged_lines(intended, data["running"], plat))
    if read_rpki:
        found = rpki.RpkiState(len(di.rpki_caches), error=redact(data["refused"], secrets)[:200]) \
            if data["refused"] else \
            rpki.read_state(di, data["show"])
        dev.rpki = found.to_json()
        dev.state += [StateIssue(sev, who, msg) for sev, who, msg in rpki.issues(di, found)]
    dev.settle()
    dev.seconds = round(time.monotonic() - t0, 3)
    return Result(host=task.host, result=dev)


def _redacted(d: LineDiff, secrets: list[str], platform: str) -> LineDiff:
    def r(text: str) -> str:
        return redact(text, secrets, platform)

    return LineDiff(d.feature, tuple(r(c) for c in d.section), r(d.line), d.kind, tuple(r(c) for c in d.remediation))


def run_drift(config_file: Path, state_dir: Path, selection: Selection, *, lab: bool,
              workers: int = DEFAULT_WORKERS, overrides: Iterable[Override] | None = None,
              record: bool = True, operator: str | None = None) -> DriftReport:
    """Audit the selected devices in parallel (at most `workers` at a time) and record the run.

    Args:
        config_file: nornir.yaml.
        state_dir: State directory (lab credentials, state DB).
        selection: Which devices.
        lab: Audit the lab twins (rendered as FRR) instead of production devices.
        workers: Size of the worker pool (connections open at once).
        overrides: Session overrides; None means the active disconnects in the state DB.
        record: Store the run's summary in the state DB (history) and the audit log.
        operator: Who runs the audit (default: this process's user, as the kernel says).

    Raises:
        InventoryError: invalid inventory or intent.
        PlanError: bad selection.
        LabError: `lab` and the lab is not up.
    """
    t0 = time.monotonic()
    started = now_iso()
    if overrides is None:
        from tonle.state.disconnects import active_overrides  # noqa: PLC0415

        overrides = active_overrides(state_dir)
    overrides = list(overrides)
    nr, inv = init_nornir(config_file, state_dir, lab=lab)
    intent = with_md5_keys(load_intent(inv), md5_keys(inv, state_dir, Target.of(lab)))
    intent = with_irr(intent, latest_irr(StateDB(state_dir)))  # the IRR-built filters are intent too
    hosts = selection.apply(inv)
    intents = {h: device_intent(intent, h, overrides) for h in hosts}
    workers = max(1, min(workers, len(hosts)))
    nr = nr.filter(filter_func=lambda h: h.name in hosts).with_runner(ThreadedRunner(num_workers=workers))
    secrets = secret_values(intent)
    try:
        results = nr.run(task=_audit_task, intents=intents, platform=Target.of(lab).platform_override(),
                         tool=FRRConfigTool(), secrets=secrets)
    finally:
        nr.close_connections()
    devices = []
    for h in hosts:
        dev = inv.devices[h]
        multi = results.get(h)
        if multi is not None and not multi.failed:
            devices.append(multi[0].result)
            continue
        exc = multi[0].exception if multi is not None else None
        status = UNREACHABLE if isinstance(exc, _Unreachable) else ERROR
        devices.append(DeviceDrift(h, dev.site, dev.role, Target.of(lab).driver(dev), status=status,
                                   error=redact(str(exc), secrets) if isinstance(exc, _Unreachable) else
                                   (exception_text(exc, secrets) if exc else "not run")))
    stamp = datetime.now(UTC)
    report = DriftReport(f"drift-{stamp:%Y%m%dT%H%M%S}-{stamp.microsecond // 1000:03d}", started,
                         operator or process_identity(), "lab" if lab else "production",
                         {"sites": list(selection.sites), "roles": list(selection.roles),
                          "hosts": list(selection.hosts)},
                         devices, round(time.monotonic() - t0, 3), workers, [override_to_dict(o) for o in overrides])
    if record:
        save_run(state_dir, report)
    return report


# ---- history and remediation ---------------------------------------------------------------------

def save_run(state_dir: Path, report: DriftReport) -> None:
    """Keep a drift run's summary (per device status and feature counts) in the state DB."""
    db = StateDB(state_dir)
    summary = {d.host: {"status": d.status, "features": d.features, "state_errors": len(d.state_errors),
                        "warnings": len(d.warnings), "error": d.error} for d in report.devices}

    def insert(conn: sqlite3.Connection) -> None:  # with its audit entry, one transaction
        conn.execute("INSERT INTO drift_runs (id, started_at, seconds, operator, target, devices, drifting, "
                     "unreachable, errors, exit_code, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (report.id, report.started_at, report.seconds, report.operator, report.target,
                      len(report.devices), len(report.drifting), len(report.by_status(UNREACHABLE)),
                      len(report.by_status(ERROR)), report.exit_code, json.dumps(summary)))
    AuditLog(db, actor=report.operator).append("drift", report.id, {
        "target": report.target, "drifting": report.drifting,
        "unreachable": [d.host for d in report.by_status(UNREACHABLE)], "exit_code": report.exit_code},
        change=insert)


def history(state_dir: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The latest drift runs, newest first."""
    db = StateDB(state_dir)
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM drift_runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
                            (limit,)).fetchall()
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


def remediation_plan(config_file: Path, state_dir: Path, report: DriftReport, *, lab: bool) -> Plan | None:
    """A plan of the change pipeline for the drifting devices (never applied here); None when none drift.

    The plan is made with the same overrides (active disconnects) as the audit, so that remediation
    never undoes a disconnect.
    """
    if not report.drifting:
        return None
    overrides = [override_from_dict(o) for o in report.overrides]
    return make_plan(config_file, state_dir, Selection(hosts=tuple(report.drifting)), lab=lab,
                     operator=report.operator, overrides=overrides)


__all__ = ["FEATURES", "DeviceDrift", "DriftReport", "LineDiff", "StateIssue", "classify", "compare",
           "compare_frr", "compare_hier", "compare_junos", "history", "remediation_plan", "run_drift",
           "state_issues"]
