"""Every output Tonlé shows or stores is redacted, per platform and per output type.

Inputs are the realistic running configurations of tests/fixtures/secrets/ (every secret form of each
platform); each test asserts that none of the fixture's secrets appears in the output and, where the
output keeps configuration lines, that the lines without a secret are kept as they are.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from napalm.base.exceptions import CommitError, ConnectionException, MergeConfigException

from napalm_frr import frr as frr_driver
from napalm_frr.diff import DEFAULT_FRR_RELOAD, CandidateSyntaxError, FRRConfigTool
from tests.golden.cases import MD5_ENV, REPO, Case, cases
from tests.unit.secret_fixtures import ENV_KEY, KEEP, NAMES, SECRETS, as_diff, fixture, platform_of
from tonle.change import plan
from tonle.change.apply import ApplyOutcome, ApplyReport
from tonle.drift import audit as drift
from tonle.drift.audit import DRIFT, EXTRA, MISSING, UNREACHABLE, DeviceDrift, DriftReport, LineDiff
from tonle.drift.html import render_html
from tonle.drift.report import device_lines, junit_xml, redacted, summary_lines, to_json
from tonle.interfaces import cli
from tonle.interfaces.playbook import _Events, api_errors, deny_without_terminal
from tonle.interfaces.playbook_redact import run_secrets, scrub_artifacts
from tonle.lab import builder as lab
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.targets.nornir import run_on

HOST = {"ios": "pnh-iig-1", "junos": "kos-iig-1", "eos": "poi-iig-1", "frr": "pnh-dix-rs1"}
ALL_SECRETS = sorted({s for v in SECRETS.values() for s in v})
needs_vtysh = pytest.mark.skipif(not Path(DEFAULT_FRR_RELOAD).is_file() or shutil.which("vtysh") is None,
                                 reason="needs FRR's frr-reload.py and vtysh installed locally")



def own_case(name: str) -> Case:
    """The golden case of a device rendered on its own platform."""
    return next(c for c in cases() if c.name == name)

def leaks(text: str, secrets: list[str] | None = None) -> list[str]:
    return [s for s in (secrets or ALL_SECRETS) if s in text]


# ---- plans: text and JSON --------------------------------------------------------------------------------

def a_plan(name: str) -> plan.Plan:
    """A plan whose diff holds every secret form in the clear (as an old stored plan could)."""
    return plan.Plan("p-1", "2026-01-01T00:00:00", "noc", "production", {"sites": [], "roles": [], "hosts": []},
                     [plan.DevicePlan(HOST[platform_of(name)], platform_of(name), as_diff(name), "a", "b", "PNH",
                                      "iig-border")])


@pytest.mark.parametrize("name", NAMES)
def test_plan_text(name: str) -> None:
    text = a_plan(name).text()
    assert not leaks(text, SECRETS[name])
    for line in KEEP[name]:
        assert f"      +{line}" in text.splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_plan_json(name: str) -> None:
    data = a_plan(name).to_json()
    assert not leaks(json.dumps(data), SECRETS[name])
    assert data["summary"] == {"devices": 1, "changed": 1}
    assert all(f"+{line}" in data["devices"][0]["diff"].splitlines() for line in KEEP[name])


class _FakeNornir:
    """Nornir as make_plan uses it: filter, with_runner, run (results by host), close_connections."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results

    def filter(self, **_: Any) -> _FakeNornir:
        return self

    def with_runner(self, _runner: Any) -> _FakeNornir:
        return self

    def run(self, **_: Any) -> dict[str, Any]:
        return self.results

    def close_connections(self) -> None:
        return None


class _Multi(list[Any]):
    def __init__(self, item: Any, failed: bool) -> None:
        super().__init__([item])
        self.failed = failed


