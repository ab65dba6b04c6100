"""Facts, BGP neighbours and running configs of devices through NAPALM, checked against the inventory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornir_napalm.plugins.tasks import napalm_cli, napalm_get

from tonle.redact import exception_text, redact
from tonle.source.inventory import Inventory
from tonle.targets.nornir import init_nornir

GETTERS = ["facts", "bgp_neighbors", "config"]
# RPKI origin-validation state of every path in the BGP table (FRR: one command per state and family).
RPKI_STATES = {"valid": "valid", "notfound": "not-found", "invalid": "invalid"}
RPKI_COMMANDS = [f"show bgp {afi} unicast rpki {state} json" for afi in ("ipv4", "ipv6") for state in RPKI_STATES]


def rpki_states(outputs: dict[str, str]) -> dict[str, str]:
    """Prefix -> RPKI state ("valid", "not-found", "invalid") of its paths, from the RPKI_COMMANDS' output.

    Raises:
        ValueError: an answer that is not FRR's JSON (a device without the RPKI module says so in text).
    """
    states: dict[str, str] = {}
    # FRR 8.4's `rpki notfound` filter lists every route: not-found is what neither valid nor invalid names.
    for command, text in sorted(outputs.items(), key=lambda kv: kv[0].split()[5] != "notfound"):
        state = RPKI_STATES[command.split()[5]]
        routes = json.loads(text or "{}").get("routes", {})
        if not isinstance(routes, dict):
            raise ValueError(f"{command}: unexpected answer")  # noqa: TRY004 - a device answer, not an argument
        for prefix in routes:
            states[prefix] = state
    return dict(sorted(states.items()))


@dataclass
class DeviceFacts:
    host: str
    ok: bool
    error: str = ""
    os_version: str = ""
    uptime: float = 0.0
    established: int = 0
    expected: int = 0
    missing: list[str] = field(default_factory=list)  # expected sessions not Established
    unexpected: list[str] = field(default_factory=list)  # sessions the inventory does not know
    config_lines: int = 0
    config_file: str = ""
    rpki: dict[str, str] = field(default_factory=dict)  # prefix -> RPKI state of its best path (FRR)


@dataclass
class FactsReport:
    devices: list[DeviceFacts]

    @property
    def ok(self) -> bool:
        return all(d.ok and not d.missing and not d.unexpected for d in self.devices)

    def lines(self) -> list[str]:
        out = [f"{'device':<13} {'os':<28} {'uptime':>7} {'BGP up/expected':>15} {'config':>8}  notes"]
        for d in self.devices:
            if not d.ok:
                out.append(f"{d.host:<13} FAILED: {d.error}")
                continue
            notes = "; ".join(
                ([f"not established: {', '.join(d.missing)}"] if d.missing else [])
                + ([f"not in inventory: {', '.join(d.unexpected)}"] if d.unexpected else [])
            ) or "matches inventory"
            uptime = f"{d.uptime:>6.0f}s" if d.uptime >= 0 else "      -"  # FRR does not report one
            out.append(f"{d.host:<13} {d.os_version[:28]:<28} {uptime} {d.established:>7}/{d.expected:<7} "
                       f"{d.config_lines:>5} ln  {notes}")
            if d.rpki:
                out.append(f"{'':<13} RPKI: " + ", ".join(f"{p} {s}" for p, s in d.rpki.items()))
        good = sum(d.ok and not d.missing and not d.unexpected for d in self.devices)
        out.append(f"{good}/{len(self.devices)} devices reachable with every BGP session as the inventory says")
        return out


def check_device(inv: Inventory, host: str, data: dict[str, Any]) -> DeviceFacts:
    """Compare one device's getter output with the sessions the inventory implies."""
    facts, neigh, config = data["facts"], data["bgp_neighbors"], data["config"]
    expected = {str(s.peer_ip) for s in inv.device_sessions(host)}
    seen: dict[str, bool] = {}
    for vrf in neigh.values():
        for ip, peer in vrf.get("peers", {}).items():
            seen[ip] = bool(peer["is_up"])
    running = config.get("running", "")
    return DeviceFacts(
        host=host, ok=True, os_version=str(facts.get("os_version", "")), uptime=float(facts.get("uptime", 0)),
        established=sum(seen.get(ip, False) for ip in expected), expected=len(expected),
        missing=sorted(ip for ip in expected if not seen.get(ip)),
        unexpected=sorted(set(seen) - expected), config_lines=len(running.splitlines()),
    )


def collect_facts(config_file: Path, state_dir: Path, *, lab: bool, hosts: list[str] | None,
                  save_configs: bool) -> FactsReport:
    """Run the getters on the selected hosts in parallel; optionally save running configs as backups."""
    nr, inv = init_nornir(config_file, state_dir, lab=lab)
    if hosts:
        nr = nr.filter(filter_func=lambda h: h.name in hosts)
    # Backups never hold secrets (TCP-MD5 keys): NAPALM's sanitized config.
    results = nr.run(task=napalm_get, getters=GETTERS, getters_options={"config": {"sanitized": True}})
    # The lab's FRR twins report the RPKI state of each prefix (vendor getters for it are not written yet).
    rpki = nr.run(task=napalm_cli, commands=RPKI_COMMANDS) if lab else None
    backup_dir = state_dir / "backups" / ("lab" if lab else "production")
    devices = []
    for host, multi in sorted(results.items()):
        if multi.failed:
            exc = multi[0].exception
            devices.append(DeviceFacts(host, ok=False, error=exception_text(exc, last_line=False)))
            continue
        df = check_device(inv, host, multi[0].result)
        if rpki is not None and host in rpki and not rpki[host].failed:
            try:
                df.rpki = rpki_states(rpki[host][0].result)
            except ValueError as exc:
                df.ok, df.error = False, f"RPKI state: {exc}"
        if save_configs:
            backup_dir.mkdir(parents=True, exist_ok=True)
            path = backup_dir / f"{host}.conf"
            # NAPALM's sanitizing differs per driver; tonle.redact masks every form of the platform on top
            platform = "frr" if lab else inv.devices[host].platform
            path.write_text(redact(multi[0].result["config"]["running"], (), platform))
            df.config_file = str(path)
        devices.append(df)
    nr.close_connections()
    return FactsReport(devices)
