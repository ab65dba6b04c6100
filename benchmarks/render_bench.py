"""Render benchmark: 1,000 synthesized devices, Tonlé's way against the typical Nornir way.

Synthesizes an inventory in a temporary directory (documentation addresses and private/documentation
ASNs only, as the validator requires): N devices over the four platforms, in iBGP pairs, each with two
upstream sessions, one domestic-ISP session (IPv4 and IPv6 each) and a QoS attachment. It loads and
validates the inventory, then renders every device's configuration

* with Tonlé: one compiled Jinja2 environment, ``device_intent`` + ``render_intent`` per device;
* the way a typical Nornir script does it: ``nr.run`` of a task calling nornir_jinja2's
  ``template_file`` with ``path=`` (a new Environment per host, so every template is compiled again
  for every host), on the threaded runner of the inventory's nornir.yaml.

Each is timed as the median of 3 runs, both with the intent compiled inside the timed loop
("intent + render") and with the intents compiled beforehand ("render only").

    .venv/bin/python benchmarks/render_bench.py [--devices 1000] [--runs 3] [--profile]

``--profile`` adds a cProfile of one Tonlé run (intent + render), top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import ipaddress
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jinja2.filters
import yaml
from nornir import InitNornir
from nornir.core.task import Result, Task
from nornir_jinja2.plugins.tasks import template_file

from tonle.compile.intent import DeviceIntent, Intent, device_intent, load_intent
from tonle.compile.render import TEMPLATES_DIR, environment, render_intent
from tonle.source.inventory import load_from_nornir_config

REPO = Path(__file__).resolve().parent.parent
PLATFORMS = ("frr", "ios", "eos", "junos")
UPSTREAMS, ISPS = 20, 50
IFNAME = {"frr": "eth{}", "ios": "HundredGigE0/1/{}", "eos": "Ethernet{}", "junos": "et-0/0/{}"}
# EOS is rendered by Arista's generator (pyavd), not a template: it is timed on its own row, and the
# Tonlé-vs-Nornir template comparison covers the template platforms only.
TEMPLATED = ("frr", "ios", "junos")


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def synthesize(root: Path, n: int) -> None:
    """Write nornir.yaml and inventory/ for `n` devices under `root`."""
    inv = root / "inventory"
    inv.mkdir(parents=True)
    for name in ("defaults.yaml", "sites.yaml", "policy.yaml"):
        shutil.copy(REPO / "inventory" / name, inv / name)
    sites = list(yaml.safe_load((REPO / "inventory" / "sites.yaml").read_text(encoding="utf-8"))["sites"])
    shutil.copy(REPO / "nornir.yaml", root / "nornir.yaml")
    mgmt = ipaddress.ip_network("198.19.240.0/20")
    _dump(inv / "lab.yaml", {"name": "bench", "mgmt_gateway": f"{mgmt[1]}/{mgmt.prefixlen}"})
    groups: dict[str, Any] = {f"site-{s.lower()}": {"data": {"site": s}} for s in sites}
    groups |= {"role-iig-border": {"data": {"role": "iig-border"}}}
    groups |= {f"platform-{p}": {"platform": p} for p in PLATFORMS}
    _dump(inv / "groups.yaml", groups)

    names = [f"r{i:04d}" for i in range(n)]
    platform = {d: PLATFORMS[i % len(PLATFORMS)] for i, d in enumerate(names)}
    hosts = {}
    for i, d in enumerate(names):
        lo4 = ipaddress.ip_address("198.18.0.1") + i
        hosts[d] = {"hostname": str(mgmt[10 + i]),
                    "groups": [f"site-{sites[i % len(sites)].lower()}", "role-iig-border", f"platform-{platform[d]}"],
                    "data": {"asn": 64500, "router_id": str(lo4), "loopback_ipv4": f"{lo4}/32",
                             "loopback_ipv6": f"2001:db8:ff::{i + 1:x}/128", "route_reflector": i % 2 == 0}}
    _dump(inv / "hosts.yaml", hosts)

    v4 = ipaddress.IPv4Network("198.18.64.0/18").subnets(new_prefix=31)
    v6 = ipaddress.IPv6Network("2001:db8:100::/48").subnets(new_prefix=127)
    ports = dict.fromkeys(names, 0)
    links: list[dict[str, Any]] = []

    def link(name: str, a: str, b: str) -> None:
        n4, n6 = next(v4), next(v6)
        eps = []
        for node, k in ((a, 0), (b, 1)):
            ep: dict[str, Any] = {"node": node, "ipv4": f"{n4[k]}/31", "ipv6": f"{n6[k]}/127"}
            if node in ports:
                ports[node] += 1
                ep = {"node": node, "interface": IFNAME[platform[node]].format(ports[node]), **ep}
            eps.append(ep)
        links.append({"name": name, "capacity_mbps": 100000, "endpoints": eps})

    for i in range(0, n - 1, 2):  # iBGP pairs
        link(f"ibgp-{i:04d}", names[i], names[i + 1])
    ups: list[dict[str, Any]] = [{"name": f"up-{j:02d}", "asn": 65000 + j, "type": "upstream", "country": "SG",
            "announces": [f"198.19.{j}.0/24", f"2001:db8:f{j:03x}::/48"],
            "max_prefixes": {"ipv4": 1000000, "ipv6": 250000}, "bfd": j % 3 == 0, "sessions": []}
           for j in range(UPSTREAMS)]
    isps: list[dict[str, Any]] = [{"name": f"isp-{j:02d}", "asn": 65100 + j, "type": "isp", "country": "KH",
             "announces": [f"198.18.{128 + j}.0/24", f"2001:db8:{0x1000 + j:x}::/48"],
             "max_prefixes": {"ipv4": 100, "ipv6": 50}, "sessions": []} for j in range(ISPS)]
    attachments = []
    for i, d in enumerate(names):
        for k, peer in enumerate((ups[i % UPSTREAMS], ups[(i + 7) % UPSTREAMS], isps[i % ISPS])):
            lname = f"{d}-{peer['name']}"
            link(lname, d, peer["name"])
            peer["sessions"].append({"device": d, "link": lname})
            if k == 0:
                attachments.append({"device": d, "link": lname, "policy": "iig-egress", "shape_mbps": 10000})
    _dump(inv / "links.yaml", {"links": links})
    _dump(inv / "peers.yaml", {"peers": ups + isps})
    qos = yaml.safe_load((REPO / "inventory" / "qos.yaml").read_text(encoding="utf-8"))
    qos["attachments"] = attachments
    _dump(inv / "qos.yaml", qos)


# ---- the two ways of rendering ---------------------------------------------------------------------

def tonle_render(intent: Intent, intents: dict[str, DeviceIntent] | None) -> dict[str, str]:
    out = {}
    for name, dev in intent.inv.devices.items():
        if dev.platform not in TEMPLATED:
            continue
        di = intents[name] if intents is not None else device_intent(intent, name)
        out[name] = render_intent(di, dev.platform)
    return out


# Tonlé's own filters (tc_rate, ...), handed to nornir_jinja2 as a Nornir script would.
FILTERS = {k: v for k, v in environment().filters.items() if k not in jinja2.filters.FILTERS}


def _nornir_task(task: Task, intent: Intent, intents: dict[str, DeviceIntent] | None) -> Result:
    di = intents[task.host.name] if intents is not None else device_intent(intent, task.host.name)
    return template_file(  # type: ignore[no-any-return]
        task, template=f"{task.host.platform}/device.j2", path=str(TEMPLATES_DIR),
        jinja_filters=FILTERS, d=di)


def nornir_render(nr: Any, intent: Intent, intents: dict[str, DeviceIntent] | None) -> dict[str, str]:
    res = nr.filter(filter_func=lambda h: h.platform in TEMPLATED).run(task=_nornir_task, intent=intent,
                                                                        intents=intents)
    failed = [h for h, r in res.items() if r.failed]
    if failed:
        raise RuntimeError(f"nornir render failed on {failed[:3]}: {res[failed[0]][0].exception!r}")
    return {h: r[0].result for h, r in res.items()}


def timed(fn: Callable[[], dict[str, str]], runs: int) -> tuple[float, dict[str, str]]:
    times, out = [], {}
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tonle-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        synthesize(root, args.devices)
        t1 = time.perf_counter()
        inv = load_from_nornir_config(root / "nornir.yaml")
        intent = load_intent(inv)
        t2 = time.perf_counter()
        nr = InitNornir(config_file=str(root / "nornir.yaml"), inventory={"plugin": "SimpleInventory", "options": {
            "host_file": str(root / "inventory/hosts.yaml"), "group_file": str(root / "inventory/groups.yaml"),
            "defaults_file": str(root / "inventory/defaults.yaml")}})
        t3 = time.perf_counter()
        n = len(inv.devices)
        sessions = sum(len(inv.device_sessions(d)) for d in inv.devices)
        print(f"synthesized {n} devices, {len(inv.links)} links, {len(inv.peers)} peers, {sessions} device "
              f"sessions in {t1 - t0:.2f} s; loaded + validated (inventory + intent) in {t2 - t1:.2f} s; "
              f"InitNornir {t3 - t2:.2f} s")

        t0 = time.perf_counter()
        intents = {d: device_intent(intent, d) for d in inv.devices}
        t_intent = time.perf_counter() - t0
        print(f"device_intent for all devices: {t_intent:.2f} s (first run)\n")

        rows = []
        for label, use in (("intent + render", None), ("render only", intents)):
            t_tonle, a = timed(partial(tonle_render, intent, use), args.runs)
            t_nornir, b = timed(partial(nornir_render, nr, intent, use), args.runs)
            rows.append((label, t_tonle, t_nornir))
            assert len(a) == len(b)
        n_eos = sum(1 for d in inv.devices.values() if d.platform == "eos")
        t_eos, _ = timed(lambda: {d: render_intent(intents[d], "eos") for d, dv in inv.devices.items()
                                  if dv.platform == "eos"}, 1)
        n = n - n_eos
        same = sum(a[h] == b[h] for h in a)
        print(f"{'':18}{'Tonlé (1 env)':>22}{'Nornir (env per host)':>30}{'ratio':>8}")
        for label, t_t, t_n in rows:
            print(f"{label:18}{t_t:8.2f} s {n / t_t:7.0f} cfg/s   {t_n:10.2f} s {n / t_n:7.0f} cfg/s"
                  f"   {t_n / t_t:6.1f}x")
        print(f"{'EOS (pyavd)':18}{t_eos:8.2f} s {n_eos / t_eos:7.0f} cfg/s   (no template to compare: "
              f"{n_eos} EOS configs by Arista's generator, schema-validated)")
        print(f"\n(median of {args.runs} runs; {same}/{n} configs byte-identical between the two: nornir_jinja2's "
              "Environment has no lstrip_blocks, so indented block tags leave their indentation)")
        total = rows[0][1]
        print(f"goal: Tonlé under 2 s for {n} template configs (intent + render): "
              f"{'met' if total < 2 else 'NOT met'} ({total:.2f} s); with EOS through pyavd: {total + t_eos:.2f} s "
              f"for {n + n_eos}")

        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            tonle_render(intent, None)
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
            print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
