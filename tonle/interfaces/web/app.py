"""The ASGI application of the HTTPS front door: the REST API (tonle.interfaces.web.api) and the console's
pages (tonle.interfaces.web.pages), over one `Door` onto the service's actions."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tonle.errors import BadInput, Refused, TonleError, Unavailable
from tonle.interfaces import actions
from tonle.interfaces.protocol import PARAMS, Answer
from tonle.interfaces.web.auth import HttpError, LoginLimiter
from tonle.interfaces.web.live import DeviceReader
from tonle.state.accounts import Actor, NotPermitted

_log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
API = "/api/v1"
MAX_JOBS = 100


@dataclass
class Job:
    """An action that takes long (an apply): its progress lines, then its answer."""

    id: str
    method: str
    actor: str
    lines: list[str] = field(default_factory=list)
    answer: Answer | None = None

    def json(self) -> dict[str, Any]:
        a = self.answer
        return {"id": self.id, "method": self.method, "actor": self.actor, "progress": list(self.lines),
                "done": a is not None, "exit": a.exit if a else None, "out": a.out if a else [],
                "err": a.err if a else [], "data": a.data if a else {}}


@dataclass
class Door:
    """What the HTTPS side knows of the service: where the state is, and its hooks (scheduler, status)."""

    config: Path
    state_dir: Path
    on_active: Callable[[], None] = field(default=lambda: None)
    service: Callable[[], dict[str, Any]] | None = None
    limiter: LoginLimiter = field(init=False)
    jobs: dict[str, Job] = field(default_factory=dict)
    reader: DeviceReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = DeviceReader(self.config, self.state_dir)
        self.limiter = LoginLimiter(self.state_dir)

    def act(self, actor: Actor, method: str, values: dict[str, Any], say: Callable[[str], None] | None = None
            ) -> Answer:
        """One protocol method for `actor`, its parameters validated by the protocol's own schema."""
        try:
            params = PARAMS[method].model_validate(values)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise HttpError(422, f"{where}: {first['msg']}", where) from None
        ctx = actions.Context(self.config, self.state_dir, actor, say=say or (lambda _m: None),
                              on_active=self.on_active, service=self.service)
        _log.info("%s (uid %d, https): %s", actor.name, actor.uid, method)
        return actions.perform(method, ctx, params)

    def start_job(self, actor: Actor, method: str, values: dict[str, Any]) -> Job:
        PARAMS[method].model_validate(values)  # a bad request fails now, not in the thread
        job = Job(f"J{secrets.token_hex(6)}", method, actor.name)
        self.jobs[job.id] = job
        for old in [j for j, found in self.jobs.items() if found.answer is not None][:-MAX_JOBS]:
            del self.jobs[old]  # the finished ones beyond the newest MAX_JOBS

        def run() -> None:
            try:
                job.answer = self.act(actor, method, values, say=job.lines.append)
            except TonleError as exc:
                job.answer = Answer.from_error(exc)
            except Exception:
                _log.exception("%s job %s failed", method, job.id)
                job.answer = Answer(1, [], ["tonle: error: internal error in tonle serve (see its log)"])

        threading.Thread(target=run, name=f"job-{job.id}", daemon=True).start()
        return job


def status_of(exc: TonleError) -> int:
    from tonle.change.plan import PlanError  # noqa: PLC0415
    from tonle.state.disconnects import UnknownDisconnect  # noqa: PLC0415

    if isinstance(exc, NotPermitted):
        return 403
    if isinstance(exc, UnknownDisconnect | PlanError) and "no " in str(exc)[:12]:
        return 404
    if isinstance(exc, BadInput):
        return 422
    if isinstance(exc, Refused):
        return 409
    if isinstance(exc, Unavailable):
        return 503
    return 500


def field_of(exc: TonleError) -> str | None:
    """The request field a verb's one-line error names (`--reason: …` -> reason)."""
    text = exc.lines()[0] if exc.lines() else ""
    head = text.split(":", 1)[0].split(" ", 1)[0]
    return head.lstrip("-").replace("-", "_") if head.startswith("--") else None


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(API) and "text/html" in request.headers.get("accept", "")


def create_app(door: Door) -> FastAPI:
    from tonle.interfaces.web import api, pages  # noqa: PLC0415

    app = FastAPI(title="Tonlé", version="1", openapi_url=f"{API}/openapi.json", docs_url=None, redoc_url=None,
                  description="REST API of the Tonlé service: the same actions, roles, guard, change windows and "
                              "audit log as the CLI. Authenticate with `Authorization: Bearer TOKEN` "
                              "(`tonle users token NAME`).")
    app.state.door = door
    app.include_router(api.router(door))
    app.include_router(pages.router(door))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def error(request: Request, status: int, message: str, fld: str | None) -> Response:
        if _wants_html(request):
            if status == 401:
                return Response(status_code=303, headers={"location": "/login"})
            return pages.error_page(request, status, message)
        return JSONResponse({"error": message, "field": fld}, status_code=status,
                            headers={"www-authenticate": "Bearer"} if status == 401 else None)

    @app.exception_handler(HttpError)
    async def _http(request: Request, exc: HttpError) -> Response:
        return error(request, exc.status, exc.message, exc.field)

    @app.exception_handler(TonleError)
    async def _tonle(request: Request, exc: TonleError) -> Response:
        return error(request, status_of(exc), " ".join(exc.lines())[:500], field_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p not in ("body", "path", "query")) or "body"
        return error(request, 422, f"{where}: {first['msg']}", where)  # never the input itself

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> Response:
        return error(request, exc.status_code, str(exc.detail), None)

    @app.exception_handler(Exception)
    async def _bug(request: Request, _exc: Exception) -> Response:
        _log.exception("%s %s failed", request.method, request.url.path)
        return error(request, 500, "internal error in tonle serve (see its log)", None)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("content-security-policy", "default-src 'self'; frame-ancestors 'none'; "
                                    "form-action 'self'; base-uri 'none'")
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "no-referrer")
        response.headers.setdefault("strict-transport-security", "max-age=31536000")
        response.headers.setdefault("cache-control", "no-store")
        return response

    return app
