"""Plan: intended configs for the selected devices, their diffs against the devices, saved and fingerprinted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nornir.plugins.runners import ThreadedRunner

from tonle.compile.intent import Intent, Override, load_intent, override_to_dict, with_irr, with_md5_keys
from tonle.errors import BadInput, Failed
from tonle.redact import exception_text, redact, redact_data
from tonle.source.inventory import Inventory
from tonle.state.audit import AuditLog, now_iso
from tonle.state.db import StateDB, plan_saved
from tonle.state.disconnects import active_overrides
from tonle.state.irr import latest_irr
from tonle.targets.nornir import init_nornir
from tonle.targets.target import Target, md5_keys
from tonle.tasks.change import plan_device

# A plan only reads (one login per device, as the drift audit): it reads as many devices at once as the audit
# does, not the configured runner's count, which paces changes. At 200 devices it was the plan's whole lag.
READ_WORKERS = 32


class PlanError(BadInput):
    """A plan cannot be made or used (bad selection, unknown plan); the message is one line."""


class PlanFailed(Failed):
    """A device could not be planned (unreachable, refused the candidate); one line per device."""


@dataclass(frozen=True)
class Selection:
    """Which devices: the intersection of the given filters (none given: every device)."""

    sites: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()

    def apply(self, inv: Inventory) -> list[str]:
        for s in self.sites:
            if s not in inv.sites:
                raise PlanError(f"--site {s}: unknown site (inventory has {', '.join(sorted(inv.sites))})")
        for r in self.roles:
            if r not in {d.role for d in inv.devices.values()}:
                raise PlanError(f"--role {r}: no device has this role")
        for h in self.hosts:
            if h not in inv.devices:
                raise PlanError(f"--host {h}: unknown device")
        chosen = [n for n, d in sorted(inv.devices.items())
                  if (not self.sites or d.site in self.sites) and (not self.roles or d.role in self.roles)
                  and (not self.hosts or n in self.hosts)]
        if not chosen:
            raise PlanError("the filters select no device")
        return chosen


@dataclass
class DevicePlan:
    host: str
    platform: str  # the platform rendered (frr for a lab twin)
    diff: str
    intended_sha256: str
    running_sha256: str  # of the owned part of the running config (tasks.change.owned_sha256)
    site: str = ""
    role: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.diff.strip())

    def moved_beyond(self, diff_now: str, allowed: set[str]) -> list[str]:
        """Changed lines by which `diff_now` (redacted like the plan's) differs from the planned diff and
        which are not in `allowed` (the lines an emergency override changes); [] when it is the same change.
        """
        extra = _changes(self.diff) ^ _changes(diff_now)
        return sorted({body for _, body in extra if body not in allowed})


def _changes(diff: str) -> set[tuple[str, str]]:
    """(+ or -, stripped line) of every added or removed line of a NAPALM diff."""
    return {(ln[0], ln[1:].strip()) for ln in diff.splitlines()
            if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---")) and ln[1:].strip()}


@dataclass
class Plan:
    id: str
    created_at: str
    operator: str
    target: str  # lab | production
    selection: dict[str, list[str]]
    devices: list[DevicePlan]
    overrides: list[dict[str, Any]] = field(default_factory=list)
    status: str = "planned"

    @property
    def changed(self) -> list[DevicePlan]:
        return [d for d in self.devices if d.changed]

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready data, redacted (each device's diff with its platform's forms)."""
        data = redact_data(asdict(self))
        data["summary"] = {"devices": len(self.devices), "changed": len(self.changed)}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        devs = [DevicePlan(**d) for d in data["devices"]]
        return cls(data["id"], data["created_at"], data["operator"], data["target"], data["selection"], devs,
                   data.get("overrides", []), data.get("status", "planned"))

    def text(self) -> str:
        """The plan as a NOC engineer reads it."""
        out = [f"plan {self.id} ({self.target}) by {self.operator} at {self.created_at}: "
               f"{len(self.changed)} of {len(self.devices)} device(s) change"]
        for d in self.devices:
            if not d.changed:
                out.append(f"  {d.host}: no change")
                continue
            adds = sum(1 for ln in d.diff.splitlines() if ln.startswith("+"))
            dels = sum(1 for ln in d.diff.splitlines() if ln.startswith("-"))
            out.append(f"  {d.host} ({d.site} {d.role}): +{adds} -{dels}")
            out += [f"      {ln}" for ln in redact(d.diff, (), d.platform).rstrip("\n").splitlines()]
        return "\n".join(out)


def secret_values(intent: Intent) -> list[str]:
    """The secrets the intent carries (TCP-MD5 keys: never to be shown or stored)."""
    return [v for v in intent.md5_keys.values() if v]


def make_plan(config_file: Path, state_dir: Path, selection: Selection, *, lab: bool, operator: str,
              overrides: Iterable[Override] | None = None) -> Plan:
    """Render, diff and save a plan for the selected devices, made by `operator` (who the interface says acts).

    `overrides` default to the active emergency disconnects: a plan never undoes one.

    Raises:
        InventoryError: invalid inventory or intent.
        PlanError: bad selection, or a device could not be planned (all failures listed).
    """
    nr, inv = init_nornir(config_file, state_dir, lab=lab)
    intent = with_md5_keys(load_intent(inv), md5_keys(inv, state_dir, Target.of(lab)))
    intent = with_irr(intent, latest_irr(StateDB(state_dir)))  # the IRR-built filters of the last sync
    hosts = selection.apply(inv)
    if overrides is None:
        overrides = active_overrides(state_dir)
    overrides = list(overrides)
    platform = Target.of(lab).platform_override()
    secrets = secret_values(intent)
    chosen = set(hosts)
    runner = ThreadedRunner(num_workers=max(1, min(READ_WORKERS, len(hosts))))
    results = nr.filter(filter_func=lambda h: h.name in chosen).with_runner(runner).run(
        task=plan_device, intent=intent, platform=platform, overrides=overrides)
    failed = [f"{h}: {exception_text(r[0].exception, secrets)}" for h, r in sorted(results.items()) if r.failed]
    nr.close_connections()
    if failed:
        raise PlanFailed("cannot plan " + "; ".join(failed))
    devices = []
    for h in hosts:
        res = results[h][0].result
        dev = inv.devices[h]
        devices.append(DevicePlan(h, platform or dev.platform, redact(res["diff"], secrets, platform or dev.platform),
                                  res["intended_sha256"], res["running_sha256"], dev.site, dev.role))
    created = now_iso()
    digest = hashlib.sha256(json.dumps([asdict(d) for d in devices], sort_keys=True).encode()).hexdigest()
    plan = Plan(f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{digest[:6]}", created, operator,
                "lab" if lab else "production",
                {"sites": list(selection.sites), "roles": list(selection.roles), "hosts": list(selection.hosts)},
                devices, [override_to_dict(o) for o in overrides])
    AuditLog(StateDB(state_dir), actor=operator).append("plan", plan.id, {
        "target": plan.target, "changed": [d.host for d in plan.changed], "devices": len(plan.devices)},
        change=plan_saved(plan.id, plan.created_at, plan.operator, plan.target, plan.to_json()))
    return plan


def load_plan(state_dir: Path, plan_id: str) -> Plan:
    """A saved plan by id (`latest` for the newest)."""
    db = StateDB(state_dir)
    pid = db.latest_plan_id() if plan_id == "latest" else plan_id
    data = db.plan(pid) if pid else None
    if data is None:
        raise PlanError(f"no plan {plan_id!r} in {db.path}")
    return Plan.from_json(data)


__all__ = ["DevicePlan", "Plan", "PlanError", "Selection", "load_plan", "make_plan", "redact", "secret_values"]
