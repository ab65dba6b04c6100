"""The embedded lab: the inventory's topology as Linux network namespaces running real FRR and OpenSSH.

One namespace per managed device and per simulated external network, veth pairs for
point-to-point links, a bridge namespace per LAN (DIX fabric), and a management bridge in the
root namespace. Each device runs zebra, bgpd and an sshd whose login drops into vtysh, with
per-lab generated credentials. Everything the lab makes is recorded in a state file before it is
made, so `down` can remove it even after a crashed `up`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from napalm_frr import tc
from tonle.compile.intent import Intent, load_intent
from tonle.compile.render import RTBH_DISCARD_V4, RTBH_DISCARD_V6, lab_external_config, render_device
from tonle.errors import Failed, Unavailable
from tonle.redact import redact
from tonle.source.inventory import Inventory, Session
from tonle.source.snapshot import capture
from tonle.state.applied import forget, record_applied
from tonle.state.db import StateDB
from tonle.targets import hostdeps
from tonle.targets.target import Credentials, lab_credentials, lab_dir, lab_md5_keys

FRR_BIN = Path("/usr/lib/frr")
SSHD = Path("/usr/sbin/sshd")
RUN_ROOT = Path("/run/tonle")
DAEMONS = ("zebra", "staticd", "bfdd", "bgpd")
TC = Path("/usr/sbin/tc")

Progress = Callable[[str], None]


class LabError(Failed):
    """The lab cannot be built, queried or removed; the message is one line."""


class LabUnavailable(LabError, Unavailable):
    """The lab is not up, or this machine cannot run it (not root, a program missing)."""

    exit_code = Unavailable.exit_code


@dataclass
class SessionState:
    node: str
    neighbor: str
    peer_ip: str
    afi: int
    kind: str
    state: str
    prefixes_received: int | None


@dataclass
class NodeStatus:
    name: str
    kind: str  # device | external
    namespace: str
    mgmt_ip: str | None
    processes: dict[str, bool]
    sessions: list[SessionState] = field(default_factory=list)

    @property
    def established(self) -> int:
        return sum(s.state == "Established" for s in self.sessions)


@dataclass
class LabStatus:
    name: str
    up: bool
    nodes: list[NodeStatus]

    def down_sessions(self) -> list[SessionState]:
        return [s for n in self.nodes for s in n.sessions if s.state != "Established"]


def _run(cmd: list[str], *, input_text: str | None = None, check: bool = True, timeout: float = 30) -> str:
    try:
        proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LabUnavailable(f"command not found: {cmd[0]}") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout:.0f}s: {' '.join(cmd[:6])}") from None
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()  # vtysh -b quotes the line it refuses
        raise LabError(redact(f"{' '.join(cmd[:8])}: {err[-1] if err else f'exit {proc.returncode}'}"))
    return proc.stdout


def preflight() -> None:
    """Refuse early, with a clear reason, when the machine cannot run the lab."""
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root (network namespaces, veth links, daemons); run as root")
    if lacking := hostdeps.missing():
        raise LabUnavailable(f"{hostdeps.describe(lacking)}; `./dev setup` installs them")


class Lab:
    """One lab instance, named by the inventory's lab.yaml."""

    def __init__(self, inv: Inventory, state_dir: Path) -> None:
        self.inv = inv
        self.name = inv.lab.name
        self.top_state_dir = state_dir
        self.state_dir = lab_dir(state_dir, self.name)
        self.run_dir = RUN_ROOT / self.name
        self.state_file = self.state_dir / "state.json"
        self.username = f"tnl-{self.name}"
        self._md5_keys: dict[str, str] = {}

    @cached_property
    def intent(self) -> Intent:
        return load_intent(self.inv)

    # ---- naming -----------------------------------------------------------------------------
    def ns(self, node: str) -> str:
        return f"{self.name}-{node}"

    def lan_ns(self, link: str) -> str:
        return f"{self.name}-lan-{link}"

    @property
    def bridge(self) -> str:
        return f"{self.name}-mgmt"

    def node_dir(self, node: str) -> Path:
        return self.run_dir / node

    def all_namespaces(self) -> list[str]:
        nodes = [*self.inv.devices, *self.inv.peers]
        lans = [ln.name for ln in self.inv.links.values() if ln.kind == "lan"]
        return [self.ns(n) for n in nodes] + [self.lan_ns(ln) for ln in lans]

    # ---- state --------------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise LabError(f"{self.state_file}: unreadable lab state: {exc}") from None
        return data

    def _write_state(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def credentials(self) -> Credentials:
        """The lab's generated credentials (the lab must be up)."""
        return lab_credentials(self.inv, self.top_state_dir)

    # ---- up -----------------------------------------------------------------------------------
    def up(self, timeout: float = 60, progress: Progress | None = None) -> LabStatus:
        """Build the lab (idempotent) and wait until every BGP session is Established.

        Raises:
            LabError: on a build failure (the partial lab is removed) or when sessions do not come up
                in time (the lab stays up for inspection; the message lists what is down).
        """
        say = progress or (lambda _msg: None)
        preflight()
        t0 = time.monotonic()
        state = self._read_state()
        if state.get("status") == "up" and self._healthy(state.get("nodes", [])) \
                and set(state.get("nodes", [])) <= self._nodes():
            nodes, wiring = self._missing(state)
            if nodes or wiring:
                say(f"lab {self.name} up; adding {len(nodes)} node(s) and {sum(map(len, wiring.values()))} "
                    "link end(s) new in the inventory")
                self._add(nodes, wiring, say)
                self._write_known_hosts()
                self._record_built(nodes)
            else:
                say(f"lab {self.name} already up")
        else:
            if state or self._leftovers():
                say(f"lab {self.name}: removing a previous lab that is incomplete or no longer matches")
                self.down()
            try:
                self._prepare()
                self._add(sorted(self._nodes(), key=self._order), self._missing({})[1], say)
                self._write_known_hosts()
                self._record_built(list(self._nodes()))
            except BaseException:
                with contextlib.suppress(LabError):
                    self.down()
                raise
            say(f"lab {self.name} built in {time.monotonic() - t0:.1f}s; waiting for BGP sessions")
        status = self.wait_established(timeout)
        bad = status.down_sessions()
        if bad:
            listing = ", ".join(f"{s.node}->{s.neighbor} {s.peer_ip} ({s.state})" for s in bad[:12])
            more = f" and {len(bad) - 12} more" if len(bad) > 12 else ""
            raise LabError(f"lab {self.name}: {len(bad)} BGP session(s) not Established after {timeout:.0f}s: "
                           f"{listing}{more}")
        say(f"lab {self.name} up: {sum(n.established for n in status.nodes)} sessions Established "
            f"in {time.monotonic() - t0:.1f}s")
        return status

    def _write_known_hosts(self) -> None:
        """Pin every device's generated SSH host key: Tonlé's connections accept exactly these keys."""
        lines = []
        for name, dev in sorted(self.inv.devices.items()):
            pub = self.node_dir(name) / "ssh_host_ed25519_key.pub"
            if pub.exists():
                kind, key = pub.read_text().split()[:2]
                lines.append(f"{dev.mgmt_ip} {kind} {key}\n")
        path = self.state_dir / "known_hosts"
        path.write_text("".join(lines))
        path.chmod(0o600)

    def _record_built(self, nodes: list[str]) -> None:
        """The devices just built run the working tree's intent: record it as their applied intent."""
        devices = [n for n in nodes if n in self.inv.devices]
        if devices and self.inv.config_file is not None:
            record_applied(StateDB(self.top_state_dir), devices, "lab-up", capture(self.inv))

    def _check_mgmt_network(self) -> None:
        """Refuse a management network that overlaps one of the machine's own networks."""
        mgmt = self.inv.lab.mgmt_gateway.network
        for route in json.loads(_run(["ip", "-j", "-4", "route", "show", "table", "all"]) or "[]"):
            dst, dev = route.get("dst", ""), route.get("dev", "")
            if dev == self.bridge or dst in ("", "default") or route.get("type") in ("local", "broadcast"):
                continue
            with contextlib.suppress(ValueError):
                if ipaddress.ip_network(dst, strict=False).overlaps(mgmt):
                    raise LabError(f"inventory/lab.yaml: lab {self.name}: field mgmt_gateway: {mgmt} overlaps "
                                   f"this machine's network {dst} on {dev}; pick another documentation range")

    def _leftovers(self) -> bool:
        existing = set(_netns_list())
        return any(n in existing for n in self.all_namespaces()) or _link_exists(self.bridge)

    def _nodes(self) -> set[str]:
        return {*self.inv.devices, *self.inv.peers}

    def _order(self, node: str) -> tuple[int, str]:
        return (0 if node in self.inv.devices else 1, node)

    def _healthy(self, nodes: list[str]) -> bool:
        existing = set(_netns_list())
        return bool(nodes) and all(self.ns(n) in existing and all(self._processes(n).values()) for n in nodes)

    def _missing(self, state: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
        """Nodes and link ends of the inventory the lab does not have yet."""
        nodes = sorted(self._nodes() - set(state.get("nodes", [])), key=self._order)
        wired: dict[str, list[str]] = state.get("wired", {})
        wiring = {}
        for link in self.inv.links.values():
            ends = [ep.node for ep in link.endpoints if ep.node not in wired.get(link.name, [])]
            if ends:
                wiring[link.name] = ends
        return nodes, wiring

    def _mgmt_if(self, device: str) -> str:
        # Root-namespace interface names are global and at most 15 characters: lab name + hash.
        return f"{self.name}m{zlib.crc32(device.encode()) & 0xFFFFFF:06x}"

    def _prepare(self) -> None:
        """What every lab needs once: state record, credentials, the tc copy, MD5 keys, the mgmt bridge."""
        self._check_mgmt_network()
        self._write_state({"status": "building", "namespaces": self.all_namespaces(), "bridge": self.bridge,
                           "run_dir": str(self.run_dir), "user": self.username, "created_user": False,
                           "nodes": [], "wired": {}})
        creds = self._make_credentials()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o755)
        (self.run_dir / "authorized_keys").write_text(Path(creds.key_file + ".pub").read_text())
        (self.run_dir / "authorized_keys").chmod(0o644)
        # The login user may change QoS (tc) inside a device's namespace, nothing else: a copy of tc
        # with CAP_NET_ADMIN only, executable by the lab user's group only.
        tc_copy = self.run_dir / "tc"
        shutil.copy2(TC, tc_copy)
        shutil.chown(tc_copy, "root", self.username)
        tc_copy.chmod(0o750)
        _run(["setcap", "cap_net_admin+ep", str(tc_copy)])
        self._md5_keys = self._make_md5_keys()
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", str(self.inv.lab.mgmt_gateway), "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])

    def _add(self, nodes: list[str], wiring: dict[str, list[str]], say: Progress) -> None:
        """Create, wire and start `nodes`, and wire the `wiring` link ends (node lists per link)."""
        inv = self.inv
        state = self._read_state()
        self._md5_keys = self._md5_keys or self.md5_keys()
        state["namespaces"] = list(dict.fromkeys([*state.get("namespaces", []), *self.all_namespaces()]))
        self._write_state(state)  # recorded before made: `down` finds them even after a crash
        existing = set(_netns_list())
        new_lans = [ln for ln in wiring if inv.links[ln].kind == "lan" and self.lan_ns(ln) not in existing]
        say(f"creating {len(nodes) + len(new_lans)} namespaces")
        for ns in [self.ns(n) for n in nodes] + [self.lan_ns(ln) for ln in new_lans]:
            _run(["ip", "netns", "add", ns])
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._init_namespace, nodes))
        gw = inv.lab.mgmt_gateway
        for name in (n for n in nodes if n in inv.devices):
            dev, root_if = inv.devices[name], self._mgmt_if(name)
            _run(["ip", "link", "add", root_if, "type", "veth", "peer", "name", "mgmt0", "netns", self.ns(name)])
            _run(["ip", "link", "set", root_if, "master", self.bridge, "up"])
            _ip_batch(self.ns(name), [f"addr add {dev.mgmt_ip}/{gw.network.prefixlen} dev mgmt0",
                                      "link set mgmt0 up"])
        say(f"wiring {len(wiring)} links")
        for ln in new_lans:
            _ip_batch(self.lan_ns(ln), ["link set lo up", "link add br0 type bridge", "link set br0 up"])
        for name, ends in wiring.items():
            ports = [inv.port(n, name) for n in ends]
            if inv.links[name].kind == "p2p":
                if len(ports) != 2:
                    raise LabError(f"link {name}: one end changed while the lab is up; run `tonle lab down` first")
                a, b = ports
                _run(["ip", "link", "add", a.lab_ifname, "netns", self.ns(a.node), "type", "veth",
                      "peer", "name", b.lab_ifname, "netns", self.ns(b.node)])
            else:
                lan = self.lan_ns(name)
                for pt in ports:
                    br_if = f"p{zlib.crc32(pt.node.encode()) & 0xFFFFFFF:07x}"
                    _run(["ip", "link", "add", br_if, "netns", lan, "type", "veth",
                          "peer", "name", pt.lab_ifname, "netns", self.ns(pt.node)])
                    _ip_batch(lan, [f"link set {br_if} master br0", f"link set {br_if} up"])
            for pt in ports:
                cmds = [f"link set {pt.lab_ifname} up"]
                if pt.node in inv.peers:  # simulated networks: addresses set here, not by a managed config
                    cmds += [f"addr add {a} dev {pt.lab_ifname}" for a in (pt.ipv4, pt.ipv6) if a]
                _ip_batch(self.ns(pt.node), cmds)
            state.setdefault("wired", {}).setdefault(name, []).extend(ends)
        for node in (n for n in nodes if n in inv.peers):
            cmds = [f"addr add {p[1]}/{p.prefixlen} dev lo" for p in inv.peers[node].announces]
            if inv.peers[node].type == "upstream":
                # The carrier's discard port for remote-triggered blackhole: next hops on it lead nowhere.
                cmds += ["link add rtbh0 type veth peer name rtbh1", "link set rtbh0 up", "link set rtbh1 up",
                         "addr add 198.51.100.254/31 dev rtbh0", "addr add 2001:db8:ffff::/127 dev rtbh0",
                         f"neigh add {RTBH_DISCARD_V4} lladdr 02:00:00:00:06:66 dev rtbh0 nud permanent",
                         f"neigh add {RTBH_DISCARD_V6} lladdr 02:00:00:00:06:66 dev rtbh0 nud permanent"]
            _ip_batch(self.ns(node), cmds)
        say("starting FRR and sshd")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._start_node, nodes))
        state["nodes"] = [*state.get("nodes", []), *nodes]
        state["status"] = "up"
        self._write_state(state)

    def _init_namespace(self, node: str) -> None:
        ns = self.ns(node)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Routers forward; v6 DAD off so link addresses are usable at once (sessions come up faster).
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
              "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.accept_dad=0",
              "net.ipv6.conf.all.accept_dad=0"])

    def _make_credentials(self) -> Credentials:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = self.state_dir / "id_ed25519"
        for f in (key, key.with_suffix(".pub")):
            f.unlink(missing_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.username}@tonle-lab", "-f", str(key)])
        password = secrets.token_urlsafe(18)
        if _run(["getent", "passwd", self.username], check=False).strip() == "":
            _run(["useradd", "--system", "--no-create-home", "--home-dir", str(RUN_ROOT), "--shell", "/bin/sh",
                  "--groups", "frr,frrvty", self.username])
            state = self._read_state()
            state["created_user"] = True
            self._write_state(state)
        _run(["chpasswd"], input_text=f"{self.username}:{password}\n")
        creds = Credentials(self.username, password, str(key))
        path = self.state_dir / "credentials.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps(asdict(creds)))
        return creds

    def _make_md5_keys(self) -> dict[str, str]:
        """TCP-MD5 keys for peers that want one: from the environment, else generated for this lab."""
        keys = {}
        for peer in self.inv.peers.values():
            if peer.md5_key_env:
                keys[peer.md5_key_env] = os.environ.get(peer.md5_key_env) or secrets.token_hex(12)
        path = self.state_dir / "md5_keys.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps(keys))
        os.environ.update({k: v for k, v in keys.items() if k not in os.environ})
        return keys

    def md5_keys(self) -> dict[str, str]:
        """The lab's TCP-MD5 keys by environment variable name (empty when the lab is down)."""
        return lab_md5_keys(self.inv, self.top_state_dir)

    def _start_node(self, node: str) -> None:
        d = self.node_dir(node)
        d.mkdir(parents=True, exist_ok=True)
        is_device = node in self.inv.devices
        conf = (render_device(self.intent, node, "frr") if is_device
                else lab_external_config(self.inv, self.inv.peers[node], self._md5_keys))
        try:  # the driver's strict grammar: a refused `! tc:` line names its line number, never its text
            qos = tc.boot_batch(conf)
        except tc.TcSyntaxError as exc:
            raise LabError(f"{node}: {exc}") from None
        (d / "frr.conf").write_text(conf)
        (d / "vtysh.conf").write_text(f"service integrated-vtysh-config\nhostname {node}\n")
        (d / "empty.conf").write_text("")
        shutil.chown(d, "frr", "frr")
        d.chmod(0o770)
        for f in ("frr.conf", "vtysh.conf", "empty.conf"):
            shutil.chown(d / f, "frr", "frrvty")
            (d / f).chmod(0o660)
        (self.state_dir / "configs").mkdir(exist_ok=True)
        # the boot config, for the record (without its keys: the node's own copy above has them)
        (self.state_dir / "configs" / f"{node}.conf").write_text(redact(conf, self._md5_keys.values(), "frr"))
        common = ["-d", "-u", "frr", "-g", "frr", "-z", str(d / "zserv.api"), "--vty_socket", str(d),
                  "-A", "127.0.0.1", "-P", "0", "-f", str(d / "empty.conf")]
        for daemon in DAEMONS:
            extra = ["--bfdctl", str(d / "bfdd.sock")] if daemon == "bfdd" else []
            _run(self.in_node(node, [str(FRR_BIN / daemon), *common, *extra, "-i", str(d / f"{daemon}.pid"),
                                     "--log", f"file:{d / daemon}.log"]))
            _wait_for((d / f"{daemon}.vty").exists, 10, f"{node}: {daemon} did not start")
        _run(self.in_node(node, ["vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-b"]))
        if qos:  # QoS lines are comments to vtysh; the device boots with them applied, as after a commit
            _run(["ip", "netns", "exec", self.ns(node), "tc", "-batch", "-"], input_text="\n".join(qos) + "\n")
        if is_device:
            self._start_sshd(node)

    def _start_sshd(self, node: str) -> None:
        d, dev = self.node_dir(node), self.inv.devices[node]
        hostkey = d / "ssh_host_ed25519_key"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
        login = d / "login.sh"
        vtysh = f"vtysh --vty_socket {d} --config_dir {d} -H /dev/null"
        login.write_text(
            "#!/bin/sh\n# Lab login: vtysh for this device only; an exec request runs one vtysh command,\n"
            "# or tc (QoS on FRR/Linux) through the lab's capability-limited copy of tc.\n"
            "set -f\n"
            'case "$SSH_ORIGINAL_COMMAND" in\n'
            f"  '') exec {vtysh} ;;\n"
            f'  "tc "*) exec {self.run_dir / "tc"} ${{SSH_ORIGINAL_COMMAND#tc }} ;;\n'
            f'  *) exec {vtysh} -c "$SSH_ORIGINAL_COMMAND" ;;\n'
            "esac\n"
        )
        login.chmod(0o755)
        (d / "sshd_config").write_text("\n".join([
            f"ListenAddress {dev.mgmt_ip}", "Port 22", f"HostKey {hostkey}", f"PidFile {d / 'sshd.pid'}",
            "UsePAM no", "StrictModes no", "PasswordAuthentication yes", "PubkeyAuthentication yes",
            "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {self.run_dir / 'authorized_keys'}",
            f"AllowUsers {self.username}", "PermitRootLogin no", f"ForceCommand {login}",
            "X11Forwarding no", "AllowTcpForwarding no", "PrintMotd no", "MaxStartups 100:30:200",
            "LogLevel ERROR", "",
        ]))
        Path("/run/sshd").mkdir(exist_ok=True)
        _run(self.in_node(node, [str(SSHD), "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")]))

    # ---- queries ------------------------------------------------------------------------------
    def in_node(self, node: str, argv: list[str]) -> list[str]:
        """argv run inside the node's network namespace and its own UTS namespace.

        The UTS namespace carries the node's hostname: FRR daemons and vtysh print the kernel
        hostname in the running config, and the machine's own name would leak into every device.
        """
        return ["ip", "netns", "exec", self.ns(node), "unshare", "--uts", "--", "sh", "-c",
                'hostname "$0" && exec "$@"', node, *argv]

    def vtysh(self, node: str, command: str, timeout: float = 20) -> str:
        """Run one vtysh command directly in a node's namespace (devices and simulated networks)."""
        d = self.node_dir(node)
        return _run(self.in_node(node, ["vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-c", command]),
                    timeout=timeout)

    def _processes(self, node: str) -> dict[str, bool]:
        names = [*DAEMONS, "sshd"] if node in self.inv.devices else list(DAEMONS)
        return {n: _pid_alive(self.node_dir(node) / f"{n}.pid") for n in names}

    def _sessions(self, node: str, expected: Iterable[Session]) -> list[SessionState]:
        try:
            summary = json.loads(self.vtysh(node, "show bgp vrf default summary json") or "{}")
        except (LabError, json.JSONDecodeError):
            summary = {}
        out = []
        for s in expected:
            fam = summary.get("ipv4Unicast" if s.afi == 4 else "ipv6Unicast", {})
            peer = fam.get("peers", {}).get(str(s.peer_ip), {})
            out.append(SessionState(s.node, s.neighbor, str(s.peer_ip), s.afi, s.kind,
                                    peer.get("state", "Missing" if not summary else "NotConfigured"),
                                    peer.get("pfxRcd")))
        return out

    def status(self) -> LabStatus:
        """Devices and simulated networks, their processes and BGP session states."""
        existing = set(_netns_list())
        by_node: dict[str, list[Session]] = {}
        for s in self.inv.sessions():
            by_node.setdefault(s.node, []).append(s)

        def one(node: str) -> NodeStatus:
            ns = self.ns(node)
            dev = self.inv.devices.get(node)
            st = NodeStatus(node, "device" if dev else "external", ns, str(dev.mgmt_ip) if dev else None,
                            self._processes(node) if ns in existing else {})
            if ns in existing and st.processes.get("bgpd"):
                st.sessions = self._sessions(node, by_node.get(node, []))
            else:
                st.sessions = [SessionState(s.node, s.neighbor, str(s.peer_ip), s.afi, s.kind, "Down", None)
                               for s in by_node.get(node, [])]
            return st

        with ThreadPoolExecutor(max_workers=8) as pool:
            nodes = list(pool.map(one, [*self.inv.devices, *self.inv.peers]))
        up = self._read_state().get("status") == "up" and all(n.namespace in existing for n in nodes)
        return LabStatus(self.name, up, nodes)

    def wait_established(self, timeout: float) -> LabStatus:
        """Poll until every session is Established or `timeout` seconds pass; returns the last status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if not status.down_sessions() or time.monotonic() > deadline:
                return status
            time.sleep(0.5)

    # ---- down ---------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove every namespace, link, process, file and user this lab made; returns what was removed."""
        preflight()
        state = self._read_state()
        removed: list[str] = []
        wanted = list(dict.fromkeys([*state.get("namespaces", []), *self.all_namespaces()]))
        existing = set(_netns_list())
        targets = [ns for ns in wanted if ns in existing]
        # Every process inside our namespaces is one we started (daemons, sshd and its sessions).
        pids = [int(p) for ns in targets for p in _run(["ip", "netns", "pids", ns], check=False).split()]
        _terminate(pids)
        for ns in targets:
            _run(["ip", "netns", "del", ns])
            removed.append(f"namespace {ns}")
        bridge = state.get("bridge", self.bridge)
        if _link_exists(bridge):
            _run(["ip", "link", "del", bridge])
            removed.append(f"bridge {bridge}")
        for dev in self.inv.devices:  # mgmt veths normally die with their namespace
            if _link_exists(self._mgmt_if(dev)):
                _run(["ip", "link", "del", self._mgmt_if(dev)])
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        if state.get("created_user") and _run(["getent", "passwd", self.username], check=False).strip():
            _run(["userdel", self.username])
            removed.append(f"user {self.username}")
        for f in ("credentials.json", "md5_keys.json", "id_ed25519", "id_ed25519.pub", "known_hosts", "state.json"):
            (self.state_dir / f).unlink(missing_ok=True)
        if state:  # the devices are gone: no intent of theirs is applied any more
            forget(StateDB(self.top_state_dir), list(self.inv.devices))
        return removed


# ---- small system helpers ---------------------------------------------------------------------------

def _netns_list() -> list[str]:
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).splitlines() if line.strip()]


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0


def _ip_batch(ns: str, commands: list[str]) -> None:
    if commands:
        _run(["ip", "-n", ns, "-batch", "-"], input_text="\n".join(commands) + "\n")


def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _terminate(pids: list[int], grace: float = 3.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _exists(p)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone once its state says so.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for(cond: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise LabError(message)
        time.sleep(0.02)
