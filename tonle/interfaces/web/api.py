"""The REST API (/api/v1): reads from tonle.interfaces.web.views, every change through the protocol's methods
(tonle.interfaces.actions), so a request gets exactly what the CLI would: the same checks, lines and audit.

Answers of actions are `{"exit": N, "out": [...], "err": [...], "data": {...}}` (the protocol's final
line), with an HTTP status that says the outcome: 200 done or dry run, 201 a disconnect active, 202 waiting
for a second operator's approval, 403 the role does not allow it, 404 unknown id, 409 refused (guard, two-person
rule, window, stale plan, already dark), 422 a bad field (`{"error": ..., "field": ...}`), 500 failed and
rolled back.
"""


from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tonle.errors import EXIT_OK
from tonle.interfaces.protocol import Answer, Digest, DisconnectParams, IrrSyncParams, Names, PlanParams
from tonle.interfaces.web import views
from tonle.interfaces.web.app import API, Door
from tonle.interfaces.web.auth import Caller, HttpError, api_caller
from tonle.source.inventory import NAME_RE
from tonle.state.accounts import Permission

RecordId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
DeviceName = Annotated[str, PathParam(min_length=2, max_length=32, pattern=NAME_RE.pattern,
                                      description="a device of the inventory (the inventory's name grammar)")]
Filter = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_.:@/ -]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApproveBody(_Body):
    digest: Digest = Field(description="the digest of the preview shown by GET .../approval: the approval "
                                       "confirms exactly that")


class ApplyBody(_Body):
    canary: Names = []
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 5
    revert_in: Annotated[int, Field(ge=1, le=86_400)] = 300
    on_window_close: str = "rollback"


class ErrorDoc(BaseModel):
    error: str = Field(description="one line; never the rejected input")
    field: str | None = Field(description="the request field it is about (path, query or body)")


class LiveBgp(BaseModel):
    up: bool
    state: str = Field(description="Established, down or admin down, as the device says")
    remote_as: int | None
    received: int | None = Field(description="prefixes received, all address families")
    accepted: int | None = Field(description="prefixes accepted after the import policy")
    uptime_seconds: int | None


class LiveSession(BaseModel):
    peer_ip: str
    neighbor: str | None = Field(description="the intent's neighbour (None: a session the intent lacks)")
    kind: str | None
    link: str | None
    peer_asn: int | None
    state: str = Field(description="the intent's view: up, dark (held down by a disconnect) or unexpected")
    dark: dict[str, Any] | None = Field(description="the disconnect holding it down")
    state_now: str = Field(description="what the device says now (not configured: the device lacks it)")
    live: LiveBgp | None


class LiveQos(BaseModel):
    interface: str
    state: str = Field(description="in place, differs, missing, not intended or no policy")
    intended: int
    running: int
    dropped: int | None = Field(description="packets dropped, all classes, since the counters were cleared "
                                            "(null: the device's counters could not be read)")
    drops: list[dict[str, Any]] = Field(description="per class or queue: queue, dropped")


class DeviceLive(BaseModel):
    device: str
    reachable: bool
    since: str | None = Field(None, description="unreachable: since the first read that failed (UTC)")
    error: str | None = Field(None, description="unreachable: why, one line")
    read_at: str | None = None
    via: str | None = Field(None, description="warm session (the service's) or new connection")
    sessions: list[LiveSession] = []
    qos: list[LiveQos] = []
    diff: list[str] = Field([], description="intended vs running on the owned part: + missing, - extra")
    ignored: int = Field(0, description="entries of the device's answer that did not fit the model")


def answer_json(a: Answer, ok: int = 200, failed: int = 409) -> JSONResponse:
    body = {"exit": a.exit, "out": a.out, "err": a.err, "data": a.data}
    return JSONResponse(body, status_code=ok if a.exit == EXIT_OK else failed)


