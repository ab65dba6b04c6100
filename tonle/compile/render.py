"""Render intended configurations: one vendor-neutral DeviceIntent, one template tree per platform."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import jinja2

from tonle.compile import eos_avd
from tonle.compile.intent import DeviceIntent, Intent, Override, device_intent
from tonle.compile.ios_syntax import not_first_as
from tonle.errors import BadInput
from tonle.resources import templates_dir
from tonle.source.inventory import Inventory, Peer

TEMPLATES_DIR = templates_dir()
PLATFORMS = ("frr", "ios", "eos", "junos")
# Where a simulated carrier sends blackholed traffic: a next hop on its discard port (tonle.lab.builder makes it).
RTBH_DISCARD_V4 = "198.51.100.255"
RTBH_DISCARD_V6 = "2001:db8:ffff::1"


def tc_rate(mbps: float) -> str:
    """A rate in Mbit/s as tc writes it (integral kbit, so fractional rates survive)."""
    return f"{round(mbps * 1000)}kbit"


# FRR prints well-known communities (RFC 1997, 7999, 8326) by name.
FRR_COMMUNITY_NAMES = {"65535:0": "graceful-shutdown", "65535:666": "blackhole", "65535:65281": "no-export",
                       "65535:65282": "no-advertise", "65535:65283": "local-AS", "65535:1": "accept-own",
                       "65535:7": "no-llgr", "65535:6": "llgr-stale", "65535:65284": "no-peer"}


def frr_community(value: str) -> str:
    """A community as FRR writes it in its running configuration."""
    return FRR_COMMUNITY_NAMES.get(value, value)


class UnsafeValue(BadInput):
    """A value would put a control character (a newline: a new config line) into a device config."""


# Any C0/C1 control character, and Unicode's line and paragraph separators: each could end a config line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class _Block(str):
    """The output of a template macro (`{{ m.x(...) | block }}`): several lines on purpose, each value in
    it already checked when the macro rendered it."""

    __slots__ = ()


def _one_line(value: object) -> object:
    """Jinja2 finalize: every `{{ value }}` is checked, so a field that escaped validation cannot inject."""
    if value is not None and not isinstance(value, _Block) and _CONTROL.search(str(value)):
        raise UnsafeValue("a value rendered into a device config holds a control character (newline, tab…)")
    return value


@cache
def environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """One Jinja2 environment per templates directory (templates compile once)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - device configuration, not HTML
        finalize=_one_line,
    )
    env.filters["tc_rate"] = tc_rate
    env.filters["frr_community"] = frr_community
    env.filters["block"] = _Block
    env.filters["ios_not_first_as"] = not_first_as
    return env


def template_name(platform: str) -> str:
    """The entry template of a platform."""
    if platform not in PLATFORMS:
        raise ValueError(f"no templates for platform {platform!r} (have {', '.join(PLATFORMS)})")
    return f"{platform}/device.j2"


def render_intent(di: DeviceIntent, platform: str) -> str:
    """Render a compiled device intent for a platform: Arista's generator (pyavd) for EOS, else its templates.

    Every string of the intent is checked first (pyavd renders with its own templates, outside our
    finalize hook), and every value our templates render is checked again by the environment.
    """
    try:
        _refuse_control_characters(di)
        if platform == "eos":
            return eos_avd.render(di)
        return environment().get_template(template_name(platform)).render(d=di)
    except UnsafeValue as exc:
        raise UnsafeValue(f"{di.device.name} ({platform}): {exc}; refused, nothing rendered") from None


def _refuse_control_characters(value: object, depth: int = 0) -> None:
    """Walk the intent (dataclasses, sequences, mappings) and refuse any string with a control character."""
    if isinstance(value, str):
        _one_line(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type) and depth < 12:
        for f in dataclasses.fields(value):
            _refuse_control_characters(getattr(value, f.name), depth + 1)
    elif isinstance(value, list | tuple | set | frozenset) and depth < 12:
        for item in value:
            _refuse_control_characters(item, depth + 1)
    elif isinstance(value, dict) and depth < 12:
        for k, v in value.items():
            _refuse_control_characters(k, depth + 1)
            _refuse_control_characters(v, depth + 1)


def render_device(intent: Intent, device: str, platform: str | None = None,
                  overrides: Iterable[Override] = ()) -> str:
    """The intended configuration of a device (its own platform unless `platform` says otherwise)."""
    di = device_intent(intent, device, overrides)
    return render_intent(di, platform or di.device.platform)


def lab_external_config(inv: Inventory, peer: Peer, md5_keys: dict[str, str]) -> str:
    """The FRR configuration of a simulated external network in the lab."""
    first_v4 = next((p.ipv4.ip for p in inv.ports[peer.name] if p.ipv4), None)
    return environment().get_template("lab/external.conf.j2").render(
        peer=peer, sessions=inv.device_sessions(peer.name), router_id=first_v4 or "198.18.255.255",
        md5_key=md5_keys.get(peer.md5_key_env or "", ""),
        rtbh_discard_v4=RTBH_DISCARD_V4, rtbh_discard_v6=RTBH_DISCARD_V6,
    )
