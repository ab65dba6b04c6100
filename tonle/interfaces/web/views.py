"""Read models of the console and the REST API: plain JSON-ready data built from the state and the applied
intent. Nothing here writes (every change goes through tonle.interfaces.actions, like the CLI's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tonle.compile.intent import override_from_dict
from tonle.emergency.applied import NotApplied, applied_intent
from tonle.emergency.guard import dark_sessions
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import DisconnectRecord, DisconnectStatus, records

UPSTREAM_KINDS = frozenset({"upstream"})
DIX_KINDS = frozenset({"isp", "rs-client", "route-server"})
AUDIT_FILTER = re.compile(r"[A-Za-z0-9_.:@/ -]{0,64}")  # a filter is plain text, matched literally


def _activated_at(r: DisconnectRecord) -> str | None:
    if not r.expires_at:
        return None
    return (datetime.fromisoformat(r.expires_at) - timedelta(seconds=r.ttl_seconds)).isoformat(timespec="seconds")


def disconnect_json(r: DisconnectRecord) -> dict[str, Any]:
    return {"id": r.id, "status": r.status, "scope_kind": r.scope_kind, "scope_value": r.scope_value,
            "operator": r.operator, "approver": r.approver, "reason": r.reason, "ticket": r.ticket,
            "created_at": r.created_at, "active_since": _activated_at(r), "expires_at": r.expires_at,
            "approval_expires_at": r.approval_expires_at, "restored_at": r.restored_at, "ttl_seconds": r.ttl_seconds,
            "devices": r.devices, "target": r.target, "timer_problem": r.timer_problem(),
            "blast": {k: r.blast.get(k) for k in ("sessions", "prefixes", "violations", "sites", "national")}}


def disconnects(state_dir: Path, *, include_closed: bool = False) -> list[dict[str, Any]]:
    recs = records(state_dir)
    keep = {DisconnectStatus.ACTIVE, DisconnectStatus.PENDING_APPROVAL}
    return [disconnect_json(r) for r in recs if include_closed or r.status in keep]


def _dark_by(state_dir: Path, intent: Any) -> dict[str, dict[str, Any]]:
    """session key (device:peer_ip) -> the active disconnect that holds it down (id, since, until)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records(state_dir, DisconnectStatus.ACTIVE):
        for key in dark_sessions(intent, [override_from_dict(o) for o in r.overrides]):
            out.setdefault(key, {"disconnect": r.id, "since": _activated_at(r), "until": r.expires_at,
                                 "operator": r.operator, "ticket": r.ticket})
    return out


def sessions(state_dir: Path, device: str | None = None) -> list[dict[str, Any]]:
    """Every BGP session of the managed devices (from the applied intent), with the disconnect holding it down."""
    intent = applied_intent(state_dir)
    inv = intent.inv
    dark = _dark_by(state_dir, intent)
    out = []
    for s in inv.sessions():
        if s.external or (device is not None and s.node != device):
            continue
        key = f"{s.node}:{s.peer_ip}"
        out.append({"device": s.node, "site": inv.devices[s.node].site, "neighbor": s.neighbor, "link": s.link,
                    "afi": s.afi, "peer_ip": str(s.peer_ip), "peer_asn": s.peer_asn, "kind": s.kind,
                    "state": "dark" if key in dark else "up", "dark": dark.get(key)})
    return out


