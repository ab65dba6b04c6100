#!/usr/bin/python
"""Ansible module tonle_drift: drift audit of running configs and BGP state against the intent (tonle.drift.audit)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.change.plan import Selection
    from tonle.drift import audit as drift
    from tonle.drift import report as drift_report
    from tonle.interfaces.playbook import api_errors, module_paths

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_drift
short_description: Audit devices for configuration and state drift, like C(tonle drift)
description:
  - Runs C(tonle.drift.audit.run_drift) on the selected devices (recorded in the drift history and the
    audit log). Fails when a device is unreachable or could not be audited (an audit with a hole in
    it is never clean), and when drift is found unless I(fail_on_drift=false).
options:
  hosts: {description: Devices (empty means every device)., type: list, elements: str, default: []}
  fail_on_drift: {description: Fail the task when a device drifts., type: bool, default: true}
  workers: {description: Devices audited at once., type: int, default: 32}
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
  target: {description: lab or production (default $TONLE_TARGET, else lab)., type: str}
"""

EXAMPLES = r"""
- name: Drift audit
  tonle_drift:
    hosts: "{{ ansible_play_hosts }}"
    fail_on_drift: "{{ fail_on_drift | default(true) | bool }}"
  run_once: true
"""

RETURN = r"""
report_id: {description: The audit's id (tonle drift --history)., type: str}
exit_code: {description: As C(tonle drift) - 0 clean, 1 drift, 2 not auditable., type: int}
devices: {description: Status per device (clean, drift, unreachable, error)., type: dict}
drifting: {description: Devices that drift., type: list}
lines: {description: The terminal summary of C(tonle drift)., type: list}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={
        "hosts": {"type": "list", "elements": "str", "default": []},
        "fail_on_drift": {"type": "bool", "default": True},
        "workers": {"type": "int", "default": 32},
        "config": {"type": "str"}, "state_dir": {"type": "str"}, "target": {"type": "str"},
    }, supports_check_mode=True)  # read-only
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    with api_errors(module):
        config, state, lab = module_paths(p["config"], p["state_dir"], p["target"])
        report = drift.run_drift(config, state, Selection(hosts=tuple(p["hosts"])), lab=lab,
                                 workers=p["workers"])
    result = {"report_id": report.id, "exit_code": report.exit_code, "drifting": report.drifting,
              "devices": {d.host: d.status for d in report.devices},
              "lines": drift_report.summary_lines(report)}
    holes = [f"{d.host} {d.status}: {d.error}" for d in report.devices if d.status in (drift.UNREACHABLE, drift.ERROR)]
    if holes:
        module.fail_json(msg="drift audit incomplete: " + "; ".join(holes), **result)
    if report.drifting:
        what = "; ".join(f"{d.host}: " + ", ".join(f"{f} {sum(c.values())}" for f, c in d.features.items())
                         + (f", state {len(d.state_errors)}" if d.state_errors else "")
                         for d in report.devices if d.status == drift.DRIFT)
        msg = f"drift found on {', '.join(report.drifting)} ({what}); fix with: tonle drift --remediate"
        if p["fail_on_drift"]:
            module.fail_json(msg=msg, **result)
        module.exit_json(changed=False, msg=msg, **result)
    module.exit_json(changed=False, msg=f"no drift on {len(report.devices)} device(s) ({report.id})", **result)


if __name__ == "__main__":
    main()
