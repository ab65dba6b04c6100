"""Drift audit benchmark: `tonle drift` against the same audit by an Ansible playbook, and the SSH floor.

For each N (default 10 and 50) it builds its own lab of N FRR routers (documentation addresses only: a
chain of iBGP links, one upstream network per router, each its own namespace running FRR), then on
that lab, in the same run:

* tonle: ``tonle drift --json`` as a user runs it (a new process: imports, inventory, intent,
  render, parallel NAPALM fetch of running config + QoS state + BGP state on one connection per
  device, frr-reload comparison, report), and the same audit in-process (``run_drift``);
* Ansible: a playbook run through ansible-runner's Python API (artifacts in a temporary directory),
  ``ssh`` connection (OpenSSH, ControlPersist connection reuse), per device ``raw`` ``show
  running-config``, ``tc -j qdisc show`` and ``show bgp vrf all summary json``, then the running
  config compared with the pre-rendered intended file (``copy`` in check mode with diff, on the
  controller). Rendering is done before the timer starts (in Ansible's favour), and its comparison is
  a plain line diff, less than tonle's section-aware one;
* the SSH floor: N logins with one ``show running-config`` each through the OpenSSH client, first
  one after the other (machine CPU per login, from /proc/stat: client + sshd + vtysh), then all at
  once with the same number of workers as tonle (the wall time no audit over SSH can beat).

The kernel's neighbour table is shared by every namespace: the ARP garbage-collection thresholds
(net.ipv4.neigh.default.gc_thresh1/2/3) are raised to 4096/8192/16384 when lower (global settings;
the script says when it changes them). Needs root (the lab).

    .venv/bin/python benchmarks/drift_bench.py [--devices 10 50] [--forks 5] [--workers 32]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from tonle.change.plan import Selection
from tonle.compile.render import render_device
from tonle.drift.audit import run_drift
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config

REPO = Path(__file__).resolve().parent.parent
SMALL = REPO / "tests" / "fixtures" / "small"
GC_THRESH = {"gc_thresh1": 4096, "gc_thresh2": 8192, "gc_thresh3": 16384}
SITES = ("PNH", "KOS", "POI", "BVT")

PLAYBOOK = Path(__file__).resolve().parent / "ansible" / "drift-audit.yml"


# ---- machine ---------------------------------------------------------------------------------------

def raise_arp_thresholds() -> None:
    """Raise the neighbour-table GC thresholds (shared by all namespaces) when lower than needed."""
    for name, want in GC_THRESH.items():
        path = Path(f"/proc/sys/net/ipv4/neigh/default/{name}")
        have = int(path.read_text())
        if have < want:
            path.write_text(str(want))
            print(f"sysctl net.ipv4.neigh.default.{name}: {have} -> {want} (global kernel setting)")
        else:
            print(f"sysctl net.ipv4.neigh.default.{name} = {have} (>= {want}, unchanged)")


def machine_cpu() -> float:
    """CPU seconds used by the whole machine so far (every process, user + system)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    wall: float
    cpu: float  # machine CPU seconds during the run


@contextlib.contextmanager
def measure() -> Iterator[Timing]:
    t = Timing(0.0, 0.0)
    c0, w0 = machine_cpu(), time.perf_counter()
    try:
        yield t
    finally:
        t.wall, t.cpu = time.perf_counter() - w0, machine_cpu() - c0


# ---- a lab of N devices ------------------------------------------------------------------------------

def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                         check=True).stdout
    return [ipaddress.ip_network(r["dst"], strict=False) for r in json.loads(out or "[]")
            if r.get("dst") not in (None, "default")]


