"""Inventory validation: every bad input gives one clear line (file, host/entry, field) and exit code 2.

Each case copies the reference inventory (inventory/ + nornir.yaml) into tmp_path, breaks exactly one
thing and checks the problem line from `load_from_nornir_config` and from `tonle inventory check`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tonle.interfaces.cli import main
from tonle.source.inventory import Inventory, InventoryError, load_from_nornir_config

REPO = Path(__file__).resolve().parents[2]
SECRET = "Hunter2-sup3r-s3cret"


# ---- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the reference inventory."""
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    shutil.copy(REPO / "nornir.yaml", tmp_path / "nornir.yaml")
    return tmp_path


def edit_yaml(root: Path, name: str, change: Callable[[Any], None]) -> None:
    path = root / "inventory" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def edit_text(root: Path, name: str, change: Callable[[str], str]) -> None:
    path = root / "inventory" / name
    text = path.read_text(encoding="utf-8")
    new = change(text)
    assert new != text, "the mutation did not change the file"
    path.write_text(new, encoding="utf-8")


def link(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(lk for lk in data["links"] if lk["name"] == name)


def peer(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(pr for pr in data["peers"] if pr["name"] == name)


def problems_of(root: Path) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_from_nornir_config(root / "nornir.yaml")
    return info.value.problems


Mutation = Callable[[Path], None]


def on_host(host: str, key: str, value: Any) -> Mutation:
    """Set hosts.yaml `host`.`key` (dotted into data) to `value`."""

    def change(data: Any) -> None:
        target = data[host]
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value

    return lambda r: edit_yaml(r, "hosts.yaml", change)


def on_yaml(name: str, change: Callable[[Any], Any]) -> Mutation:
    return lambda r: edit_yaml(r, name, change)


def on_text(name: str, change: Callable[[str], str]) -> Mutation:
    return lambda r: edit_text(r, name, change)


@dataclass(frozen=True)
class Case:
    """One broken input and the line it must produce."""

    id: str
    mutate: Mutation
    file: str  # the line starts with "<file>: "
    subject: str | None  # "host pnh-iig-1", "link pnh1-kos", ... (None: a file-level problem)
    field: str | None  # "data.asn" -> the line contains "field data.asn: "
    fragments: tuple[str, ...]  # what the message must say
    count: int = 1  # exactly this many problem lines (no cascade of follow-up errors)

    def matches(self, line: str) -> bool:
        head = f"{self.file}: " + (f"{self.subject}: " if self.subject else "")
        return (line.startswith(head)
                and (self.field is None or f": field {self.field}: " in line)
                and all(f in line for f in self.fragments))


def _three_endpoints(data: Any) -> None:
    lk = link(data, "pnh1-kos")
    lk["endpoints"][0].update(ipv4="198.51.100.65/29")
    lk["endpoints"][1].update(ipv4="198.51.100.66/29")
    lk["endpoints"].append({"node": "poi-iig-1", "interface": "Ethernet9", "ipv4": "198.51.100.67/29"})
    for ep in lk["endpoints"]:
        ep.pop("ipv6", None)


def _group_cycle(data: Any) -> None:
    data["site-pnh"]["groups"] = ["role-iig-border"]
    data["role-iig-border"]["groups"] = ["site-pnh"]


H, G, D = "inventory/hosts.yaml", "inventory/groups.yaml", "inventory/defaults.yaml"
S, L, P, LAB = "inventory/sites.yaml", "inventory/links.yaml", "inventory/peers.yaml", "inventory/lab.yaml"

CASES = [
    # -- duplicates
    Case("duplicate-host-key", on_text("hosts.yaml", lambda t: t + "pnh-iig-1:\n  hostname: 198.19.254.99\n"),
         H, None, None, ("line 63", "duplicate key 'pnh-iig-1'", "first at line 5")),
    Case("duplicate-data-key", on_text("hosts.yaml", lambda t: t.replace(
        "    asn: 64501\n", "    asn: 64501\n    asn: 64509\n")),
         H, None, None, ("line ", "duplicate key 'asn'")),
    Case("duplicate-mgmt-address", on_host("pnh-iig-2", "hostname", "198.19.254.11"),
         H, "host pnh-iig-2", "hostname", ("duplicate management address 198.19.254.11", "host pnh-iig-1")),
    Case("duplicate-router-id", on_host("kos-iig-1", "data.router_id", "198.18.0.1"),
         H, "host kos-iig-1", "data.router_id", ("duplicate router id 198.18.0.1", "host pnh-iig-1")),
    Case("duplicate-link-address",
         on_yaml("links.yaml", lambda d: link(d, "pnh1-kos")["endpoints"][1].update(ipv4="203.0.113.2/31")),
         L, "link pnh1-kos", "endpoints[1].ipv4", ("duplicate address 203.0.113.2", "pnh-iig-1")),
    Case("loopback-equals-link-address", on_host("pnh-iig-2", "data.loopback_ipv4", "203.0.113.3/32"),
         H, "host pnh-iig-2", "data.loopback_ipv4", ("duplicate address 203.0.113.3", "link pnh1-kos")),
    Case("duplicate-peer-name", on_yaml("peers.yaml", lambda d: d["peers"].append(dict(peer(d, "isp-ream")))),
         P, "peer isp-ream", "name", ("duplicate peer name",)),
    Case("duplicate-link-name", on_yaml("links.yaml", lambda d: link(d, "pnh2-bvt").update(name="pnh1-bvt")),
         L, "link pnh1-bvt", "name", ("duplicate link name",)),
    # -- unknown references
    Case("unknown-site", on_host("pnh-iig-1", "data.site", "SRP"),
         H, "host pnh-iig-1", "data.site", ("unknown site 'SRP'", "PNH")),
    Case("unknown-group-on-host",
         on_host("poi-iig-1", "groups", ["site-poi", "role-iig-border", "platform-eos", "platfrom-eos"]),
         H, "host poi-iig-1", "groups", ("unknown group 'platfrom-eos'",)),
    Case("unknown-parent-group", on_yaml("groups.yaml", lambda d: d["site-pnh"].update(groups=["region-south"])),
         G, "group site-pnh", "groups", ("unknown group 'region-south'",)),
    Case("group-cycle", on_yaml("groups.yaml", _group_cycle),
         G, "group role-iig-border", "groups", ("cycle", "site-pnh")),
    Case("unknown-platform", on_host("pnh-iig-1", "platform", "nxos"),
         H, "host pnh-iig-1", "platform", ("'nxos'", "'frr'", "'junos'")),
    Case("missing-platform", on_host("kos-iig-1", "groups", ["site-kos", "role-iig-border"]),
         H, "host kos-iig-1", "platform", ("no platform set",)),
    Case("missing-site", on_host("kos-iig-1", "groups", ["role-iig-border", "platform-junos"]),
         H, "host kos-iig-1", "data.site", ("no site set",)),
    Case("unknown-role", on_host("kos-iig-1", "data.role", "core"),
         H, "host kos-iig-1", "data.role", ("'core'", "'iig-border'")),
    Case("link-to-unknown-device",
         on_yaml("links.yaml", lambda d: link(d, "pnh1-kos")["endpoints"][1].update(node="kos-iig-9")),
         L, "link pnh1-kos", "endpoints[1].node", ("unknown device or peer 'kos-iig-9'",)),
    Case("session-on-link-device-is-not-on",
         on_yaml("peers.yaml", lambda d: peer(d, "sg-carrier")["sessions"][0].update(device="poi-iig-1")),
         P, "peer sg-carrier", "sessions[0].link", ("poi-iig-1 is not an endpoint of link kos-sgc",)),
    Case("session-on-link-peer-is-not-on",
         on_yaml("peers.yaml", lambda d: peer(d, "sg-carrier")["sessions"][0].update(link="kos-hkc")),
         P, "peer sg-carrier", "sessions[0].link", ("sg-carrier is not an endpoint of link kos-hkc",)),
    Case("session-unknown-link",
         on_yaml("peers.yaml", lambda d: peer(d, "sg-carrier")["sessions"][0].update(link="kos-sgc2")),
         P, "peer sg-carrier", "sessions[0].link", ("unknown link 'kos-sgc2'",)),
    Case("session-unknown-device",
         on_yaml("peers.yaml", lambda d: peer(d, "isp-mekong")["sessions"][0].update(device="pnh-dix-rs9")),
         P, "peer isp-mekong", "sessions[0].device", ("unknown device 'pnh-dix-rs9'",)),
    # -- addresses and prefixes
    Case("malformed-ipv4", on_host("pnh-iig-1", "hostname", "198.19.254.300"),
         H, "host pnh-iig-1", "hostname", ("not a valid IPv4 address", "198.19.254.300")),
    Case("malformed-link-address",
         on_yaml("links.yaml", lambda d: link(d, "pnh1-kos")["endpoints"][0].update(ipv4="203.0.113.2/33")),
         L, "link pnh1-kos", "endpoints[0].ipv4", ("not a valid IPv4 interface", "203.0.113.2/33")),
    Case("malformed-prefix", on_yaml("peers.yaml", lambda d: peer(d, "th-carrier").update(
        announces=["198.19.4.0/33"])),
         P, "peer th-carrier", "announces[0]", ("'198.19.4.0/33' is not a valid IP prefix",)),
    Case("prefix-with-host-bits", on_yaml("peers.yaml", lambda d: peer(d, "th-carrier").update(
        announces=["198.19.4.1/24"])),
         P, "peer th-carrier", "announces[0]", ("host bits set", "198.19.4.0/24")),
    Case("ipv6-outside-documentation", on_host("bvt-iig-1", "data.loopback_ipv6", "2001:db9::5/128"),
         H, "host bvt-iig-1", "data.loopback_ipv6", ("2001:db9::5/128 is outside the documentation ranges",)),
    Case("ipv4-outside-documentation", on_host("bvt-iig-1", "data.router_id", "10.0.0.1"),
         H, "host bvt-iig-1", "data.router_id", ("10.0.0.1 is outside the documentation ranges",)),
    Case("public-prefix", on_yaml("defaults.yaml", lambda d: d["data"]["operator"].update(
        prefixes=["8.8.8.0/24"])),
         D, "defaults", "data.operator.prefixes[0]", ("8.8.8.0/24 is outside the documentation ranges",)),
    Case("endpoints-in-different-subnets",
         on_yaml("links.yaml", lambda d: link(d, "pnh1-kos")["endpoints"][1].update(ipv4="203.0.113.21/31")),
         L, "link pnh1-kos", "endpoints[1].ipv4", ("203.0.113.21/31 is not in the link's subnet 203.0.113.2/31",)),
    Case("mgmt-outside-lab-network", on_host("poi-iig-1", "hostname", "198.19.253.14"),
         H, "host poi-iig-1", "hostname", ("outside the lab management network 198.19.254.0/24",)),
    Case("mgmt-is-lab-gateway", on_host("poi-iig-1", "hostname", "198.19.254.1"),
         H, "host poi-iig-1", "hostname", ("is the lab management gateway",)),
    # -- ASNs
    Case("asn-1234", on_host("pnh-iig-1", "data.asn", 1234),
         H, "host pnh-iig-1", "data.asn", ("ASN 1234 is not a documentation or private ASN",)),
    Case("asn-just-below-4200000000", on_yaml("peers.yaml", lambda d: peer(d, "isp-bayon").update(asn=4199999999)),
         P, "peer isp-bayon", "asn", ("ASN 4199999999 is not a documentation or private ASN",)),
    Case("asn-public-15169", on_yaml("peers.yaml", lambda d: peer(d, "global-transit").update(asn=15169)),
         P, "peer global-transit", "asn", ("ASN 15169",)),
    Case("asn-not-an-integer", on_host("kos-dix-rs1", "data.asn", "AS64502"),
         H, "host kos-dix-rs1", "data.asn", ("valid integer", "AS64502")),
    Case("asn-boolean", on_host("kos-dix-rs1", "data.asn", True),
         H, "host kos-dix-rs1", "data.asn", ("valid integer",)),
    Case("peer-with-operator-asn", on_yaml("peers.yaml", lambda d: peer(d, "hk-carrier").update(asn=64500)),
         P, "peer hk-carrier", "asn", ("64500 is the operator's own ASN",)),
    Case("peer-with-route-server-asn", on_yaml("peers.yaml", lambda d: peer(d, "isp-kohkong").update(asn=64502)),
         P, "peer isp-kohkong", "asn", ("64502 is also the ASN of device kos-dix-rs1",)),
    # -- links
    Case("p2p-link-with-3-endpoints", on_yaml("links.yaml", _three_endpoints),
         L, "link pnh1-kos", "endpoints", ("a p2p link has exactly 2 endpoints, got 3", "kind: lan")),
    Case("device-endpoint-without-interface",
         on_yaml("links.yaml", lambda d: link(d, "poi-thc")["endpoints"][0].pop("interface")),
         L, "link poi-thc", "endpoints[0].interface", ("required for device poi-iig-1",)),
    Case("endpoint-without-address", on_yaml("links.yaml", lambda d: [
        link(d, "poi-thc")["endpoints"][1].pop(k) for k in ("ipv4", "ipv6")]),
         L, "link poi-thc", "endpoints[1]", ("needs ipv4 or ipv6",)),
    Case("link-with-one-endpoint", on_yaml("links.yaml", lambda d: link(d, "pnh1-kos")["endpoints"].pop()),
         L, "link pnh1-kos", "endpoints", ("at least 2",)),
    Case("interface-used-twice", on_yaml("links.yaml", lambda d: link(d, "pnh1-kos")["endpoints"][1].update(
        interface="et-0/0/1")),
         L, "link pnh2-kos", "endpoints[1].interface", ("kos-iig-1 already uses et-0/0/1",)),
    # -- strict keys and secrets
    Case("unknown-key-typo", on_yaml("hosts.yaml", lambda d: d["pnh-iig-2"].update(
        hostnme=d["pnh-iig-2"].pop("hostname"))),
         H, "host pnh-iig-2", "hostnme", ("unknown key", "did you mean 'hostname'"), count=2),  # + hostname missing
    Case("unknown-key-in-data", on_host("pnh-iig-1", "data.route_reflecter", True),
         H, "host pnh-iig-1", "data.route_reflecter", ("unknown key", "did you mean 'route_reflector'")),
    Case("unknown-key-on-link",
         on_yaml("links.yaml", lambda d: link(d, "kos-hkc").update(capacity=100000)),
         L, "link kos-hkc", "capacity", ("unknown key", "did you mean 'capacity_mbps'")),
    Case("password-on-host", on_host("pnh-iig-1", "password", SECRET),
         H, "host pnh-iig-1", "password", ("secrets do not belong in the inventory",)),
    Case("password-in-group", on_yaml("groups.yaml", lambda d: d["platform-ios"].update(password=SECRET)),
         G, "group platform-ios", "password", ("secrets do not belong in the inventory",)),
    Case("secret-in-connection-options", on_host("pnh-iig-1", "connection_options", {
        "napalm": {"extras": {"optional_args": {"secret": SECRET}}}}),
         H, "host pnh-iig-1", "connection_options", ("secrets do not belong in the inventory",)),
    # -- sites and lab
    Case("unknown-timezone", on_yaml("sites.yaml", lambda d: d["sites"]["KOS"].update(timezone="Asia/Sihanoukville")),
         S, "site KOS", "timezone", ("unknown timezone 'Asia/Sihanoukville'",)),
    Case("bad-site-code", on_yaml("sites.yaml", lambda d: d["sites"].update(srep={"name": "Siem Reap",
                                                                                  "timezone": "Asia/Phnom_Penh"})),
         S, "site srep", "(code)", ("site code 'srep' must be 3 capital letters",)),
    Case("bad-country", on_yaml("peers.yaml", lambda d: peer(d, "sg-carrier").update(country="Singapore")),
         P, "peer sg-carrier", "country", ("'Singapore'", "2 capital letters")),
    Case("lab-name-invalid", on_yaml("lab.yaml", lambda d: d.update(name="NIG-lab")),
         LAB, "lab", "name", ("lab name 'NIG-lab'",)),
    # -- file-level problems
    Case("yaml-syntax-error", on_text("links.yaml", lambda t: t.replace("- name: pnh1-kos", "- name: [pnh1-kos")),
         L, None, None, ("line 12", "YAML error")),
    Case("yaml-tab", on_text("hosts.yaml", lambda t: t.replace("  hostname: 198.19.254.13", "\thostname: x")),
         H, None, None, ("line 24", "YAML error")),
    Case("missing-links-file", lambda r: (r / "inventory" / "links.yaml").unlink(),
         L, None, None, ("file not found",)),
    Case("missing-hosts-file", lambda r: (r / "inventory" / "hosts.yaml").unlink(),
         H, None, None, ("file not found",)),
    Case("empty-hosts-file", on_text("hosts.yaml", lambda t: "# nothing yet\n"),
         H, "(top level)", None, ("no hosts defined",)),
    Case("empty-links-file", on_text("links.yaml", lambda t: ""),
         L, "(top level)", None, ("the file is empty", "'links'")),
    Case("hosts-top-level-list", on_text("hosts.yaml", lambda t: "- pnh-iig-1\n- pnh-iig-2\n"),
         H, "(top level)", None, ("expected a mapping of hosts, got a list",)),
    Case("peers-top-level-list", on_text("peers.yaml", lambda t: "- name: sg-carrier\n"),
         P, "(top level)", None, ("expected a mapping with the key 'peers', got a list",)),
    Case("host-entry-empty", on_text("hosts.yaml", lambda t: t + "pnh-iig-3:\n"),
         H, "host pnh-iig-3", "(top level)", ("expected a mapping",)),
    Case("host-name-not-a-string", on_text("hosts.yaml", lambda t: t.replace("kos-dix-rs1:", "1234:")),
         H, "host 1234", "(name)", ("must be a string",)),
]

assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line(root: Path, case: Case) -> None:
    case.mutate(root)
    problems = problems_of(root)
    assert any(case.matches(line) for line in problems), (
        f"no line like {case.file}: {case.subject}: field {case.field}: ...{case.fragments} in:\n"
        + "\n".join(problems))
    assert len(problems) == case.count, "\n".join(problems)
    for line in problems:
        assert "\n" not in line
        assert line.startswith(("inventory/", str(root))), line
        assert "Traceback" not in line
        assert SECRET not in line
        assert "lax-or-strict" not in line and "instance of" not in line, line  # pydantic internals


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_inventory_check_exits_2_with_the_lines_on_stderr(
    root: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    case.mutate(root)
    rc = main(["--config", str(root / "nornir.yaml"), "inventory", "check"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert lines == problems_of(root)
    assert any(case.matches(line) for line in lines), err
    assert SECRET not in err


def test_password_message_does_not_echo_the_value(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    on_host("kos-iig-1", "password", SECRET)(root)
    edit_yaml(root, "defaults.yaml", lambda d: d.update(password=SECRET))
    edit_yaml(root, "hosts.yaml", lambda d: d["pnh-iig-1"]["data"].update(enable_secret=SECRET))
    assert main(["--config", str(root / "nornir.yaml"), "inventory", "check"]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err
    assert err.count("secrets do not belong in the inventory") == 3, err


@pytest.mark.parametrize(("asn", "ok"), [
    (64495, False), (64496, True), (65534, True), (65535, False), (65536, True), (65551, True),
    (65552, False), (4199999999, False), (4200000000, True), (4294967294, True), (4294967295, False),
    (0, False), (-1, False),
])
def test_asn_range_edges(root: Path, asn: int, ok: bool) -> None:
    edit_yaml(root, "peers.yaml", lambda d: peer(d, "isp-ream").update(asn=asn))
    if ok:
        assert load_from_nornir_config(root / "nornir.yaml").peers["isp-ream"].asn == asn
    else:
        assert problems_of(root) == [f"inventory/peers.yaml: peer isp-ream: field asn: ASN {asn} is not a "
                                     "documentation or private ASN (64496-65534, 65536-65551, 4200000000+)"]


def test_all_problems_reported_without_cascade(root: Path) -> None:
    """Independent problems in several files are all reported; an invalid host is not reported again
    as an unknown device by every link and peer that names it."""
    on_host("pnh-iig-1", "data.asn", 1234)(root)  # pnh-iig-1 sits on 8 links and has a peer session
    on_host("kos-iig-1", "data.site", "SRP")(root)
    edit_yaml(root, "sites.yaml", lambda d: d["sites"]["POI"].update(timezone="Mars/Olympus"))
    edit_yaml(root, "links.yaml", lambda d: link(d, "bvt-vnc")["endpoints"][1].update(ipv4="198.51.100.17/31"))
    problems = problems_of(root)
    assert sorted(problems) == sorted([
        "inventory/hosts.yaml: host pnh-iig-1: field data.asn: ASN 1234 is not a documentation or private "
        "ASN (64496-65534, 65536-65551, 4200000000+)",
        "inventory/hosts.yaml: host kos-iig-1: field data.site: unknown site 'SRP' (sites.yaml has BVT, KOS, "
        "PNH, POI)",
        "inventory/sites.yaml: site POI: field timezone: unknown timezone 'Mars/Olympus'",
        "inventory/links.yaml: link bvt-vnc: field endpoints[1].ipv4: 198.51.100.17/31 is not in the link's "
        "subnet 198.51.100.6/31 (from endpoints[0])",
    ])


def test_unreadable_files_are_reported_alone(root: Path) -> None:
    (root / "inventory" / "lab.yaml").unlink()
    edit_text(root, "peers.yaml", lambda t: t.replace("    asn: 65002\n", "    asn: [65002\n"))
    on_host("pnh-iig-1", "data.asn", 1234)(root)
    problems = problems_of(root)
    assert len(problems) == 2
    assert problems[0].startswith("inventory/peers.yaml: line ")
    assert problems[1] == "inventory/lab.yaml: file not found"


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "expected a Nornir configuration mapping"),
    ("inventory:\n  plugin: SimpleInventory\n", "field inventory.options: missing"),
    ("inventory:\n  options:\n    host_file: inventory/hosts.yaml\n    group_file: inventory/groups.yaml\n",
     "field inventory.options.defaults_file: missing"),
    ("inventory:\n  plugin: NetBoxInventory2\n  options: {}\n", "field inventory.plugin: 'NetBoxInventory2'"),
    ("inventory: [\n", "line 2"),
])
def test_bad_nornir_config(root: Path, text: str, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = root / "nornir.yaml"
    config.write_text(text, encoding="utf-8")
    assert main(["--config", str(config), "inventory", "check"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{config}: ")
    assert fragment in lines[0]


def test_missing_nornir_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "nornir.yaml"
    assert main(["--config", str(config), "inventory", "check"]) == 2
    assert capsys.readouterr().err == f"{config}: file not found\n"


def test_empty_groups_file_is_allowed_but_hosts_then_name_unknown_groups(root: Path) -> None:
    """An empty groups.yaml is a valid (empty) SimpleInventory file; hosts that use groups say so."""
    edit_text(root, "groups.yaml", lambda t: "")
    problems = problems_of(root)
    assert len(problems) == 10 + 1  # every host names 3 groups: 21 problems of one kind, 10 shown and a count
    assert "inventory/hosts.yaml: host pnh-iig-1: field groups: unknown group 'site-pnh' (groups.yaml has no " \
           "groups)" in problems
    assert problems[-1] == "inventory/hosts.yaml: ... and 11 more problems like the one above (field groups)"


# ---- the reference inventory --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref() -> Inventory:
    return load_from_nornir_config(REPO / "nornir.yaml")


def test_reference_inventory_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(REPO / "nornir.yaml"), "inventory", "check"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("inventory OK: 4 sites, 7 devices, 13 external networks, 16 links, ")


def test_reference_inventory_copy_passes(root: Path) -> None:
    """The fixture's copy is valid, so every case above fails because of its one mutation."""
    inv = load_from_nornir_config(root / "nornir.yaml")
    assert len(inv.devices) == 7


def test_reference_counts(ref: Inventory) -> None:
    assert sorted(ref.sites) == ["BVT", "KOS", "PNH", "POI"]
    assert len(ref.devices) == 7
    assert len(ref.peers) == 13
    assert len(ref.links) == 16
    assert ref.operator.asn == 64500
    assert {n for n, d in ref.devices.items() if d.role == "dix-rs"} == {"pnh-dix-rs1", "kos-dix-rs1"}


def test_group_inheritance(ref: Inventory) -> None:
    kos = ref.devices["kos-iig-1"]
    assert (kos.platform, kos.site, kos.role) == ("junos", "KOS", "iig-border")
    assert ref.devices["pnh-dix-rs1"].platform == "frr"
    assert ref.devices["poi-iig-1"].platform == "eos"


def test_kos_border_has_ibgp_to_both_route_reflectors(ref: Inventory) -> None:
    ibgp = [s for s in ref.device_sessions("kos-iig-1") if s.kind == "ibgp"]
    assert {(s.neighbor, s.afi) for s in ibgp} == {("pnh-iig-1", 4), ("pnh-iig-1", 6),
                                                    ("pnh-iig-2", 4), ("pnh-iig-2", 6)}
    assert all(s.local_asn == s.peer_asn == 64500 and not s.rr_client for s in ibgp)
    v4 = {s.neighbor: (str(s.local_ip), str(s.peer_ip), s.link) for s in ibgp if s.afi == 4}
    assert v4 == {"pnh-iig-1": ("203.0.113.3", "203.0.113.2", "pnh1-kos"),
                  "pnh-iig-2": ("203.0.113.5", "203.0.113.4", "pnh2-kos")}
    # Seen from the reflectors, kos-iig-1 is a route-reflector client; the two reflectors are not.
    for rr in ("pnh-iig-1", "pnh-iig-2"):
        rr_sessions = [s for s in ref.device_sessions(rr) if s.kind == "ibgp"]
        assert all(s.rr_client for s in rr_sessions if s.neighbor == "kos-iig-1")
        assert not any(s.rr_client for s in rr_sessions if s.neighbor in ("pnh-iig-1", "pnh-iig-2"))
    # Every iBGP session of a non-reflector goes to a reflector.
    for name, dev in ref.devices.items():
        if dev.role == "iig-border" and not dev.route_reflector:
            assert {s.neighbor for s in ref.device_sessions(name) if s.kind == "ibgp"} == {"pnh-iig-1", "pnh-iig-2"}


def test_pnh_route_server_serves_all_dix_pnh_isps(ref: Inventory) -> None:
    isps = {"isp-angkor", "isp-mekong", "isp-bayon", "isp-kampot", "isp-kratie"}
    on_fabric = {ep.node for ep in ref.links["dix-pnh"].endpoints if ep.node in ref.peers}
    assert on_fabric == isps
    rs = [s for s in ref.device_sessions("pnh-dix-rs1") if s.kind == "rs-client"]
    assert {s.neighbor for s in rs} == isps | {"pnh-iig-1", "pnh-iig-2"}
    assert all(s.link == "dix-pnh" for s in rs)
    assert len(rs) == 2 * 7  # IPv4 and IPv6 for each of the 7 clients
    # The ISPs see the route server, and our border routers peer with it as a route server.
    assert {s.node for s in ref.sessions() if s.neighbor == "pnh-dix-rs1" and s.kind == "route-server"} == (
        isps | {"pnh-iig-1", "pnh-iig-2"})
    assert all(s.external for s in ref.sessions() if s.node in isps)


def test_multihomed_isp_has_sessions_at_both_exchanges(ref: Inventory) -> None:
    angkor = [s for s in ref.sessions() if s.node == "isp-angkor"]
    assert {(s.neighbor, s.link, s.afi) for s in angkor} == {
        ("pnh-dix-rs1", "dix-pnh", 4), ("pnh-dix-rs1", "dix-pnh", 6),
        ("kos-dix-rs1", "dix-kos", 4), ("kos-dix-rs1", "dix-kos", 6),
    }
    assert all(s.kind == "route-server" and s.external and s.local_asn == 65001 for s in angkor)
    assert {s.neighbor for s in ref.device_sessions("kos-dix-rs1") if s.kind == "rs-client"} == {
        "isp-ream", "isp-kohkong", "isp-angkor", "kos-iig-1"}


def test_multihomed_upstream(ref: Inventory) -> None:
    vn = {(s.node, s.link) for s in ref.sessions() if s.neighbor == "vn-carrier" and s.afi == 4}
    assert vn == {("bvt-iig-1", "bvt-vnc"), ("pnh-iig-2", "pnh2-vnc")}
    up = [s for s in ref.device_sessions("bvt-iig-1") if s.kind == "upstream"]
    assert {(s.neighbor, s.peer_asn, str(s.peer_ip)) for s in up if s.afi == 4} == {
        ("vn-carrier", 65539, "198.51.100.7")}


def test_sessions_are_symmetric(ref: Inventory) -> None:
    sessions = [s for s in ref.sessions() if not s.external]
    assert len(sessions) == 70
    assert not any(s.kind == "private" for s in sessions)
    # Both sides of every session agree.
    keys = {(s.node, s.neighbor, s.link, s.afi) for s in ref.sessions()}
    assert all((b, a, link_, afi) in keys for a, b, link_, afi in keys)


def test_ports_and_lab_interface_names(ref: Inventory) -> None:
    kos = [(p.link, p.interface, p.lab_ifname) for p in ref.ports["kos-iig-1"]]
    assert kos[:2] == [("pnh1-kos", "et-0/0/0", "eth1"), ("pnh2-kos", "et-0/0/1", "eth2")]
    assert ref.port("pnh-dix-rs1", "dix-pnh").lab_ifname == "eth1"  # frr keeps its own names
    assert str(ref.port("isp-angkor", "dix-kos").ipv4) == "203.0.113.103/27"
