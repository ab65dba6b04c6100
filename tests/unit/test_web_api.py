"""The HTTPS front door of a real `tonle serve` (in a thread, on loopback, its own self-signed certificate),
without a lab: every REST endpoint and each refusal (no or bad token, a role that may not, the requester
approving, bad fields, CSRF missing, login rate limit), and the console's login, cookies and pages.

The accounts are real OS users made here with useradd (tnlw-<random><role>, removed at the end), each with a
password set through `tonle users passwd` (read from standard input) and a token from `tonle users token`.
Nothing here reaches a device: the state records the small inventory as applied, which is what the guard,
the dry runs and the refusals need.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import SMALL, require_root, wait_until
from tonle.interfaces.cli import main
from tonle.interfaces.service import Service
from tonle.source.inventory import load_from_nornir_config
from tonle.source.snapshot import capture
from tonle.state.applied import record_applied
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB
from tonle.state.disconnects import records

ROLES = {"op": "operator", "ap1": "approver", "ap2": "approver", "view": "viewer", "adm": "admin", "rl": "operator",
         "gone": "operator"}
POI = {"scope_kind": "site-upstreams", "scope_value": "POI", "reason": "carrier maintenance", "ticket": "INC-7"}


@dataclass
class Web:
    config: Path
    state: Path
    sock: Path
    url: str
    cert: Path
    users: dict[str, str]  # short name -> OS user
    passwords: dict[str, str]
    tokens: dict[str, str]

    def cli(self, *argv: str, stdin: str = "") -> tuple[int, str]:
        out, old_in, old_out = io.StringIO(), sys.stdin, sys.stdout
        sys.stdin, sys.stdout = io.StringIO(stdin), out
        try:
            code = main(["--config", str(self.config), "--state-dir", str(self.state), "--socket", str(self.sock),
                         *argv])
        finally:
            sys.stdin, sys.stdout = old_in, old_out
        return code, out.getvalue()

    def client(self, who: str | None = None, token: str | None = None) -> httpx.Client:
        headers = {}
        if who is not None or token is not None:
            headers["authorization"] = f"Bearer {token if token is not None else self.tokens[who or '']}"
        return httpx.Client(base_url=self.url, verify=self.tls, headers=headers, timeout=60)

    @property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def browser(self, who: str) -> tuple[httpx.Client, str]:
        """A logged-in console session for `who`: (client with its cookie, the session's CSRF token)."""
        c = httpx.Client(base_url=self.url, verify=self.tls, timeout=60)
        r = c.post("/login", data={"username": self.users[who], "password": self.passwords[who],
                                   "csrf": _login_csrf(c)})
        assert r.status_code == 303, r.text
        page = c.get("/", headers={"accept": "text/html"})
        return c, _csrf(page.text)

    def audit(self) -> list[Any]:
        return AuditLog(StateDB(self.state)).entries()


def _login_csrf(c: httpx.Client) -> str:
    return _csrf(c.get("/login").text)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _give_isp1_an_as_set(peers_file: Path) -> None:
    """An AS-SET for isp1, so that `irr sync` gets as far as asking bgpq4 (it changes no rendering without a
    stored sync)."""
    peers = yaml.safe_load(peers_file.read_text())
    next(p for p in peers["peers"] if p["name"] == "isp1")["as_set"] = "AS65001:AS-ISP1"
    peers_file.write_text(yaml.safe_dump(peers))


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    require_root()
    tmp = tmp_path_factory.mktemp("web")
    shutil.copytree(SMALL, tmp / "small")
    config, state = tmp / "small" / "nornir.yaml", tmp / "state"
    _give_isp1_an_as_set(tmp / "small" / "inventory" / "peers.yaml")
    inv = load_from_nornir_config(config)
    record_applied(StateDB(state), list(inv.devices), "lab-up", capture(inv))
    tag = secrets.token_hex(2)
    users = {short: f"tnlw-{tag}{short}" for short in ROLES}
    made: list[str] = []
    run = Path(tempfile.mkdtemp(prefix="tnlw-sock-"))
    port = _free_port()
    svc = Service(config, state, run / "tonle.sock", retry=60, https=f"127.0.0.1:{port}")
    thread = threading.Thread(target=svc.serve, daemon=True)
    try:
        for name in users.values():
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            made.append(name)
        thread.start()
        wait_until(lambda: svc.web is not None and svc.web._server.started, 30, "the HTTPS front door")
        w = Web(config, state, run / "tonle.sock", f"https://127.0.0.1:{port}", state / "keys" / "web-cert.pem",
                users, {}, {})
        for short, role in ROLES.items():
            assert w.cli("users", "add", users[short], "--role", role)[0] == 0
            w.passwords[short] = secrets.token_urlsafe(12)
            code, _ = w.cli("users", "passwd", users[short], stdin=w.passwords[short] + "\n")
            assert code == 0
            code, out = w.cli("users", "token", users[short])
            assert code == 0
            w.tokens[short] = out.strip()
        yield w
    finally:
        svc.stop()
        thread.join(30)
        for name in made:
            subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(run, ignore_errors=True)


# ---- identity -------------------------------------------------------------------------------------------

def test_openapi_is_at_a_stable_url_and_lists_every_endpoint(web: Web) -> None:
    spec = web.client().get("/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    for p in ("/api/v1/sites", "/api/v1/devices", "/api/v1/devices/{name}", "/api/v1/sessions",
              "/api/v1/disconnects", "/api/v1/disconnects/dry-run", "/api/v1/disconnects/{rid}/approval",
              "/api/v1/disconnects/{rid}/approve", "/api/v1/disconnects/{rid}/restore", "/api/v1/plans",
              "/api/v1/plans/{pid}", "/api/v1/plans/{pid}/apply", "/api/v1/drift-runs", "/api/v1/audit",
              "/api/v1/audit/verify", "/api/v1/jobs/{jid}", "/api/v1/status", "/api/v1/irr/sync"):
        assert p in paths, p
    assert not any(p in paths for p in ("/", "/login", "/events")), "pages stay out of the API's schema"
    live = spec["paths"]["/api/v1/devices/{name}/sessions"]["get"]
    assert {"200", "404", "422"} <= set(live["responses"])
    (param,) = live["parameters"]
    assert param["name"] == "name" and param["schema"]["pattern"].startswith("^[a-z]")


@pytest.mark.parametrize("header", [None, "Bearer tnl_" + "x" * 43, "Bearer nottnl", "Basic dXNlcjpwYXNz", "Bearer"])
def test_no_or_invalid_token_is_401_with_a_json_body(web: Web, header: str | None) -> None:
    headers = {"authorization": header} if header else {}
    r = web.client().get("/api/v1/disconnects", headers=headers)
    assert r.status_code == 401
    assert r.json()["field"] == "authorization" and r.headers["www-authenticate"] == "Bearer"


def test_a_token_names_its_account(web: Web) -> None:
    for short, role in ROLES.items():
        me = web.client(short).get("/api/v1/whoami").json()
        assert (me["name"], me["role"]) == (web.users[short], role)


def test_a_removed_account_loses_its_token_and_password(web: Web) -> None:
    c = web.client("gone")
    assert c.get("/api/v1/whoami").status_code == 200
    assert web.cli("users", "remove", web.users["gone"])[0] == 0
    assert c.get("/api/v1/whoami").status_code == 401
    with StateDB(web.state).connect() as db:
        assert db.execute("SELECT count(*) FROM account_tokens WHERE name = ?", (web.users["gone"],)).fetchone()[0] == 0


def test_only_a_hash_of_tokens_and_passwords_is_stored(web: Web) -> None:
    raw = (web.state / "tonle.db").read_bytes()
    for short in ("op", "ap1"):
        assert web.tokens[short].encode() not in raw and web.passwords[short].encode() not in raw
    with StateDB(web.state).connect() as db:
        assert all(h.startswith("$argon2id$") for (h,) in db.execute("SELECT hash FROM account_passwords"))
    assert not any(web.passwords["op"] in json.dumps(e.details) for e in web.audit())


def test_a_password_on_argv_is_not_accepted(web: Web) -> None:
    with pytest.raises(SystemExit) as exc:
        web.cli("users", "passwd", web.users["op"], "hunter2hunter2")
    assert exc.value.code == 2


def test_another_accounts_password_needs_the_admin_role(web: Web) -> None:
    with StateDB(web.state).connect() as db:
        before = db.execute("SELECT hash FROM account_passwords WHERE name = ?", (web.users["op"],)).fetchone()[0]
    from tonle.interfaces import actions  # noqa: PLC0415
    from tonle.interfaces.protocol import PasswordParams  # noqa: PLC0415
    from tonle.state.accounts import NotPermitted, authenticate  # noqa: PLC0415

    viewer = authenticate(StateDB(web.state), _uid(web.users["view"]))
    ctx = actions.Context(web.config, web.state, viewer)
    with pytest.raises(NotPermitted):
        actions.perform("users.passwd", ctx, PasswordParams(name=web.users["op"], password="x" * 20))
    with StateDB(web.state).connect() as db:
        after = db.execute("SELECT hash FROM account_passwords WHERE name = ?", (web.users["op"],)).fetchone()[0]
    assert before == after


def _uid(name: str) -> int:
    import pwd  # noqa: PLC0415

    return pwd.getpwnam(name).pw_uid


# ---- reads ---------------------------------------------------------------------------------------------

def test_reads_for_every_role(web: Web) -> None:
    for short in ("view", "op", "adm"):
        c = web.client(short)
        sites = c.get("/api/v1/sites").json()
        assert {s["code"] for s in sites["sites"]} >= {"PNH", "POI"}
        poi = next(s for s in sites["sites"] if s["code"] == "POI")
        assert poi["upstream"]["total"] == 1 and poi["devices"] == ["r2"]
        assert {d["name"] for d in c.get("/api/v1/devices").json()} == {"r1", "r2", "rs1"}
        r2 = c.get("/api/v1/devices/r2").json()
        assert r2["device"]["site"] == "POI" and r2["sessions"]
        assert all(s["device"] == "r2" for s in c.get("/api/v1/sessions", params={"device": "r2"}).json())
        assert c.get("/api/v1/disconnects").status_code == 200
        assert c.get("/api/v1/plans").json() == [] or c.get("/api/v1/plans").status_code == 200
        assert c.get("/api/v1/drift-runs").json() == []
        assert c.get("/api/v1/audit/verify").json()["ok"] is True


def test_unknown_ids_are_404_naming_the_field(web: Web) -> None:
    c = web.client("view")
    r = c.get("/api/v1/devices/r9")
    assert (r.status_code, r.json()["field"]) == (404, "name")
    assert c.get("/api/v1/disconnects/D000").status_code == 404
    assert c.get("/api/v1/plans/P000").status_code == 404
    assert c.get("/api/v1/jobs/J000").status_code == 404
    r = c.get("/api/v1/devices/r2;rm")
    assert r.status_code == 422 and "rm" not in r.json()["error"]


@pytest.mark.parametrize(("name", "status"), [("r9", 404), ("R2", 422), ("r2;rm", 422), ("r" * 40, 422), ("-r2", 422)])
def test_live_sessions_name_the_bad_or_unknown_device(web: Web, name: str, status: int) -> None:
    r = web.client("view").get(f"/api/v1/devices/{name}/sessions")
    assert (r.status_code, r.json()["field"]) == (status, "name"), r.text
    assert "rm" not in r.json()["error"] and "Traceback" not in r.text


def test_live_sessions_need_a_login(web: Web) -> None:
    assert web.client().get("/api/v1/devices/r2/sessions").status_code == 401


def test_audit_is_filtered(web: Web) -> None:
    c = web.client("view")
    adds = c.get("/api/v1/audit", params={"action": "account-add"}).json()
    assert adds and all(e["action"] == "account-add" for e in adds)
    assert {e["object"] for e in adds} >= {web.users["op"], web.users["view"]}
    assert c.get("/api/v1/audit", params={"action": "<script>"}).status_code == 422


# ---- actions and their refusals --------------------------------------------------------------------

def test_a_viewer_and_an_admin_cannot_act(web: Web) -> None:
    for short in ("view", "adm"):
        c = web.client(short)
        for method, path, body in (("POST", "/api/v1/disconnects", POI), ("POST", "/api/v1/disconnects/dry-run", POI),
                                   ("POST", "/api/v1/plans", {}), ("POST", "/api/v1/plans/latest/apply", {}),
                                   ("POST", "/api/v1/disconnects/D1/restore", None),
                                   ("POST", "/api/v1/irr/sync", {"server": "127.0.0.1:43", "sources": ["RIPE"]})):
            r = c.request(method, path, json=body)
            assert r.status_code == 403, (short, path, r.text)
            assert "may not" in r.json()["error"]
    assert not records(web.state)


@pytest.mark.parametrize(("change", "field"), [
    ({"scope_kind": "everything"}, "scope_kind"),
    ({"ticket": "INC 7; rm -rf"}, "ticket"),
    ({"ticket": ""}, "ticket"),
    ({"reason": "line one\nconf t"}, "reason"),
    ({"reason": ""}, "reason"),
    ({"ttl_seconds": 10**9}, "ttl_seconds"),
    ({"ttl_seconds": "30m"}, "ttl_seconds"),
    ({"surprise": 1}, "surprise"),
    ({"scope_value": "POI\nshutdown"}, None),
])
def test_bad_fields_are_4xx_naming_the_field_and_echo_nothing(web: Web, change: dict[str, Any],
                                                               field: str | None) -> None:
    r = web.client("op").post("/api/v1/disconnects", json={**POI, **change})
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert set(body) == {"error", "field"}
    if field:
        assert body["field"] == field, body
    assert "rm -rf" not in r.text and "conf t" not in r.text and "Traceback" not in r.text
    assert not records(web.state)


def test_not_json_is_422(web: Web) -> None:
    r = web.client("op").post("/api/v1/disconnects", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()


def test_dry_run_shows_the_blast_radius_and_changes_nothing(web: Web) -> None:
    n = len(web.audit())
    r = web.client("op").post("/api/v1/disconnects/dry-run", json=POI)
    assert r.status_code == 200
    text = "\n".join(r.json()["out"])
    assert "OVER LIMIT" in text and "r2:" in text and "dry run: nothing changed" in text
    assert not records(web.state) and len(web.audit()) == n


def test_over_the_limit_waits_for_another_approver(web: Web) -> None:
    r = web.client("ap1").post("/api/v1/disconnects", json=POI)
    assert r.status_code == 202, r.text
    rid = r.json()["data"]["id"]
    listed = web.client("view").get("/api/v1/disconnects").json()
    assert [(d["id"], d["status"], d["operator"]) for d in listed] == [(rid, "pending-approval", web.users["ap1"])]
    # the requester: neither the preview nor the approval
    me = web.client("ap1")
    r = me.get(f"/api/v1/disconnects/{rid}/approval")
    assert r.status_code == 409 and "cannot approve" in r.json()["error"]
    r = me.post(f"/api/v1/disconnects/{rid}/approve", json={"digest": "0" * 64})
    assert r.status_code == 409
    # an operator may not approve at all; a viewer neither
    for short in ("op", "view"):
        assert web.client(short).get(f"/api/v1/disconnects/{rid}/approval").status_code == 403
    # another approver sees what it would approve, and a digest that binds it
    r = web.client("ap2").get(f"/api/v1/disconnects/{rid}/approval")
    assert r.status_code == 200 and re.fullmatch(r"[0-9a-f]{64}", r.json()["data"]["digest"])
    assert any("pushed to r2" in ln for ln in r.json()["out"])
    r = web.client("ap2").post(f"/api/v1/disconnects/{rid}/approve", json={"digest": "1" * 64})
    assert r.status_code == 409 and "changed" in r.json()["error"]
    r = web.client("ap2").post(f"/api/v1/disconnects/{rid}/approve", json={"digest": "short"})
    assert (r.status_code, r.json()["field"]) == (422, "digest")
    refused = [e for e in web.audit() if e.action == "approval-refused" and e.object == rid]
    assert {e.actor for e in refused} >= {web.users["ap1"]}
    # restore of a pending one is refused (nothing to restore)
    assert web.client("op").post(f"/api/v1/disconnects/{rid}/restore").status_code == 409


def test_plan_show_and_apply_refusals(web: Web) -> None:
    c = web.client("op")
    r = c.post("/api/v1/plans/P-none/apply", json={})
    assert r.status_code == 202
    job = r.json()["id"]
    wait_until(lambda: c.get(f"/api/v1/jobs/{job}").json()["done"], 60, "the apply job")
    done = c.get(f"/api/v1/jobs/{job}").json()
    assert done["exit"] == 2 and any("no plan" in ln for ln in done["err"])
    r = c.post("/api/v1/plans/latest/apply", json={"batch_size": 0})
    assert (r.status_code, r.json()["field"]) == (422, "batch_size")
    r = c.post("/api/v1/plans", json={"hosts": ["r2; show run"]})
    assert (r.status_code, r.json()["field"]) == (422, "hosts.0")
    r = c.post("/api/v1/plans", json={"hosts": ["r2"]})
    assert r.status_code == 503 and "not up" in r.json()["error"], "no lab here: the devices are unreachable"


# ---- IRR sync -------------------------------------------------------------------------------------------

def test_irr_sync_is_documented_and_needs_a_token(web: Web) -> None:
    spec = web.client().get("/api/v1/openapi.json").json()
    op = spec["paths"]["/api/v1/irr/sync"]["post"]
    assert {"200", "403", "422", "503"} <= set(op["responses"]) and "operator role" in op["description"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    ref = next(x["$ref"] for x in body.get("anyOf", [body]) if "$ref" in x)
    props = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert set(props) == {"server", "sources"}
    assert web.client().post("/api/v1/irr/sync", json={}).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"server": "-h evil:43"}, "server"),
    ({"server": "127.0.0.1"}, "server"),
    ({"server": "127.0.0.1:99999"}, "server"),
    ({"server": "irr.example.net:43; rm -rf /"}, "server"),
    ({"sources": ["RIPE", "radb; rm -rf"]}, "sources.1"),
    ({"sources": []}, "sources"),
    ({"sources": "RIPE"}, "sources"),
    ({"sources": ["RIPE"] * 17}, "sources"),
    ({"server": "127.0.0.1:43", "as": "root"}, "as"),
])
def test_irr_sync_bad_fields_are_422_naming_the_field_and_echo_nothing(web: Web, body: dict[str, Any],
                                                                        field: str) -> None:
    n = len(web.audit())
    r = web.client("op").post("/api/v1/irr/sync", json=body)
    assert (r.status_code, r.json()["field"]) == (422, field), r.text
    assert "rm -rf" not in r.text and "evil" not in r.text and "Traceback" not in r.text
    assert len(web.audit()) == n and _irr_syncs(web) == 0


