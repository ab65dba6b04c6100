"""The console's pages: server-rendered (Jinja2, autoescaped), one small script (static/console.js) for the
live parts: server-sent events carry re-rendered fragments of the overview and the disconnects, and TTL
countdowns tick in the browser. Every form POST carries the session's CSRF token."""

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from tonle.errors import EXIT_OK, TonleError
from tonle.interfaces.web import views
from tonle.interfaces.web.app import HERE, Door, status_of
from tonle.interfaces.web.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Caller,
    HttpError,
    address,
    check_csrf,
    from_session,
    login_name,
)
from tonle.source.inventory import NAME_RE
from tonle.state import credentials
from tonle.state.accounts import Permission
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB

TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
EVENT_PERIOD = 1.0  # seconds between two looks at the state for the live pages
KEEPALIVE = 15.0  # seconds between comments on an idle event stream (proxies close silent connections)
Text = Annotated[str, Form(max_length=4000)]


def error_page(request: Request, status: int, message: str) -> Response:
    return TEMPLATES.TemplateResponse(request, "error.html", {"status": status, "message": message, "me": None},
                                      status_code=status)


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def router(door: Door) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def me(request: Request) -> Caller:
        c = from_session(door.state_dir, request)
        if c is None:
            raise HttpError(401, "log in first")
        c.actor.require(Permission.READ, "read")
        return c

    def page(request: Request, name: str, caller: Caller, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, {"me": caller.actor, "csrf": caller.csrf,
                                                          "can": caller.actor.can, "P": Permission, **ctx},
                                          status_code=status_code)

    def form_csrf(caller: Caller, token: str) -> None:
        check_csrf(caller, token)

    # ---- login -------------------------------------------------------------------------------------
    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(32)
        resp = TEMPLATES.TemplateResponse(request, "login.html", {"me": None, "login_csrf": token, "error": ""})
        _cookie(resp, LOGIN_COOKIE, token, 600)
        return resp

    @r.post("/login")
    def login(request: Request, username: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=256)], csrf: Annotated[str, Form(max_length=100)]) -> Response:
        sent = request.cookies.get(LOGIN_COOKIE, "")
        if not sent or not credentials.same_secret(sent, csrf):
            raise HttpError(403, "missing or wrong CSRF token (reload the login page)", "csrf")
        where, db = address(request), StateDB(door.state_dir)
        if door.limiter.blocked(username, where):
            AuditLog(db, actor=login_name(username)).append("web-login-refused", login_name(username), {
                "address": where, "why": "rate limited"})
            raise HttpError(429, "too many failed logins; wait and try again", "username")
        actor = credentials.check_login(db, username, password)
        if actor is None:
            door.limiter.failed(username, where)
            AuditLog(db, actor=login_name(username)).append("web-login-refused", login_name(username), {
                "address": where, "why": "wrong name or password"})
            token = secrets.token_urlsafe(32)
            resp = TEMPLATES.TemplateResponse(request, "login.html", {
                "me": None, "login_csrf": token, "error": "wrong name or password"}, status_code=401)
            _cookie(resp, LOGIN_COOKIE, token, 600)
            return resp
        door.limiter.succeeded(username)
        sid, _ = credentials.open_session(db, actor)
        AuditLog(db, actor=actor.name).append("web-login", actor.name, {"address": where, "role": actor.role})
        done = RedirectResponse("/", status_code=303)
        _cookie(done, SESSION_COOKIE, sid, credentials.SESSION_HOURS * 3600)
        done.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return done

    @r.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=100)]) -> Response:
        c = me(request)
        form_csrf(c, csrf)
        credentials.close_session(StateDB(door.state_dir), request.cookies.get(SESSION_COOKIE, ""))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    # ---- overview and live events ------------------------------------------------------------------
    def fragments(caller: Caller) -> dict[str, str]:
        ov = views.overview(door.state_dir)
        dis = views.disconnects(door.state_dir)
        env = TEMPLATES.env
        ctx = {"me": caller.actor, "csrf": caller.csrf, "can": caller.actor.can, "P": Permission}
        return {"overview": env.get_template("_overview.html").render(ov=ov, **ctx),
                "disconnects": env.get_template("_disconnects.html").render(items=dis, **ctx)}

    @r.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        c = me(request)
        return page(request, "overview.html", c, frag=fragments(c))

    @r.get("/events")
    async def events(request: Request) -> StreamingResponse:
        c = me(request)

        async def stream() -> AsyncIterator[str]:
            last, idle = "", 0.0
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                frag = await run_in_threadpool(fragments, c)
                text = json.dumps(frag)
                if text != last:
                    last, idle = text, 0.0
                    yield f"event: state\ndata: {text}\n\n"
                elif (idle := idle + EVENT_PERIOD) >= KEEPALIVE:
                    idle = 0.0
                    yield ": keepalive\n\n"
                await asyncio.sleep(EVENT_PERIOD)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    # ---- devices -----------------------------------------------------------------------------------
    @r.get("/devices/{name}", response_class=HTMLResponse)
    def device(request: Request, name: str) -> Response:
        c = me(request)
        found = views.device(door.state_dir, name) if NAME_RE.fullmatch(name) else None
        if found is None:
            raise HttpError(404, "no such device")
        return page(request, "device.html", c, d=found, live=door.reader.live(name))

    # ---- disconnects -------------------------------------------------------------------------------
    @r.get("/disconnects", response_class=HTMLResponse)
    def disconnects(request: Request) -> Response:
        c = me(request)
        history = [d for d in views.disconnects(door.state_dir, include_closed=True)
                   if d["status"] not in ("active", "pending-approval")][:50]
        return page(request, "disconnects.html", c, frag=fragments(c), history=history, form={}, result=None)

    @r.post("/disconnects", response_class=HTMLResponse)
    def disconnect(request: Request, csrf: Text, scope_kind: Text, scope_value: Text, reason: Text, ticket: Text,
                   ttl: Text = "", action: Text = "dry-run", graceful: Text = "") -> Response:
        c = me(request)
        form_csrf(c, csrf)
        form = {"scope_kind": scope_kind, "scope_value": scope_value, "reason": reason, "ticket": ticket,
                "ttl": ttl, "graceful": bool(graceful)}
        values: dict[str, Any] = {"scope_kind": scope_kind, "scope_value": scope_value.strip(), "reason": reason,
                                  "ticket": ticket, "graceful": bool(graceful), "dry_run": action != "submit"}
        error, result, status = "", None, 200
        try:
            if ttl.strip():
                from tonle.emergency.disconnect import duration_seconds  # noqa: PLC0415

                values["ttl_seconds"] = duration_seconds(ttl)
            result = door.act(c.actor, "disconnect", values)
        except HttpError as exc:
            error, status = exc.message, exc.status
        except TonleError as exc:
            error, status = " ".join(exc.lines()), status_of(exc)
        history: list[dict[str, Any]] = []
        return page(request, "disconnects.html", c, frag=fragments(c), history=history, form=form, result=result,
                    error=error, submitted=action == "submit", status_code=status)

    @r.get("/disconnects/{rid}", response_class=HTMLResponse)
    def disconnect_one(request: Request, rid: str) -> Response:
        from tonle.state.disconnects import get  # noqa: PLC0415

        c = me(request)
        rec = get(door.state_dir, rid[:64])
        preview, why_not = None, ""
        if rec.status == "pending-approval":
            if c.actor.is_same_account(rec.operator, rec.operator_uid):
                why_not = "you requested it: another account with the approver role must approve it"
            elif not c.actor.can(Permission.APPROVE):
                why_not = f"your role ({c.actor.role}) may not approve"
            else:
                try:
                    preview = door.act(c.actor, "approve", {"id": rec.id})
                except TonleError as exc:
                    why_not = " ".join(exc.lines())
        return page(request, "disconnect.html", c, d=views.disconnect_json(rec), preview=preview, why_not=why_not)

    @r.post("/disconnects/{rid}/approve", response_class=HTMLResponse)
    def approve(request: Request, rid: str, csrf: Text, digest: Text) -> Response:
        c = me(request)
        form_csrf(c, csrf)
        return outcome(request, c, "approve", {"id": rid[:64], "confirm": digest})

    @r.post("/disconnects/{rid}/restore", response_class=HTMLResponse)
    def restore(request: Request, rid: str, csrf: Text) -> Response:
        c = me(request)
        form_csrf(c, csrf)
        return outcome(request, c, "restore", {"id": rid[:64]})

    def outcome(request: Request, c: Caller, method: str, values: dict[str, Any]) -> Response:
        try:
            a = door.act(c.actor, method, values)
        except HttpError as exc:
            return page(request, "outcome.html", c, what=method, ok=False, lines=[exc.message],
                        status_code=exc.status)
        except TonleError as exc:
            return page(request, "outcome.html", c, what=method, ok=False, lines=exc.lines(),
                        status_code=status_of(exc))
        return page(request, "outcome.html", c, what=method, ok=a.exit == EXIT_OK, lines=[*a.out, *a.err],
                    status_code=200 if a.exit == EXIT_OK else 409)

    # ---- plans ---------------------------------------------------------------------------------------
    @r.get("/plans", response_class=HTMLResponse)
    def plans(request: Request) -> Response:
        c = me(request)
        return page(request, "plans.html", c, plans=views.recent_plans(door.state_dir), devices=[
            d["name"] for d in views.devices(door.state_dir)])

    @r.post("/plans", response_class=HTMLResponse)
    def plan_create(request: Request, csrf: Text, host: Text = "") -> Response:
        c = me(request)
        form_csrf(c, csrf)
        values = {"hosts": [host] if host else []}
        try:
            a = door.act(c.actor, "plan", values)
        except (HttpError, TonleError) as exc:
            lines = [exc.message] if isinstance(exc, HttpError) else exc.lines()
            return page(request, "outcome.html", c, what="plan", ok=False, lines=lines, status_code=422)
        return RedirectResponse(f"/plans/{a.data['id']}", status_code=303)

    @r.get("/plans/{pid}", response_class=HTMLResponse)
    def plan_show(request: Request, pid: str) -> Response:
        from tonle.change.plan import load_plan  # noqa: PLC0415

        c = me(request)
        return page(request, "plan.html", c, plan=load_plan(door.state_dir, pid[:64]).to_json())

    @r.post("/plans/{pid}/apply")
    def plan_apply(request: Request, pid: str, csrf: Text) -> Response:
        c = me(request)
        form_csrf(c, csrf)
        c.actor.require(Permission.OPERATE, "apply")
        job = door.start_job(c.actor, "apply", {"plan": pid[:64]})
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    @r.get("/jobs/{jid}", response_class=HTMLResponse)
    def job(request: Request, jid: str) -> Response:
        c = me(request)
        found = door.jobs.get(jid[:64])
        if found is None:
            raise HttpError(404, "no such job")
        return page(request, "job.html", c, job=found.json())

    @r.get("/jobs/{jid}/events")
    async def job_events(request: Request, jid: str) -> StreamingResponse:
        me(request)
        found = door.jobs.get(jid[:64])
        if found is None:
            raise HttpError(404, "no such job")

        async def stream() -> AsyncIterator[str]:
            sent = 0
            while not await request.is_disconnected():
                state = found.json()
                if len(state["progress"]) > sent or state["done"]:
                    sent = len(state["progress"])
                    yield f"event: job\ndata: {json.dumps(state)}\n\n"
                    if state["done"]:
                        return
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream")

    # ---- drift and audit -----------------------------------------------------------------------------
    @r.get("/drift", response_class=HTMLResponse)
    def drift(request: Request) -> Response:
        c = me(request)
        return page(request, "drift.html", c, runs=views.drift_runs(door.state_dir))

    @r.get("/audit", response_class=HTMLResponse)
    def audit(request: Request, actor: str = "", action: str = "", object: str = "") -> Response:
        c = me(request)
        filters = {"actor": actor[:64], "action": action[:64], "object": object[:64]}
        entries = views.audit(door.state_dir, actor=filters["actor"], action=filters["action"],
                              obj=filters["object"])
        return page(request, "audit.html", c, entries=entries, filters=filters,
                    verify=views.audit_verify(door.state_dir))

    return r
