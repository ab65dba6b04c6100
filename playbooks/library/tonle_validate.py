#!/usr/bin/python
"""Ansible module tonle_validate: health of devices against their intent (the change pipeline's state gates)."""

from __future__ import annotations

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.tasks.validate import bgp_snapshot

    from tonle.change.gates import check
    from tonle.change.plan import Selection
    from tonle.compile.intent import device_intent, load_intent, with_md5_keys
    from tonle.interfaces.playbook import api_errors, module_paths
    from tonle.redact import redact
    from tonle.state.disconnects import active_overrides
    from tonle.targets.nornir import init_nornir
    from tonle.targets.target import Target, md5_keys

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_validate
short_description: Check that devices are reachable and every intended BGP session is Established
description:
  - Reaches the devices through Nornir/NAPALM (as the apply gates do) and checks each one against
    its intent with the active disconnects merged in (a session shut on purpose must be down,
    every other intended session Established and within its maximum prefixes). Fails with the
    problems, one per device. Read-only.
options:
  hosts: {description: Devices to check (empty means every device)., type: list, elements: str, default: []}
  wait: {description: Seconds to keep polling until healthy (0 - check once)., type: float, default: 0}
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
  target: {description: lab or production (default $TONLE_TARGET, else lab)., type: str}
"""

EXAMPLES = r"""
- name: Every intended session Established
  tonle_validate:
    hosts: ["{{ inventory_hostname }}"]
"""

RETURN = r"""
devices: {description: Per device, its problems (empty when healthy)., type: dict}
"""


def check_once(nr: Any, intent: Any, hosts: list[str], overrides: list[Any]) -> dict[str, list[str]]:

    res = nr.filter(filter_func=lambda h: h.name in hosts).run(task=bgp_snapshot, on_failed=True)
    out: dict[str, list[str]] = {}
    for h in hosts:
        multi = res.get(h)
        if multi is None or multi.failed:
            exc = multi[0].exception if multi is not None else None
            lines = [ln.strip() for ln in str(exc or "").splitlines() if ln.strip()] or ["no answer"]
            # netmiko puts the cause first and the device settings last: keep both, drop the advice between
            why = lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"
            out[h] = [redact(f"unreachable: {type(exc).__name__ if exc else 'error'}: {why}")]
            continue
        out[h] = check(device_intent(intent, h, overrides), {}, multi[0].result)
    return out


def main() -> None:
    module = AnsibleModule(argument_spec={
        "hosts": {"type": "list", "elements": "str", "default": []},
        "wait": {"type": "float", "default": 0.0},
        "config": {"type": "str"}, "state_dir": {"type": "str"}, "target": {"type": "str"},
    }, supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    with api_errors(module):
        config, state, lab = module_paths(p["config"], p["state_dir"], p["target"])
        nr, inv = init_nornir(config, state, lab=lab)
        hosts = Selection(hosts=tuple(p["hosts"])).apply(inv)
        intent = with_md5_keys(load_intent(inv), md5_keys(inv, state, Target.of(lab)))
        overrides = active_overrides(state)
        deadline = time.monotonic() + p["wait"]
        try:
            while True:
                found = check_once(nr, intent, hosts, overrides)
                if not any(found.values()) or time.monotonic() >= deadline:
                    break
                time.sleep(1)
        finally:
            nr.close_connections()
    bad = {h: p for h, p in found.items() if p}
    lines = [f"{h}: {'; '.join(ps) if ps else 'healthy'}" for h, ps in found.items()]
    if bad:
        module.fail_json(msg="; ".join(f"{h}: {'; '.join(ps)}" for h, ps in bad.items()), devices=found,
                         lines=lines if len(found) > 1 else [])
    module.exit_json(changed=False, devices=found, msg=f"{len(found)} device(s) healthy: {', '.join(found)}")


if __name__ == "__main__":
    main()