def test_irr_sync_by_an_operator_reaches_bgpq4_and_stores_nothing_when_the_irr_is_down(web: Web) -> None:
    """A real bgpq4 against a loopback port nobody listens on: 503, one line, nothing stored or audited."""
    n = len(web.audit())
    r = web.client("op").post("/api/v1/irr/sync", json={"server": f"127.0.0.1:{_free_port()}",
                                                        "sources": ["TONLE-LAB"]})
    assert r.status_code == 503, r.text
    assert r.json()["error"].startswith("bgpq4 failed") and "\n" not in r.json()["error"]
    assert len(web.audit()) == n and _irr_syncs(web) == 0
    # without the server the policy lacks, the verb says so: bad input, nothing stored
    r = web.client("op").post("/api/v1/irr/sync")
    assert r.status_code == 422 and "no IRR server" in r.json()["error"]
    assert _irr_syncs(web) == 0


def _irr_syncs(web: Web) -> int:
    with StateDB(web.state).connect() as db:
        return int(db.execute("SELECT count(*) FROM irr_syncs").fetchone()[0])


def test_status(web: Web) -> None:
    r = web.client("view").get("/api/v1/status")
    assert r.status_code == 200 and r.json()["data"]["service"]["scheduler"]["alive"] is True


def test_an_api_call_with_a_session_cookie_needs_the_csrf_header(web: Web) -> None:
    c, csrf = web.browser("op")
    assert c.get("/api/v1/whoami").json()["name"] == web.users["op"]
    r = c.post("/api/v1/disconnects/dry-run", json=POI)
    assert (r.status_code, r.json()["field"]) == (403, "csrf")
    assert c.post("/api/v1/disconnects/dry-run", json=POI, headers={"x-csrf-token": csrf}).status_code == 200