def synthesize(root: Path, n: int, name: str) -> Path:
    """nornir.yaml + inventory/ for `n` FRR routers in a chain, each with one upstream; returns nornir.yaml."""
    inv = root / "inventory"
    inv.mkdir(parents=True)
    for f in ("defaults.yaml", "groups.yaml", "sites.yaml", "policy.yaml"):
        shutil.copy(SMALL / "inventory" / f, inv / f)
    shutil.copy(SMALL / "nornir.yaml", root / "nornir.yaml")
    used = _used_networks()
    mgmt = next(s for s in ipaddress.ip_network("198.19.128.0/17").subnets(new_prefix=24)
                if not any(s.overlaps(u) for u in used) and s != ipaddress.ip_network("198.19.254.0/24"))

    def dump(file: str, data: Any) -> None:
        (inv / file).write_text(yaml.safe_dump(data, sort_keys=False))

    dump("lab.yaml", {"name": name, "mgmt_gateway": f"{mgmt[1]}/24"})
    names = [f"r{i:02d}" for i in range(n)]
    dump("hosts.yaml", {d: {"hostname": str(mgmt[10 + i]),
                            "groups": [f"site-{SITES[i % 4].lower()}", "role-iig-border", "platform-frr"],
                            "data": {"asn": 64500, "router_id": f"198.18.0.{i + 1}",
                                     "loopback_ipv4": f"198.18.0.{i + 1}/32"}} for i, d in enumerate(names)})
    chain = ipaddress.IPv4Network("203.0.113.0/25").subnets(new_prefix=31)
    transit = ipaddress.IPv4Network("198.51.100.0/25").subnets(new_prefix=31)
    ports = dict.fromkeys(names, 0)

    def port(d: str) -> str:
        ports[d] += 1
        return f"eth{ports[d]}"

    links: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(names):
        net = next(chain)
        links.append({"name": f"{a}-{b}", "capacity_mbps": 10000, "endpoints": [
            {"node": a, "interface": port(a), "ipv4": f"{net[0]}/31"},
            {"node": b, "interface": port(b), "ipv4": f"{net[1]}/31"}]})
    peers: list[dict[str, Any]] = []
    for i, d in enumerate(names):
        net = next(transit)
        links.append({"name": f"{d}-up", "capacity_mbps": 10000, "endpoints": [
            {"node": d, "interface": port(d), "ipv4": f"{net[0]}/31"}, {"node": f"up{i:02d}", "ipv4": f"{net[1]}/31"}]})
        peers.append({"name": f"up{i:02d}", "asn": 65000 + i, "type": "upstream", "country": "TH",
                      "announces": [f"198.19.{i}.0/24"], "sessions": [{"device": d, "link": f"{d}-up"}]})
    dump("links.yaml", {"links": links})
    dump("peers.yaml", {"peers": peers})
    return root / "nornir.yaml"


# ---- the three measurements ----------------------------------------------------------------------

def tonle_cli(config: Path, state: Path, workers: int) -> tuple[Timing, dict[str, Any]]:
    env = {**os.environ, "TONLE_STATE_DIR": str(state)}
    with measure() as t:
        proc = subprocess.run([str(Path(sys.executable).parent / "tonle"), "--config", str(config), "drift",
                               "--json", "--workers", str(workers)], capture_output=True, text=True, env=env,
                              check=False)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"tonle drift exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return t, json.loads(proc.stdout)


def tonle_inprocess(config: Path, state: Path, workers: int) -> tuple[Timing, int]:
    with measure() as t:
        report = run_drift(config, state, Selection(), lab=True, workers=workers, record=False)
    return t, report.exit_code


