"""`tonle` command line: parses arguments, calls the engine, prints. Exit codes: 0 ok, 1 failed, 2 bad input."""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tonle.errors import EXIT_FAILED, EXIT_OK, BadInput, Failed, Problems, TonleError
from tonle.interfaces.protocol import (
    Answer,
    ApplyParams,
    ApproveParams,
    DisconnectParams,
    IdParams,
    IrrSyncParams,
    ListParams,
    NoParams,
    Params,
    PlanParams,
    UserNameParams,
    UserParams,
    make_params,
)
from tonle.redact import redact
from tonle.source.inventory import Inventory, load_from_nornir_config

if TYPE_CHECKING:
    from tonle.lab.builder import LabStatus

# The engine modules (lab, plan, disconnect: NAPALM and Nornir behind them) are imported by the commands
# that need them, so that `tonle inventory check` starts in a fraction of a second.

EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a filter whose reader went away


def _default_config() -> Path:
    return Path(os.environ.get("TONLE_CONFIG", "nornir.yaml"))


def _default_state_dir(config: Path) -> Path:
    env = os.environ.get("TONLE_STATE_DIR")
    return Path(env) if env else config.resolve().parent / "state"


def _default_socket(state_dir: Path) -> Path:
    env = os.environ.get("TONLE_SOCKET")  # where the service listens; who asks is never taken from the environment
    return Path(env) if env else state_dir / "tonle.sock"


def _err(msg: str) -> None:
    print(f"tonle: error: {redact(msg)}", file=sys.stderr)  # errors may quote device output


def _load(args: argparse.Namespace) -> Inventory:
    return load_from_nornir_config(args.config)


# ---- inventory ------------------------------------------------------------------------------------

def cmd_inventory_check(args: argparse.Namespace) -> int:
    from tonle.compile.intent import load_intent  # noqa: PLC0415

    inv = _load(args)
    intent = load_intent(inv)
    sessions = [s for s in inv.sessions() if not s.external]
    print(f"inventory OK: {len(inv.sites)} sites, {len(inv.devices)} devices, {len(inv.peers)} external "
          f"networks, {len(inv.links)} links, {len(sessions)} BGP sessions on managed devices; intent OK: "
          f"{len(intent.qos.policies)} QoS policies on {len(intent.qos.attachments)} ports, "
          f"{len(intent.windows)} change windows")
    pdb = inv.directory / "peeringdb.json"
    if pdb.exists():  # PeeringDB's view (a local copy in its API format): disagreements are warnings
        from tonle.source import peeringdb  # noqa: PLC0415

        for line in peeringdb.disagreements(inv, peeringdb.load(pdb, "inventory/peeringdb.json")):
            print(f"warning: {line}")
    return EXIT_OK