# ---- the console -------------------------------------------------------------------------------------

def test_login_sets_a_secure_session_cookie(web: Web) -> None:
    c = httpx.Client(base_url=web.url, verify=web.tls)
    r = c.post("/login", data={"username": web.users["view"], "password": web.passwords["view"],
                               "csrf": _login_csrf(c)})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-tonle=")
    assert all(flag in cookie.lower() for flag in ("secure", "httponly", "samesite=strict", "path=/"))
    page = c.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "POI" in page.text and web.users["view"] in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert any(e.action == "web-login" and e.actor == web.users["view"] for e in web.audit())


def test_pages_need_a_login(web: Web) -> None:
    c = httpx.Client(base_url=web.url, verify=web.tls)
    for path in ("/", "/disconnects", "/plans", "/drift", "/audit", "/devices/r2"):
        r = c.get(path, headers={"accept": "text/html"})
        assert (r.status_code, r.headers.get("location")) == (303, "/login"), path


def test_login_without_csrf_is_refused(web: Web) -> None:
    c = httpx.Client(base_url=web.url, verify=web.tls)
    r = c.post("/login", data={"username": web.users["op"], "password": web.passwords["op"], "csrf": "x"})
    assert r.status_code == 403
    _login_csrf(c)  # the cookie, but not the field's value
    r = c.post("/login", data={"username": web.users["op"], "password": web.passwords["op"], "csrf": "y" * 43})
    assert r.status_code == 403