@pytest.mark.parametrize("platform", ["ios", "eos", "junos"])
def test_make_plan_stores_only_redacted_diffs(platform: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONLE_MD5_GLOBAL_TRANSIT", ENV_KEY)
    inv = load_from_nornir_config(REPO / "nornir.yaml")
    host = HOST[platform]
    name = platform
    diff = as_diff(name) + f"+ description leaked bare: {ENV_KEY}\n"  # only the known value catches this one
    result = SimpleNamespace(result={"diff": diff, "intended_sha256": "a", "running_sha256": "b"}, exception=None)
    monkeypatch.setattr(plan, "init_nornir", lambda *_a, **_k: (_FakeNornir({host: _Multi(result, False)}), inv))
    made = plan.make_plan(REPO / "nornir.yaml", tmp_path, plan.Selection(hosts=(host,)), lab=False, operator="tester",
                          overrides=[])
    assert not leaks(made.devices[0].diff, [*SECRETS[name], ENV_KEY])
    raw = sqlite3.connect(tmp_path / "tonle.db").execute("SELECT data FROM plans").fetchone()[0]
    assert not leaks(raw, [*SECRETS[name], ENV_KEY])
    assert not leaks(plan.load_plan(tmp_path, "latest").text(), [*SECRETS[name], ENV_KEY])


def test_make_plan_failure_message_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONLE_MD5_GLOBAL_TRANSIT", ENV_KEY)
    inv = load_from_nornir_config(REPO / "nornir.yaml")
    exc = CommitError(f"'neighbor 198.51.100.9 password other-key' rejected; key is {ENV_KEY}")
    failed = SimpleNamespace(result=None, exception=exc)
    monkeypatch.setattr(plan, "init_nornir", lambda *_a, **_k: (_FakeNornir({"pnh-iig-1": _Multi(failed, True)}),
                                                                  inv))
    with pytest.raises(plan.PlanFailed) as err:
        plan.make_plan(REPO / "nornir.yaml", tmp_path, plan.Selection(hosts=("pnh-iig-1",)), lab=False,
                       operator="tester", overrides=[])
    assert "other-key" not in str(err.value) and ENV_KEY not in str(err.value)
    assert "cannot plan pnh-iig-1: CommitError:" in str(err.value)


# ---- drift: JSON, JUnit, HTML, terminal summary, remediation ------------------------------------------------

def a_report(name: str) -> DriftReport:
    """A drift report whose lines, sections, remediation and error hold every secret form in the clear."""
    lines = [ln for ln in fixture(name).splitlines() if ln.strip()]
    diffs = [LineDiff("other", (lines[0],), ln, EXTRA if i % 2 else MISSING, (ln, f"no {ln.strip()}"))
             for i, ln in enumerate(lines)]
    bad = DeviceDrift("r9", "KOS", "iig-border", platform_of(name), status=UNREACHABLE,
                      error="CommitError: 'neighbor 1.2.3.4 password unreachable-key' rejected")
    dev = DeviceDrift(HOST[platform_of(name)], "PNH", "iig-border", platform_of(name), status=DRIFT, diffs=diffs,
                      remediation=lines)
    return DriftReport("drift-1", "2026-01-01T00:00:00.000+00:00", "noc", "production",
                       {"sites": [], "roles": [], "hosts": []}, [dev, bad], 1.0)


SECRETS_AND_ERROR = {n: [*SECRETS[n], "unreachable-key"] for n in NAMES}
# Junos drift compares `set` lines (drift.junos_set_lines); the curly form is for plans and device text.
DRIFT_NAMES = [n for n in NAMES if n != "junos"]


@pytest.mark.parametrize("name", DRIFT_NAMES)
def test_drift_json(name: str) -> None:
    text = to_json(a_report(name))
    assert not leaks(text, SECRETS_AND_ERROR[name])
    data = json.loads(text)
    kept = {d["line"] for d in data["devices"][0]["diffs"]}
    assert set(KEEP[name]) <= kept


@pytest.mark.parametrize("name", DRIFT_NAMES)
def test_drift_junit(name: str) -> None:
    xml = junit_xml(a_report(name))
    assert not leaks(xml, SECRETS_AND_ERROR[name])
    ET.fromstring(xml.split("\n", 1)[1])  # still well-formed


@pytest.mark.parametrize("name", DRIFT_NAMES)
def test_drift_html(name: str) -> None:
    html = render_html(a_report(name))
    assert not leaks(html, SECRETS_AND_ERROR[name])
    assert "remediation" in html


@pytest.mark.parametrize("name", DRIFT_NAMES)
def test_drift_terminal_summary_and_remediation(name: str) -> None:
    report = a_report(name)
    text = "\n".join(summary_lines(report))
    assert not leaks(text, SECRETS_AND_ERROR[name])
    assert "  remediation:" in text
    for line in KEEP[name]:
        assert f"    {line}" in text.splitlines()  # the remediation lines without a secret, as they are
    assert not leaks("\n".join(device_lines(report.devices[0])), SECRETS[name])
    assert not leaks(json.dumps(redacted(report).to_json()), SECRETS_AND_ERROR[name])


@pytest.mark.parametrize("platform", ["ios", "eos", "junos", pytest.param("frr", marks=needs_vtysh)])
def test_drift_audit_redacts_at_the_source(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit of one device (drift._audit_task): diffs, sections and remediation carry no secret,
    the known key value included where no syntax gives it away."""
    free_text = {"ios": f"interface Loopback9\n description {ENV_KEY}\n",
                 "eos": f"interface Loopback9\n   description {ENV_KEY}\n",
                 "junos": f'interfaces {{\n    lo0 {{\n        description "{ENV_KEY}";\n    }}\n}}\n',
                 "frr": f"interface lo9\n description {ENV_KEY}\nexit\n"}[platform]
    running = fixture(platform) + free_text
    monkeypatch.setattr(drift, "fetch_running_state", lambda _t, _show=(): SimpleNamespace(result={
        "running": running, "bgp": {}, "show": {}, "refused": ""}))
    task = SimpleNamespace(host=SimpleNamespace(name="pnh-iig-1"))
    res = drift._audit_task(task, {"pnh-iig-1": own_case("pnh-iig-1").intent}, platform, FRRConfigTool(), [ENV_KEY])
    dev: DeviceDrift = res.result
    assert dev.diffs and dev.remediation
    out = json.dumps(DriftReport("d", "t", "noc", "lab", {}, [dev]).to_json())
    assert not leaks(out, [*SECRETS[platform], ENV_KEY])


def test_drift_unreachable_reason_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(_task: object) -> None:
        raise ConnectionException(f"cannot connect: banner says key {ENV_KEY}; 'password 7 0822455D0A16'")

    monkeypatch.setattr(drift, "fetch_running_state", unreachable)
    task = SimpleNamespace(host=SimpleNamespace(name="pnh-iig-1"))
    with pytest.raises(drift._Unreachable) as err:
        drift._audit_task(task, {"pnh-iig-1": own_case("pnh-iig-1").intent}, "ios", FRRConfigTool(), [ENV_KEY])
    assert ENV_KEY not in str(err.value) and "0822455D0A16" not in str(err.value)
    assert err.value.__cause__ is None


# ---- the audit log -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_audit_entries_are_written_redacted(name: str, tmp_path: Path) -> None:
    db = StateDB(tmp_path)
    log = AuditLog(db, [ENV_KEY])
    log.append("commit-failed", f"r1 {ENV_KEY}", {"reason": fixture(name), "bare": f"the key is {ENV_KEY}",
                                                "problems": {"r1": fixture(name).splitlines()}})
    raw = (tmp_path / "tonle.db").read_bytes().decode("utf-8", errors="replace")
    assert not leaks(raw, [*SECRETS[name], ENV_KEY])
    assert not leaks(json.dumps(log.export()), [*SECRETS[name], ENV_KEY])
    assert log.verify() == []
    kept = next(e for e in log.entries() if e.action == "commit-failed").details["problems"]["r1"]
    assert all(line in kept for line in KEEP[name])


def test_audit_without_known_values_still_masks_every_form(tmp_path: Path) -> None:
    log = AuditLog(StateDB(tmp_path))
    log.append("validation-failed", "p1",
               {"reason": "running config differs: + neighbor 1.2.3.4 password Sup3r-S3cret-K9"})
    assert "Sup3r-S3cret-K9" not in json.dumps(log.export())  # long enough not to occur in a signature by chance


# ---- Ansible: events as printed and written, artifacts, module errors -----------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_ansible_events_are_redacted_before_they_are_printed_or_written(name: str, tmp_path: Path) -> None:
    said: list[str] = []
    audit = AuditLog(StateDB(tmp_path), [ENV_KEY])
    events = _Events(said.append, None, deny_without_terminal, audit, "run-1", [ENV_KEY])
    stream = [
        {"event": "runner_on_ok", "event_data": {"host": "localhost", "task": "Plan", "task_action": "tonle_plan",
                                                 "res": {"changed": False, "lines": fixture(name).splitlines(),
                                                         "msg": "plan p-1", "invocation": {
                                                             "module_args": {"md5": ENV_KEY}}}},
         "stdout": fixture(name)},
        {"event": "runner_on_failed", "event_data": {"host": "r1", "task": "Apply", "res": {
            "msg": f"commit failed: 'neighbor 1.2.3.4 password apply-key' rejected ({ENV_KEY})"}}},
        {"event": "error", "stdout": "ERROR! vars: {'device_password': 'x'} password err-key"},
    ]
    for ev in stream:
        assert events(ev) is True
    secrets = [*SECRETS[name], ENV_KEY, "apply-key", "err-key"]
    assert not leaks(json.dumps(stream), secrets)  # the very dicts ansible-runner writes to job_events/
    assert not leaks("\n".join(said), secrets)
    assert not leaks(json.dumps([vars(f) for f in events.failed] + events.errors), secrets)
    assert any(line in said for line in (f"      {k}" for k in KEEP[name]))


def test_ansible_artifacts_are_scrubbed(tmp_path: Path) -> None:
    env = {"TONLE_PASSWORD": "prod-device-pass", "TONLE_MD5_GLOBAL_TRANSIT": ENV_KEY, "PATH": "/usr/bin",
           "HOME": "/home/noc", "USE_KEYS": "1"}
    known = run_secrets(REPO / "nornir.yaml", tmp_path / "state", "production", environ=env)
    assert sorted(known) == sorted([ENV_KEY, "prod-device-pass"])  # not PATH, not the flag USE_KEYS=1
    run = tmp_path / "pdd" / "artifacts" / "run"
    (run / "job_events").mkdir(parents=True)
    (run / "command").write_text(json.dumps({"command": ["ansible-playbook", "-e", '{"x": 1}'], "cwd": "/",
                                             "env": env}))
    (run / "stdout").write_text("TASK [Plan]\n" + fixture("ios") + f"\nkey {ENV_KEY}\n")
    (run / "job_events" / "1-u.json").write_text(json.dumps({"event": "runner_on_ok", "stdout": fixture("junos"),
                                                           "event_data": {"res": {"lines": [fixture("eos")]}}}))
    (run / "status").write_text("successful")
    outside = tmp_path / "outside.conf"  # e.g. a project file linked into the run: never rewritten
    outside.write_text(f"password {ENV_KEY}\n")
    (tmp_path / "pdd" / "project").symlink_to(outside)
    changed = scrub_artifacts(tmp_path / "pdd", known)
    assert outside.read_text() == f"password {ENV_KEY}\n"
    assert {p.name for p in changed} == {"command", "stdout", "1-u.json"}
    for path in run.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert not leaks(path.read_text(), [*ALL_SECRETS, "prod-device-pass"]), path
    command = json.loads((run / "command").read_text())
    assert command["env"]["PATH"] == "/usr/bin" and command["env"]["TONLE_PASSWORD"] == "<redacted>"
    json.loads((run / "job_events" / "1-u.json").read_text())
    assert (run / "status").read_text() == "successful"


def test_module_errors_are_redacted() -> None:
    messages: list[str] = []

    def fail_json(msg: str) -> None:
        messages.append(msg)

    module = SimpleNamespace(fail_json=fail_json)
    with api_errors(module):
        raise plan.PlanError("cannot plan r1: CommitError: 'neighbor 1.2.3.4 password module-key' rejected")
    assert messages and "module-key" not in messages[0]


# ---- exception messages ------------------------------------------------------------------------------------

def test_frr_driver_errors_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err = frr_driver._ApplyError("neighbor 1.2.3.4 password drv-key-1", "% Unknown command")
    assert "drv-key-1" not in str(err)
    errors: list[str] = []
    frr_driver.FRRDriver._fail(" key-string drv-key-2", "% refused", errors)
    assert errors and "drv-key-2" not in errors[0]

    driver = frr_driver.FRRDriver("192.0.2.1", "u", "p", optional_args={"state_dir": str(tmp_path)})

    def refuse(_text: str) -> None:
        raise CandidateSyntaxError("line 3: % Unknown command: neighbor 1.2.3.4 password drv-key-3")

    monkeypatch.setattr(driver.tool, "validate", refuse)
    with pytest.raises(MergeConfigException) as exc:
        driver.load_merge_candidate(config="hostname r1\n")
    assert "drv-key-3" not in str(exc.value) and exc.value.__cause__ is None
    assert "line 3" in str(exc.value)

    monkeypatch.setattr(driver.tool, "validate", lambda _t: None)
    driver.load_replace_candidate(config=fixture("frr"))
    monkeypatch.setattr(driver, "has_pending_commit", lambda: False)
    monkeypatch.setattr(driver, "_running_full", lambda: "")
    monkeypatch.setattr(driver, "_restore", lambda _c: [])

    def apply(*_a: Any, **_k: Any) -> None:
        raise frr_driver._ApplyError("neighbor 1.2.3.4 password drv-key-4", "% Unknown command")

    monkeypatch.setattr(driver, "_apply", apply)
    with pytest.raises(CommitError) as commit:
        driver.commit_config()
    assert "drv-key-4" not in str(commit.value) and "Commit aborted" in str(commit.value)


def test_frr_get_config_sanitized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = frr_driver.FRRDriver("192.0.2.1", "u", "p", optional_args={"state_dir": str(tmp_path)})
    monkeypatch.setattr(driver, "_running_full", lambda: fixture("frr"))
    monkeypatch.setattr(driver, "_show", lambda _c: fixture("frr"))
    driver._candidate = fixture("frr")
    clean = driver.get_config(sanitized=True)
    assert not leaks(json.dumps(clean), SECRETS["frr"])
    assert all(line in clean["running"].splitlines() for line in KEEP["frr"])
    assert leaks(driver.get_config()["running"], SECRETS["frr"])  # unsanitized is the device's own text


def test_run_on_failure_reasons_are_redacted(tmp_path: Path) -> None:
    from nornir import InitNornir  # noqa: PLC0415
    from nornir.core.task import Result, Task  # noqa: PLC0415

    (tmp_path / "hosts.yaml").write_text("r1: {hostname: 192.0.2.1}\n")
    nr = InitNornir(runner={"plugin": "serial"}, logging={"enabled": False},
                    inventory={"plugin": "SimpleInventory", "options": {"host_file": str(tmp_path / "hosts.yaml")}})

    def fails(task: Task) -> Result:
        raise CommitError("Commit aborted: 'neighbor 1.2.3.4 password run-on-key' -> % Unknown command")

    ok, bad = run_on(nr, ["r1"], fails)
    assert not ok and "run-on-key" not in bad["r1"] and bad["r1"].startswith("CommitError: ")


def test_lab_command_errors_are_redacted() -> None:
    with pytest.raises(lab.LabError) as err:
        lab._run(["sh", "-c", "echo '% Unknown command: neighbor 1.2.3.4 password lab-key' >&2; exit 1"])
    assert "lab-key" not in str(err.value) and "<redacted>" in str(err.value)


def test_apply_report_lines_are_redacted() -> None:
    report = ApplyReport("p-1", ApplyOutcome.ROLLED_BACK, "validation failed on r1", devices={"r1": "rolled back"},
                         problems={"r1": ["running config differs from the intended one: + neighbor 1.2.3.4 "
                                          "password apply-line-key"]})
    assert "apply-line-key" not in "\n".join(report.lines())


def test_cli_errors_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    cli._err("cannot plan r1: CommitError: 'enable secret 9 $9$abc$def' rejected")
    assert "$9$abc$def" not in capsys.readouterr().err


def test_golden_md5_env_is_the_fixture_key() -> None:
    assert MD5_ENV == {"TONLE_MD5_GLOBAL_TRANSIT": ENV_KEY}
