"""Nornir for Tonlé: the validated inventory, then the credentials of the target (lab or production)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.inventory import ConnectionOptions

from tonle.redact import exception_text, redact
from tonle.source.inventory import Inventory, load_from_nornir_config
from tonle.source.yamlio import load_yaml
from tonle.targets.target import (
    lab_credentials,
    lab_known_hosts,
    production_known_hosts,
    production_login,
    strict_host_keys,
)

# Nornir logs each failed task with its traceback; Tonlé reports failures itself, one line per device.
logging.getLogger("nornir").addHandler(logging.NullHandler())


def init_nornir(config_file: Path, state_dir: Path, *, lab: bool) -> tuple[Nornir, Inventory]:
    """Validate the inventory, then build Nornir on it.

    With `lab=True` every device is reached as its FRR twin (NAPALM driver `frr`) with the lab's
    generated credentials; otherwise credentials come from TONLE_USERNAME / TONLE_PASSWORD.

    Raises:
        InventoryError: the inventory is invalid.
        LabNotUp: `lab=True` and the lab is not up.
    """
    inv = load_from_nornir_config(config_file)
    cfg = load_yaml(config_file)
    root = config_file.resolve().parent
    opts = {k: str(root / v) if k.endswith("_file") else v for k, v in cfg["inventory"]["options"].items()}
    # Paths in nornir.yaml are relative to the file, not to the caller's working directory.
    nr = InitNornir(config_file=str(config_file), inventory={"plugin": cfg["inventory"]["plugin"], "options": opts})
    defaults = nr.inventory.defaults
    driver_state = str(state_dir / "napalm_frr")
    if lab:
        creds = lab_credentials(inv, state_dir)
        defaults.username, defaults.password = creds.username, creds.password
        pinned = strict_host_keys(lab_known_hosts(inv, state_dir))
        for host in nr.inventory.hosts.values():
            # The FRR twin of a vendor device: same host and intent, FRR driver and key.
            host.connection_options["napalm"] = ConnectionOptions(
                platform="frr",
                extras={"optional_args": {"key_file": creds.key_file, "state_dir": driver_state, **pinned}},
            )
            host.connection_options["netmiko"] = ConnectionOptions(
                platform="cisco_ios", extras={"key_file": creds.key_file, "use_keys": True, **pinned}
            )
    else:
        user, password = production_login()
        defaults.username, defaults.password = user or defaults.username, password or defaults.password
        pinned = strict_host_keys(production_known_hosts(cfg.get("user_defined") or {}, config_file))
        for host in nr.inventory.hosts.values():
            # SSH-based drivers (frr, ios, and netmiko sessions) refuse an unknown or changed host key.
            host.connection_options["napalm"] = ConnectionOptions(extras={"optional_args": dict(pinned)})
            host.connection_options["netmiko"] = ConnectionOptions(extras=dict(pinned))
    return nr, inv


def run_on(nr: Nornir, hosts: list[str], task: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Run a task on some hosts: (results by host, one-line failure reasons by host, redacted).

    `on_failed`: a host that failed an earlier task (e.g. a validation gate) must still be checked or
    rolled back; a host the run skipped counts as a failure, never as a success.
    """
    res = nr.filter(filter_func=lambda h: h.name in hosts).run(task=task, on_failed=True, **kwargs)
    ok: dict[str, Any] = {}
    bad = {h: "task did not run on this host" for h in hosts if h not in res}
    for h, multi in res.items():
        if multi.failed:
            exc = multi[0].exception  # device errors quote configuration lines: redacted
            bad[h] = exception_text(exc) if exc else redact(str(multi[0].result))
        else:
            ok[h] = multi[0].result
    return ok, bad
