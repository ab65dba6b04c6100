"""What the golden and structural tests render: every device on its own platform, plus feature cases.

A case is one compiled `DeviceIntent` rendered for one platform. Reference devices are rendered on their
own platform (with their own interface names) and as their FRR lab twin; feature cases are built on a
device *of that platform* (ios: pnh-iig-1, eos: poi-iig-1, junos: kos-iig-1; frr: the lab twin of
pnh-iig-1) and exercise what the reference inventory lacks there:

* ``disconnect``: an emergency disconnect (SessionOverride shutdown + message) of the device's IPv4
  transit session, a graceful shutdown (GRACEFUL_SHUTDOWN on export) of the IPv6 one, a backbone port
  shut (InterfaceOverride) and a remote-triggered blackhole.
* ``peer-policy``: a transit peer carrying every per-peer policy knob (accepted prefixes, several
  AS-path regexes in the forms the Junos translation supports, local preference, communities on import;
  prepend and communities on export; BFD), and two QoS attachments with different policies (fractional
  shaped rate, a priority class whose ceiling exceeds its rate, a default class with marks).
* ``route-reflector`` (eos, junos): the device reflects to the PNH routers (made clients).
* ``route-server`` (ios, junos): pnh-dix-rs1 on that platform, its port renamed for it. EOS has no
  transparent route-server mode: rendering one is refused (tests/golden/test_structure.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tonle.compile.intent import (
    BlackholeOverride,
    DeviceIntent,
    Intent,
    InterfaceOverride,
    Override,
    SessionOverride,
    device_intent,
    load_intent,
    with_md5_keys,
)
from tonle.compile.render import PLATFORMS
from tonle.source.inventory import load_from_nornir_config

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
# The MD5 keys are read from the environment; goldens use fixed, obviously fake ones.
MD5_ENV = {"TONLE_MD5_GLOBAL_TRANSIT": "golden-md5-key"}


@dataclass(frozen=True)
class Case:
    name: str  # device name or feature case name
    platform: str
    intent: DeviceIntent

    def golden(self) -> Path:
        return GOLDEN / self.platform / f"{self.name}.conf"


@dataclass(frozen=True)
class Base:
    """The device a platform's feature cases are built on, and what they touch."""

    device: str
    transit_peer: str
    transit_link: str
    transit_v4: str
    transit_v6: str
    backbone_link: str
    second_link: str  # the second QoS attachment


