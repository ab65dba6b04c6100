"""What one device says now, for the console's device page and GET /api/v1/devices/{name}/sessions: its BGP
sessions (state, prefixes received / accepted, uptime), its QoS state (the policy in place per interface and
the drops per class) and the difference between its intended and running configuration on the part Tonlé
owns (the view of plan and drift: `tonle.compile.owned` through `tonle.drift.audit.compare`).

* Read on the service's warm session to the device when it keeps one (`tonle.targets.pool`, lent for the
  read only), else on a fresh connection closed at once. Read-only: getters and show commands.
* Time-bounded: a page waits at most `READ_TIMEOUT` seconds; a device that does not answer in time is
  "unreachable since" the first read that failed, and its read keeps going in the background (one at a time
  per device, so a dead device never piles up threads).
* Hostile: every field of the answer is checked for its type and grammar here; what does not fit is left out
  (counted as ignored), and text reaches the page only through Jinja's autoescape, redacted of the keys.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonle.redact import exception_text, redact
from tonle.source.grammar import device_address as _address
from tonle.source.grammar import device_counter as _count
from tonle.state.audit import now_iso

READ_TIMEOUT = 10.0  # seconds a page waits for a device
MAX_READERS = 4  # devices read at once (a wall of device pages must not open a connection each)
_IFNAME = r"[A-Za-z][A-Za-z0-9/.:_-]{0,63}"
_CLASSID = r"[0-9a-f]{1,4}:[0-9a-f]{0,4}"
_log = logging.getLogger(__name__)


# ---- the device's answer, checked field by field (pure) -----------------------------------------------------



def bgp_peers(raw: Any) -> tuple[dict[str, dict[str, Any]], int]:
    """NAPALM get_bgp_neighbors -> {peer address: state}, and how many entries did not fit the model."""
    out: dict[str, dict[str, Any]] = {}
    ignored = 0
    for vrf in raw.values() if isinstance(raw, dict) else []:
        peers = vrf.get("peers") if isinstance(vrf, dict) else None
        for ip, peer in peers.items() if isinstance(peers, dict) else []:
            address = _address(ip)
            if address is None or not isinstance(peer, dict):
                ignored += 1
                continue
            families = peer.get("address_family")
            rows = [f for f in families.values() if isinstance(f, dict)] if isinstance(families, dict) else []
            received = [c for f in rows if (c := _count(f.get("received_prefixes"))) is not None]
            accepted = [c for f in rows if (c := _count(f.get("accepted_prefixes"))) is not None]
            up, enabled = peer.get("is_up") is True, peer.get("is_enabled") is True
            out[address] = {"up": up, "state": "Established" if up else "admin down" if not enabled else "down",
                            "remote_as": _count(peer.get("remote_as")),
                            "received": sum(received) if received else None,
                            "accepted": sum(accepted) if accepted else None,
                            "uptime_seconds": _count(peer.get("uptime")) if up else None}
    return out, ignored


def sessions_view(intended: list[dict[str, Any]], peers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The intended sessions with what the device says of each, then the device's sessions the intent lacks."""
    rows = []
    for s in intended:
        now = peers.get(s["peer_ip"])
        rows.append({**s, "live": now, "state_now": now["state"] if now else "not configured"})
    known = {s["peer_ip"] for s in intended}
    for ip, now in sorted(peers.items()):
        if ip not in known:
            rows.append({"peer_ip": ip, "neighbor": None, "kind": None, "link": None, "peer_asn": now["remote_as"],
                         "state": "unexpected", "dark": None, "live": now, "state_now": now["state"]})
    return rows