def cmd_ixf_export(args: argparse.Namespace) -> int:
    """The IX-F member export (JSON schema 1.0) of the DIX fabrics, on stdout or into --output."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from tonle.compile.ixf import export, load_ixf  # noqa: PLC0415

    inv = _load(args)
    text = json.dumps(export(inv, load_ixf(inv), datetime.now(UTC)), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    """The intended configuration of one device: only what Tonlé owns (active disconnects included)."""
    from tonle.compile.intent import device_intent, load_intent, with_irr, with_md5_keys  # noqa: PLC0415
    from tonle.compile.render import render_intent  # noqa: PLC0415
    from tonle.errors import BadInput  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415
    from tonle.state.disconnects import active_overrides  # noqa: PLC0415
    from tonle.state.irr import latest_irr  # noqa: PLC0415
    from tonle.targets.target import Target, md5_keys  # noqa: PLC0415

    inv = _load(args)
    if args.host not in inv.devices:
        raise BadInput(f"--host {args.host}: unknown device")
    keys = md5_keys(inv, args.state_dir, Target.LAB if args.platform == "frr" else Target.PRODUCTION)
    intent = with_irr(with_md5_keys(load_intent(inv), keys), latest_irr(StateDB(args.state_dir)))
    di = device_intent(intent, args.host, active_overrides(args.state_dir))
    sys.stdout.write(render_intent(di, args.platform or di.device.platform))
    return EXIT_OK


# ---- lab --------------------------------------------------------------------------------------------

def _print_status(st: LabStatus) -> None:
    print(f"lab {st.name}: {'up' if st.up else 'down'}")
    print(f"{'node':<16} {'kind':<9} {'mgmt':<15} {'processes':<24} {'BGP':>7}  not established")
    for n in st.nodes:
        procs = " ".join(f"{k}{'+' if v else '-'}" for k, v in n.processes.items()) or "(no namespace)"
        bad = ", ".join(f"{s.peer_ip}:{s.state}" for s in n.sessions if s.state != "Established")
        print(f"{n.name:<16} {n.kind:<9} {n.mgmt_ip or '-':<15} {procs:<24} "
              f"{n.established:>3}/{len(n.sessions):<3}  {bad}")


def cmd_lab_up(args: argparse.Namespace) -> int:
    from tonle.interfaces import labctl  # noqa: PLC0415
    from tonle.lab.builder import Lab  # noqa: PLC0415

    lab = Lab(_load(args), args.state_dir)
    st = labctl.up(lab, args.config, args.state_dir, timeout=args.timeout, progress=lambda m: print(m, flush=True),
                   socket_path=args.socket, https=args.https)
    _print_status(st)
    return EXIT_OK


def cmd_lab_down(args: argparse.Namespace) -> int:
    from tonle.interfaces import labctl  # noqa: PLC0415
    from tonle.lab.builder import Lab  # noqa: PLC0415

    lab = Lab(_load(args), args.state_dir)
    removed = labctl.down(lab, args.state_dir)
    print(f"lab {lab.name} down: removed {len(removed)} item(s)" + (f" ({', '.join(removed[:3])}…)" if removed else ""))
    return EXIT_OK


def cmd_lab_status(args: argparse.Namespace) -> int:
    from tonle.lab.builder import Lab  # noqa: PLC0415

    st = Lab(_load(args), args.state_dir).status()
    if args.json:
        print(json.dumps(asdict(st), indent=2))
    else:
        _print_status(st)
    return EXIT_OK if st.up and not st.down_sessions() else EXIT_FAILED


def cmd_lab_export(args: argparse.Namespace) -> int:
    from tonle.lab.builder import Lab  # noqa: PLC0415
    from tonle.lab.export import export_containerlab  # noqa: PLC0415
    from tonle.lab.vendor_nodes import parse_images  # noqa: PLC0415

    inv = _load(args)
    images = parse_images(args.image or [])
    keys = Lab(inv, args.state_dir).md5_keys()  # the built lab's; else the environment's, else generated
    out = args.output or args.state_dir / "lab-export" / inv.lab.name
    path = export_containerlab(inv, out, keys, vendor=args.vendor, images=images)
    what = "vendor emulators and FRR" if args.vendor else "FRR twins"
    print(f"containerlab topology ({what}): {path} (configs under {out / 'configs'}; they hold the lab's "
          "TCP-MD5 keys)")
    return EXIT_OK


def cmd_lab_credentials(args: argparse.Namespace) -> int:
    from tonle.lab.builder import Lab  # noqa: PLC0415

    creds = Lab(_load(args), args.state_dir).credentials()
    if args.export:
        print(f"export TONLE_LAB_USER={creds.username} TONLE_LAB_PASSWORD={creds.password} "
              f"TONLE_LAB_KEY={creds.key_file}")
    else:
        print(f"username: {creds.username}\nkey file: {creds.key_file}\n"
              "password: (not shown; `tonle lab credentials --export` prints it for eval)")
    return EXIT_OK


# ---- device jobs ------------------------------------------------------------------------------------

def cmd_facts(args: argparse.Namespace) -> int:
    from tonle.tasks.facts import collect_facts  # noqa: PLC0415 - keeps `tonle lab` free of nornir start-up

    report = collect_facts(args.config, args.state_dir, lab=True, hosts=args.host, save_configs=True)
    for line in report.lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILED


DEMO_APPROVER = "tnl-demo-approver"  # a temporary OS account: the demo's second operator
CONSOLE = "127.0.0.1:8443"  # the web console and REST API of the lab's service (loopback only)


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the embedded lab, end to end, through `tonle serve`; the lab, the service and the demo's
    OS account are gone at the end (the lab stays up with --keep)."""
    from tonle.interfaces import labctl, service  # noqa: PLC0415
    from tonle.lab.builder import Lab  # noqa: PLC0415

    inv = _load(args)
    print(f"== inventory: {len(inv.devices)} devices, {len(inv.peers)} external networks, {len(inv.links)} links")
    lab = Lab(inv, args.state_dir)
    t0 = time.monotonic()
    ok = False
    run_dir = Path(tempfile.mkdtemp(prefix="tonle-demo-", dir="/run"))
    try:
        _demo_account()
        # The socket lives where the second operator can reach it: mode 0660, group of the demo account.
        run_dir.chmod(0o750)
        os.chown(run_dir, 0, pwd.getpwnam(DEMO_APPROVER).pw_gid)
        sock = run_dir / "tonle.sock"
        st = labctl.up(lab, args.config, args.state_dir, timeout=args.timeout, socket_path=sock, group=DEMO_APPROVER,
                       progress=lambda m: print(f"== {m}", flush=True), https=CONSOLE)
        _print_status(st)
        ok = _demo_steps(args, sock)
    finally:
        if args.keep:
            service.stop(args.state_dir)  # `tonle lab up` starts it again on the lab's own socket
            print("== lab left up (--keep); its service stopped: `tonle lab up --https` starts it again, with the "
                  "console")
        else:
            removed = labctl.down(lab, args.state_dir)
            print(f"== lab down: removed {len(removed)} item(s); total {time.monotonic() - t0:.1f}s")
        shutil.rmtree(run_dir, ignore_errors=True)
        if _user_exists(DEMO_APPROVER):  # made above (or left by a demo that was killed)
            subprocess.run(["userdel", DEMO_APPROVER], check=False, capture_output=True)
        left = [what for what, alive in (("tonle serve", service.running_pid(args.state_dir) is not None),
                                         (f"OS account {DEMO_APPROVER}", _user_exists(DEMO_APPROVER))) if alive]
        print("== left running or behind: " + (", ".join(left) if left else "nothing"))
        ok = ok and not left
    print("== demo " + ("OK" if ok else "FAILED"))
    return EXIT_OK if ok else EXIT_FAILED


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _demo_account() -> None:
    """Make the demo's second operator, an OS account of its own (removed at the end, even on failure)."""
    if not _user_exists(DEMO_APPROVER):
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
                        DEMO_APPROVER], check=True, capture_output=True)


