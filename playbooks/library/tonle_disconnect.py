#!/usr/bin/python
"""Ansible module tonle_disconnect: emergency disconnect through the same guard and audit as `tonle disconnect`."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.emergency.disconnect import disconnect, parse_scope
    from tonle.interfaces.expiry import start_detached
    from tonle.interfaces.playbook import api_errors, disconnect_outcome, module_actor, module_paths, parse_duration
    from tonle.lab.probe import lab_peer_probe

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_disconnect
short_description: Emergency disconnect of one scope (guarded, audited, time-limited)
description:
  - Calls C(tonle.emergency.disconnect.disconnect) exactly as C(tonle disconnect) does. The blast-radius guard
    applies - an action over the limit is refused (the task fails with the CLI's REFUSED line) and
    waits for a second operator (C(tonle approve ID)). The operator is the user running the playbook, as the
    kernel says (root only: the module writes the state directly). In check mode
    (or with I(dry_run)) it only shows what would go dark.
options:
  scope_kind:
    description: What to disconnect.
    type: str
    required: true
    choices: [session, peer-as, link, prefix, site-upstreams]
  scope_value:
    description: "DEVICE:PEER_IP (comma-separated list), AS, LINK or DEVICE:INTERFACE, PREFIX or SITE."
    type: str
    required: true
  reason: {description: Why (required)., type: str, required: true}
  ticket: {description: Incident or change ticket (required)., type: str, required: true}
  ttl: {description: "Until it restores itself: 90s, 30m, 2h (default: policy.yaml).", type: str}
  graceful: {description: Send RFC 8326 GRACEFUL_SHUTDOWN first., type: bool, default: false}
  graceful_wait: {description: Seconds between the two., type: float, default: 30}
  dry_run: {description: Show what would go dark; change nothing., type: bool, default: false}
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
  target: {description: lab or production (default $TONLE_TARGET, else lab)., type: str}
"""

EXAMPLES = r"""
- name: Disconnect
  tonle_disconnect:
    scope_kind: session
    scope_value: "poi-iig-1:198.51.100.5"
    reason: route leak
    ticket: INC-1
    ttl: 30m
"""

RETURN = r"""
id: {description: The disconnect record's id (for restore or approve)., type: str}
status: {description: dry-run, needs approval, active or failed., type: str}
lines: {description: What goes dark (blast radius) and the guard's verdict., type: list}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={
        "scope_kind": {"type": "str", "required": True,
                       "choices": ["session", "peer-as", "link", "prefix", "site-upstreams"]},
        "scope_value": {"type": "str", "required": True},
        "reason": {"type": "str", "required": True},
        "ticket": {"type": "str", "required": True},
        "ttl": {"type": "str"},
        "graceful": {"type": "bool", "default": False},
        "graceful_wait": {"type": "float", "default": 30.0},
        "dry_run": {"type": "bool", "default": False},
        "config": {"type": "str"}, "state_dir": {"type": "str"}, "target": {"type": "str"},
    }, supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    dry = p["dry_run"] or module.check_mode
    steps: list[str] = []
    with api_errors(module):
        config, state, lab = module_paths(p["config"], p["state_dir"], p["target"])
        out = disconnect(config, state, parse_scope(p["scope_kind"], p["scope_value"]), operator=module_actor(),
                         reason=p["reason"],
                         ticket=p["ticket"], ttl_seconds=parse_duration(p["ttl"]), graceful=p["graceful"],
                         graceful_wait=p["graceful_wait"], dry_run=dry, lab=lab,
                         peer_probe=lab_peer_probe(config, state) if lab and not dry else None,
                         progress=steps.append)
    if out.status == "active":  # no service may hold its timer: the fallback expiry process does then
        start_detached(config, state)
    ok, line = disconnect_outcome(out)
    result = {"id": out.record.id if out.record else None, "status": out.status, "lines": list(out.detail),
              "steps": steps, "msg": line}
    if not ok:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=out.status == "active", **result)


if __name__ == "__main__":
    main()
