#!/usr/bin/python
"""Ansible module tonle_backup: running configurations to the state directory's backups (NAPALM get_config)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule

try:  # the project's API: only with the project's interpreter (ansible_python_interpreter)
    from tonle.tasks.facts import collect_facts

    from tonle.change.plan import Selection
    from tonle.interfaces.playbook import api_errors, module_paths
    from tonle.source.inventory import load_from_nornir_config

    IMPORT_ERROR = None
except ImportError as _exc:
    IMPORT_ERROR = str(_exc)

DOCUMENTATION = r"""
module: tonle_backup
short_description: Back up running configurations of Tonlé devices
description:
  - Fetches the running configurations through Nornir/NAPALM (as C(tonle facts) does) into
    C(<state dir>/backups/<target>/<host>.conf), and keeps a timestamped copy of this run in
    C(<state dir>/backups/<target>/<UTC time>/). Fails when a device cannot be read.
options:
  hosts: {description: Devices (empty means every device)., type: list, elements: str, default: []}
  config: {description: nornir.yaml (default $TONLE_CONFIG)., type: str}
  state_dir: {description: State directory (default $TONLE_STATE_DIR)., type: str}
  target: {description: lab or production (default $TONLE_TARGET, else lab)., type: str}
"""

EXAMPLES = r"""
- name: Back up running configs
  tonle_backup:
    hosts: "{{ ansible_play_hosts }}"
  run_once: true
"""

RETURN = r"""
files: {description: Backup file per device., type: dict}
directory: {description: This run's timestamped directory., type: str}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={
        "hosts": {"type": "list", "elements": "str", "default": []},
        "config": {"type": "str"}, "state_dir": {"type": "str"}, "target": {"type": "str"},
    }, supports_check_mode=False)
    if IMPORT_ERROR:
        module.fail_json(msg=f"cannot import tonle ({IMPORT_ERROR}): run with the project's venv "
                              "python (ansible_python_interpreter)")
    p = module.params
    with api_errors(module):
        config, state, lab = module_paths(p["config"], p["state_dir"], p["target"])
        hosts = Selection(hosts=tuple(p["hosts"])).apply(load_from_nornir_config(config))
        report = collect_facts(config, state, lab=lab, hosts=hosts, save_configs=True)
    stamp = state / "backups" / ("lab" if lab else "production") / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    files = {}
    for d in report.devices:
        if d.ok and d.config_file:
            stamp.mkdir(parents=True, exist_ok=True)
            files[d.host] = str(shutil.copy2(d.config_file, stamp / f"{d.host}.conf"))
    failed = [f"{d.host}: {d.error}" for d in report.devices if not d.ok]
    if failed:
        module.fail_json(msg="cannot back up " + "; ".join(failed), files=files, changed=bool(files))
    module.exit_json(changed=True, files=files, directory=str(stamp),
                     msg=f"{len(files)} running config(s) saved in {stamp}")


if __name__ == "__main__":
    main()
