#!/usr/bin/python
"""Ansible module tonle_apply: apply a saved plan (tonle.change.apply.apply_plan), like `tonle apply`."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.change.apply import ApplyOptions, apply_plan
    from tonle.change.plan import load_plan
    from tonle.interfaces.playbook import api_errors, module_actor, module_paths

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_apply
short_description: Apply a saved Tonlé plan (change window, canary, batches, revert timer, validation)
description:
  - Calls the same code as C(tonle apply) - it refuses outside a change window, refuses stale plans,
    commits with a revert timer, validates and confirms, or rolls back every touched device.
    Fails with the refusal or rollback reason. In check mode nothing is applied.
options:
  plan: {description: Plan id (or latest)., type: str, required: true}
  canary:
    description: Canary devices (default - the changed device with the fewest external sessions).
    type: list
    elements: str
    default: []
  batch_size: {description: Devices per batch after the canary., type: int, default: 5}
  revert_in: {description: Seconds before unconfirmed devices revert by themselves., type: int, default: 300}
  settle: {description: Seconds to let each stage pass validation., type: float, default: 60}
  hold: {description: Seconds the gates must hold in a row., type: float, default: 7}
  on_window_close:
    description: What to do when the window closes mid-run.
    type: str
    choices: [rollback, confirm]
    default: rollback
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
"""

EXAMPLES = r"""
- name: Apply
  tonle_apply:
    plan: "{{ plan.plan_id }}"
  run_once: true
"""

RETURN = r"""
outcome: {description: confirmed, rolled back, refused, nothing to do or aborted., type: str}
devices: {description: Final status per device., type: dict}
lines: {description: The report as the CLI prints it., type: list}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={
        "plan": {"type": "str", "required": True},
        "canary": {"type": "list", "elements": "str", "default": []},
        "batch_size": {"type": "int", "default": 5},
        "revert_in": {"type": "int", "default": 300},
        "settle": {"type": "float", "default": 60.0},
        "hold": {"type": "float", "default": 7.0},
        "on_window_close": {"type": "str", "choices": ["rollback", "confirm"], "default": "rollback"},
        "config": {"type": "str"}, "state_dir": {"type": "str"},
    }, supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    with api_errors(module):
        config, state, _ = module_paths(p["config"], p["state_dir"], None)  # the plan knows its target
        plan = load_plan(state, p["plan"])
    if module.check_mode:  # answered outside api_errors: the module's JSON goes to stdout
        module.exit_json(changed=bool(plan.changed), outcome="check mode", devices={},
                         msg=f"check mode: would apply plan {plan.id} to "
                             f"{', '.join(d.host for d in plan.changed) or 'no device'}")
    steps: list[str] = []
    opts = ApplyOptions(canary=p["canary"], batch_size=p["batch_size"], revert_in=p["revert_in"],
                        settle=p["settle"], hold=p["hold"], on_window_close=p["on_window_close"])
    with api_errors(module):
        report = apply_plan(config, state, p["plan"], opts, progress=steps.append, operator=module_actor().name)
    lines = report.lines()
    result = {"outcome": report.outcome, "devices": report.devices, "problems": report.problems,
              "steps": steps, "lines": lines[1:], "msg": lines[0]}
    if not report.ok:
        module.fail_json(changed=bool(report.devices), **result)
    module.exit_json(changed=report.outcome == "confirmed", **result)


if __name__ == "__main__":
    main()
