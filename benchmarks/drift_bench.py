"""Drift audit benchmark: `tonle drift` against the same audit by an Ansible playbook, and the SSH floor.

For each N (default 10 and 50) it builds its own lab of N FRR routers (`labgen`: benchmark addresses
only, a dual-stack chain of iBGP links, one upstream network per router, each its own namespace running
FRR), then on that lab, in the same run:

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

The kernel limits a lab of that size needs (neighbour-table thresholds shared by every namespace, pid
space, inotify instances) are raised by the lab itself when lower (`tonle.lab.kernel`; global settings,
reported as the lab comes up). Needs root (the lab).

    .venv/bin/python benchmarks/drift_bench.py [--devices 10 50] [--forks 5] [--workers 32]
"""

from __future__ import annotations

import argparse
import contextlib
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
from labgen import MAX_DEVICES, synthesize  # beside this script (run as a script: its folder is on sys.path)

from tonle.change.plan import Selection
from tonle.compile.render import render_device
from tonle.drift.audit import run_drift
from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config

PLAYBOOK = Path(__file__).resolve().parent / "ansible" / "drift-audit.yml"


# ---- machine ---------------------------------------------------------------------------------------

def machine_cpu() -> float:
    """CPU seconds used by the whole machine so far (every process, user + system)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# Network namespaces (inode numbers) of the lab under measurement: their processes' CPU is the audit's too.
LAB_NETNS: set[int] = set()


def netns_inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def lab_processes() -> list[Path]:
    """/proc entries of the processes in LAB_NETNS (FRR, sshd and what their logins run)."""
    return [p for p in Path("/proc").iterdir() if p.name.isdigit() and netns_inode(p / "ns" / "net") in LAB_NETNS]


def own_cpu() -> float:
    """CPU seconds of this process, its reaped children (tonle CLI, ssh, Ansible) and the lab's processes
    with their reaped children (sshd sessions, vtysh): the measured work alone, whatever else runs."""
    t = os.times()
    ticks = 0
    for proc in lab_processes():
        try:
            ticks += sum(int(x) for x in (proc / "stat").read_text().rsplit(")", 1)[1].split()[11:15])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return t.user + t.system + t.children_user + t.children_system + ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    wall: float
    cpu: float  # machine CPU seconds during the run
    own: float = 0.0  # own_cpu() seconds during the run


@contextlib.contextmanager
def measure() -> Iterator[Timing]:
    t = Timing(0.0, 0.0)
    o0, c0, w0 = own_cpu(), machine_cpu(), time.perf_counter()
    try:
        yield t
    finally:
        t.wall, t.cpu, t.own = time.perf_counter() - w0, machine_cpu() - c0, own_cpu() - o0


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
    pdd = Path(tempfile.mkdtemp(prefix="ansible-", dir=work))
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
    home = pdd / "home"
    env = {"ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(home / "cp"), "ANSIBLE_HOST_KEY_CHECKING": "False",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    with measure() as t:
        r = ansible_runner.run(private_data_dir=str(pdd), playbook="audit.yml", inventory=inventory, forks=forks,
                               envvars=env, quiet=True, artifact_dir=str(pdd / "artifacts"))
    if r.rc != 0:
        raise RuntimeError(f"ansible-playbook failed (rc {r.rc}, status {r.status}); see {pdd / 'artifacts'}")
    stats = r.stats or {}
    return t, {"ok": len(stats.get("ok", {})), "changed": sum(stats.get("changed", {}).values()),
               "failures": len(stats.get("failures", {})), "unreachable": len(stats.get("dark", {}))}


_INTENT: dict[int, Any] = {}


def load_intent_cached(inv: Any) -> Any:
    from tonle.compile.intent import load_intent  # noqa: PLC0415

    return _INTENT.setdefault(id(inv), load_intent(inv))


def ssh_floor(config: Path, state: Path, workers: int) -> tuple[Timing, Timing]:
    """(N logins one after the other, N logins `workers` at a time), one show running-config each."""
    calls = floor_logins(config, state)
    with measure() as seq:
        for c in calls:
            c()
    return seq, floor_parallel(calls, workers)


def floor_parallel(calls: list[Callable[[], None]], workers: int) -> Timing:
    """The logins, `workers` at a time: the wall time no audit over SSH can beat."""
    with measure() as par, ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        list(pool.map(lambda c: c(), calls))
    return par


def floor_logins(config: Path, state: Path) -> list[Callable[[], None]]:
    """One OpenSSH login running `show running-config` per device, as callables."""
    inv = load_from_nornir_config(config)
    creds = Lab(inv, state).credentials()

    def login(ip: str) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(["ssh", "-q", "-i", creds.key_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                            f"{creds.username}@{ip}", "show running-config"], capture_output=True, check=True)
        return run

    return [login(str(d.mgmt_ip)) for d in inv.devices.values()]


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
            lab.up(timeout=240, progress=print)
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
    if any(n < 1 or n > MAX_DEVICES for n in args.devices):
        print(f"drift_bench: 1 <= N <= {MAX_DEVICES} (the benchmark address plan)", file=sys.stderr)
        return 2
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
