"""Lab or production: one value, and one place that says how a device of each is reached.

The lab builder (`tonle.lab`, an interface-level package) writes the lab's generated credentials and
TCP-MD5 keys under `<state dir>/lab/<lab name>/`; this module only reads them, so the verbs reach lab
devices without knowing how the lab is built.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tonle.errors import Unavailable
from tonle.source.inventory import Device, Inventory


class Target(StrEnum):
    LAB = "lab"  # every device is its FRR twin in the embedded lab
    PRODUCTION = "production"  # the real devices, on their own platforms

    @classmethod
    def of(cls, lab: bool) -> Target:
        return cls.LAB if lab else cls.PRODUCTION

    def driver(self, device: Device) -> str:
        """The NAPALM driver / template tree a device is reached with on this target."""
        return "frr" if self is Target.LAB else device.platform

    def platform_override(self) -> str | None:
        """The platform every device is rendered for on this target (None: each its own)."""
        return "frr" if self is Target.LAB else None


class LabNotUp(Unavailable):
    """The lab's generated access files are not there: the lab is not up."""


@dataclass(frozen=True)
class Credentials:
    """Generated per lab; never committed, never logged."""

    username: str
    password: str = field(repr=False)
    key_file: str


def lab_dir(state_dir: Path, lab_name: str) -> Path:
    return state_dir / "lab" / lab_name


def lab_credentials(inv: Inventory, state_dir: Path) -> Credentials:
    path = lab_dir(state_dir, inv.lab.name) / "credentials.json"
    try:
        return Credentials(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise LabNotUp(f"lab {inv.lab.name} is not up (no credentials); run `tonle lab up`") from None


def lab_md5_keys(inv: Inventory, state_dir: Path) -> dict[str, str]:
    """The lab's TCP-MD5 keys by environment variable name (empty when the lab is down)."""
    try:
        data: dict[str, str] = json.loads((lab_dir(state_dir, inv.lab.name) / "md5_keys.json").read_text())
    except FileNotFoundError:
        return {}
    return data


def lab_known_hosts(inv: Inventory, state_dir: Path) -> Path:
    """The lab devices' SSH host keys, recorded by the lab builder as it generates them."""
    path = lab_dir(state_dir, inv.lab.name) / "known_hosts"
    if not path.exists():
        raise LabNotUp(f"lab {inv.lab.name} is not up (no recorded host keys); run `tonle lab up`")
    return path


class NoKnownHosts(Unavailable):
    """Production devices are reached only with pinned SSH host keys."""


def production_known_hosts(user_defined: dict[str, object], config_file: Path) -> Path:
    """The known_hosts file named in nornir.yaml (`user_defined: {tonle_known_hosts: PATH}`); required."""
    value = user_defined.get("tonle_known_hosts")
    if not isinstance(value, str) or not value:
        raise NoKnownHosts(f"{config_file}: field user_defined.tonle_known_hosts: production devices are reached "
                           "only with pinned SSH host keys; name the known_hosts file that holds them")
    path = (config_file.parent / value).resolve()
    if not path.is_file():
        raise NoKnownHosts(f"{config_file}: field user_defined.tonle_known_hosts: {path} does not exist")
    return path


def strict_host_keys(known_hosts: Path) -> dict[str, object]:
    """netmiko options: accept a device only if its host key is the one in `known_hosts` (never learn one)."""
    return {"ssh_strict": True, "system_host_keys": False, "alt_host_keys": True, "alt_key_file": str(known_hosts)}


def md5_keys(inv: Inventory, state_dir: Path, target: Target) -> dict[str, str]:
    """The TCP-MD5 keys of a target, as values: the lab's generated ones (a variable set in the caller's
    environment wins, as when the lab was built), or production's from the service's environment."""
    wanted = {p.md5_key_env for p in inv.peers.values() if p.md5_key_env}
    env = {v: os.environ[v] for v in wanted if os.environ.get(v)}
    return {**lab_md5_keys(inv, state_dir), **env} if target is Target.LAB else env


def production_login() -> tuple[str | None, str | None]:
    """Production device login. Until the service holds credentials (issue: tonle serve), the caller's
    environment gives them; nothing secret is ever in the inventory."""
    return os.environ.get("TONLE_USERNAME"), os.environ.get("TONLE_PASSWORD")
