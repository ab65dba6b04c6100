#!/usr/bin/python
"""Ansible module tonle_restore: undo an active disconnect now, like `tonle restore ID`."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.emergency.disconnect import restore
    from tonle.interfaces.playbook import api_errors, disconnect_outcome, module_actor, module_paths
    from tonle.lab.probe import lab_peer_probe
    from tonle.state.disconnects import get

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_restore
short_description: Restore an active Tonlé disconnect
description:
  - Calls C(tonle.emergency.disconnect.restore) exactly as C(tonle restore) does - pushes the devices without the
    disconnect, verifies the sessions come back (from the peer's side too in the lab), audits it.
options:
  id: {description: The disconnect's id (see tonle disconnects)., type: str, required: true}
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
"""

EXAMPLES = r"""
- name: Restore
  tonle_restore:
    id: D20250101120000abcd
"""

RETURN = r"""
status: {description: restored or failed., type: str}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={
        "id": {"type": "str", "required": True},
        "config": {"type": "str"}, "state_dir": {"type": "str"},
    }, supports_check_mode=False)
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    steps: list[str] = []
    with api_errors(module):
        config, state, _ = module_paths(p["config"], p["state_dir"], None)
        lab = get(state, p["id"]).target == "lab"  # the record knows where it was made, as for the CLI
        out = restore(config, state, p["id"], operator=module_actor(),
                      peer_probe=lab_peer_probe(config, state) if lab else None, progress=steps.append)
    ok, line = disconnect_outcome(out)
    result = {"id": p["id"], "status": out.status, "lines": list(out.detail), "steps": steps, "msg": line}
    if not ok:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
