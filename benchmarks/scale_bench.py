"""Scale benchmark: how Tonlé's cost grows from 10 to 200 devices, side by side with Ansible and the SSH floor.

For each N (default 10 50 100 200), in one run, it builds a lab of N FRR border routers and N upstream
networks (`labgen`: benchmark addresses only; the kernel limits the lab needs are raised and reported by
the lab itself), then measures on it, each figure the median of --repeat runs (wall and CPU seconds):

CPU is the measured work's own (this process and its children: tonle CLI, ssh clients, Ansible; the lab's
processes and theirs: FRR, sshd, the logins' vtysh), so other users of the machine do not count; the whole
machine's CPU over the same time is in --json too.

* lab up: `Lab.up` from nothing until every BGP session is Established (once per N), and the memory the
  lab's processes hold per node (PSS, from /proc/PID/smaps_rollup) and the machine's memory used per node;
* `tonle plan` (no change) and `tonle drift --json` as a user runs them (new processes), and the drift
  audit in-process (`run_drift`, the API);
* a one-device change through `tonle apply` (an upstream's max-prefix limit on r000, alternated so every
  run is a change; default options: the validation gates must hold 7 s);
* the same drift audit as an Ansible playbook (forks 25; drift_bench's playbook and runner);
* the OpenSSH floor: N logins with one `show running-config` each, --workers at a time.

Then the ratios against the goals, how each figure grows from N=50 to N=200, and, for the largest N,
where the CLI's time goes (interpreter and imports, inventory, intent, rendering, the devices).
With --json: one JSON object per N (wall medians in seconds, CPU medians, memory).

    .venv/bin/python benchmarks/scale_bench.py [--devices 10 50 100 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from drift_bench import (
    LAB_NETNS,
    Timing,
    ansible_audit,
    floor_logins,
    floor_parallel,
    lab_processes,
    measure,
    netns_inode,
    tonle_inprocess,
)
from labgen import MAX_DEVICES, synthesize

from tonle.lab.builder import Lab
from tonle.source.inventory import load_from_nornir_config

TONLE = str(Path(sys.executable).parent / "tonle")
GOALS = ("drift CLI <= 1.2x the SSH floor at the largest N", "Ansible >= 10x the drift CLI",
         "plan <= 1.5x the drift CLI", "lab up (all sessions Established) <= 90 s at N=200")


@dataclass
class Result:
    n: int
    lab_up: Timing
    mem: dict[str, float]
    runs: dict[str, list[Timing]] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)
    lab_phases: dict[str, float] = field(default_factory=dict)

    def wall(self, what: str) -> float:
        return statistics.median(t.wall for t in self.runs[what])

    def cpu(self, what: str) -> float:
        """Median CPU seconds of the measured work alone (this process, its children, the lab's processes)."""
        return statistics.median(t.own for t in self.runs[what])

    def machine_cpu(self, what: str) -> float:
        return statistics.median(t.cpu for t in self.runs[what])


KEYS = {"drift_api": "drift API", "drift_cli": "drift CLI", "plan": "plan (no change)", "apply_one": "apply 1 device",
        "ansible": "Ansible (forks 25)", "floor": "SSH floor"}


# ---- memory --------------------------------------------------------------------------------------------

def lab_memory(lab: Lab) -> dict[str, float]:
    """PSS of every process in the lab's namespaces (MiB, total and per node)."""
    pss_kib = 0
    for proc in lab_processes():
        try:
            rollup = (proc / "smaps_rollup").read_text()
        except OSError:
            continue
        pss_kib += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    nodes = len(lab.inv.devices) + len(lab.inv.peers)
    return {"pss_mib": pss_kib / 1024, "pss_per_node_mib": pss_kib / 1024 / nodes}


def mem_available_mib() -> float:
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
    return int(line.split()[1]) / 1024


# ---- the measured commands -------------------------------------------------------------------------------

def cli(config: Path, state: Path, *argv: str) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    with measure() as t:
        proc = subprocess.run([TONLE, "--config", str(config), "--state-dir", str(state), *argv],
                              capture_output=True, text=True, check=False)
    return t, proc


def drift_cli(config: Path, state: Path, workers: int, say: Callable[[str], None]) -> Timing:
    """`tonle drift --json`; an audit that could not reach every device (exit 2) is reported and still timed:
    on a loaded machine a login can time out, and that is a figure too."""
    t, proc = cli(config, state, "drift", "--json", "--workers", str(workers))
    if proc.returncode == 2:
        try:
            devices = json.loads(proc.stdout).get("devices", [])
        except json.JSONDecodeError:
            raise RuntimeError(f"tonle drift exited 2: {proc.stderr.strip()[-500:]}") from None
        failed = [f"{d.get('host')} ({d.get('status')}: {str(d.get('error', ''))[:80]})" for d in devices
                  if d.get("status") in ("unreachable", "error")]
        say(f"drift CLI: {len(failed)} device(s) not audited: {'; '.join(failed[:5])}")
    elif proc.returncode not in (0, 1):
        raise RuntimeError(f"tonle drift exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return t


def plan_no_change(config: Path, state: Path) -> Timing:
    t, proc = cli(config, state, "plan", "--json")
    if proc.returncode != 0:
        raise RuntimeError(f"tonle plan exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    changed = [d["host"] for d in json.loads(proc.stdout).get("devices", []) if d.get("diff")]
    if changed:
        raise RuntimeError(f"tonle plan on a fresh lab wants changes on {changed[:5]}")
    return t


def open_window(config: Path) -> None:
    """A change window open for the next hours (apply refuses outside one)."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    window = {"name": "bench", "timezone": "UTC", "start": start.isoformat(timespec="minutes"),
              "end": (start + timedelta(hours=12)).isoformat(timespec="minutes")}
    (config.parent / "inventory" / "windows.yaml").write_text(yaml.safe_dump({"windows": [window]}))


def apply_one(config: Path, state: Path, limit: int) -> Timing:
    """Set up000's IPv4 max-prefix limit to `limit` (a change on r000 alone), plan it, apply it (timed)."""
    peers_file = config.parent / "inventory" / "peers.yaml"
    data = yaml.safe_load(peers_file.read_text())
    data["peers"][0]["max_prefixes"] = {"ipv4": limit}
    peers_file.write_text(yaml.safe_dump(data, sort_keys=False))
    _t, proc = cli(config, state, "plan", "--host", "r000")
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"tonle plan --host r000 exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    t, proc = cli(config, state, "apply", "latest")
    if proc.returncode != 0 or "confirmed" not in proc.stdout:
        raise RuntimeError(f"tonle apply exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-800:]}")
    return t


def lab_phases(t0: float, marks: list[tuple[float, str]]) -> dict[str, float]:
    """Lab up's phases from its progress messages: namespaces and links, daemons, sessions."""
    def at(prefix: str) -> float | None:
        return next((t for t, m in marks if m.startswith(prefix)), None)

    start, built = at("starting FRR"), next((t for t, m in marks if " built in " in m), None)
    end = marks[-1][0] if marks else t0
    if start is None or built is None:
        return {}
    return {"kernel limits, namespaces, links": start - t0, "FRR + sshd started, configs loaded": built - start,
            "BGP sessions to Established": end - built}


_BREAKDOWN = """
import json, sys, time
t0 = time.perf_counter()
import napalm_frr, tonle.drift.audit, tonle.interfaces.cli
from tonle.compile.intent import load_intent
from tonle.compile.render import render_device
from tonle.source.inventory import load_from_nornir_config
t1 = time.perf_counter()
inv = load_from_nornir_config(__import__("pathlib").Path(sys.argv[1]))
t2 = time.perf_counter()
intent = load_intent(inv)
t3 = time.perf_counter()
for name in inv.devices:
    render_device(intent, name, "frr")
t4 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3]))
"""


def cli_breakdown(config: Path) -> dict[str, float]:
    """Where a CLI run's time goes before any device is asked, in a new process as the CLI's: interpreter start
    and imports, inventory (load and validation), intent, rendering every device (one thread, as the CLI)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _BREAKDOWN, str(config)], capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    _imports, inv, intent, render = json.loads(proc.stdout)
    return {"interpreter + imports": total - inv - intent - render, "inventory load + validation": inv,
            "intent": intent, "render every device": render}


# ---- one N -----------------------------------------------------------------------------------------------

def bench(n: int, repeat: int, ansible_repeat: int, workers: int, forks: int, say: Callable[[str], None]) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"tonle-scale-{n}-") as tmp:
        work = Path(tmp)
        name = f"sc{os.getpid() % 0xFFFF:04x}"
        config = synthesize(work / "lab", n, name)
        open_window(config)
        state = work / "state"
        lab = Lab(load_from_nornir_config(config), state)
        try:
            free0 = mem_available_mib()
            LAB_NETNS.clear()
            marks: list[tuple[float, str]] = []

            def progress(msg: str) -> None:
                marks.append((time.perf_counter(), msg))
                say(f"N={n}: {msg}")

            t0 = time.perf_counter()
            with measure() as up:
                lab.up(timeout=600, progress=progress)
                LAB_NETNS.update(i for ns in lab.all_namespaces() if (i := netns_inode(Path("/run/netns") / ns)))
            mem = {**lab_memory(lab), "machine_used_per_node_mib": (free0 - mem_available_mib()) / (2 * n)}
            say(f"N={n}: lab up {up.wall:.1f} s; {mem['pss_per_node_mib']:.1f} MiB PSS per node")
            res = Result(n, up, mem, lab_phases=lab_phases(t0, marks))
            tonle_inprocess(config, state, workers)  # warm the page cache and host keys once
            calls = floor_logins(config, state)
            runs = res.runs
            for i in range(repeat):
                runs.setdefault("floor", []).append(floor_parallel(calls, workers))
                runs.setdefault("drift_cli", []).append(drift_cli(config, state, workers, lambda m: say(f"N={n}: {m}")))
                runs.setdefault("drift_api", []).append(tonle_inprocess(config, state, workers)[0])
                runs.setdefault("plan", []).append(plan_no_change(config, state))
                runs.setdefault("apply_one", []).append(apply_one(config, state, 400 + i))
                say(f"N={n}: run {i + 1}/{repeat}: " + ", ".join(
                    f"{KEYS[k]} {v[-1].wall:.2f} s" for k, v in runs.items()))
            for _ in range(ansible_repeat):
                t, stats = ansible_audit(config, state, work, forks)
                runs.setdefault("ansible", []).append(t)
                say(f"N={n}: Ansible {t.wall:.1f} s {stats}")
            res.breakdown = cli_breakdown(config)
            return res
        finally:
            lab.down()


# ---- report ----------------------------------------------------------------------------------------------

def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def table(results: list[Result]) -> list[str]:
    lines = [f"{'N':>4} {'lab up s':>8} {'MiB/node':>8} " + " ".join(f"{KEYS[k]:>18}" for k in KEYS)
             + "   (wall s / CPU s, medians)"]
    for r in results:
        cells = [f"{r.wall(k):>8.2f}/{r.cpu(k):<9.2f}" if k in r.runs else f"{'-':>18}" for k in KEYS]
        lines.append(f"{r.n:>4} {r.lab_up.wall:>8.1f} {r.mem['pss_per_node_mib']:>8.1f} " + " ".join(cells))
    lines.append("")
    lines.append(f"{'N':>4} {'CLI/floor':>9} {'API/floor':>9} {'Ansible/CLI':>11} {'Ansible/API':>11} "
                 f"{'plan/CLI':>8} {'CLI CPU/dev ms':>14} {'floor CPU/dev ms':>16} {'Ansible CPU/dev ms':>18}")
    for r in results:
        ans = r.runs.get("ansible")
        lines.append(
            f"{r.n:>4} {r.wall('drift_cli') / r.wall('floor'):>8.2f}x {r.wall('drift_api') / r.wall('floor'):>8.2f}x "
            + (f"{r.wall('ansible') / r.wall('drift_cli'):>10.1f}x {r.wall('ansible') / r.wall('drift_api'):>10.1f}x "
               if ans else f"{'-':>11} {'-':>11} ")
            + f"{r.wall('plan') / r.wall('drift_cli'):>7.2f}x {1000 * r.cpu('drift_cli') / r.n:>14.0f} "
            f"{1000 * r.cpu('floor') / r.n:>16.0f} " + (f"{1000 * r.cpu('ansible') / r.n:>18.0f}" if ans else ""))
    return lines


def growth(results: list[Result], lo: int, hi: int) -> list[str]:
    a = next((r for r in results if r.n == lo), None)
    b = next((r for r in results if r.n == hi), None)
    if a is None or b is None:
        return []
    lines = [f"growth N={lo} -> N={hi} ({hi / lo:.0f}x the devices; ideal: CPU x{hi / lo:.0f}, wall x1 while "
             "the machine has idle CPU, then CPU-bound):",
             f"  {'lab up':<20} wall x{b.lab_up.wall / a.lab_up.wall:.2f}  CPU x{b.lab_up.cpu / a.lab_up.cpu:.2f}"
             f"  memory/node x{b.mem['pss_per_node_mib'] / a.mem['pss_per_node_mib']:.2f}"]
    for k, label in KEYS.items():
        if k in a.runs and k in b.runs:
            lines.append(f"  {label:<20} wall x{b.wall(k) / a.wall(k):.2f}  CPU x{b.cpu(k) / a.cpu(k):.2f}")
    return lines


def goals(results: list[Result]) -> list[str]:
    r = max(results, key=lambda x: x.n)
    cli_floor = r.wall("drift_cli") / r.wall("floor")
    checks = [(f"drift CLI / SSH floor at N={r.n}: {cli_floor:.2f}x (goal <= 1.2x)", cli_floor <= 1.2)]
    if "ansible" in r.runs:
        ratio = r.wall("ansible") / r.wall("drift_cli")
        checks.append((f"Ansible / drift CLI at N={r.n}: {ratio:.1f}x (goal >= 10x)", ratio >= 10))
    plan = r.wall("plan") / r.wall("drift_cli")
    checks.append((f"plan / drift CLI at N={r.n}: {plan:.2f}x (goal <= 1.5x)", plan <= 1.5))
    checks.append((f"lab up with every session Established at N={r.n}: {r.lab_up.wall:.1f} s (goal <= 90 s)",
                   r.lab_up.wall <= 90))
    lines = [f"  {'met    ' if ok else 'NOT MET'} {text}" for text, ok in checks]
    cores = os.cpu_count() or 1
    if r.lab_up.wall > 90:
        lines.append(f"  lab up: {1000 * r.lab_up.own / (2 * r.n):.0f} ms CPU per node; {r.lab_up.own:.0f} s CPU is "
                     f"{r.lab_up.own / cores:.0f} s on {cores} idle cores at best: FRR's own start-up (~50-90 ms "
                     "CPU per daemon; a device runs four, a simulated network two) and `vtysh -b` loading each "
                     "device's config (~100 ms). What would close it: cores, or a device's daemons reading their "
                     "config as they start, as a simulated network's bgpd does (an integrated config is vtysh's to "
                     "split: given the whole file, staticd dropped its routes when tried).")
    if cli_floor > 1.2:
        fixed = sum(r.breakdown.values())
        lines.append(f"  drift CLI: {fixed:.1f} s of its {r.wall('drift_cli'):.1f} s are paid before any device is "
                     "asked (mostly interpreter start and imports), the same at any N (the API run is the audit "
                     "without them). Per device: "
                     f"{1000 * r.cpu('drift_api') / r.n:.0f} ms CPU (API) against {1000 * r.cpu('floor') / r.n:.0f} ms "
                     "for an OpenSSH login.")
    lines.append(f"where lab up's time goes at N={r.n} (wall {r.lab_up.wall:.1f} s, CPU {r.lab_up.own:.1f} s):")
    lines += [f"  {k:<36} {v:6.1f} s" for k, v in r.lab_phases.items()]
    lines.append(f"where the drift CLI's time goes at N={r.n} (wall {r.wall('drift_cli'):.2f} s; "
                 f"before any device is asked):")
    lines += [f"  {k:<30} {v:6.2f} s" for k, v in r.breakdown.items()]
    rest = r.wall("drift_cli") - sum(r.breakdown.values())
    lines.append(f"  {'the devices (fetch + compare)':<30} {rest:6.2f} s  (SSH floor alone: {r.wall('floor'):.2f} s)")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[10, 50, 100, 200])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tonle measurement and the floor (median)")
    ap.add_argument("--ansible-repeat", type=int, default=1, help="runs of the Ansible playbook (default 1)")
    ap.add_argument("--forks", type=int, default=25, help="Ansible forks (default 25)")
    ap.add_argument("--workers", type=int, default=32, help="tonle drift workers and floor logins at once")
    ap.add_argument("--json", action="store_true", help="one JSON object per N on stdout (progress on stderr)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("scale_bench: needs root (it builds labs)", file=sys.stderr)
        return 2
    if any(n < 1 or n > MAX_DEVICES for n in args.devices) or args.repeat < 1 or args.ansible_repeat < 0:
        print(f"scale_bench: 1 <= N <= {MAX_DEVICES} (the benchmark address plan), --repeat >= 1", file=sys.stderr)
        return 2
    out = sys.stderr if args.json else sys.stdout

    def say(msg: str) -> None:
        print(msg, file=out, flush=True)

    say(f"machine: {os.cpu_count()} CPU(s), {mem_available_mib() / 1024:.1f} GiB available, load {_loadavg()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; tonle workers {args.workers}, Ansible forks "
        f"{args.forks}, {args.repeat} run(s) each (Ansible {args.ansible_repeat})")
    results = []
    for n in args.devices:
        results.append(bench(n, args.repeat, args.ansible_repeat, args.workers, args.forks, say))
        say(f"N={n} done; load {_loadavg()}")
    if args.json:
        for r in results:
            print(json.dumps({"n": r.n, "lab_up_s": round(r.lab_up.wall, 3), "lab_up_cpu_s": round(r.lab_up.cpu, 3),
                              **{f"{k}_s": round(r.wall(k), 3) for k in KEYS if k in r.runs},
                              **{f"{k}_cpu_s": round(r.cpu(k), 3) for k in KEYS if k in r.runs},
                              **{f"{k}_machine_cpu_s": round(r.machine_cpu(k), 3) for k in KEYS if k in r.runs},
                              **{f"mem_{k}": round(v, 1) for k, v in r.mem.items()}}))
    lines = ["", *table(results), "", *growth(results, 50, 200), "", "goals:", *goals(results)]
    for line in lines:
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
