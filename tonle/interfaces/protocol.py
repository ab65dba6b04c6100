"""The wire protocol of `tonle serve`: JSON lines over a Unix socket, one request per connection.

Request (client -> service): one line of UTF-8 JSON, at most MAX_REQUEST bytes, ending with a newline:

    {"v": 1, "method": "disconnect", "params": {"scope_kind": "session", "scope_value": "r2:198.51.100.5", ...}}

Responses (service -> client): any number of progress lines, then exactly one final line, then the service
closes the connection:

    {"progress": "  .. pushing to r2"}
    {"exit": 1, "out": ["REFUSED D2024...: over the blast-radius limit ..."], "err": [], "data": {"id": "D..."}}

`exit` is the exit code of the README's table, `out`/`err` the lines the CLI prints on stdout/stderr,
`data` what a program needs (ids, digests). Who asks is never part of a request: the service takes the
caller's uid from the kernel (SO_PEERCRED). Everything is validated strictly: a request that is too long,
not one JSON object, of an unknown method or version, or with a parameter missing, unknown, of the wrong
type or out of bounds gets a final line with exit 2 and a one-line error; nothing of it is echoed back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tonle.compile.irr import MAX_SOURCES, irr_source_ok, split_server
from tonle.errors import EXIT_BAD_INPUT, EXIT_OK, BadInput, Problems, TonleError

VERSION = 1
MAX_REQUEST = 64 * 1024  # bytes of one request line
MAX_RESPONSE_LINE = 16 * 1024 * 1024  # a plan's JSON can be large; a client refuses anything longer


class ProtocolError(BadInput):
    """A request or response that does not follow the protocol (one line, nothing of the input echoed)."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


P = TypeVar("P", bound=Params)


Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Names = Annotated[list[Name], Field(max_length=200)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
UserName = Annotated[str, StringConstraints(min_length=1, max_length=32)]
TargetName = Literal["lab", "production"]


class DisconnectParams(Params):
    scope_kind: Literal["session", "peer-as", "link", "prefix", "site-upstreams"]
    scope_value: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    reason: Annotated[str, StringConstraints(max_length=2000)]  # the verb checks content and length
    ticket: Annotated[str, StringConstraints(max_length=200)]
    ttl_seconds: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    graceful: bool = False
    graceful_wait: Annotated[float, Field(ge=0, le=3600)] = 30.0
    dry_run: bool = False
    target: TargetName = "lab"


class ApproveParams(Params):
    id: RecordId
    confirm: Digest | None = None  # None: only show what would be approved (the preview and its digest)


class IdParams(Params):
    id: RecordId


class ListParams(Params):
    all: bool = False


class PlanParams(Params):
    sites: Names = []
    roles: Names = []
    hosts: Names = []
    target: TargetName = "lab"
    as_json: bool = False


class ApplyParams(Params):
    plan: RecordId
    canary: Names = []
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 5
    revert_in: Annotated[int, Field(ge=1, le=86_400)] = 300
    settle: Annotated[float, Field(ge=0, le=86_400)] = 60.0
    hold: Annotated[float, Field(ge=0, le=3_600)] = 7.0
    on_window_close: Literal["rollback", "confirm"] = "rollback"


class UserParams(Params):
    name: UserName
    role: Literal["viewer", "operator", "approver", "admin"]


class UserNameParams(Params):
    name: UserName


class PasswordParams(Params):
    name: UserName
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]  # the policy: state.credentials


class NoParams(Params):
    pass


def _irr_server(v: str) -> str:
    # The messages name the grammar, never the value (a bad request gets nothing of itself echoed).
    if split_server(v) is None:
        raise ValueError("must be HOST:PORT (an IP address or a host name, a port 1-65535)")
    return v


def _irr_source(v: str) -> str:
    if not irr_source_ok(v):
        raise ValueError("not an IRR source name (upper-case letters, digits, '-'; e.g. RIPE, RADB)")
    return v