def overview(state_dir: Path) -> dict[str, Any]:
    """Per site: upstream and DIX session counts and how many are dark, and who is dark since when."""
    try:
        intent = applied_intent(state_dir)
    except NotApplied:
        return {"sites": [], "dark": [], "pending": 0, "active": 0, "note": "no applied intent yet (bring the lab "
                "up or apply a plan)"}
    all_sessions = sessions(state_dir)
    sites = []
    for code, site in intent.inv.sites.items():
        mine = [s for s in all_sessions if s["site"] == code]
        row: dict[str, Any] = {"code": code, "name": site.name, "exchange": site.exchange,
                               "devices": sorted(d.name for d in intent.inv.devices.values() if d.site == code)}
        for label, kinds in (("upstream", UPSTREAM_KINDS), ("dix", DIX_KINDS)):
            group = [s for s in mine if s["kind"] in kinds]
            dark = sum(s["state"] == "dark" for s in group)
            row[label] = {"total": len(group), "dark": dark,
                          "state": "none" if not group else "down" if dark == len(group) else
                          "degraded" if dark else "ok"}
        sites.append(row)
    dark = [s for s in all_sessions if s["state"] == "dark"]
    recs = records(state_dir)
    return {"sites": sites, "dark": dark,
            "active": sum(r.status == DisconnectStatus.ACTIVE for r in recs),
            "pending": sum(r.status == DisconnectStatus.PENDING_APPROVAL for r in recs), "note": ""}


def devices(state_dir: Path) -> list[dict[str, Any]]:
    intent = applied_intent(state_dir)
    return [{"name": d.name, "site": d.site, "role": d.role, "platform": d.platform, "asn": d.asn,
             "mgmt_ip": str(d.mgmt_ip), "router_id": str(d.router_id)} for d in intent.inv.devices.values()]


def device(state_dir: Path, name: str) -> dict[str, Any] | None:
    intent = applied_intent(state_dir)
    d = intent.inv.devices.get(name)
    if d is None:
        return None
    qos = [{"link": a.link, "policy": a.policy, "shape_mbps": a.shape_mbps}
           for (dev, _link), a in intent.attachments.items() if dev == name]
    latest = None
    db = StateDB(state_dir)
    for p in recent_plans(state_dir, limit=20):
        plan = db.plan(p["id"])
        found = next((dp for dp in (plan or {}).get("devices", []) if dp["host"] == name), None)
        if found is not None:
            latest = {"plan": p["id"], "created_at": p["created_at"], "diff": found["diff"]}
            break
    from tonle.drift.audit import history  # noqa: PLC0415 - nornir start-up only when a device page is read

    drift = next(({"id": h["id"], "started_at": h["started_at"], **h["data"][name]}
                  for h in history(state_dir, 20) if name in h["data"]), None)
    return {"device": {"name": d.name, "site": d.site, "role": d.role, "platform": d.platform, "asn": d.asn,
                       "mgmt_ip": str(d.mgmt_ip)},
            "sessions": sessions(state_dir, name), "qos": qos, "latest_plan": latest, "latest_drift": drift}


def recent_plans(state_dir: Path, limit: int = 50) -> list[dict[str, Any]]:
    return StateDB(state_dir).recent_plans(limit)


def drift_runs(state_dir: Path, limit: int = 50) -> list[dict[str, Any]]:
    from tonle.drift.audit import history  # noqa: PLC0415

    return history(state_dir, limit)


def audit(state_dir: Path, *, actor: str = "", action: str = "", obj: str = "", limit: int = 200
          ) -> list[dict[str, Any]]:
    """The newest entries first, filtered by actor / action / object (substring, case-insensitive)."""
    wanted = [(f, v.casefold()) for f, v in (("actor", actor), ("action", action), ("object", obj)) if v]
    out = []
    for e in reversed(AuditLog(StateDB(state_dir)).entries()):
        if all(v in str(getattr(e, f)).casefold() for f, v in wanted):
            out.append({"seq": e.seq, "ts": e.ts, "actor": e.actor, "action": e.action, "object": e.object,
                        "details": e.details, "hash": e.hash, "signed": e.signature is not None})
            if len(out) >= limit:
                break
    return out


def audit_verify(state_dir: Path) -> dict[str, Any]:
    v = AuditLog(StateDB(state_dir)).check()
    return {"ok": v.ok, "entries": v.entries, "summary": v.summary(), "problems": v.problems, "notes": v.notes,
            "fingerprint": v.fingerprint}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
