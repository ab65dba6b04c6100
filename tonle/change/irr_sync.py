"""`tonle irr sync`: each domestic ISP's import filter from its AS-SET (bgpq4 against an IRR server), stored.

Nothing is pushed here: the stored filters change what `plan` renders, and reach the devices through
`apply` like any other intent change. Any problem (bgpq4 missing or failing, an answer off the grammar,
an AS-SET with no ASN) fails the whole sync with one line and stores nothing: the last good filters stay.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tonle.compile.intent import Intent, Irr, load_intent
from tonle.compile.irr import (
    IrrData,
    IrrDataError,
    IrrEntry,
    IrrFilter,
    IrrServer,
    aggregate,
    parse_asns,
    parse_prefixes,
)
from tonle.errors import BadInput, Unavailable
from tonle.source.grammar import shown
from tonle.source.inventory import load_from_nornir_config
from tonle.state.audit import AuditLog, now_iso
from tonle.state.db import StateDB
from tonle.state.irr import irr_saved, latest_irr

BGPQ4 = "bgpq4"  # the Debian package of the same name (tonle/targets/host-requirements.txt)
_LIST = "NN"  # the name bgpq4 gives the one list of its answer (-l); never shown to a device
TIMEOUT = 120  # seconds for one bgpq4 query (a big AS-SET on a slow server takes a while)

# bgpq4's arguments -> its standard output; raises Unavailable. Replaced in tests only by the real program
# run differently (never a stub): the default runs it as a subprocess.
Runner = Callable[[list[str]], str]


class IrrSyncError(BadInput):
    """The sync cannot be made (no IRR server configured, no ISP with an AS-SET); one line."""


@dataclass(frozen=True)
class SyncResult:
    data: IrrData
    previous: IrrData | None

    def text(self) -> str:
        """What a NOC engineer reads: per ISP, prefixes and origins, and what changed since the last sync."""
        before = self.previous.by_peer() if self.previous else {}
        out = [f"irr sync from {self.data.source} at {self.data.synced_at}: {len(self.data.filters)} ISP(s)"]
        for f in self.data.filters:
            old = before.get(f.peer)
            v4, v6 = len(f.afi(4)), len(f.afi(6))
            line = f"  {f.peer} {f.as_set}: {v4} IPv4 + {v6} IPv6 entries, {len(f.origins)} origin ASN(s)"
            if old is None:
                line += " (new)"
            else:
                added = sorted(set(f.entries) - set(old.entries))
                gone = sorted(set(old.entries) - set(f.entries))
                if added or gone or set(f.origins) != set(old.origins):
                    line += f" (+{len(added)} -{len(gone)} entries"
                    line += "".join(f"; +{e.prefix}" for e in added[:5]) + "".join(f"; -{e.prefix}" for e in gone[:5])
                    line += ")"
                else:
                    line += " (unchanged)"
            out.append(line)
        out.append("nothing is pushed: `tonle plan` shows what the devices get, `tonle apply` pushes it")
        return "\n".join(out)


def run_bgpq4(args: list[str]) -> str:
    """Run bgpq4 (no shell; every argument checked by its grammar before) and return its output."""
    try:
        proc = subprocess.run(["bgpq4", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise Unavailable(f"{BGPQ4} is not installed (Debian package bgpq4; ./dev setup installs it)") from None
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{BGPQ4} did not answer within {TIMEOUT} s (IRR server unreachable or slow)") from None
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if ln.strip()), "no message")
        raise Unavailable(f"{BGPQ4} failed (exit {proc.returncode}): {shown(first, 120)}")
    return proc.stdout


def server_of(intent: Intent, host: str | None, port: int | None, sources: list[str] | None) -> IrrServer:
    """The IRR server: policy.yaml `irr`, each part replaced by what the command line gives (checked alike)."""
    pol = intent.policy.irr
    if pol is None and host is None:
        raise IrrSyncError("no IRR server: set policy.yaml irr {host, port, sources} or give --server HOST:PORT")
    raw = {"host": host if host is not None else (pol.host if pol else None),
           "port": port if port is not None else (pol.port if pol else 43),
           "sources": sources if sources is not None else (list(pol.sources) if pol else None),
           "private_asns": pol.private_asns if pol else False}
    if raw["sources"] is None:
        raise IrrSyncError("no IRR sources: set policy.yaml irr.sources or give --sources RIPE,RADB")
    try:
        irr = Irr.model_validate(raw)
    except ValueError as e:
        first = str(e).splitlines()
        raise IrrSyncError(f"IRR server: {' '.join(ln.strip() for ln in first[1:3])}") from None
    return IrrServer(irr.host, irr.port, tuple(irr.sources), irr.private_asns)


def build_filter(intent: Intent, peer_name: str, server: IrrServer, run: Runner = run_bgpq4) -> IrrFilter:
    """One ISP's filter: its AS-SET's prefixes per family (aggregated by bgpq4 -A, then by us) and ASNs."""
    peer = intent.inv.peers[peer_name]
    as_set = peer.as_set
    if as_set is None:
        raise IrrSyncError(f"peers.yaml {peer_name}: no as_set")
    common = ["-h", f"{server.host}:{server.port}", "-S", ",".join(server.sources), "-j", "-l", _LIST]
    if server.private_asns:
        common.append("-p")  # bgpq4 drops private and documentation ASNs otherwise
    pol = intent.policy
    what = f"{peer_name} {as_set}"
    entries: list[IrrEntry] = []
    for afi, max_len, bogons in ((4, pol.max_length.ipv4, pol.bogons.ipv4), (6, pol.max_length.ipv6,
                                                                                 pol.bogons.ipv6)):
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(bogons)
        out = run([*common, f"-{afi}", "-A", "-m", str(max_len), as_set])
        entries += parse_prefixes(out, _LIST, afi, max_len=max_len, bogons=nets, what=f"{what} IPv{afi}")
    origins = parse_asns(run([*common, "-t", as_set]), _LIST, what=f"{what} ASNs",
                         allow_private=server.private_asns)
    if not origins:
        raise IrrDataError(f"{what}: the IRR has no member ASN for this AS-SET (unknown or empty); nothing stored")
    return IrrFilter(peer_name, as_set, tuple(sorted(set(origins))), aggregate(entries))


def sync(config_file: Path, state_dir: Path, *, operator: str, host: str | None = None, port: int | None = None,
         sources: list[str] | None = None, run: Runner = run_bgpq4) -> SyncResult:
    """Build every domestic ISP's filter from its AS-SET and store them (with time and source) as one sync.

    Raises:
        InventoryError: invalid inventory or intent.
        IrrSyncError, IrrDataError: no server / no AS-SET / an answer off the grammar (exit 2).
        Unavailable: bgpq4 missing, failing or timing out (exit 2).
    """
    intent = load_intent(load_from_nornir_config(config_file))
    server = server_of(intent, host, port, sources)
    isps = sorted(n for n, p in intent.inv.peers.items() if p.type == "isp" and p.as_set)
    if not isps:
        raise IrrSyncError("no domestic ISP in peers.yaml has an as_set: nothing to build from the IRR")
    data = IrrData(now_iso(), str(server), tuple(build_filter(intent, n, server, run) for n in isps))
    db = StateDB(state_dir)
    previous = latest_irr(db)
    AuditLog(db, actor=operator).append("irr-sync", str(server), {
        "isps": {f.peer: {"as_set": f.as_set, "ipv4": len(f.afi(4)), "ipv6": len(f.afi(6)),
                          "origins": len(f.origins)} for f in data.filters}}, change=irr_saved(data))
    return SyncResult(data, previous)