def _demo_steps(args: argparse.Namespace, sock: Path) -> bool:
    """Facts, plan, drift, a disconnect and its restore, the two-person rule, the signed audit log."""
    from tonle.change.plan import Selection  # noqa: PLC0415
    from tonle.drift.audit import run_drift  # noqa: PLC0415
    from tonle.drift.html import render_html  # noqa: PLC0415
    from tonle.drift.report import summary_lines  # noqa: PLC0415
    from tonle.interfaces import client  # noqa: PLC0415
    from tonle.state.audit import AuditLog  # noqa: PLC0415 - nornir/napalm start-up only when needed
    from tonle.state.db import StateDB  # noqa: PLC0415
    from tonle.state.signing import default_key_file, public_file  # noqa: PLC0415
    from tonle.tasks.facts import collect_facts  # noqa: PLC0415

    def ask(method: str, params: Params) -> Answer:  # as root, through the service
        answer = client.call(sock, method, params, progress=lambda m: print(f"  {m}", flush=True))
        if answer is None:
            raise Failed(f"tonle serve does not answer on {sock}")
        return answer

    print("== NAPALM (driver frr) through Nornir: facts, BGP neighbours, configs")
    report = collect_facts(args.config, args.state_dir, lab=True, hosts=None, save_configs=True)
    for line in report.lines():
        print(line)
    print(f"== accounts: {DEMO_APPROVER} (a second OS account) gets the approver role")
    if DEMO_APPROVER in [a["name"] for a in ask("users.list", NoParams()).data["accounts"]]:
        ask("users.remove", UserNameParams(name=DEMO_APPROVER))  # left by an earlier demo (maybe another uid)
    print("  " + "; ".join(ask("users.add", UserParams(name=DEMO_APPROVER, role="approver")).out))
    _print_console(args.state_dir)
    print("== plan through tonle serve: intended configs (rendered from intent) against the devices")
    plan = ask("plan", PlanParams())
    print(plan.out[0].splitlines()[0])
    print("== drift audit")
    drift = run_drift(args.config, args.state_dir, Selection(), lab=True)
    for line in summary_lines(drift, details=False):
        print(line)
    html = args.state_dir / "reports" / "drift.html"
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_html(drift))
    print(f"HTML report: {html}")
    print("== emergency disconnect of one upstream session at Poipet (dry run, then for real, then restore)")
    one = {"scope_kind": "session", "scope_value": "poi-iig-1:198.51.100.5", "ticket": "DEMO-1", "ttl_seconds": 600}
    dry = ask("disconnect", make_params(DisconnectParams, reason="demo", dry_run=True, **one))
    print("\n".join(dry.out))
    out = ask("disconnect", make_params(DisconnectParams, reason="demo: route leak drill", **one))
    print(out.out[-1])
    back = ask("restore", IdParams(id=str(out.data.get("id")))) if out.exit == EXIT_OK else None
    print(back.out[-1] if back else "  not restored")
    ok = report.ok and not plan.data.get("changed") and drift.exit_code == 0 and out.exit == EXIT_OK \
        and back is not None and back.exit == EXIT_OK
    ok = _demo_two_person(ask, sock) and ok
    log = AuditLog(StateDB(args.state_dir))
    result = log.check(public_key=public_file(default_key_file(args.state_dir)))
    print("== audit log, verified against the pinned public key: " + result.summary())
    for p in result.problems:
        print(f"  {p}")
    entries = log.entries()
    since = max((i for i, e in enumerate(entries) if e.action == "service-start"), default=0)  # this demo's
    who = [(e.action, e.actor) for e in entries[since:] if e.action.startswith(("approv", "disconnect", "expiry"))]
    print("  who did what: " + ", ".join(f"{action} by {actor}" for action, actor in who))
    ask("users.remove", UserNameParams(name=DEMO_APPROVER))  # its OS account goes at the end too
    return ok and result.ok


def _print_console(state_dir: Path) -> None:
    """Where the console is and who may log in (nothing is opened; no password is printed)."""
    url = f"https://{CONSOLE}/"
    print(f"== web console and REST API of the lab's service: {url} (nothing opens it: point a browser there)")
    print(f"  OpenAPI: {url}api/v1/openapi.json; certificate made for the lab: {state_dir / 'keys' / 'web-cert.pem'}")
    print(f"  lab accounts: {DEMO_APPROVER} (approver, for this demo's run); root needs no account but has no "
          "console login: give an OS user an account (tonle users add NAME --role operator), then a password "
          "(tonle users passwd NAME) or an API token (tonle users token NAME)")


