"""Hostile and careless input, second pass (issue 17): every class of mistake is refused by `tonle inventory
check` with exit 2, nothing on stdout, and one line per problem naming the file, the entry by its name and
the field, without echoing a secret or a long value; what is valid (quoted or not) is read as written.

Each case copies the reference inventory into tmp_path and breaks one thing.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_inventory import REPO, edit_text, edit_yaml, link, peer
from tonle.compile.intent import check_validate_source, load_intent, load_validate_file
from tonle.interfaces.cli import main
from tonle.source import yamlio
from tonle.source.grammar import GrammarError, as_path_regex, identifier, interface_name, safe_text, token
from tonle.source.inventory import InventoryError, load_from_nornir_config

SECRET = "Hunter2-sup3r-s3cret"
LONG = "x" * 5000

H, G, P, L, LAB = ("inventory/hosts.yaml", "inventory/groups.yaml", "inventory/peers.yaml", "inventory/links.yaml",
                   "inventory/lab.yaml")
Q, W, POL, S = "inventory/qos.yaml", "inventory/windows.yaml", "inventory/policy.yaml", "inventory/sites.yaml"
VB = "inventory/validate/iig-border.yaml"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the reference inventory."""
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    shutil.copy(REPO / "nornir.yaml", tmp_path / "nornir.yaml")
    return tmp_path


def check(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """`tonle inventory check` on the copy: must refuse with exit 2 and nothing on stdout; the stderr lines."""
    rc = main(["--config", str(root / "nornir.yaml"), "inventory", "check"])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, ""), f"exit {rc}, stdout {out!r}, stderr {err!r}"
    return err.splitlines()


def passes(root: Path) -> Any:
    inv = load_from_nornir_config(root / "nornir.yaml")
    return load_intent(inv)


