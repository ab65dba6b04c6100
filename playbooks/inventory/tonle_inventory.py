#!/usr/bin/env python3
"""Ansible dynamic inventory of Tonlé: the Nornir inventory (nornir.yaml from $TONLE_CONFIG, else the repo's).

A thin wrapper: the conversion is `tonle.interfaces.ansible_inventory` (no second copy of the data). Run it with
the project's Python (the venv), e.g. `ansible-playbook -i playbooks/inventory/tonle_inventory.py ...`
with the venv activated, or through `tonle playbook run`.
"""

import sys

try:
    from tonle.interfaces.ansible_inventory import main
except ImportError as exc:  # not the project's interpreter: say so instead of a traceback
    print(f"tonle_inventory.py: cannot import tonle ({exc}); activate the project's venv (.venv)", file=sys.stderr)
    sys.exit(1)

if __name__ == "__main__":
    sys.exit(main())
