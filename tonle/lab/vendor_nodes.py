"""Vendor emulators for `tonle lab export --vendor`: one containerlab kind per platform, and its startup config.

Each vendor device runs its vendor's containerlab kind with the same owned rendering as `tonle render`
(TCP-MD5 keys included where a session needs one), plus the minimum the emulator needs to boot and be
reached. Sources (containerlab's documentation, docs/manual/kinds/ in srl-labs/containerlab):

* eos → `arista_ceos` (ceos.md): image imported by the user (`docker import cEOS64-lab-….tar.xz ceos:4.32.0F`);
  Linux `ethN` is `EthernetN`; a startup-config *replaces* containerlab's default one and is read as a Go
  template with the node's management variables, so the minimum is the default template's management part
  (hostname, multi-agent routing, Management0 and its route, eAPI). containerlab's default also carries a
  well-known `admin`/`admin` login; the export writes no login at all (no secret in an export): the user
  enters with `docker exec -it NODE Cli` and adds their own account.
* junos → `juniper_vjunosrouter` (vr-vjunosrouter.md; vJunos-router is the single-VM vMX for labs): image built
  with vrnetlab; Linux `eth1` is `ge-0/0/0`; the startup-config is applied on top of the bootstrap config
  (users, management, SSH/NETCONF), so partial snippets are enough: the minimum is the host name.
* ios → `cisco_c8000v` (vr-c8000v.md; the CSR1000v's successor): image built with vrnetlab
  (`vrnetlab/vr-c8000v:17.11.01a` in the docs); Linux `eth1` is `GigabitEthernet2` (Gi1 is management); data
  ports boot administratively down, so the minimum is the hostname and `no shutdown` on the ports Tonlé uses.

Production port names (HundredGigE0/1/0, et-0/0/0) do not exist on an emulator: each port is renamed to the
emulator's port of the same position (its description keeps the production name).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tonle.compile.intent import DeviceIntent
from tonle.compile.render import render_intent
from tonle.errors import BadInput


@dataclass(frozen=True)
class VendorKind:
    kind: str  # containerlab kind (its schema's enum)
    image: str  # the image name containerlab's documentation uses; the user builds or imports it
    startup_name: str  # file name of the startup config in the export


KINDS: dict[str, VendorKind] = {
    "eos": VendorKind("arista_ceos", "ceos:4.32.0F", "startup-config.cfg"),
    "junos": VendorKind("juniper_vjunosrouter", "vrnetlab/vr-vjunosrouter:23.2R1.15", "startup-config.cfg"),
    "ios": VendorKind("cisco_c8000v", "vrnetlab/vr-c8000v:17.11.01a", "startup-config.cfg"),
}

# An image reference as `docker` accepts it (repository path, optional tag); `--image PLATFORM=REF`.
IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/-]{0,200}(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?")


class ExportError(BadInput):
    """The export cannot be written as asked (a bad --image, a rendering containerlab would misread)."""


def parse_images(values: list[str]) -> dict[str, str]:
    """`--image PLATFORM=REF` options (ios, eos, junos) into {platform: image}; one line naming the bad one."""
    images: dict[str, str] = {}
    for value in values:
        platform, sep, ref = value.partition("=")
        if not sep or platform not in KINDS:
            raise ExportError(f"--image: expected PLATFORM=IMAGE with PLATFORM one of {', '.join(KINDS)}")
        if not IMAGE_REF.fullmatch(ref):
            raise ExportError(f"--image {platform}: not an image reference (lower-case repository[:tag])")
        images[platform] = ref
    return images


def emulator_port(platform: str, position: int) -> str:
    """The emulator's name of the data port behind Linux `eth<position>` (position counts from 1)."""
    if platform == "eos":
        return f"Ethernet{position}"
    if platform == "junos":
        return f"ge-0/0/{position - 1}"
    if platform == "ios":
        return f"GigabitEthernet{position + 1}"
    raise ValueError(f"no vendor emulator for platform {platform!r}")


def on_emulator(di: DeviceIntent) -> DeviceIntent:
    """The device's intent with each port renamed to the emulator's port of the same position."""
    platform = di.device.platform
    # The lab twin's Linux name (`eth<N>`, N its position on the device) is the export's link end too.
    ports = tuple(dataclasses.replace(i, name=emulator_port(platform, int(i.lab_name.removeprefix("eth"))))
                  for i in di.interfaces)
    return dataclasses.replace(di, interfaces=ports)


# containerlab's own default cEOS config (nodes/ceos/ceos.cfg), management part: containerlab fills the
# {{ .X }} fields when it copies the startup config (it reads it as a Go template).
_CEOS_MINIMUM = """\
! containerlab minimum (its default cEOS config, without its admin/admin login): management, eAPI
hostname {hostname}
!
service routing protocols model multi-agent
!
{{{{ if .MgmtIPv4Gateway }}}}ip route 0.0.0.0/0 {{{{ .MgmtIPv4Gateway }}}}{{{{end}}}}
!
interface {{{{ .MgmtIntf }}}}
{{{{ if .MgmtIPv4Address }}}}ip address {{{{ .MgmtIPv4Address }}}}/{{{{.MgmtIPv4PrefixLength}}}}{{{{end}}}}
!
management api http-commands
   no shutdown
!
! Tonlé's owned sections (`tonle render`), ports renamed to the emulator's
"""


def startup_config(di: DeviceIntent) -> str:
    """The emulator's startup config: the owned rendering of the device on its emulator, plus the minimum."""
    platform = di.device.platform
    emu = on_emulator(di)
    owned = render_intent(emu, platform)
    if "{{" in owned or "}}" in owned:
        # containerlab reads a cEOS startup config as a Go template: a value holding braces would be executed.
        raise ExportError(f"{di.device.name}: the rendering holds '{{{{' or '}}}}'; containerlab would read it "
                          "as a template; refused")
    if platform == "eos":
        return _CEOS_MINIMUM.format(hostname=di.hostname) + owned
    if platform == "junos":
        # Merged over vrnetlab's bootstrap (users, management, SSH, NETCONF): the host name is all that is missing.
        return f"system {{\n    host-name {di.hostname};\n}}\n" + owned
    if platform == "ios":
        # c8000v data ports boot administratively down; a port the intent shuts stays shut.
        # First: the rendering ends with `end`, after which IOS reads nothing.
        up = "".join(f"interface {i.name}\n no shutdown\n!\n" for i in emu.interfaces if not i.shutdown)
        return (f"! containerlab minimum: host name, the data ports up\nhostname {di.hostname}\n!\n{up}"
                "! Tonlé's owned sections (`tonle render`), ports renamed to the emulator's\n" + owned)
    raise ValueError(f"no vendor emulator for platform {platform!r}")