def tc_drops(text: str) -> list[dict[str, Any]]:
    """Drops per class from `tc -s -j class show dev IFACE` (JSON); anything else raises ValueError."""
    data = json.loads(text or "[]")
    if not isinstance(data, list):
        raise TypeError("tc class statistics: not a list")
    out = []
    for row in data:
        if not isinstance(row, dict):
            continue
        handle, stats = row.get("handle"), row.get("stats")
        drops = _count(stats.get("drops")) if isinstance(stats, dict) else None
        if isinstance(handle, str) and re.fullmatch(_CLASSID, handle) and drops is not None:
            out.append({"queue": handle, "dropped": drops})
    return out


def qos_view(want: dict[str, list[str]], have: dict[str, list[str]],
             drops: dict[str, list[dict[str, Any]] | None]) -> list[dict[str, Any]]:
    """Per interface with a policy (intended or in place): in place, differs, missing or not intended."""
    rows = []
    for iface in sorted(set(want) | set(have) | set(drops)):
        w, h = want.get(iface, []), have.get(iface, [])
        state = ("in place" if w == h else "missing" if not h else "not intended" if not w else "differs") \
            if w or h else "no policy"
        counted = drops.get(iface)
        rows.append({"interface": iface, "state": state, "intended": len(w), "running": len(h),
                     "drops": counted or [], "dropped": sum(d["dropped"] for d in counted) if counted is not None
                     else None})
    return rows


# ---- the read (I/O, in a worker thread) -----------------------------------------------------------------------

def _device_task(task: Any, interfaces: list[str]) -> Any:
    from nornir.core.task import Result  # noqa: PLC0415

    from tonle.targets.vendor_state import PLATFORMS, VendorStateError, parse_qos_drops, qos_command  # noqa: PLC0415

    conn: Any = task.host.get_connection("napalm", task.nornir.config)
    running = str(conn.get_config(retrieve="running")["running"])
    bgp = conn.get_bgp_neighbors()
    drops: dict[str, list[dict[str, Any]] | None] = {}
    platform = getattr(conn, "platform", task.host.platform)
    run_tc = getattr(conn, "_exec", None)  # napalm_frr: tc runs on the device's own exec channel
    for iface in interfaces:
        try:
            if platform == "frr" and callable(run_tc):
                status, out, _ = run_tc(f"tc -s -j class show dev {iface}")
                drops[iface] = tc_drops(out) if status == 0 else None
            elif platform in PLATFORMS:
                cmd = qos_command(platform, iface)
                drops[iface] = [{"queue": q.queue, "dropped": q.dropped_packets}
                                for q in parse_qos_drops(platform, iface, conn.cli([cmd])[cmd])]
        except (ValueError, TypeError, VendorStateError):
            drops[iface] = None  # counters the device gave in a shape we do not know: unknown, not zero
    return Result(host=task.host, result={"running": running, "bgp": bgp, "drops": drops})