def disconnect_status(a: Answer) -> int:
    return {"dry-run": 200, "active": 201, "needs approval": 202, "failed": 500}.get(
        str(a.data.get("status")), 200 if a.exit == EXIT_OK else 409)


def router(door: Door) -> APIRouter:
    r = APIRouter(prefix=API, tags=["api"])

    def caller(request: Request) -> Caller:
        return api_caller(door.state_dir, request)

    def reader(request: Request) -> Caller:
        c = caller(request)
        c.actor.require(Permission.READ, "read")
        return c

    Reader = Annotated[Caller, Depends(reader)]
    Anyone = Annotated[Caller, Depends(caller)]

    @r.get("/whoami", summary="the authenticated account and its role")
    def whoami(c: Anyone) -> dict[str, Any]:
        return {"name": c.actor.name, "uid": c.actor.uid, "role": c.actor.role,
                "may": sorted(p.value for p in Permission if c.actor.can(p))}

    @r.get("/sites", summary="sites with upstream and DIX session counts and state")
    def sites(_c: Reader) -> dict[str, Any]:
        return views.overview(door.state_dir)

    @r.get("/devices", summary="managed devices")
    def devices(_c: Reader) -> list[dict[str, Any]]:
        return views.devices(door.state_dir)

    @r.get("/devices/{name}", summary="one device: sessions, QoS, its latest plan diff and drift status")
    def device(name: RecordId, _c: Reader) -> dict[str, Any]:
        found = views.device(door.state_dir, name)
        if found is None:
            raise HttpError(404, f"no device {name!r}", "name")
        return found

    @r.get("/devices/{name}/sessions", summary="one device's live BGP sessions, QoS state and intended vs running",
           description="Read from the device now (the service's warm session, else a new read-only connection), "
                       "waited for at most 10 s: a device that does not answer is `reachable: false` with "
                       "`since` and `error`. Counters the device gives in a wrong type are null.",
           responses={200: {"model": DeviceLive}, 404: {"model": ErrorDoc}, 422: {"model": ErrorDoc}})
    def device_sessions(name: DeviceName, _c: Reader) -> dict[str, Any]:
        if name not in {d["name"] for d in views.devices(door.state_dir)}:
            raise HttpError(404, f"no device {name!r}", "name")
        return door.reader.live(name)

    @r.get("/sessions", summary="BGP sessions of the managed devices and which are dark (by which disconnect)")
    def sessions(_c: Reader, device: Annotated[RecordId | None, Query()] = None) -> list[dict[str, Any]]:
        return views.sessions(door.state_dir, device)

    @r.get("/disconnects", summary="active and pending disconnects (all=true: every one)")
    def disconnects(_c: Reader, all: bool = False) -> list[dict[str, Any]]:
        return views.disconnects(door.state_dir, include_closed=all)

    @r.get("/disconnects/{rid}", summary="one disconnect")
    def disconnect_one(rid: RecordId, _c: Reader) -> dict[str, Any]:
        from tonle.state.disconnects import get  # noqa: PLC0415

        return views.disconnect_json(get(door.state_dir, rid))

    @r.post("/disconnects", summary="disconnect (over the guard's limit: 202, pending a second operator)",
            status_code=201)
    def disconnect(body: DisconnectParams, c: Anyone) -> JSONResponse:
        a = door.act(c.actor, "disconnect", body.model_dump())
        return answer_json(a, disconnect_status(a), disconnect_status(a))

    @r.post("/disconnects/dry-run", summary="what would go dark (the blast radius); changes nothing")
    def dry_run(body: DisconnectParams, c: Anyone) -> JSONResponse:
        a = door.act(c.actor, "disconnect", {**body.model_dump(), "dry_run": True})
        return answer_json(a)

    @r.get("/disconnects/{rid}/approval", summary="what an approver would approve, and its digest")
    def approval(rid: RecordId, c: Anyone) -> JSONResponse:
        return answer_json(door.act(c.actor, "approve", {"id": rid}))

    @r.post("/disconnects/{rid}/approve", summary="approve (another account, approver role, the digest shown)")
    def approve(rid: RecordId, body: ApproveBody, c: Anyone) -> JSONResponse:
        a = door.act(c.actor, "approve", {"id": rid, "confirm": body.digest})
        return answer_json(a, disconnect_status(a), disconnect_status(a))

    @r.post("/disconnects/{rid}/restore", summary="restore now")
    def restore(rid: RecordId, c: Anyone) -> JSONResponse:
        a = door.act(c.actor, "restore", {"id": rid})
        return answer_json(a, failed=500 if a.data.get("status") == "failed" else 409)

    @r.get("/plans", summary="the newest plans")
    def plans(_c: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
        return views.recent_plans(door.state_dir, limit)

    @r.post("/plans", summary="plan: render, diff against the devices, save", status_code=201)
    def plan_create(body: PlanParams, c: Anyone) -> JSONResponse:
        a = door.act(c.actor, "plan", {**body.model_dump(), "as_json": True})
        return answer_json(a, 201, 500)

    @r.get("/plans/{pid}", summary="one plan with its diffs (redacted)")
    def plan_show(pid: RecordId, _c: Reader) -> dict[str, Any]:
        from tonle.change.plan import load_plan  # noqa: PLC0415

        return load_plan(door.state_dir, pid).to_json()

    @r.post("/plans/{pid}/apply", summary="apply (operator role, inside a change window): a job to follow",
            status_code=202)
    def plan_apply(pid: RecordId, body: ApplyBody, c: Anyone) -> dict[str, Any]:
        c.actor.require(Permission.OPERATE, "apply")
        return door.start_job(c.actor, "apply", {"plan": pid, **body.model_dump()}).json()

    @r.post("/irr/sync", summary="IRR-built filters: each domestic ISP's AS-SET through bgpq4, stored (pushes nothing)",
            description="The same action as `tonle irr sync` (operator role): asks the IRR server (policy.yaml "
                        "`irr`, or `server` HOST:PORT and `sources` given here, checked by the CLI's grammar) for "
                        "each domestic ISP's AS-SET, checks every answer and stores the filters with time and "
                        "source, audited as `irr-sync` by the caller. The next plan shows what the devices get. "
                        "A field off its grammar, a bad answer or an ISP without an AS-SET: 422, nothing stored; "
                        "bgpq4 or the IRR server unreachable: 503.",
            responses={200: {"description": "synced: `data` has the time, the source and per ISP its counts"},
                       403: {"model": ErrorDoc}, 422: {"model": ErrorDoc}, 503: {"model": ErrorDoc}})
    def irr_sync(c: Anyone, body: IrrSyncParams | None = None) -> JSONResponse:
        return answer_json(door.act(c.actor, "irr.sync", (body or IrrSyncParams()).model_dump()))

    @r.get("/jobs/{jid}", summary="a long action's progress and answer")
    def job(jid: RecordId, _c: Reader) -> dict[str, Any]:
        found = door.jobs.get(jid)
        if found is None:
            raise HttpError(404, f"no job {jid!r}", "jid")
        return found.json()

    @r.get("/drift-runs", summary="drift runs, newest first")
    def drift_runs(_c: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
        return views.drift_runs(door.state_dir, limit)

    @r.get("/audit", summary="audit log entries, newest first, filtered (substring, case-insensitive)")
    def audit(_c: Reader, actor: Filter = "", action: Filter = "", object: Filter = "",
              limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        return views.audit(door.state_dir, actor=actor, action=action, obj=object, limit=limit)

    @r.get("/audit/verify", summary="signatures, chain and head of the audit log")
    def audit_verify(_c: Reader) -> dict[str, Any]:
        return views.audit_verify(door.state_dir)

    @r.get("/status", summary="the service, its scheduler and every timer")
    def status(c: Anyone) -> JSONResponse:
        return answer_json(door.act(c.actor, "status", {}), failed=200)

    return r
