"""IRR-built filters end to end: a real IRRd (PostgreSQL, Redis), bgpq4, plan, apply, the route server's table.

The small topology: isp1 (AS65001) is a client of the route server rs1, with the AS-SET AS65001:AS-ISP1 in
the lab's IRR. isp1 announces 198.18.16.0/24 (registered), 198.18.30.0/24 (registered during the test) and
198.18.31.0/24 (never registered). After a route object for 198.18.30.0/24 is added, `tonle irr sync`,
`tonle plan` shows it in rs1's prefix-list, `tonle apply` pushes it, and rs1 accepts it; 198.18.31.0/24
stays rejected throughout. The syncs go through a real `tonle serve`: the first from the CLI over its socket
(root), the second over its REST API with an operator's bearer token (an OS account made here with useradd,
removed at the end); the audit log names each.
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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import SMALL, lab_copy, require_root, unique_lab_name, wait_until, write_window
from tests.live.irrd_server import SOURCE, IrrdServer
from tonle.interfaces.cli import main
from tonle.interfaces.service import Service
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB

REGISTERED, ADDED, UNREGISTERED = "198.18.16.0/24", "198.18.30.0/24", "198.18.31.0/24"
AS_SET = "AS65001:AS-ISP1"


def rpsl(*routes: str) -> str:
    """The lab IRR's objects: isp1's AS-SET and a route object per prefix (origin AS65001)."""
    objs = [f"as-set: {AS_SET}\nmembers: AS65001\nmnt-by: MAINT-LAB\nsource: {SOURCE}\n"]
    objs += [f"route: {r}\norigin: AS65001\nmnt-by: MAINT-LAB\nsource: {SOURCE}\n" for r in routes]
    objs.append(f"route6: 2001:db8:1001::/48\norigin: AS65001\nmnt-by: MAINT-LAB\nsource: {SOURCE}\n")
    return "\n".join(objs)


@dataclass
class IrrLab:
    lab: Lab
    config: Path
    state: Path
    irrd: IrrdServer

    def tonle(self, *args: str) -> int:
        return main(["--config", str(self.config), "--state-dir", str(self.state), *args])

    def rs1_routes(self) -> set[str]:
        return set(json.loads(self.lab.vtysh("rs1", "show ip bgp json")).get("routes", {}))


@pytest.fixture(scope="module")
def irr_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrrLab]:
    require_root()
    work = tmp_path_factory.mktemp("irr")
    config = lab_copy(SMALL, work, unique_lab_name("i"))
    inv_dir = work / "inventory"
    t0 = time.monotonic()
    with IrrdServer() as irrd:
        irrd.load(rpsl(REGISTERED))
        wait_until(lambda: REGISTERED in irrd.whois("!gAS65001"), 30, "IRRd serving the route objects")
        print(f"IRRd (PostgreSQL, Redis, irrd) up and loaded in {time.monotonic() - t0:.1f} s")
        peers = yaml.safe_load((inv_dir / "peers.yaml").read_text())
        next(p for p in peers["peers"] if p["name"] == "isp1")["as_set"] = AS_SET
        (inv_dir / "peers.yaml").write_text(yaml.safe_dump(peers))
        policy = yaml.safe_load((inv_dir / "policy.yaml").read_text())
        policy["irr"] = {"host": "127.0.0.1", "port": irrd.whois_port, "sources": [SOURCE], "private_asns": True}
        (inv_dir / "policy.yaml").write_text(yaml.safe_dump(policy))
        write_window(inv_dir, open_now=True)
        lab = Lab(load_from_nornir_config(config), work / "state")
        try:
            lab.up(timeout=90)
            yield IrrLab(lab, config, work / "state", irrd)
        finally:
            lab.down()


@dataclass
class IrrService:
    svc: Service
    sock: Path
    url: str
    tls: ssl.SSLContext
    operator: str  # an OS account with the operator role
    token: str

    def last_sync_actor(self, state: Path) -> str:
        return next(e.actor for e in reversed(AuditLog(StateDB(state)).entries()) if e.action == "irr-sync")


@pytest.fixture(scope="module")
def irr_service(irr_lab: IrrLab) -> Iterator[IrrService]:
    """A `tonle serve --https` for the lab's state (on a socket of its own: plan and apply act as root locally)."""
    run = Path(tempfile.mkdtemp(prefix="tnli-sock-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    svc = Service(irr_lab.config, irr_lab.state, run / "tonle.sock", retry=60, https=f"127.0.0.1:{port}")
    thread = threading.Thread(target=svc.serve, daemon=True)
    user = f"tnli-{secrets.token_hex(3)}"
    made = False
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                       check=True, capture_output=True)
        made = True
        thread.start()
        wait_until(lambda: svc.web is not None and svc.web._server.started, 30, "the service's HTTPS front door")
        assert irr_lab.tonle("--socket", str(run / "tonle.sock"), "users", "add", user, "--role", "operator") == 0
        out, old = io.StringIO(), sys.stdout
        sys.stdout = out
        try:
            assert irr_lab.tonle("--socket", str(run / "tonle.sock"), "users", "token", user) == 0
        finally:
            sys.stdout = old
        tls = ssl.create_default_context(cafile=str(irr_lab.state / "keys" / "web-cert.pem"))
        yield IrrService(svc, run / "tonle.sock", f"https://127.0.0.1:{port}", tls, user, out.getvalue().strip())
    finally:
        svc.stop()
        thread.join(60)
        if made:
            subprocess.run(["userdel", user], check=False, capture_output=True)
        shutil.rmtree(run, ignore_errors=True)


def _announce(lab: Lab, *prefixes: str) -> None:
    """isp1 (a simulated network: no staticd) originates these without a route in its RIB."""
    d = lab.node_dir("isp1")
    cmds = ["-c", "configure terminal", "-c", "router bgp 65001", "-c", "no bgp network import-check",
            "-c", "address-family ipv4 unicast"]
    for p in prefixes:
        cmds += ["-c", f"network {p}"]
    subprocess.run(lab.in_node("isp1", ["vtysh", "--vty_socket", str(d), "--config_dir", str(d), *cmds]),
                   check=True, capture_output=True)


def test_unreachable_irr_fails_with_one_line_and_stores_nothing(irr_lab: IrrLab, capfd: pytest.CaptureFixture[str],
                                                                ) -> None:
    from tests.live.irrd_server import free_port  # noqa: PLC0415

    rc = irr_lab.tonle("irr", "sync", "--server", f"127.0.0.1:{free_port()}")
    out = capfd.readouterr()
    assert rc == 2
    errors = [ln for ln in out.err.splitlines() if ln.startswith("tonle: error:")]
    assert len(errors) == 1 and "bgpq4" in errors[0], out.err
    assert irr_lab.tonle("plan") == 0  # nothing stored: the plan still has nothing to change
    assert "0 of 3 device(s) change" in capfd.readouterr().out


def test_route_object_added_synced_planned_applied_and_accepted(irr_lab: IrrLab, irr_service: IrrService,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    il, srv = irr_lab, irr_service
    t0 = time.monotonic()
    before = srv.svc.requests
    assert il.tonle("--socket", str(srv.sock), "irr", "sync") == 0  # the CLI, through the service
    out = capfd.readouterr().out
    assert f"isp1 {AS_SET}: 1 IPv4 + 1 IPv6 entries, 1 origin ASN(s) (new)" in out, out
    assert srv.svc.requests == before + 1 and srv.last_sync_actor(il.state) == "root"
    # The first sync: the AS-SET holds what peers.yaml said; only the list's spelling (exact) changes.
    _announce(il.lab, ADDED, UNREGISTERED)
    wait_until(lambda: REGISTERED in il.rs1_routes(), 30, "isp1's registered prefix at rs1")
    def advertised() -> set[str]:  # what isp1 sends rs1 (203.0.113.65, its side of the DIX)
        out = json.loads(il.lab.vtysh("isp1", "show bgp ipv4 unicast neighbors 203.0.113.65 advertised-routes json"))
        return set(out.get("advertisedRoutes", {}))
    wait_until(lambda: {ADDED, UNREGISTERED} <= advertised(), 30, "isp1 announcing both to rs1")
    time.sleep(2)  # rs1 has had them through its import filter
    assert ADDED not in il.rs1_routes() and UNREGISTERED not in il.rs1_routes()

    il.irrd.load(rpsl(REGISTERED, ADDED))  # the ISP registers a new route object
    # IRRd answers prefix queries from its Redis preload store, refreshed shortly after a load
    wait_until(lambda: ADDED in il.irrd.whois("!gAS65001"), 30, "IRRd serving the new route object")
    # The second sync over the REST API, by the operator its token authenticates.
    with httpx.Client(base_url=srv.url, verify=srv.tls, timeout=120,
                      headers={"authorization": f"Bearer {srv.token}"}) as api:
        r = api.post("/api/v1/irr/sync", json={"sources": [SOURCE]})
    assert r.status_code == 200, r.text
    assert any(f"+{ADDED}" in ln for ln in r.json()["out"]), r.json()
    isp1 = r.json()["data"]["isps"]["isp1"]
    assert (isp1["as_set"], isp1["origins"], isp1["ipv4"]) == (AS_SET, [65001], 2)
    assert srv.last_sync_actor(il.state) == srv.operator
    assert il.tonle("plan", "--json") == 0
    plan = json.loads(capfd.readouterr().out)
    changed = {d["host"]: d["diff"] for d in plan["devices"] if d["diff"].strip()}
    assert list(changed) == ["rs1"], changed  # the ISP's filter lives on its route server only
    added = [ln for ln in changed["rs1"].splitlines() if ln.startswith("+")]
    assert any(re.search(rf"prefix-list PL-ISP1-IN-V4 seq \d+ permit {re.escape(ADDED)}$", ln) for ln in added), \
        changed["rs1"]
    assert not any(UNREGISTERED in ln for ln in changed["rs1"].splitlines())
    assert "rs1" not in {d["host"] for d in plan["devices"] if not d["diff"].strip()}

    assert il.tonle("apply", plan["id"], "--settle", "20") == 0, capfd.readouterr().out
    capfd.readouterr()
    wait_until(lambda: ADDED in il.rs1_routes(), 60, f"{ADDED} accepted at rs1")
    assert UNREGISTERED not in il.rs1_routes()
    # rs1 passes it on to its other clients (the border r1), the unregistered one never
    r1 = set(json.loads(il.lab.vtysh("r1", "show ip bgp json")).get("routes", {}))
    wait_until(lambda: ADDED in set(json.loads(il.lab.vtysh("r1", "show ip bgp json")).get("routes", {})), 30,
               f"{ADDED} at r1")
    assert UNREGISTERED not in r1
    print(f"sync, plan, apply and acceptance in {time.monotonic() - t0:.1f} s")
    # Nothing left to do: the devices run what the last sync built, and drift agrees.
    assert il.tonle("plan") == 0
    assert "0 of 3 device(s) change" in capfd.readouterr().out