def _demo_two_person(ask: Any, sock: Path) -> bool:
    """Over the guard's limit: refused; the requester cannot approve it; a second OS account can."""
    from tonle.interfaces.runas import tonle_argv  # noqa: PLC0415

    print("== two-person rule: every upstream of Poipet (over the blast-radius limit)")
    req = ask("disconnect", make_params(DisconnectParams, scope_kind="site-upstreams", scope_value="POI",
                                        reason="demo: carrier under attack", ticket="DEMO-2", ttl_seconds=600))
    rid = str(req.data.get("id"))
    print(f"  {req.out[-1]}")
    own = ask("approve", ApproveParams(id=rid))
    print(f"  root approves its own request: exit {own.exit}: {own.err[0] if own.err else own.out[-1]}")
    print(f"  {DEMO_APPROVER} approves (runuser: its own uid; it sees the blast radius and the lines pushed):")
    proc = subprocess.run(["runuser", "-u", DEMO_APPROVER, "--", *tonle_argv(DEMO_APPROVER), "--socket", str(sock),
                           "approve", rid, "--yes"], capture_output=True, text=True, timeout=300, check=False)
    for line in (proc.stdout + proc.stderr).splitlines():
        print(f"    | {line}")
    back = ask("restore", IdParams(id=rid)) if proc.returncode == 0 else None
    print(f"  {back.out[-1] if back else 'not restored'}")
    return req.exit == EXIT_FAILED and own.exit == EXIT_FAILED and proc.returncode == 0 \
        and back is not None and back.exit == EXIT_OK


# ---- change pipeline ------------------------------------------------------------------------------

def cmd_plan(args: argparse.Namespace) -> int:
    return _emit(_request(args, "plan", make_params(
        PlanParams, sites=args.site or [], roles=args.role or [], hosts=args.host or [], target=args.target,
        as_json=args.json)))


def cmd_apply(args: argparse.Namespace) -> int:
    return _emit(_request(args, "apply", make_params(
        ApplyParams, plan=args.plan, canary=args.canary or [], batch_size=args.batch_size, revert_in=args.revert_in,
        settle=args.settle, hold=args.hold, on_window_close=args.on_window_close)))