BASES = {
    "ios": Base("pnh-iig-1", "global-transit", "pnh1-gtr", "198.51.100.9", "2001:db8:0:2::9", "pnh1-bvt", "dix-pnh"),
    "eos": Base("poi-iig-1", "th-carrier-b", "poi-thb", "198.51.100.13", "2001:db8:0:2::d", "pnh1-poi", "pnh2-poi"),
    "junos": Base("kos-iig-1", "sg-carrier", "kos-sgc", "198.51.100.1", "2001:db8:0:2::1", "pnh1-kos", "dix-kos"),
}
BASES["frr"] = BASES["ios"]
# The port a route server's DIX LAN interface gets on each platform.
RS_PORT = {"ios": "HundredGigE0/0/0", "junos": "et-0/0/9", "eos": "Ethernet9"}


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _load(edit: Callable[[Path], None] | None = None) -> Intent:
    """The reference inventory + intent, optionally edited in a private copy."""
    if edit is None:
        return with_md5_keys(load_intent(load_from_nornir_config(REPO / "nornir.yaml")), MD5_ENV)
    with tempfile.TemporaryDirectory(prefix="tonle-golden-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "inventory", root / "inventory")
        shutil.copy(REPO / "nornir.yaml", root / "nornir.yaml")
        edit(root)
        return with_md5_keys(load_intent(load_from_nornir_config(root / "nornir.yaml")), MD5_ENV)


def _edit_yaml(root: Path, name: str, change: Callable[[Any], None]) -> None:
    path = root / "inventory" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _peer_policy(b: Base) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        def peers(data: dict[str, Any]) -> None:
            p = next(p for p in data["peers"] if p["name"] == b.transit_peer)
            asn = p["asn"]
            p["import"] = {
                "prefixes": ["198.19.7.0/24", "198.19.8.0/24", "2001:db8:f005::/48"],
                "as_path": [f"^{asn}(_[0-9]+)*$", f"^{asn}_65541$", "_65542_"],
                "local_pref": 120,
                "communities": ["64500:901", "64500:902"],
            }
            p["export"] = {"prepend": 2, "communities": ["64500:777"]}
            p["bfd"] = True
            p["md5_key_env"] = "TONLE_MD5_GLOBAL_TRANSIT"

        def qos(data: dict[str, Any]) -> None:
            data["classes"]["bulk"] = {"dscp": ["af11", "af12"]}
            data["classes"]["scavenger"] = {"dscp": ["cs1"], "default": True}
            data["policies"]["dix-egress"] = {
                "description": "towards the DIX fabric",
                "classes": [
                    {"class": "voice", "priority": True, "guaranteed_percent": 10, "max_percent": 15},
                    {"class": "bulk", "guaranteed_percent": 20, "max_percent": 50},
                    {"class": "scavenger", "guaranteed_percent": 5},
                ],
            }
            data["attachments"] = [a for a in data["attachments"] if a["device"] != b.device] + [
                {"device": b.device, "link": b.transit_link, "policy": "iig-egress", "shape_mbps": 20000},
                {"device": b.device, "link": b.second_link, "policy": "dix-egress", "shape_mbps": 10000.5},
            ]

        _edit_yaml(root, "peers.yaml", peers)
        _edit_yaml(root, "qos.yaml", qos)
    return edit


def _route_reflector(b: Base) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        def hosts(data: dict[str, Any]) -> None:
            for name, h in data.items():
                h["data"]["route_reflector"] = name == b.device
        _edit_yaml(root, "hosts.yaml", hosts)
    return edit


def _route_server(platform: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        def hosts(data: dict[str, Any]) -> None:
            data["pnh-dix-rs1"]["groups"] = [g for g in data["pnh-dix-rs1"]["groups"]
                                             if not g.startswith("platform-")] + [f"platform-{platform}"]

        def links(data: dict[str, Any]) -> None:
            for lk in data["links"]:
                for ep in lk["endpoints"]:
                    if ep["node"] == "pnh-dix-rs1":
                        ep["interface"] = RS_PORT[platform]
        _edit_yaml(root, "hosts.yaml", hosts)
        _edit_yaml(root, "links.yaml", links)
    return edit


def _disconnect(b: Base) -> list[Override]:
    return [
        SessionOverride(b.device, b.transit_v4, shutdown=True,
                        message="emergency disconnect: cable fault, ticket 4711"),
        SessionOverride(b.device, b.transit_v6, graceful=True),
        InterfaceOverride(b.device, b.backbone_link, message="link carrying an attack, ticket 4712"),
        BlackholeOverride("198.18.16.1/32", message="DDoS victim, ticket 4713"),
    ]


@cache
def cases() -> tuple[Case, ...]:
    """Every case, compiled once per test session."""
    with _env(MD5_ENV):
        ref = _load()
        out = []
        for name, dev in ref.inv.devices.items():
            di = device_intent(ref, name)
            out.append(Case(name, dev.platform, di))
            if dev.platform != "frr":
                out.append(Case(name, "frr", di))  # the lab twin
        for platform in PLATFORMS:
            b = BASES[platform]
            out.append(Case("disconnect", platform, device_intent(ref, b.device, _disconnect(b))))
            out.append(Case("peer-policy", platform, device_intent(_load(_peer_policy(b)), b.device)))
        for platform in ("eos", "junos"):
            b = BASES[platform]
            out.append(Case("route-reflector", platform, device_intent(_load(_route_reflector(b)), b.device)))
        for platform in ("ios", "junos", "eos"):
            rs = _load(_route_server(platform))
            out.append(Case("route-server", platform, device_intent(rs, "pnh-dix-rs1")))
    return tuple(out)


# Cases a platform refuses to render (the structural tests check the refusal).
REFUSED = {("eos", "route-server")}


def case(platform: str, name: str) -> Case:
    return next(c for c in cases() if c.platform == platform and c.name == name)


def params(*platforms: str) -> list[tuple[str, str]]:
    """(platform, case name) of every renderable case on these platforms (all when none given)."""
    return [(c.platform, c.name) for c in cases() if (not platforms or c.platform in platforms)
            and (c.platform, c.name) not in REFUSED]


PARAMS = params()