def test_a_form_post_without_csrf_is_refused(web: Web) -> None:
    c, csrf = web.browser("op")
    form = {**POI, "action": "dry-run"}
    assert c.post("/disconnects", data=form).status_code in (403, 422)
    assert c.post("/disconnects", data={**form, "csrf": "wrong"}).status_code == 403
    r = c.post("/disconnects", data={**form, "csrf": csrf})
    assert r.status_code == 200 and "OVER LIMIT" in r.text and "dry-run" in r.text
    assert c.post("/logout", data={}).status_code in (403, 422)


def test_the_requester_sees_no_usable_approve_button(web: Web) -> None:
    rid = next(r.id for r in records(web.state) if r.status == "pending-approval")
    c, csrf = web.browser("ap1")
    page = c.get(f"/disconnects/{rid}", headers={"accept": "text/html"}).text
    assert 'id="approve"' in page and "disabled" in page and "you requested it" in page
    r = c.post(f"/disconnects/{rid}/approve", data={"csrf": csrf, "digest": "0" * 64})
    assert r.status_code == 409 and "cannot approve" in r.text
    other, _ = web.browser("ap2")
    page = other.get(f"/disconnects/{rid}", headers={"accept": "text/html"}).text
    assert 'name="digest"' in page and "pushed to r2" in page


