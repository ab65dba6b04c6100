"""What the golden and structural tests render: every reference device, plus feature cases.

A case is one compiled `DeviceIntent` rendered for every platform. Reference devices are named after
the device; feature cases exercise what the reference inventory lacks:

* ``disconnect``: pnh-iig-1 with an emergency disconnect (SessionOverride shutdown + message) of its
  IPv4 transit session and a graceful shutdown (GRACEFUL_SHUTDOWN on export) of the IPv6 one.
* ``peer-policy``: pnh-iig-1 with a transit peer carrying every per-peer policy knob (accepted prefixes,
  several AS-path regexes in the forms the Junos translation supports, local preference, communities on
  import; prepend and communities on export; BFD), and two QoS attachments with different policies
  (fractional shaped rate, a priority class whose ceiling exceeds its rate, a default class with marks).
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
    SessionOverride,
    device_intent,
    load_intent,
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
    intent: DeviceIntent

    def golden(self, platform: str) -> Path:
        return GOLDEN / platform / f"{self.name}.conf"


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
        return load_intent(load_from_nornir_config(REPO / "nornir.yaml"))
    with tempfile.TemporaryDirectory(prefix="tonle-golden-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "inventory", root / "inventory")
        shutil.copy(REPO / "nornir.yaml", root / "nornir.yaml")
        edit(root)
        return load_intent(load_from_nornir_config(root / "nornir.yaml"))


def _edit_yaml(root: Path, name: str, change: Callable[[Any], None]) -> None:
    path = root / "inventory" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _peer_policy(root: Path) -> None:
    def peers(data: dict[str, Any]) -> None:
        gt = next(p for p in data["peers"] if p["name"] == "global-transit")
        gt["import"] = {
            "prefixes": ["198.19.7.0/24", "198.19.8.0/24", "2001:db8:f005::/48"],
            "as_path": ["^65540(_[0-9]+)*$", "^65540_65541$", "_65542_"],
            "local_pref": 120,
            "communities": ["64500:901", "64500:902"],
        }
        gt["export"] = {"prepend": 2, "communities": ["64500:777"]}
        gt["bfd"] = True

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
        data["attachments"] += [
            {"device": "pnh-iig-1", "link": "pnh1-gtr", "policy": "iig-egress", "shape_mbps": 100000},
            {"device": "pnh-iig-1", "link": "dix-pnh", "policy": "dix-egress", "shape_mbps": 10000.5},
        ]

    _edit_yaml(root, "peers.yaml", peers)
    _edit_yaml(root, "qos.yaml", qos)


@cache
def cases() -> tuple[Case, ...]:
    """Every case, compiled once per test session."""
    with _env(MD5_ENV):
        ref = _load()
        out = [Case(name, device_intent(ref, name)) for name in ref.inv.devices]
        out.append(Case("disconnect", device_intent(ref, "pnh-iig-1", [
            SessionOverride("pnh-iig-1", "198.51.100.9", shutdown=True,
                            message="emergency disconnect: cable fault, ticket 4711"),
            SessionOverride("pnh-iig-1", "2001:db8:0:2::9", graceful=True),
            InterfaceOverride("pnh-iig-1", "pnh1-bvt", message="link carrying an attack, ticket 4712"),
            BlackholeOverride("198.18.16.1/32", message="DDoS victim, ticket 4713"),
        ])))
        out.append(Case("peer-policy", device_intent(_load(_peer_policy), "pnh-iig-1")))
    return tuple(out)


def case(name: str) -> Case:
    return next(c for c in cases() if c.name == name)


CASE_NAMES = [*(n for n in yaml.safe_load((REPO / "inventory" / "hosts.yaml").read_text(encoding="utf-8"))),
              "disconnect", "peer-policy"]
PARAMS = [(p, n) for p in PLATFORMS for n in CASE_NAMES]