class IrrSyncParams(Params):
    """`tonle irr sync`: each part of policy.yaml's `irr` the request replaces (checked by the same grammar)."""

    server: Annotated[str, StringConstraints(max_length=300), AfterValidator(_irr_server)] | None = None
    sources: Annotated[list[Annotated[str, StringConstraints(max_length=32), AfterValidator(_irr_source)]],
                       Field(min_length=1, max_length=MAX_SOURCES)] | None = None


class RecoverParams(Params):
    target: TargetName = "lab"  # which devices a recovery asks: the lab's twins or production's


PARAMS: dict[str, type[Params]] = {
    "disconnect": DisconnectParams,
    "approve": ApproveParams,
    "restore": IdParams,
    "disconnects": ListParams,
    "plan": PlanParams,
    "apply": ApplyParams,
    "users.add": UserParams,
    "users.list": NoParams,
    "users.remove": UserNameParams,
    "users.passwd": PasswordParams,
    "users.token": UserNameParams,
    "status": NoParams,
    "irr.sync": IrrSyncParams,
    "recover": RecoverParams,
}


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    v: Literal[1]
    method: Annotated[str, StringConstraints(max_length=32)]
    params: dict[str, Any] = {}


@dataclass(frozen=True)
class Request:
    method: str
    params: Params


def make_params(model: type[P], **values: Any) -> P:
    """Parameters built by a client (the CLI's arguments), validated as the service will validate them."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ProtocolError(_one_line(exc)) from None


def encode_request(method: str, params: Params) -> bytes:
    return (json.dumps({"v": VERSION, "method": method, "params": params.model_dump(mode="json")}) + "\n").encode()


def decode_request(line: bytes) -> Request:
    """One request line -> a validated request. ProtocolError (one line) on anything else."""
    if len(line) > MAX_REQUEST:
        raise ProtocolError(f"request longer than {MAX_REQUEST} bytes")
    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError("request is not UTF-8") from None
    except (ValueError, RecursionError):
        raise ProtocolError("request is not one JSON object on one line") from None
    if not isinstance(data, dict):
        raise ProtocolError("request is not a JSON object")
    try:
        env = _Envelope.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(f"request: {_one_line(exc)}") from None
    model = PARAMS.get(env.method)
    if model is None:
        raise ProtocolError(f"unknown method (one of {', '.join(PARAMS)})")
    try:
        return Request(env.method, model.model_validate(env.params))
    except ValidationError as exc:
        raise ProtocolError(f"{env.method}: {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    """Pydantic's errors as one line: where and what, never the input itself."""
    parts = []
    for e in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "(top)"
        parts.append(f"{where}: {e['msg']}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return ("; ".join(parts) + more)[:400]


# ---- answers ----------------------------------------------------------------------------------------

@dataclass
class Answer:
    """The final response: what the CLI prints and the exit code it returns, plus data for programs."""

    exit: int = EXIT_OK
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_error(cls, exc: TonleError) -> Answer:
        prefix = "" if isinstance(exc, Problems) else "tonle: error: "  # problem lines name their file
        return cls(exc.exit_code, [], [f"{prefix}{line}" for line in exc.lines()])

    def encode(self) -> bytes:
        return (json.dumps({"exit": self.exit, "out": self.out, "err": self.err, "data": self.data}) + "\n").encode()


def progress_line(text: str) -> bytes:
    return (json.dumps({"progress": text}) + "\n").encode()


def decode_response(line: bytes) -> str | Answer:
    """A progress text, or the final Answer. ProtocolError when the line is neither."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("the service sent a line that is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("progress"), str) and len(data) == 1:
        return str(data["progress"])
    if isinstance(data, dict) and isinstance(data.get("exit"), int) and all(
            isinstance(data.get(k), list) for k in ("out", "err")) and isinstance(data.get("data"), dict):
        return Answer(int(data["exit"]), [str(x) for x in data["out"]], [str(x) for x in data["err"]], data["data"])
    raise ProtocolError("the service sent a line that is neither progress nor an answer")


def bad_request(exc: ProtocolError) -> Answer:
    return Answer(EXIT_BAD_INPUT, [], [f"tonle: error: {exc}"])