def test_a_viewer_cannot_act_from_the_console(web: Web) -> None:
    c, csrf = web.browser("view")
    page = c.get("/disconnects", headers={"accept": "text/html"}).text
    assert 'id="disconnect-form"' not in page, "no form for a role that may not use it"
    r = c.post("/disconnects", data={**POI, "action": "submit", "csrf": csrf}, headers={"accept": "text/html"})
    assert r.status_code == 403 and "may not" in r.text
    r = c.post("/plans/latest/apply", data={"csrf": csrf}, headers={"accept": "text/html"})
    assert r.status_code == 403


def test_apply_from_the_console_follows_its_job(web: Web) -> None:
    c, csrf = web.browser("op")
    r = c.post("/plans/P-none/apply", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/J")
    job = r.headers["location"]
    with c.stream("GET", f"{job}/events") as events:
        text = "".join(events.iter_text())  # the stream ends when the job is done
    state = json.loads(text.split("data: ")[-1])
    assert state["done"] and state["exit"] == 2 and any("no plan" in ln for ln in state["err"])
    page = c.get(job, headers={"accept": "text/html"}).text
    assert "no plan" in page and re.search(r'id="job-outcome" class="bad">failed<', page)


def test_live_events_carry_the_overview(web: Web) -> None:
    c, _ = web.browser("view")
    with c.stream("GET", "/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        seen = ""
        for chunk in r.iter_text():
            seen += chunk
            if "event: state" in seen and "\n\n" in seen.split("event: state", 1)[1]:
                break
    data = json.loads(seen.split("event: state\ndata: ", 1)[1].split("\n\n", 1)[0])
    assert "site-POI" in data["overview"] and "pending-disconnects" in data["disconnects"]


def test_failed_logins_are_rate_limited_per_account(web: Web) -> None:
    c = httpx.Client(base_url=web.url, verify=web.tls)
    for _ in range(5):
        r = c.post("/login", data={"username": web.users["rl"], "password": "wrong-password",
                                   "csrf": _login_csrf(c)})
        assert r.status_code == 401
    r = c.post("/login", data={"username": web.users["rl"], "password": web.passwords["rl"], "csrf": _login_csrf(c)})
    assert r.status_code == 429, "the right password after 5 failures is still refused for a while"
    assert web.client("rl").get("/api/v1/whoami").status_code == 200, "its token is not locked out"
    assert any(e.action == "web-login-refused" and e.details.get("why") == "rate limited" for e in web.audit())


def test_a_failed_login_puts_no_free_text_in_the_audit_log(web: Web) -> None:
    c = httpx.Client(base_url=web.url, verify=web.tls)
    r = c.post("/login", data={"username": "Evil\nconf t", "password": "x" * 12, "csrf": _login_csrf(c)})
    assert r.status_code == 401
    last = web.audit()[-1]
    assert (last.action, last.actor, last.object) == ("web-login-refused", "?", "?")
    assert not any("conf t" in json.dumps([e.actor, e.object, e.details]) for e in web.audit())


def test_failed_logins_are_rate_limited_per_address(web: Web) -> None:
    """Last in this file: it locks 127.0.0.1 out of logging in for the module's server."""
    c = httpx.Client(base_url=web.url, verify=web.tls)
    codes = [c.post("/login", data={"username": f"nobody{i}", "password": "x" * 12, "csrf": _login_csrf(c)}).status_code
             for i in range(20)]
    assert codes.count(401) == 20 - codes.count(429)
    r = c.post("/login", data={"username": web.users["view"], "password": web.passwords["view"],
                               "csrf": _login_csrf(c)})
    assert r.status_code == 429


# ---- a device's answer is hostile; a dead device never holds a page --------------------------------------

def test_a_hostile_bgp_answer_keeps_only_what_fits() -> None:
    from tonle.interfaces.web.live import bgp_peers, sessions_view  # noqa: PLC0415

    raw = {"global": {"peers": {
        "198.51.100.0": {"is_up": True, "is_enabled": True, "remote_as": 64500, "uptime": 3723.9,
                         "address_family": {"ipv4": {"received_prefixes": 12, "accepted_prefixes": 10}}},
        "2001:DB8::1": {"is_up": "yes", "is_enabled": True, "remote_as": "64501", "uptime": -1,
                        "address_family": {"ipv6": {"received_prefixes": True, "accepted_prefixes": float("nan")}}},
        "<script>": {"is_up": True}, "203.0.113.9": "Established"}}, "evil": [1, 2], "vrf2": {"peers": None}}
    peers, ignored = bgp_peers(raw)
    assert ignored == 2, "a peer key that is no address, a peer that is no mapping"
    assert peers["198.51.100.0"] == {"up": True, "state": "Established", "remote_as": 64500, "received": 12,
                                     "accepted": 10, "uptime_seconds": 3723}
    v6 = peers["2001:db8::1"]  # canonical form; a truthy string is not `up`, text and bool are no counters
    assert (v6["up"], v6["state"], v6["remote_as"], v6["received"], v6["accepted"]) == (False, "down", None, None,
                                                                                       None)
    assert bgp_peers("not a mapping") == ({}, 0) and bgp_peers({"global": {"peers": {}}}) == ({}, 0)
    rows = sessions_view([{"peer_ip": "198.51.100.0", "neighbor": "up1", "kind": "upstream", "state": "up"},
                          {"peer_ip": "192.0.2.7", "neighbor": "x", "kind": "isp", "state": "dark"}], peers)
    assert [(r["peer_ip"], r["state_now"]) for r in rows] == [
        ("198.51.100.0", "Established"), ("192.0.2.7", "not configured"), ("2001:db8::1", "down")]
    assert rows[2]["state"] == "unexpected"


def test_qos_drops_and_policy_state_from_tc() -> None:
    from tonle.interfaces.web.live import qos_view, tc_drops  # noqa: PLC0415

    text = json.dumps([{"class": "htb", "handle": "1:10", "stats": {"drops": 7}},
                       {"class": "htb", "handle": "1:20", "stats": {"drops": "many"}},
                       {"class": "htb", "handle": "<b>", "stats": {"drops": 1}}, "junk"])
    assert tc_drops(text) == [{"queue": "1:10", "dropped": 7}]
    with pytest.raises(TypeError):
        tc_drops('{"a": 1}')
    with pytest.raises(ValueError, match="Expecting"):
        tc_drops("{not json")
    rows = {r["interface"]: r for r in qos_view(
        {"eth1": ["qdisc a", "class b"], "eth2": ["qdisc a"], "eth3": ["qdisc a"]},
        {"eth1": ["qdisc a", "class b"], "eth2": ["qdisc z"], "eth4": ["qdisc a"]},
        {"eth1": [{"queue": "1:10", "dropped": 7}, {"queue": "1:20", "dropped": 3}], "eth2": None})}
    assert {k: r["state"] for k, r in rows.items()} == {"eth1": "in place", "eth2": "differs", "eth3": "missing",
                                                       "eth4": "not intended"}
    assert (rows["eth1"]["dropped"], rows["eth2"]["dropped"], rows["eth3"]["dropped"]) == (10, None, None)


def test_a_device_that_does_not_answer_is_unreachable_since_its_first_failed_read(tmp_path: Path) -> None:
    from tonle.interfaces.web.live import DeviceReader, DeviceUnreadable  # noqa: PLC0415

    gate, calls = threading.Event(), []

    def hung(_config: Path, _state: Path, name: str) -> dict[str, Any]:  # a device whose SSH never answers
        calls.append(name)
        if not gate.wait(30):
            raise DeviceUnreadable("timed out")
        return {"device": name, "reachable": True}

    reader = DeviceReader(tmp_path / "nornir.yaml", tmp_path, timeout=0.2, read=hung)
    try:
        first = reader.live("r2")
        second = reader.live("r2")
        assert (first["reachable"], second["reachable"]) == (False, False)
        assert first["since"] == second["since"] and "within" in first["error"]
        assert calls == ["r2"], "one read at a time per device: a dead device piles up no threads"
        gate.set()
        assert reader.live("r2") == {"device": "r2", "reachable": True}
        assert reader.live("r2")["reachable"] and calls == ["r2", "r2"], "a finished read is not reused"
    finally:
        gate.set()
        reader.close()


def test_a_device_answer_is_escaped_on_the_page() -> None:
    from tonle.interfaces.web.pages import TEMPLATES  # noqa: PLC0415
    from tonle.state.accounts import Permission  # noqa: PLC0415

    evil = "<script>alert(1)</script>"
    d = {"device": {"name": "r2", "site": "POI", "role": "border", "platform": "ios", "asn": 1, "mgmt_ip": "x"},
         "sessions": [], "qos": [], "latest_plan": None, "latest_drift": None}
    live = {"reachable": True, "read_at": "t", "via": "warm session", "ignored": 0, "diff": [f"+ {evil}"],
            "qos": [{"interface": "eth1", "state": evil, "dropped": None, "drops": [{"queue": evil, "dropped": 1}]}],
            "sessions": [{"peer_ip": "192.0.2.1", "neighbor": evil, "kind": evil, "peer_asn": None, "state": "up",
                          "dark": None, "state_now": evil, "live": None}]}
    html = TEMPLATES.env.get_template("device.html").render(d=d, live=live, me=None, csrf="", can=lambda _p: False,
                                                            P=Permission)
    assert evil not in html and "&lt;script&gt;" in html
    down = TEMPLATES.env.get_template("device.html").render(
        d=d, live={"reachable": False, "since": "2026-01-01T00:00:00+00:00", "error": evil}, me=None, csrf="",
        can=lambda _p: False, P=Permission)
    assert "unreachable" in down and "since" in down and evil not in down


def test_every_table_stacks_on_a_phone_with_each_cell_named_by_its_column() -> None:
    """On a phone a table row is a card and its header row is hidden: every cell carries its column's name
    (data-label, shown by the stylesheet before the value), in the header's order and words."""
    from tonle.interfaces.web.app import HERE  # noqa: PLC0415

    tables = 0
    for template in sorted((HERE / "templates").glob("*.html")):
        for table in re.findall(r"<table\b.*?</table>", template.read_text(), re.S):
            tables += 1
            parts = re.match(r"(<table\b[^>]*>)(.*?</thead>)(.*)", table, re.S)
            assert parts is not None, f"{template.name}: a table without a header row"
            opening, head, body = parts.groups()
            assert re.search(r'class="[^"]*\bstack\b', opening), f"{template.name}: {opening} does not stack"
            columns = re.findall(r"<th>(.*?)</th>", head)
            cells = re.findall(r"<td\b([^>]*)>", body)
            labels = [m.group(1) if (m := re.search(r'data-label="([^"]*)"', c)) else None for c in cells]
            assert labels == columns, f"{template.name} {opening}: cells {labels}, columns {columns}"
    assert tables >= 10
    css = (HERE / "static" / "console.css").read_text()
    assert 'td[data-label]:not([data-label=""])::before { content: attr(data-label);' in css

def test_failed_logins_survive_a_restart(tmp_path: Path) -> None:
    from tonle.interfaces.web.auth import MAX_PER_ACCOUNT, WINDOW, LoginLimiter  # noqa: PLC0415

    now = [1_000_000.0]
    before = LoginLimiter(tmp_path, clock=lambda: now[0])
    for _ in range(MAX_PER_ACCOUNT):
        assert not before.blocked("Alice", "192.0.2.1")
        before.failed("Alice", "192.0.2.1")
    after = LoginLimiter(tmp_path, clock=lambda: now[0])  # what a restarted service builds on the same state
    assert after.blocked("alice", "198.51.100.9"), "the account stays locked from any address"
    assert not after.blocked("bob", "198.51.100.9")
    now[0] += WINDOW + 1
    assert not after.blocked("alice", "192.0.2.1"), "the window slides"
    after.failed("bob", "192.0.2.1")
    with StateDB(tmp_path).connect() as db:
        keys = {k for (k,) in db.execute("SELECT key FROM login_failures")}
    assert keys == {"a:bob", "ip:192.0.2.1"}, "failures older than the window are pruned"
    after.succeeded("Bob")
    assert not LoginLimiter(tmp_path).blocked("bob", "203.0.113.1")