def read_device(config_file: Path, state_dir: Path, name: str) -> dict[str, Any]:
    """One device's live view (see the module); raises on a device that cannot be read."""
    from napalm_frr import tc  # noqa: PLC0415
    from tonle.change.plan import secret_values  # noqa: PLC0415
    from tonle.compile import owned  # noqa: PLC0415
    from tonle.compile.intent import device_intent, load_intent, with_md5_keys  # noqa: PLC0415
    from tonle.compile.render import render_intent  # noqa: PLC0415
    from tonle.drift.audit import EXTRA, compare  # noqa: PLC0415
    from tonle.interfaces.scheduler import lab_is_up  # noqa: PLC0415
    from tonle.interfaces.web.views import sessions  # noqa: PLC0415
    from tonle.state.disconnects import active_overrides  # noqa: PLC0415
    from tonle.targets import pool  # noqa: PLC0415
    from tonle.targets.nornir import init_nornir  # noqa: PLC0415
    from tonle.targets.target import Target, md5_keys  # noqa: PLC0415

    lab = lab_is_up(config_file, state_dir)
    target = Target.of(lab)
    warm = pool.active(state_dir, lab)
    lent = warm.lend([name]) if warm is not None else None
    nr, inv = (lent.nr, lent.inv) if lent is not None else init_nornir(config_file, state_dir, lab=lab)
    intent = with_md5_keys(load_intent(inv), md5_keys(inv, state_dir, target))
    secrets = secret_values(intent)
    di = device_intent(intent, name, active_overrides(state_dir))
    platform = target.platform_override() or di.device.platform
    intended = render_intent(di, platform)
    managed = owned.managed_interfaces(platform, intended)
    want_tc = tc.by_interface(tc.split(owned.owned_text(platform, intended, managed))[1]) if platform == "frr" else {}
    interfaces = sorted(want_tc) if platform == "frr" else [i.name for i in di.qos_interfaces]
    try:
        result = nr.filter(filter_func=lambda h: h.name == name).run(task=_device_task, interfaces=interfaces)
    finally:
        if lent is not None:
            lent.release()
        else:
            nr.close_connections()
    multi = result.get(name)
    if multi is None or multi.failed:
        exc = multi[0].exception if multi is not None else None
        raise DeviceUnreadable(exception_text(exc, secrets) if exc else "not read")
    data = multi[0].result
    running = data["running"] if isinstance(data.get("running"), str) else ""
    have_tc = tc.by_interface(tc.split(owned.owned_text(platform, running, managed))[1]) if platform == "frr" else {}
    peers, ignored = bgp_peers(data.get("bgp"))
    diffs, _script = compare(intended, running, platform)
    diff = [f"{'-' if d.kind == EXTRA else '+'} {' > '.join((*d.section, d.line))}" for d in diffs]
    return {"device": name, "reachable": True, "read_at": now_iso(),
            "via": "warm session" if lent else "new connection",
            "sessions": sessions_view(sessions(state_dir, name), peers), "ignored": ignored,
            "qos": qos_view(want_tc, have_tc, {k: v for k, v in data.get("drops", {}).items()
                                               if re.fullmatch(_IFNAME, k)}),
            "diff": [redact(line, secrets, platform) for line in diff], "platform": platform}


class DeviceUnreadable(Exception):
    """The device answered with a failure (connection refused, authentication, a getter's error)."""


# ---- time-bounded reads for the web side ----------------------------------------------------------------------

@dataclass
class DeviceReader:
    """Reads devices for the console: at most one read per device in flight, each waited for `timeout`."""

    config_file: Path
    state_dir: Path
    timeout: float = READ_TIMEOUT
    read: Callable[[Path, Path, str], dict[str, Any]] = read_device
    _workers: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(MAX_READERS, "device-read"))
    _inflight: dict[str, Future[dict[str, Any]]] = field(default_factory=dict)
    _down_since: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self, name: str) -> dict[str, Any]:
        """The device's live view, or `{"reachable": False, "since": ..., "error": ...}` within `timeout`."""
        with self._lock:
            future = self._inflight.get(name)
            if future is None:
                future = self._workers.submit(self.read, self.config_file, self.state_dir, name)
                self._inflight[name] = future
        try:
            answer = future.result(self.timeout)
        except FutureTimeout:
            return self._down(name, f"no answer within {self.timeout:.0f} s")
        except DeviceUnreadable as exc:
            self._done(name, future)
            return self._down(name, str(exc)[:300])
        except Exception as exc:
            self._done(name, future)
            _log.warning("reading %s for the console failed: %s", name, exception_text(exc))
            return self._down(name, exception_text(exc)[:300] or type(exc).__name__)
        self._done(name, future)
        with self._lock:
            self._down_since.pop(name, None)
        return answer

    def _done(self, name: str, future: Future[dict[str, Any]]) -> None:
        with self._lock:
            if self._inflight.get(name) is future:
                del self._inflight[name]

    def _down(self, name: str, why: str) -> dict[str, Any]:
        with self._lock:
            since = self._down_since.setdefault(name, now_iso())
        return {"device": name, "reachable": False, "since": since, "error": why}

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
