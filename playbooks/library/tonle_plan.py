#!/usr/bin/python
"""Ansible module tonle_plan: render, diff and save a change plan (tonle.change.plan.make_plan), like `tonle plan`."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.change.plan import Selection, make_plan
    from tonle.interfaces.playbook import api_errors, module_actor, module_paths

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_plan
short_description: Make a Tonlé change plan for the selected devices
description:
  - Renders the intended configurations, diffs them against the devices (through Nornir/NAPALM) and
    saves the plan in the state database, exactly like C(tonle plan). Runs on the controller.
options:
  hosts: {description: Devices to plan (empty means every device)., type: list, elements: str, default: []}
  sites: {description: Only these sites., type: list, elements: str, default: []}
  roles: {description: Only these roles., type: list, elements: str, default: []}
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
  target: {description: lab or production (default $TONLE_TARGET, else lab)., type: str}
"""

EXAMPLES = r"""
- name: Plan
  tonle_plan:
    hosts: "{{ ansible_play_hosts }}"
  run_once: true
  register: plan
"""

RETURN = r"""
plan_id: {description: The saved plan's id (for tonle_apply)., type: str}
changed_devices: {description: Devices whose configuration would change., type: list}
lines: {description: The plan as the CLI prints it, one line per item., type: list}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={
        "hosts": {"type": "list", "elements": "str", "default": []},
        "sites": {"type": "list", "elements": "str", "default": []},
        "roles": {"type": "list", "elements": "str", "default": []},
        "config": {"type": "str"}, "state_dir": {"type": "str"}, "target": {"type": "str"},
    }, supports_check_mode=True)  # a plan changes no device
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    with api_errors(module):
        config, state, lab = module_paths(p["config"], p["state_dir"], p["target"])
        plan = make_plan(config, state, Selection(tuple(p["sites"]), tuple(p["roles"]), tuple(p["hosts"])),
                         lab=lab, operator=module_actor().name)
    changed = [d.host for d in plan.changed]
    module.exit_json(changed=False, plan_id=plan.id, changed_devices=changed, lines=plan.text().splitlines(),
                     msg=f"plan {plan.id}: {len(changed)} of {len(plan.devices)} device(s) change"
                         + (f" ({', '.join(changed)})" if changed else ""))


if __name__ == "__main__":
    main()