def ansible_audit(config: Path, state: Path, work: Path, forks: int) -> tuple[Timing, dict[str, int]]:
    inv = load_from_nornir_config(config)
    creds = Lab(inv, state).credentials()
    pdd = work / "ansible"
    (pdd / "project").mkdir(parents=True)
    (pdd / "intended").mkdir()
    hosts = {}
    for name, dev in inv.devices.items():  # rendering is not timed (in Ansible's favour)
        path = pdd / "intended" / f"{name}.conf"
        path.write_text(render_device(load_intent_cached(inv), name, "frr"))
        hosts[name] = {"ansible_host": str(dev.mgmt_ip), "intended_file": str(path)}
    shutil.copy(PLAYBOOK, pdd / "project" / "audit.yml")
    inventory = {"devices": {"hosts": hosts, "vars": {
        "ansible_connection": "ssh", "ansible_user": creds.username,
        "ansible_ssh_private_key_file": creds.key_file,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                   "-o LogLevel=ERROR"}}}
    home = work / "ansible-home"
    env = {"ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(home / "cp"), "ANSIBLE_HOST_KEY_CHECKING": "False",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    with measure() as t:
        r = ansible_runner.run(private_data_dir=str(pdd), playbook="audit.yml", inventory=inventory, forks=forks,
                               envvars=env, quiet=True, artifact_dir=str(work / "artifacts"))
    if r.rc != 0:
        raise RuntimeError(f"ansible-playbook failed (rc {r.rc}, status {r.status}); see {work / 'artifacts'}")
    stats = r.stats or {}
    return t, {"ok": len(stats.get("ok", {})), "changed": sum(stats.get("changed", {}).values()),
               "failures": len(stats.get("failures", {})), "unreachable": len(stats.get("dark", {}))}


_INTENT: dict[int, Any] = {}


def load_intent_cached(inv: Any) -> Any:
    from tonle.compile.intent import load_intent  # noqa: PLC0415

    return _INTENT.setdefault(id(inv), load_intent(inv))


def ssh_floor(config: Path, state: Path, workers: int) -> tuple[Timing, Timing]:
    """(N logins one after the other, N logins `workers` at a time), one show running-config each."""
    inv = load_from_nornir_config(config)
    creds = Lab(inv, state).credentials()

    def login(ip: str) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(["ssh", "-q", "-i", creds.key_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                            f"{creds.username}@{ip}", "show running-config"], capture_output=True, check=True)
        return run

    calls = [login(str(d.mgmt_ip)) for d in inv.devices.values()]
    with measure() as seq:
        for c in calls:
            c()
    with measure() as par, ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        list(pool.map(lambda c: c(), calls))
    return seq, par


# ---- main ------------------------------------------------------------------------------------------

@dataclass
class Row:
    n: int
    tonle_cli: Timing
    tonle_inproc: Timing
    ansible: Timing
    floor_seq: Timing
    floor_par: Timing
    drift_exit: int
    ansible_stats: dict[str, int]


def bench(n: int, forks: int, workers: int) -> Row:
    with tempfile.TemporaryDirectory(prefix=f"tonle-drift-bench-{n}-") as tmp:
        work = Path(tmp)
        name = f"db{os.getpid() % 0xFFFF:04x}"[:6]
        config = synthesize(work / "lab", n, name)
        state = work / "state"
        lab = Lab(load_from_nornir_config(config), state)
        try:
            t0 = time.perf_counter()
            lab.up(timeout=240)
            print(f"N={n}: lab {name} up in {time.perf_counter() - t0:.1f} s", flush=True)
            run_drift(config, state, Selection(), lab=True, workers=workers, record=False)  # warm caches once
            floor_seq, floor_par = ssh_floor(config, state, workers)
            cli, data = tonle_cli(config, state, workers)
            inproc, code = tonle_inprocess(config, state, workers)
            ans, stats = ansible_audit(config, state, work, forks)
            print(f"N={n}: tonle drift summary {data['summary']}; ansible {stats}", flush=True)
            return Row(n, cli, inproc, ans, floor_seq, floor_par, code, stats)
        finally:
            lab.down()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--forks", type=int, default=5, help="Ansible forks (default 5, Ansible's own default)")
    ap.add_argument("--workers", type=int, default=32, help="tonle drift worker pool (default 32)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("drift_bench: needs root (it builds a lab)", file=sys.stderr)
        return 2
    if any(n < 1 or n > 60 for n in args.devices):
        print("drift_bench: 1 <= N <= 60 (documentation address plan)", file=sys.stderr)
        return 2
    raise_arp_thresholds()
    print(f"machine: {os.cpu_count()} CPU(s); tonle workers {args.workers}; Ansible forks {args.forks}\n", flush=True)
    rows = [bench(n, args.forks, args.workers) for n in args.devices]
    print(f"\n{'N':>3} {'tonle s':>8} {'CLI s':>6} {'ansible s':>10} {'ratio':>6} {'CLI ratio':>9} {'floor s':>8} "
          f"{'tonle/floor':>11} {'CLI/floor':>9} {'CPU/login ms':>12} {'tonle CPU/dev ms':>16}")
    for r in rows:
        api, cli, floor = r.tonle_inproc.wall, r.tonle_cli.wall, r.floor_par.wall
        print(f"{r.n:>3} {api:>8.2f} {cli:>6.2f} {r.ansible.wall:>10.2f} {r.ansible.wall / api:>5.1f}x "
              f"{r.ansible.wall / cli:>8.1f}x {floor:>8.2f} {api / floor:>10.2f}x {cli / floor:>8.2f}x "
              f"{1000 * r.floor_seq.cpu / r.n:>12.0f} {1000 * r.tonle_inproc.cpu / r.n:>16.0f}")
    print("\ntonle s: the audit through its Python API (run_drift), as Ansible is run through ansible-runner's;\n"
          "CLI s: `tonle drift --json` in a new process (interpreter start and imports, ~1 s, included).\n"
          "floor s: N OpenSSH logins with one `show running-config` each, all at once (same pool size);\n"
          "CPU/login: machine CPU (ssh client + sshd + vtysh) per login, measured one login after the other;\n"
          "tonle CPU/dev: machine CPU of the API run per device.\n"
          "Goals: ansible/tonle >= 10x; tonle/floor <= 1.5x.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