def cmd_audit(args: argparse.Namespace) -> int:
    from tonle.state.audit import AuditLog  # noqa: PLC0415
    from tonle.state.db import StateDB  # noqa: PLC0415

    log = AuditLog(StateDB(args.state_dir))
    if args.sub == "verify":
        result = log.check(public_key=args.public_key, against=args.against)
        for p in result.problems:
            print(f"audit: {p}", file=sys.stderr)
        for note in result.notes:
            print(f"audit: {note}")
        print(result.summary())
        return EXIT_OK if result.ok else EXIT_FAILED
    if args.sub == "seal":
        written = log.seal()
        print(f"audit log signed from entry {written[0].seq} by {written[0].key_id}" if written
              else "audit log: signed already")
        return EXIT_OK
    if args.sub == "export":
        records = log.export()
        text = json.dumps(records, indent=2)
        if args.output:
            Path(args.output).write_text(text)
            print(f"exported {len(records)} entries to {args.output}")
        else:
            print(text)
        return EXIT_OK
    for e in log.entries(limit=args.limit):
        print(f"{e.seq:>5} {e.ts} {e.actor:<10} {e.action:<18} {e.object:<24} {json.dumps(e.details)[:120]}")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace) -> int:
    """Drift audit. Exit 0 clean, 1 drift, 2 error (bad input, lab down, any device unreachable)."""
    from tonle.change.plan import Selection  # noqa: PLC0415
    from tonle.drift import audit as drift  # noqa: PLC0415
    from tonle.drift import html as report_html  # noqa: PLC0415
    from tonle.drift import report as drift_report  # noqa: PLC0415

    if args.history:
        print("\n".join(drift_report.history_lines(drift.history(args.state_dir, args.history))))
        return EXIT_OK
    lab = args.target == "lab"
    sel = Selection(tuple(args.site or ()), tuple(args.role or ()), tuple(args.host or ()))
    report = drift.run_drift(args.config, args.state_dir, sel, lab=lab, workers=args.workers)
    print(drift_report.to_json(report) if args.json else "\n".join(drift_report.summary_lines(report)))
    for path, text in ((args.junit, drift_report.junit_xml), (args.html, report_html.render_html)):
        if path:
            Path(path).write_text(text(report), encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
    if args.remediate:
        plan = drift.remediation_plan(args.config, args.state_dir, report, lab=lab)
        out = sys.stderr if args.json else sys.stdout  # keep --json output parseable
        if plan is None:
            print("remediation: nothing drifts, no plan made", file=out)
        else:
            print(plan.text(), file=out)
            print(f"remediation plan {plan.id} saved (not applied); apply with: tonle apply {plan.id}", file=out)
    return report.exit_code


# ---- requests: to `tonle serve` when it runs, else locally (root only) ----------------------------------

def _request(args: argparse.Namespace, method: str, params: Params) -> Answer:
    """Send the request to the service if one answers on the socket; else act locally, as root alone may.

    Locally, who acts is the kernel's real uid (root); a disconnect that becomes active then gets the
    fallback expiry timer, since no service holds the timers.
    """
    from tonle.interfaces import actions, client  # noqa: PLC0415
    from tonle.interfaces.expiry import start_detached  # noqa: PLC0415

    answer = client.call(args.socket, method, params, progress=lambda m: print(m, flush=True))
    if answer is not None:
        return answer
    ctx = actions.Context(args.config, args.state_dir, client.local_actor(args.socket),
                          say=lambda m: print(m, flush=True),
                          on_active=lambda: start_detached(args.config, args.state_dir))
    return actions.perform(method, ctx, params)


def _emit(answer: Answer) -> int:
    for line in answer.out:
        print(line)
    for line in answer.err:
        print(line, file=sys.stderr)
    return answer.exit


def _duration(text: str) -> int:
    from tonle.emergency.disconnect import DisconnectError, duration_seconds  # noqa: PLC0415

    try:
        return duration_seconds(text)
    except DisconnectError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_disconnect(args: argparse.Namespace) -> int:
    from tonle.emergency.disconnect import DisconnectError  # noqa: PLC0415

    given = [(k, v) for k, v in (("session", ",".join(args.session or [])), ("peer-as", args.peer_as),
                                 ("link", args.link),
                                 ("prefix", args.prefix), ("site-upstreams", args.site_upstreams)) if v]
    if len(given) != 1:
        raise DisconnectError("name exactly one scope: --session, --peer-as, --link, --prefix or --site-upstreams")
    return _emit(_request(args, "disconnect", make_params(
        DisconnectParams, scope_kind=given[0][0], scope_value=given[0][1], reason=args.reason or "",
        ticket=args.ticket or "", ttl_seconds=args.ttl, graceful=args.graceful, graceful_wait=args.graceful_wait,
        dry_run=args.dry_run, target=args.target)))


def cmd_approve(args: argparse.Namespace) -> int:
    """Show the approver what it approves (blast radius, lines pushed), ask, then approve exactly that."""
    from tonle.errors import Refused  # noqa: PLC0415

    preview = _request(args, "approve", make_params(ApproveParams, id=args.id))
    if preview.exit != EXIT_OK:
        return _emit(preview)
    _emit(preview)
    if not args.yes:
        if not sys.stdin.isatty():
            raise Refused(f"{args.id} not approved: no terminal to confirm on; review the above and run again "
                          "with --yes")
        if input(f"Approve {args.id} and push the above? Type yes to approve: ").strip() != "yes":
            raise Refused(f"{args.id} not approved")
    return _emit(_request(args, "approve", make_params(ApproveParams, id=args.id,
                                                       confirm=str(preview.data.get("digest", "")))))


def cmd_restore(args: argparse.Namespace) -> int:
    return _emit(_request(args, "restore", make_params(IdParams, id=args.id)))


def cmd_disconnects(args: argparse.Namespace) -> int:
    return _emit(_request(args, "disconnects", make_params(ListParams, all=args.all)))


def cmd_status(args: argparse.Namespace) -> int:
    return _emit(_request(args, "status", NoParams()))


def cmd_users(args: argparse.Namespace) -> int:
    if args.sub == "add":
        return _emit(_request(args, "users.add", make_params(UserParams, name=args.name, role=args.role)))
    if args.sub == "remove":
        return _emit(_request(args, "users.remove", make_params(UserNameParams, name=args.name)))
    if args.sub == "passwd":
        from tonle.interfaces.protocol import PasswordParams  # noqa: PLC0415

        return _emit(_request(args, "users.passwd", make_params(PasswordParams, name=args.name,
                                                                password=_read_password(args.name))))
    if args.sub == "token":
        return _emit(_request(args, "users.token", make_params(UserNameParams, name=args.name)))
    return _emit(_request(args, "users.list", NoParams()))


def _read_password(name: str) -> str:
    """Prompted twice on a terminal; else one line of standard input. Never argv or the environment (both are
    visible to other users of the machine)."""
    import getpass  # noqa: PLC0415

    if sys.stdin.isatty():
        first = getpass.getpass(f"new web console password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise BadInput("the two passwords differ")
        return first
    line = sys.stdin.readline(1024)
    if not line:
        raise BadInput("no password on standard input (one line)")
    return line.rstrip("\r\n")


def cmd_recover(args: argparse.Namespace) -> int:
    """Finish every interrupted apply, disconnect, restore and commit: through the service when one runs for
    the state dir (an operator's request), else locally (root alone)."""
    from tonle.interfaces.protocol import RecoverParams  # noqa: PLC0415

    return _emit(_request(args, "recover", make_params(RecoverParams, target=args.target)))


def cmd_irr_sync(args: argparse.Namespace) -> int:
    """Build the domestic ISPs' filters from their AS-SETs (bgpq4) and store them; a plan shows the change.

    Through the service when one answers (it writes the state; the audit names who asked), else root alone.
    """
    from tonle.change.irr_sync import IrrSyncError  # noqa: PLC0415
    from tonle.compile.irr import irr_source_ok, split_server  # noqa: PLC0415
    from tonle.source.grammar import shown  # noqa: PLC0415

    # The request's own grammar, checked here first to name the option and show what was given.
    if args.server is not None and split_server(args.server) is None:
        raise IrrSyncError(f"--server {shown(args.server)}: must be HOST:PORT (an IP address or a host name, "
                           "a port 1-65535)")
    sources = args.sources.split(",") if args.sources is not None else None
    for src in sources or []:
        if not irr_source_ok(src):
            raise IrrSyncError(f"--sources {shown(src)}: not an IRR source name (upper-case letters, digits, "
                               "'-'; e.g. RIPE,RADB)")
    return _emit(_request(args, "irr.sync", make_params(IrrSyncParams, server=args.server, sources=sources)))


def cmd_serve(args: argparse.Namespace) -> int:
    from tonle.interfaces.service import main_serve  # noqa: PLC0415

    return main_serve(args.config, args.state_dir, args.serve_socket or args.socket, args.group, args.retry,
                      args.https)


# ---- NOC playbooks --------------------------------------------------------------------------------

def cmd_playbook(args: argparse.Namespace) -> int:
    """Ansible playbooks through ansible-runner. Exit 0 ok, 1 the run failed (reason printed), 2 bad input."""
    from tonle.interfaces.playbook import list_playbooks, parse_extra_vars, run_playbook  # noqa: PLC0415

    if args.sub == "list":
        for name, about in list_playbooks().items():
            print(f"{name:<14} {about}")
        return EXIT_OK

    def ask(plan_id: str, _text: str) -> tuple[bool, str]:
        if not sys.stdin.isatty():
            return False, f"plan {plan_id} not approved: no terminal to ask; review it, then -e auto_approve=true"
        answer = input(f"Apply plan {plan_id}? Type yes to approve: ").strip()
        return answer == "yes", "approved at the terminal" if answer == "yes" else f"plan {plan_id} not approved"

    result = run_playbook(args.name, args.config, args.state_dir, limit=args.limit,
                          extravars=parse_extra_vars(args.extra_vars or []), target=args.target,
                          progress=lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True), approver=ask)
    print(f"playbook {result.name}: {result.status} (rc {result.rc}); artifacts {result.artifacts}")
    if not result.ok:
        print(f"FAILED: {result.reason()}")
    return EXIT_OK if result.ok else EXIT_FAILED


# ---- parser -------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tonle", description="Tonlé: network automation for the national gateway")
    p.add_argument("--config", type=Path, default=None, help="nornir.yaml (default: $TONLE_CONFIG or ./nornir.yaml)")
    p.add_argument("--state-dir", type=Path, default=None, help="state directory (default: ./state)")
    p.add_argument("--socket", type=Path, default=None,
                   help="the socket of `tonle serve` (default: $TONLE_SOCKET or <state dir>/tonle.sock)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inv = sub.add_parser("inventory", help="inventory checks").add_subparsers(dest="sub", required=True)
    inv.add_parser("check", help="validate the inventory").set_defaults(func=cmd_inventory_check)

    lab = sub.add_parser("lab", help="the embedded FRR lab").add_subparsers(dest="sub", required=True)
    up = lab.add_parser("up", help="build the lab and wait for BGP sessions")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for sessions (default 60)")
    up.add_argument("--https", nargs="?", const=CONSOLE, metavar="ADDR:PORT",
                    help=f"the lab's service also serves the web console and REST API (default {CONSOLE})")
    up.set_defaults(func=cmd_lab_up)
    lab.add_parser("down", help="remove everything the lab made").set_defaults(func=cmd_lab_down)
    status = lab.add_parser("status", help="devices, management addresses, BGP sessions")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_lab_status)
    export = lab.add_parser("export", help="write a containerlab topology of the lab (for hosts with Docker)")
    export.add_argument("--output", type=Path, help="directory (default: <state dir>/lab-export/<lab>)")
    export.add_argument("--vendor", action="store_true",
                        help="ios/eos/junos devices run their vendor's emulator (cisco_c8000v, arista_ceos, "
                             "juniper_vjunosrouter) with their vendor rendering; default: FRR twins")
    export.add_argument("--image", action="append", metavar="PLATFORM=IMAGE",
                        help="with --vendor: the image of a platform's emulator (repeatable)")
    export.set_defaults(func=cmd_lab_export)
    creds = lab.add_parser("credentials", help="the lab's generated login")
    creds.add_argument("--export", action="store_true", help="print shell exports including the password")
    creds.set_defaults(func=cmd_lab_credentials)

    facts = sub.add_parser("facts", help="NAPALM facts, BGP neighbours and config backup of lab devices")
    facts.add_argument("--host", action="append", help="only this host (repeatable)")
    facts.set_defaults(func=cmd_facts)

    ixf = sub.add_parser("ixf", help="IX-F member export of the DIX fabrics (what PeeringDB imports)")
    ixf_sub = ixf.add_subparsers(dest="ixf_cmd", required=True)
    ixf_export = ixf_sub.add_parser("export", help="the IX-F member list, JSON schema 1.0")
    ixf_export.add_argument("--output", help="write it to this file (default: stdout)")
    ixf_export.set_defaults(func=cmd_ixf_export)

    irr = sub.add_parser("irr", help="IRR-built import filters of the domestic ISPs (bgpq4)")
    irr_sync = irr.add_subparsers(dest="irr_cmd", required=True).add_parser(
        "sync", help="build each ISP's filter from its AS-SET and store it (pushed only by plan and apply)")
    irr_sync.add_argument("--server", help="the IRR server as HOST:PORT (default: policy.yaml irr)")
    irr_sync.add_argument("--sources", help="IRR sources, comma-separated (default: policy.yaml irr.sources)")
    irr_sync.set_defaults(func=cmd_irr_sync)

    render = sub.add_parser("render", help="print the intended (owned) configuration of a device")
    render.add_argument("--host", required=True, help="the device")
    render.add_argument("--platform", choices=("frr", "ios", "eos", "junos"),
                        help="render for this platform (default: the device's own; frr: its lab twin)")
    render.set_defaults(func=cmd_render)

    plan = sub.add_parser("plan", help="render intended configs and diff them against the devices")
    plan.add_argument("--site", action="append", help="only this site (repeatable)")
    plan.add_argument("--role", action="append", help="only this role (repeatable)")
    plan.add_argument("--host", action="append", help="only this device (repeatable)")
    plan.add_argument("--target", choices=("lab", "production"), default="lab",
                      help="devices of the embedded lab (default) or production (credentials from the environment)")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=cmd_plan)

    apply = sub.add_parser("apply", help="apply a saved plan: canary, batches, revert timer, validation")
    apply.add_argument("plan", help="plan id, or `latest`")
    apply.add_argument("--canary", action="append", help="canary device (default: least external sessions)")
    apply.add_argument("--batch-size", type=int, default=5)
    apply.add_argument("--revert-in", type=int, default=300, help="seconds before unconfirmed devices revert")
    apply.add_argument("--settle", type=float, default=60.0, help="seconds to let each stage pass validation")
    apply.add_argument("--hold", type=float, default=7.0, help="seconds the gates must hold in a row")
    apply.add_argument("--on-window-close", choices=("rollback", "confirm"), default="rollback")
    apply.set_defaults(func=cmd_apply)

    dis = sub.add_parser("disconnect", help="emergency disconnect of one scope (guarded, audited, time-limited)")
    scope = dis.add_argument_group("scope (exactly one)")
    scope.add_argument("--session", action="append",
                       help="one BGP session: DEVICE:PEER_IP (repeat for an explicit list)")
    scope.add_argument("--peer-as", help="every session with this peer AS")
    scope.add_argument("--link", help="one point-to-point link (NAME) or one port (DEVICE:INTERFACE)")
    scope.add_argument("--prefix", help="remote-triggered blackhole of one prefix (RFC 7999) at every upstream")
    scope.add_argument("--site-upstreams", help="every upstream session of one site (SITE)")
    dis.add_argument("--reason", help="why (required)")
    dis.add_argument("--ticket", help="incident or change ticket (required)")
    dis.add_argument("--ttl", type=_duration, help="until it restores itself: 90s, 30m, 2h (default: policy.yaml)")
    dis.add_argument("--graceful", action="store_true", help="send RFC 8326 GRACEFUL_SHUTDOWN first, then shut")
    dis.add_argument("--graceful-wait", type=float, default=30.0,
                     help="seconds between the two (default 30; more than FRR's 5 s route-map delay)")
    dis.add_argument("--dry-run", action="store_true", help="print what would go dark; change nothing")
    dis.add_argument("--target", choices=("lab", "production"), default="lab")
    dis.set_defaults(func=cmd_disconnect)
    appr = sub.add_parser("approve", help="approval by another account (approver role) of a refused disconnect")
    appr.add_argument("id")
    appr.add_argument("--yes", action="store_true", help="approve what is shown without asking (scripts)")
    appr.set_defaults(func=cmd_approve)
    rest = sub.add_parser("restore", help="undo an active disconnect now")
    rest.add_argument("id")
    rest.set_defaults(func=cmd_restore)
    lst = sub.add_parser("disconnects", help="active and pending disconnects")
    lst.add_argument("--all", action="store_true", help="every record, restored and expired included")
    lst.set_defaults(func=cmd_disconnects)

    st = sub.add_parser("status", help="the service, its scheduler and every timer (exit 1: something to look at)")
    st.set_defaults(func=cmd_status)
    rec = sub.add_parser("recover", help="finish interrupted applies, disconnects, restores and commits (exit 1: "
                                         "a device needs a person, 2: one cannot be reached)")
    rec.add_argument("--target", choices=("lab", "production"), default="lab")
    rec.set_defaults(func=cmd_recover)
    users = sub.add_parser("users", help="accounts of `tonle serve` (admin role or root)").add_subparsers(
        dest="sub", required=True)
    uadd = users.add_parser("add", help="give an OS user an account with one role")
    uadd.add_argument("name", help="the OS user name")
    uadd.add_argument("--role", required=True, choices=("viewer", "operator", "approver", "admin"))
    uadd.set_defaults(func=cmd_users)
    users.add_parser("list", help="every account").set_defaults(func=cmd_users)
    urm = users.add_parser("remove", help="remove an account")
    urm.add_argument("name")
    urm.set_defaults(func=cmd_users)
    upw = users.add_parser("passwd", help="set the web console password of an account (prompted, or one line "
                                          "of standard input; never an argument)")
    upw.add_argument("name")
    upw.set_defaults(func=cmd_users)
    utk = users.add_parser("token", help="issue a REST API bearer token for an account (printed once)")
    utk.add_argument("name")
    utk.set_defaults(func=cmd_users)
    serve = sub.add_parser("serve", help="run the service: the one writer of the state, for authenticated operators")
    serve.add_argument("--socket", dest="serve_socket", type=Path,
                       help="where to listen (default: the global --socket, $TONLE_SOCKET or <state dir>/tonle.sock)")
    serve.add_argument("--group", help="group of the socket (mode 0660): who may connect")
    serve.add_argument("--retry", type=float, default=30.0, help="seconds before a failed timer action is retried")
    serve.add_argument("--https", nargs="?", const="127.0.0.1:8443", metavar="ADDR:PORT",
                       help="also serve the web console and the REST API over HTTPS (default 127.0.0.1:8443)")
    serve.set_defaults(func=cmd_serve)

    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(dest="sub", required=True)
    show = audit.add_parser("show", help="recent entries")
    show.add_argument("--limit", type=int, default=50)
    show.set_defaults(func=cmd_audit)
    verify = audit.add_parser("verify", help="check signatures, hash chain and head record (exit 0 intact, 1 not)")
    verify.add_argument("--public-key", type=Path, metavar="FILE",
                        help="the key the log must be signed by (PEM, or base64 of the raw key); default: the "
                             "public key beside the signing key")
    verify.add_argument("--against", type=Path, metavar="FILE",
                        help="a syslog collector's copy (RFC 5424 lines) to compare the log with")
    verify.set_defaults(func=cmd_audit)
    audit.add_parser("seal", help="sign the log from here on (a log from before signing)").set_defaults(func=cmd_audit)
    export = audit.add_parser("export", help="all entries as JSON, chain hashes and signatures included")
    export.add_argument("--output", help="write to this file")
    export.set_defaults(func=cmd_audit)

    drift = sub.add_parser("drift", help="audit running configs and BGP state against the intent")
    drift.add_argument("--site", action="append", help="only this site (repeatable)")
    drift.add_argument("--role", action="append", help="only this role (repeatable)")
    drift.add_argument("--host", action="append", help="only this device (repeatable)")
    drift.add_argument("--target", choices=("lab", "production"), default="lab")
    drift.add_argument("--workers", type=int, default=32, help="devices audited at once (default 32)")
    drift.add_argument("--json", action="store_true", help="the full report as JSON on stdout")
    drift.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test case per device)")
    drift.add_argument("--html", metavar="FILE", help="also write the HTML report (per-site overview)")
    drift.add_argument("--remediate", action="store_true", help="make a plan for the drifting devices (not applied)")
    drift.add_argument("--history", type=int, nargs="?", const=20, metavar="N", help="show the last N audits")
    drift.set_defaults(func=cmd_drift)

    pb = sub.add_parser("playbook", help="NOC Ansible playbooks (ansible-runner)").add_subparsers(dest="sub",
                                                                                                 required=True)
    pb.add_parser("list", help="the playbooks in playbooks/").set_defaults(func=cmd_playbook)
    pbrun = pb.add_parser("run", help="run one playbook; progress live, recorded in the audit log")
    pbrun.add_argument("name", help="playbook name (tonle playbook list)")
    pbrun.add_argument("--limit", help="Ansible host pattern, e.g. r1, site_pnh, role_dix_rs")
    pbrun.add_argument("-e", "--extra-vars", action="append", metavar="KEY=VALUE", help="extra variable (repeatable)")
    pbrun.add_argument("--target", choices=("lab", "production"), default="lab")
    pbrun.set_defaults(func=cmd_playbook)

    demo = sub.add_parser("demo", help="main job on the embedded lab: up, facts, plan, drift, disconnect, audit, down")
    demo.add_argument("--timeout", type=float, default=60.0)
    demo.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = args.config or _default_config()
    args.state_dir = args.state_dir or _default_state_dir(args.config)
    args.socket = args.socket or _default_socket(args.state_dir)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
    except TonleError as exc:
        prefix = "" if isinstance(exc, Problems) else "tonle: error: "  # problem lines name their file
        for line in exc.lines():
            print(f"{prefix}{line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`tonle plan | head`): stop quietly, as any Unix filter does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    return code


if __name__ == "__main__":
    sys.exit(main())