def text(name: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda r: edit_text(r, name, lambda t: t.replace(old, new, 1))


def data(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    return lambda r: edit_yaml(r, name, change)


def host(name: str, key: str, value: Any) -> Callable[[Path], None]:
    def change(d: Any) -> None:
        target = d[name]
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return data("hosts.yaml", change)


def endpoint(link_name: str, j: int, **values: Any) -> Callable[[Path], None]:
    return data("links.yaml", lambda d: link(d, link_name)["endpoints"][j].update(values))


def window(which: str, **values: Any) -> Callable[[Path], None]:
    return data("windows.yaml", lambda d: next(w for w in d["windows"] if w["name"] == which).update(values))


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[Path], None]
    file: str
    subject: str | None  # None: a file-level problem (YAML, file name)
    field: str | None
    fragments: tuple[str, ...]
    count: int = 1

    def matches(self, line: str) -> bool:
        head = f"{self.file}: " + (f"{self.subject}: " if self.subject else "")
        return (line.startswith(head) and (self.field is None or f": field {self.field}: " in line)
                and all(f in line for f in self.fragments))


def _bomb(levels: int = 9) -> str:
    lines = ["    description: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"    x{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _alias_reuse(t: str) -> str:
    t = t.replace("    announces: [198.19.1.0/24", "    announces: &sg [198.19.1.0/24", 1)
    return t.replace("    announces: [198.19.3.0/24, '2001:db8:f002::/48']", "    announces: *sg", 1)


def _two_platform_groups(d: Any) -> None:
    d["pnh-iig-1"]["groups"] = ["site-pnh", "role-iig-border", "platform-ios", "platform-eos"]


def _validate_file(body: str) -> Callable[[Path], None]:
    return lambda r: (r / "inventory" / "validate" / "iig-border.yaml").write_text(body, encoding="utf-8")


CASES = [
    # -- YAML 1.1 traps: refused with a hint where the value cannot be what was meant
    Case("yes-for-a-flag", text("peers.yaml", "    bfd: true\n", "    bfd: yes\n"),
         P, "peer th-carrier", "bfd", ("expected true or false", "'yes'")),
    Case("number-for-text", data("peers.yaml", lambda d: peer(d, "sg-carrier").update(description=2024)),
         P, "peer sg-carrier", "description", ("expected text, got a number (2024)", "quote it: '2024'")),
    Case("lowercase-no-country", text("peers.yaml", "    country: SG\n", "    country: no\n"),
         P, "peer sg-carrier", "country", ("'no'", "2 capital letters")),
    Case("time-as-a-number", text("windows.yaml", 'start: "22:00"', "start: 1320"),
         W, "window dix-evening", "weekly.start", ("1320 is a number, not a time of day", "'22:00'")),
    Case("time-out-of-range", text("windows.yaml", 'end: "23:59"', 'end: "24:00"'),
         W, "window dix-evening", "weekly.end", ("not a time of day",)),
    Case("one-off-with-utc-offset", window("dix-evening", weekly=None, start="2030-01-01T22:00:00+07:00",
                                           end="2030-01-02 01:00"),
         W, "window dix-evening", "start", ("UTC offset", "local time")),
    Case("date-as-a-number", window("dix-evening", weekly=None, start=1893456000, end="2030-01-02 01:00"),
         W, "window dix-evening", "start", ("is not a date and time",)),
    Case("infinite-shaper", text("qos.yaml", "shape_mbps: 40000}", "shape_mbps: .inf}"),
         Q, "attachment poi-iig-1 on poi-thc", "shape_mbps", ("valid number",)),
    # -- aliases, merge keys, sizes: refused at load time with one line
    Case("alias-bomb-in-a-field", text("peers.yaml", "    description: Singapore carrier via submarine cable\n",
                                       _bomb()),
         P, None, None, ("line 13", "aliases (*name) are not allowed")),
    Case("alias-reuse", lambda r: edit_text(r, "peers.yaml", _alias_reuse),
         P, None, None, ("aliases (*name) are not allowed",)),
    Case("merge-key", text("hosts.yaml", "pnh-iig-2:\n", "pnh-iig-2:\n  <<: {port: 22}\n"),
         H, None, None, ("merge keys (<<) are not allowed",)),
    Case("deep-nesting", text("lab.yaml", "name: nig", "name: " + "[" * 80 + "]" * 80),
         LAB, None, None, ("nested more than 64 levels",)),
    Case("python-tag", text("lab.yaml", "name: nig", "name: !!python/object/apply:os.system [id]"),
         LAB, None, None, ("is not allowed",)),
    # -- cross-file consistency
    Case("link-address-in-management-network", lambda r: (endpoint("pnh1-kos", 0, ipv4="198.19.254.100/31")(r),
                                                          endpoint("pnh1-kos", 1, ipv4="198.19.254.101/31")(r)),
         L, "link pnh1-kos", "endpoints[0].ipv4", ("inside the management network 198.19.254.0/24",), count=2),
    Case("link-address-is-a-management-address", lambda r: (endpoint("pnh1-kos", 0, ipv4="198.19.254.11/31")(r),
                                                            endpoint("pnh1-kos", 1, ipv4="198.19.254.10/31")(r)),
         L, "link pnh1-kos", "endpoints[0].ipv4", ("the management address of host pnh-iig-1",), count=2),
    Case("loopback-in-management-network", host("kos-iig-1", "data.loopback_ipv4", "198.19.254.200/32"),
         H, "host kos-iig-1", "data.loopback_ipv4", ("inside the management network",)),
    Case("lan-network-address", endpoint("dix-pnh", 7, ipv4="203.0.113.64/27"),
         L, "link dix-pnh", "endpoints[7].ipv4", ("203.0.113.64 is the network address of 203.0.113.64/27",)),
    Case("lan-broadcast-address", endpoint("dix-kos", 4, ipv4="203.0.113.127/27"),
         L, "link dix-kos", "endpoints[4].ipv4", ("broadcast address of 203.0.113.96/27",)),
    Case("lan-ipv6-subnet-router-anycast", endpoint("dix-kos", 3, ipv6="2001:db8:0:60::/64"),
         L, "link dix-kos", "endpoints[3].ipv6", ("subnet-router anycast address",)),
    Case("shaper-above-link-capacity", text("qos.yaml", "link: poi-thc, policy: iig-egress, shape_mbps: 40000",
                                            "link: poi-thc, policy: iig-egress, shape_mbps: 50000"),
         Q, "attachment poi-iig-1 on poi-thc", "shape_mbps", ("above the capacity of link poi-thc (40000",)),
    Case("session-listed-twice", data("peers.yaml", lambda d: peer(d, "sg-carrier")["sessions"].append(
        {"device": "kos-iig-1", "link": "kos-sgc"})),
         P, "peer sg-carrier", "sessions[1]", ("duplicate session", "kos-iig-1 on link kos-sgc")),
    Case("default-ttl-above-max", text("policy.yaml", "default_ttl_minutes: 60", "default_ttl_minutes: 2000"),
         POL, "policy", "guard.default_ttl_minutes", ("2000 is above max_ttl_minutes (1440)",)),
    Case("host-in-two-platform-groups", data("hosts.yaml", _two_platform_groups),
         H, "host pnh-iig-1", "groups", ("different platforms", "platform-ios: ios", "platform-eos: eos")),
    Case("group-listed-twice", host("bvt-iig-1", "groups", ["site-bvt", "role-iig-border", "platform-eos",
                                                            "site-bvt"]),
         H, "host bvt-iig-1", "groups", ("'site-bvt' is listed twice",)),
    Case("two-names-for-one-port", endpoint("pnh1-kos", 0, interface="Hu0/1/0"),
         L, "link pnh1-kos", "endpoints[0].interface",
         ("write HundredGigE0/1/0", "pnh-iig-1 already uses HundredGigE0/1/0 on link pnh1-pnh2")),
    Case("isp-space-inside-ours", data("peers.yaml", lambda d: peer(d, "isp-bayon").update(
        announces=["198.18.1.0/24", "2001:db8:1003::/48"])),
         P, "peer isp-bayon", "announces[0]", ("inside the operator's own address space 198.18.0.0/22",)),
    Case("isp-space-covering-ours", data("peers.yaml", lambda d: peer(d, "isp-bayon").update(
        announces=["198.18.18.0/24", "2001:db8::/40"])),
         P, "peer isp-bayon", "announces[1]", ("overlaps the operator's own address space 2001:db8::/48",)),
    Case("duplicate-window-name", window("dix-evening", name="weekly-maintenance"),
         W, "window weekly-maintenance", "name", ("duplicate window name",)),
    Case("upstream-at-route-server", data("peers.yaml", lambda d: peer(d, "isp-ream").update(type="upstream")),
         P, "peer isp-ream", "sessions[0].device", ("kos-dix-rs1 is a DIX route server", "type upstream")),
    Case("group-with-unknown-site", text("groups.yaml", "data: {site: PNH}", "data: {site: PHN}"),
         G, "group site-pnh", "data.site", ("unknown site 'PHN'",)),
    Case("operator-prefixes-overlap", data("defaults.yaml", lambda d: d["data"]["operator"]["prefixes"].append(
        "198.18.2.0/24")),
         "inventory/defaults.yaml", "defaults", "data.operator.prefixes[2]", ("overlaps prefixes[0] 198.18.0.0/22",)),
    Case("border-router-in-another-asn", host("bvt-iig-1", "data.asn", 64509),
         H, "host bvt-iig-1", "data.asn", ("64509 is not the operator's ASN 64500",)),
    Case("operator-asn-typo", data("defaults.yaml", lambda d: d["data"]["operator"].update(asn=64509)),
         "inventory/defaults.yaml", "defaults", "data.operator.asn",
         ("64509 is not the ASN of most IIG border routers", "64500 on pnh-iig-1")),
    Case("loopback-not-a-single-address", host("bvt-iig-1", "data.loopback_ipv4", "198.18.0.5/24"),
         H, "host bvt-iig-1", "data.loopback_ipv4", ("a loopback is one address: 198.18.0.5/32",)),
    Case("route-server-at-site-without-exchange", data("sites.yaml", lambda d: d["sites"]["KOS"].update(
        exchange=False)),
         S, "site KOS", "exchange", ("kos-dix-rs1",)),
    Case("link-family-on-one-endpoint-only", data("links.yaml", lambda d: link(d, "poi-thc")["endpoints"][1].pop(
        "ipv6")),
         L, "link poi-thc", "endpoints[1].ipv6", ("missing while endpoints[0] has one",)),
    Case("link-subnets-overlap", lambda r: (endpoint("pnh1-pnh2", 0, ipv4="203.0.113.80/31")(r),
                                            endpoint("pnh1-pnh2", 1, ipv4="203.0.113.81/31")(r)),
         L, "link pnh1-pnh2", "endpoints[0].ipv4", ("203.0.113.80/31 overlaps 203.0.113.64/27 of link dix-pnh",)),
    Case("max-prefixes-below-announcements", data("peers.yaml", lambda d: peer(d, "sg-carrier").update(
        max_prefixes={"ipv4": 1, "ipv6": 10})),
         P, "peer sg-carrier", "max_prefixes.ipv4", ("1 is below the 2 ipv4 prefixes",)),
    Case("announcement-listed-twice", data("peers.yaml", lambda d: peer(d, "isp-bayon")["announces"].append(
        "198.18.18.0/24")),
         P, "peer isp-bayon", "announces", ("'198.18.18.0/24' is listed twice",)),
    Case("peer-with-another-route-servers-asn", data("peers.yaml", lambda d: peer(d, "isp-ream").update(asn=64501)),
         P, "peer isp-ream", "asn", ("64501 is also the ASN of device pnh-dix-rs1",)),
    Case("communities-not-distinct", text("policy.yaml", "  domestic: 200         # learned at the DIX",
                                          "  domestic: 100         # learned at the DIX"),
         POL, "policy", "communities.domestic", ("100 is also the upstream community",)),
    Case("bogon-covers-our-space", text("policy.yaml", "  ipv4: [0.0.0.0/8,", "  ipv4: [198.18.0.0/15, 0.0.0.0/8,"),
         POL, "policy", "bogons.ipv4[0]", ("overlaps the operator's own prefix 198.18.0.0/22",)),
    # -- files that were never checked: validate/<role>.yaml
    Case("validate-yaml-error", _validate_file("- get_interfaces:\n    lo: [\n"),
         VB, None, None, ("line 3", "YAML error")),
    Case("validate-misspelt-getter", _validate_file("- get_bgp_neighbours:\n    global: {router_id: .*}\n"),
         VB, "checks[0]", "get_bgp_neighbours", ("unknown NAPALM getter", "did you mean 'get_bgp_neighbors'")),
    Case("validate-not-a-mapping", _validate_file("- get_interfaces: [lo]\n"),
         VB, "check get_interfaces", "get_interfaces", ("expected a mapping",)),
    Case("validate-bad-comparison", _validate_file("- get_facts:\n    uptime: '>lots'\n"),
         VB, "check get_facts", "get_facts.uptime", ("not a comparison NAPALM knows",)),
    Case("validate-bad-regex", _validate_file("- get_facts:\n    hostname: 'pnh-(iig'\n"),
         VB, "check get_facts", "get_facts.hostname", ("not a valid regular expression",)),
    Case("validate-bgp-peers-not-a-mapping", _validate_file("- get_bgp_neighbors:\n    global: {peers: [x]}\n"),
         VB, "check get_bgp_neighbors", "get_bgp_neighbors.global", ("peers as a mapping",)),
    Case("validate-get-config", _validate_file("- get_config:\n    running: .*\n"),
         VB, "check get_config", "get_config", ("skips get_config",)),
    Case("validate-file-for-no-role", lambda r: (r / "inventory" / "validate" / "iig-boarder.yaml").write_text(
        "- get_facts: {}\n"),
         "inventory/validate/iig-boarder.yaml", "(file name)", None, ("did you mean iig-border.yaml",)),
    # -- messages
    Case("md5-key-pasted-as-variable", data("peers.yaml", lambda d: peer(d, "global-transit").update(
        md5_key_env=SECRET)),
         P, "peer global-transit", "md5_key_env", ("name of an environment variable", "not the key itself")),
    Case("lab-network-wrong", text("lab.yaml", "mgmt_gateway: 198.19.254.1/24", "mgmt_gateway: 198.19.253.1/24"),
         LAB, "lab", "mgmt_gateway", ("198.19.253.0/24 holds no device's management address",)),
    Case("lab-network-too-small", text("lab.yaml", "mgmt_gateway: 198.19.254.1/24", "mgmt_gateway: 198.19.254.9/30"),
         LAB, "lab", "mgmt_gateway", ("holds the management addresses of only 1 of 7 devices",
                                      "198.19.254.12 for pnh-iig-2")),
    Case("lab-gateway-is-network-address", text("lab.yaml", "198.19.254.1/24", "198.19.254.0/24"),
         LAB, "lab", "mgmt_gateway", ("198.19.254.0 is the network address",)),
    Case("window-named-by-name", window("dix-evening", weekly={"days": ["mon", "wendsday"], "start": "22:00",
                                                               "end": "23:59"}),
         W, "window dix-evening", "weekly.days[1]", ("'wed'",)),
    Case("peer-type-typo", data("peers.yaml", lambda d: peer(d, "th-carrier").update(type="upstrem")),
         P, "peer th-carrier", "type", ("'upstrem'", "did you mean 'upstream'?")),
    Case("window-end-before-start", window("dix-evening", weekly=None, start="2030-01-02 01:00",
                                           end="2030-01-01 22:00"),
         W, "window dix-evening", "end", ("2030-01-01 22:00 is not after start (2030-01-02 01:00)",)),
    Case("weekly-window-empty", text("windows.yaml", 'start: "22:00", end: "23:59"', 'start: "22:00", end: "22:00"'),
         W, "window dix-evening", "weekly.end", ("the window would be empty",)),
    Case("window-without-times", window("dix-evening", weekly=None),
         W, "window dix-evening", "weekly", ("required",)),
    Case("long-value-not-echoed", host("pnh-iig-1", "hostname", LONG),
         H, "host pnh-iig-1", "hostname", ("valid IPv4 address", "...")),
    Case("newline-in-a-host-name", lambda r: edit_text(r, "hosts.yaml", lambda t: t + '"pnh-iig-9\\nrouter bgp 1":\n'
                                                       "  hostname: 198.19.254.99\n  groups: [site-pnh]\n"),
         H, "host 'pnh-iig-9\\nrouter bgp 1'", "(name)", ("must be lowercase",)),
    # -- strings that reach device templates (issue 10, item 1)
    Case("as-path-regex-with-newline", data("peers.yaml", lambda d: peer(d, "isp-mekong").update(
        {"import": {"as_path": ["^65002$\nrouter bgp 1"]}})),
         P, "peer isp-mekong", "import.as_path[0]", ("contains a newline",)),
    Case("as-path-regex-with-space", data("peers.yaml", lambda d: peer(d, "isp-mekong").update(
        {"import": {"as_path": ["^65002 any$"]}})),
         P, "peer isp-mekong", "import.as_path[0]", ("contains ' '",)),
    Case("community-with-newline", data("peers.yaml", lambda d: peer(d, "isp-mekong").update(
        {"import": {"communities": ["64500:1\n!"]}})),
         P, "peer isp-mekong", "import.communities[0]", ("not a standard BGP community",)),
    Case("link-description-comment", data("links.yaml", lambda d: link(d, "poi-thc").update(
        description="to Thailand ! end")),
         L, "link poi-thc", "description", ("'!'", "starts a comment")),
    Case("peer-description-newline", data("peers.yaml", lambda d: peer(d, "sg-carrier").update(
        description="line one\nline two")),
         P, "peer sg-carrier", "description", ("contains a newline",)),
    Case("junos-comment-in-description", data("peers.yaml", lambda d: peer(d, "sg-carrier").update(
        description="cable */ system")),
         P, "peer sg-carrier", "description", ("'*/'",)),
    Case("site-name-control-character", data("sites.yaml", lambda d: d["sites"]["POI"].update(name="Poi\tpet")),
         S, "site POI", "name", ("a tab",)),
    Case("qos-class-name", text("qos.yaml", "  voice: {dscp: [ef]}", "  'voice;x': {dscp: [ef]}"),
         Q, "class 'voice;x'", "(name)", ("contains ';'",)),
    Case("qos-policy-name", text("qos.yaml", "  iig-egress:\n", "  iig egress:\n"),
         Q, "policy 'iig egress'", "(name)", ("contains ' '",)),
    Case("junos-device-with-ios-port", endpoint("pnh1-kos", 1, interface="GigabitEthernet0/0/0"),
         L, "link pnh1-kos", "endpoints[1].interface", ("not a valid Junos interface name", "IOS name")),
    Case("ios-device-with-junos-port", endpoint("pnh1-kos", 0, interface="xe-0/0/2"),
         L, "link pnh1-kos", "endpoints[0].interface", ("not a valid IOS interface name", "Junos name")),
    Case("eos-abbreviation", endpoint("poi-thc", 0, interface="Et3"),
         L, "link poi-thc", "endpoints[0].interface", ("write Ethernet3",)),
    Case("frr-name-too-long", endpoint("dix-pnh", 0, interface="eth1-towards-the-fabric"),
         L, "link dix-pnh", "endpoints[0].interface", ("not a valid Linux (frr) interface name",)),
    Case("interface-with-newline", endpoint("poi-thc", 0, interface="Ethernet3\nshutdown"),
         L, "link poi-thc", "endpoints[0].interface", ("contains a newline",)),
    Case("username-with-space", data("groups.yaml", lambda d: d["platform-ios"].update(username="noc admin")),
         G, "group platform-ios", "username", ("contains ' '",)),
    Case("group-name", lambda r: edit_text(r, "groups.yaml", lambda t: t + "'platform frr!':\n  platform: frr\n"),
         G, "group 'platform frr!'", "(name)", ("contains ' '",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_one_line_per_problem(root: Path, case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    case.mutate(root)
    lines = check(root, capsys)
    assert any(case.matches(line) for line in lines), (
        f"no line like {case.file}: {case.subject}: field {case.field}: ...{case.fragments} in:\n" + "\n".join(lines))
    assert len(lines) == case.count, "\n".join(lines)
    for line in lines:
        assert line.startswith("inventory/"), line
        assert len(line) < 400, line
        assert all(c >= " " and c != "\x7f" for c in line), repr(line)
        assert SECRET not in line and LONG[:100] not in line
        assert "Traceback" not in line and "lax-or-strict" not in line and "instance of" not in line


# ---- read as written ------------------------------------------------------------------------------------

def test_unquoted_times_are_times_of_day(root: Path) -> None:
    """YAML 1.1 read `22:00` as the base-60 number 1320 (a window at 00:22); it is the time written."""
    edit_text(root, "windows.yaml", lambda t: t.replace('"22:00"', "22:00").replace('"23:59"', "23:59")
              .replace('"01:00"', "01:00"))
    windows = {w.name: w for w in passes(root).windows}
    assert windows["dix-evening"].weekly is not None
    assert (windows["dix-evening"].weekly.start, windows["dix-evening"].weekly.end) == (time(22, 0), time(23, 59))
    assert windows["weekly-maintenance"].weekly is not None
    assert windows["weekly-maintenance"].weekly.start == time(1, 0)


def test_unquoted_country_no_is_norway(root: Path) -> None:
    """YAML 1.1 read `NO` as false; it is the country code written."""
    edit_text(root, "peers.yaml", lambda t: t.replace("    country: SG\n", "    country: NO\n", 1))
    assert passes(root).inv.peers["sg-carrier"].country == "NO"


def test_one_off_window_unquoted_is_local_time(root: Path) -> None:
    edit_text(root, "windows.yaml", lambda t: t + "  - name: one-off\n    timezone: Asia/Phnom_Penh\n"
              "    start: 2030-01-01 22:00\n    end: 2030-01-02 01:30\n")
    w = next(w for w in passes(root).windows if w.name == "one-off")
    assert (str(w.start), str(w.end)) == ("2030-01-01 22:00:00", "2030-01-02 01:30:00")


def test_yaml_core_schema() -> None:
    parsed = yamlio.parse_yaml("a: 22:00\nb: NO\nc: yes\nd: 010\ne: 12\nf: 1.5\ng: true\nh: ~\ni: 1_000\n"
                               "j: 2030-01-01\nk: .inf\nl: off\n", "t")
    assert parsed == {"a": "22:00", "b": "NO", "c": "yes", "d": "010", "e": 12, "f": 1.5, "g": True, "h": None,
                      "i": "1_000", "j": "2030-01-01", "k": ".inf", "l": "off"}


def test_alias_bomb_is_refused_without_expanding() -> None:
    """Nine levels of nine aliases (9^9 values once expanded) are refused at the first alias."""
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    with pytest.raises(yamlio.YamlFileError, match=r"^t: line 1, column 4: YAML error: aliases"):
        yamlio.parse_yaml(bomb, "t")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(yamlio.YamlFileError, match="aliases"):
        yamlio.parse_yaml("a: &a [*a]\n", "t")


def test_oversized_file_is_refused_before_parsing(root: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 1000)
    lines = check(root, capsys)
    assert lines[0] == f"{H}: the file is larger than 1,000 bytes, the limit of an inventory file (is it the right " \
                       "file?)"


def test_duplicate_keys_still_refused() -> None:
    with pytest.raises(yamlio.YamlFileError, match=r"line 3, column 1: YAML error: duplicate key 'a' \(first at "
                                                   r"line 1\)"):
        yamlio.parse_yaml("a: 1\nb: 2\na: 3\n", "t")


# ---- validate files where they are loaded -------------------------------------------------------------

def test_validate_files_of_the_reference_are_read(root: Path) -> None:
    intent = passes(root)
    assert set(intent.validate) == {"iig-border", "dix-rs"}
    assert intent.validate["iig-border"][1]["get_bgp_neighbors"]["global"]["router_id"] == ".*"


def test_validate_file_is_checked_where_apply_loads_it(tmp_path: Path) -> None:
    bad = tmp_path / "iig-border.yaml"
    bad.write_text("- get_bgp_neigbors: {}\n", encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_validate_file(bad, "validate/iig-border.yaml")
    assert info.value.problems == ["validate/iig-border.yaml: checks[0]: field get_bgp_neigbors: unknown NAPALM "
                                   "getter (did you mean 'get_bgp_neighbors'?)"]


def test_napalm_getters_are_napalms() -> None:
    from napalm.base.base import NetworkDriver  # noqa: PLC0415

    from tonle.compile.intent import NAPALM_GETTERS  # noqa: PLC0415

    known = {m for m in dir(NetworkDriver) if m.startswith("get_")} | {"ping", "traceroute"}
    assert set(NAPALM_GETTERS) == known


def test_validate_source_accepts_napalm_syntax() -> None:
    source = [{"get_facts": {"_name": "facts", "hostname": "pnh-.*", "uptime": ">=60"}},
              {"get_interfaces_ip": {"_mode": "strict", "lo": {"ipv4": {"198.18.0.1": {"prefix_length": 32}}}}},
              {"get_environment": {"cpu": {"0": {"%usage": "0<->90"}}}},
              {"ping": {"_kwargs": {"destination": "198.18.0.2"}, "success": {"packet_loss": 0}}},
              {"get_arp_table": {"list": [{"ip": "203.0.113.1"}]}}]
    assert check_validate_source(source, "v.yaml") == source


# ---- many problems of one kind ------------------------------------------------------------------------

def test_repeated_mistakes_are_summarised(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """200 hosts with the same wrong ASN: ten lines and a count, not 200 lines."""
    def many(d: Any) -> None:
        for i in range(200):
            d[f"extra-{i}"] = {"hostname": str(ipaddress.ip_address("198.19.254.30") + i),
                               "groups": ["site-pnh", "role-iig-border", "platform-ios"],
                               "data": {"asn": 1234, "router_id": f"198.18.1.{i}", "loopback_ipv4": f"198.18.1.{i}/32"}}
    edit_yaml(root, "hosts.yaml", many)
    lines = check(root, capsys)
    asn = [line for line in lines if "field data.asn: ASN 1234" in line]
    assert len(asn) == 10
    assert "inventory/hosts.yaml: ... and 190 more problems like the one above (field data.asn)" in lines
    assert len(lines) < 40, "\n".join(lines)


# ---- the grammars themselves ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "ok"), [
    ("capital; main DIX and IIG core", True), ("Phnom Penh", True), ("O'Neil's cable", True), ("", True),
    ("a\nb", False), ("a\rb", False), ("a\tb", False), ("a\x00b", False), ("café", False), ("a ! b", False),
    ("# x", False), ("{x}", False), ("a */ b", False), ("/* x", False), ('say "hi"', False), ("a\\b", False),
    (" padded", False), ("x" * 201, False), (12, False),
])
def test_safe_text(value: Any, ok: bool) -> None:
    if ok:
        assert safe_text(value, "description", 200) == value
    else:
        with pytest.raises(GrammarError) as info:
            safe_text(value, "description", 200)
        assert str(info.value).startswith("description ")
        assert "\n" not in str(info.value) and "x" * 100 not in str(info.value)


@pytest.mark.parametrize(("value", "ok"), [
    ("best-effort", True), ("iig_egress.v2", True), ("", False), ("1st", False), ("a b", False), ("a;b", False),
    ("a" * 33, False), ("voice\n", False),
])
def test_identifier(value: str, ok: bool) -> None:
    if ok:
        assert identifier(value, "class", 32) == value
    else:
        with pytest.raises(GrammarError):
            identifier(value, "class", 32)


def test_token() -> None:
    assert token("DEMO-1234", "ticket") == "DEMO-1234"
    for bad in ("", "two words", "a;b", "x\n"):
        with pytest.raises(GrammarError):
            token(bad, "ticket")


@pytest.mark.parametrize(("platform", "value", "suggestion"), [
    ("ios", "GigabitEthernet0/0/1", None), ("ios", "TenGigabitEthernet1/0/1.100", None), ("ios", "Loopback0", None),
    ("ios", "Port-channel10", None), ("eos", "Ethernet1", None), ("eos", "Ethernet1/1", None),
    ("eos", "Port-Channel10", None), ("junos", "xe-0/0/0", None), ("junos", "ge-1/2/3.100", None),
    ("junos", "ae0", None), ("junos", "lo0.0", None), ("junos", "et-0/0/1:2", None), ("frr", "eth1", None),
    ("frr", "enp3s0f1", None),
    ("ios", "Gi0/0/1", "GigabitEthernet0/0/1"), ("ios", "gigabitethernet0/0/1", "GigabitEthernet0/0/1"),
    ("ios", "Te1/1", "TenGigabitEthernet1/1"), ("ios", "GigabitEthernet 0/0/1", "GigabitEthernet0/0/1"),
    ("eos", "Et1", "Ethernet1"), ("eos", "Po10", "Port-Channel10"),
])
def test_interface_names(platform: str, value: str, suggestion: str | None) -> None:
    if suggestion is None:
        assert interface_name(platform, value) == value
    else:
        with pytest.raises(GrammarError) as info:
            interface_name(platform, value)
        assert info.value.suggestion == suggestion
        assert f"write {suggestion}" in str(info.value)


@pytest.mark.parametrize(("platform", "value"), [
    ("junos", "Ethernet1"), ("junos", "GigabitEthernet0/0/1"), ("junos", "xe-0/0/0;"), ("ios", "xe-0/0/0"),
    ("ios", "Foo0/1"), ("eos", "GigabitEthernet0/0/1"), ("frr", "eth0/1"), ("frr", "a-very-long-ifname"),
    ("frr", ".."), ("ios", "GigabitEthernet0/0/1\n shutdown"), ("ios", ""),
])
def test_interface_names_refused(platform: str, value: str) -> None:
    with pytest.raises(GrammarError) as info:
        interface_name(platform, value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("value", "ok"), [
    ("^65001(_[0-9]+)*$", True), ("_65001_", True), ("^(65001|65002)$", True), ("^$", True),
    ("^65001$\nrouter bgp 1", False), ("^65001 65002$", False), ("[0-9", False), ("^65001$!", False),
    ("^6{2}$", False), ("", False),
])
def test_as_path_regex(value: str, ok: bool) -> None:
    if ok:
        assert as_path_regex(value, "as_path") == value
    else:
        with pytest.raises(GrammarError):
            as_path_regex(value, "as_path")


# ---- size and shape that once crashed or crawled ----------------------------------------------------------

def _chain(n: int, *, cycle: bool) -> Callable[[Any], None]:
    def change(d: Any) -> None:
        for i in range(n):
            d[f"chain-{i}"] = {"groups": [f"chain-{(i + 1) % n}"] if cycle or i + 1 < n else ["platform-ios"]}
        d["site-bvt"]["groups"] = ["chain-0"]
    return change


def test_long_group_chain_is_resolved_without_recursion(root: Path) -> None:
    """3,000 groups inheriting one from the next: resolved, not a RecursionError (bvt-iig-1 is eos itself)."""
    edit_yaml(root, "groups.yaml", _chain(3000, cycle=False))
    with pytest.raises(InventoryError) as info:  # platform-eos and, through the chain, platform-ios
        load_from_nornir_config(root / "nornir.yaml")
    assert info.value.problems == ["inventory/hosts.yaml: host bvt-iig-1: field groups: in groups that set different "
                                   "platforms (site-bvt: ios, platform-eos: eos); keep one of them"]


def test_long_group_cycle_is_one_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_yaml(root, "groups.yaml", _chain(3000, cycle=True))
    lines = check(root, capsys)
    assert len(lines) == 1
    assert lines[0].startswith("inventory/groups.yaml: group chain-0: field groups: groups inherit from each other "
                               "in a cycle (chain-0 -> chain-1 -> ")
    assert len(lines[0]) <= 600
