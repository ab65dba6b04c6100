"""The lab's plans, without root: what `lab up` and `lab down` would make and remove, step by step.

The planners are pure: these tests read the plans for the small test topology and the reference
inventory, and check namespaces, veth ends, addresses, management links, node files and daemons, the
re-plan against a recorded lab, and the `down` plan. `tonle.lab.execute` is exercised on files only.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SMALL
from tonle.compile.intent import load_intent, with_md5_keys
from tonle.lab.builder import Lab
from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.node import DAEMONS, FRR_BIN, SSHD, boot_config, plan_node
from tonle.lab.plan import (
    STATE_FILES,
    Secrets,
    check_mgmt_network,
    missing,
    new_secrets,
    plan_add,
    plan_built,
    plan_down,
    plan_prepare,
)
from tonle.lab.steps import (
    Command,
    DeleteLink,
    DeleteUser,
    ForgetApplied,
    IpBatch,
    LabRecord,
    Parallel,
    PinHostKeys,
    Record,
    RecordApplied,
    RemoveNamespaces,
    RemoveTree,
    Step,
    Unlink,
    WaitFor,
    WriteFile,
    merged,
    walk,
)
from tonle.source.inventory import Inventory, load_from_nornir_config

STATE = Path("/var/lib/tonle-test")
KEYS = {"TONLE_MD5_GLOBAL_TRANSIT": "md5-secret-value"}


@pytest.fixture(autouse=True)
def _md5_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONLE_MD5_GLOBAL_TRANSIT", KEYS["TONLE_MD5_GLOBAL_TRANSIT"])


@cache
def small() -> Inventory:
    return load_from_nornir_config(SMALL / "nornir.yaml")


@cache
def reference() -> Inventory:
    return load_from_nornir_config(ROOT / "nornir.yaml")


def recorded(steps: Iterable[Step], record: LabRecord | None = None) -> LabRecord:
    """The lab's record once these steps have run (what their Record steps leave)."""
    out: LabRecord = record or {}
    for step in walk(steps):
        if isinstance(step, Record):
            out = merged(out, step.changes)
    return out


def prepare(inv: Inventory, *, user_exists: bool = False) -> tuple[Step, ...]:
    return plan_prepare(Layout(inv.lab.name, STATE), inv, Secrets("pw-secret", KEYS), user_exists=user_exists)


def add(inv: Inventory, record: LabRecord, existing: Iterable[str] = ()) -> tuple[Step, ...]:
    lay, todo = Layout(inv.lab.name, STATE), missing(inv, record)
    intent = with_md5_keys(load_intent(inv), KEYS)
    configs = {n: boot_config(inv, n, KEYS, lambda: intent) for n in todo.nodes}
    return plan_add(lay, inv, record, todo, set(existing), configs, KEYS)


def build(inv: Inventory) -> tuple[Step, ...]:
    """The whole `lab up` of a machine with no lab: prepare, then add everything."""
    first = prepare(inv)
    return (*first, *add(inv, recorded(first)))


def commands(steps: Iterable[Step]) -> list[list[str]]:
    return [list(s.argv) for s in walk(steps) if isinstance(s, Command)]


def batches(steps: Iterable[Step], ns: str) -> list[str]:
    return [line for s in walk(steps) if isinstance(s, IpBatch) and s.namespace == ns for line in s.lines]


def files(steps: Iterable[Step]) -> dict[Path, WriteFile]:
    return {s.path: s for s in walk(steps) if isinstance(s, WriteFile)}


def index(steps: tuple[Step, ...], argv: list[str]) -> int:
    return next(i for i, s in enumerate(walk(steps)) if isinstance(s, Command) and list(s.argv) == argv)


# ---- namespaces, links, addresses --------------------------------------------------------------------

def test_small_namespaces_devices_first_then_networks_then_lans() -> None:
    added = [c[3] for c in commands(build(small())) if c[:3] == ["ip", "netns", "add"]]
    assert added == ["tst-r1", "tst-r2", "tst-rs1", "tst-isp1", "tst-isp2", "tst-up1", "tst-lan-dix"]
    assert sorted(added) == sorted(Layout("tst", STATE).all_namespaces(small()))


def test_every_node_namespace_forwards_without_dad() -> None:
    steps = build(small())
    for node in ["r1", "r2", "rs1", "up1", "isp1", "isp2"]:
        ns = f"tst-{node}"
        assert ["ip", "-n", ns, "link", "set", "lo", "up"] in commands(steps)
        assert ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.accept_dad=0"] in commands(steps)


def test_small_point_to_point_veths_and_addresses() -> None:
    steps = build(small())
    assert ["ip", "link", "add", "eth1", "netns", "tst-r1", "type", "veth",
            "peer", "name", "eth1", "netns", "tst-r2"] in commands(steps)
    assert ["ip", "link", "add", "eth2", "netns", "tst-r2", "type", "veth",
            "peer", "name", "eth1", "netns", "tst-up1"] in commands(steps)
    # A simulated network's link addresses are set by the lab; a device's come from its managed config.
    assert batches(steps, "tst-up1")[:2] == ["link set eth1 up", "addr add 198.51.100.1/31 dev eth1"]
    assert "link set eth1 up" in batches(steps, "tst-r1")
    assert not [ln for ln in batches(steps, "tst-r1") if ln.startswith("addr add 203.0.113")]


def test_small_lan_is_a_bridge_namespace_with_one_veth_per_end() -> None:
    steps, lay = build(small()), Layout("tst", STATE)
    assert batches(steps, "tst-lan-dix")[:3] == ["link set lo up", "link add br0 type bridge", "link set br0 up"]
    for node, ifname in [("rs1", "eth1"), ("r1", "eth2"), ("isp1", "eth1"), ("isp2", "eth1")]:
        port = lay.lan_port(node)
        assert ["ip", "link", "add", port, "netns", "tst-lan-dix", "type", "veth",
                "peer", "name", ifname, "netns", f"tst-{node}"] in commands(steps)
        assert {f"link set {port} master br0", f"link set {port} up"} <= set(batches(steps, "tst-lan-dix"))
        assert f"link set {ifname} up" in batches(steps, f"tst-{node}")
    assert "addr add 203.0.113.72/27 dev eth1" in batches(steps, "tst-isp2")


@pytest.mark.parametrize("inv", [small, reference], ids=["small", "reference"])
def test_every_link_end_is_wired_once_with_its_peer_addresses(inv: Callable[[], Inventory]) -> None:
    i = inv()
    steps, lay = build(i), Layout(i.lab.name, STATE)
    veths = [c for c in commands(steps) if c[:3] == ["ip", "link", "add"] and c[6:8] == ["type", "veth"]]
    ends = [end for c in veths for end in ((c[5], c[3]), (c[12], c[10])) if not end[0].startswith(f"{i.lab.name}-lan-")]
    assert sorted(ends) == sorted((lay.ns(ep.node), i.port(ep.node, link.name).lab_ifname)
                                  for link in i.links.values() for ep in link.endpoints)
    for link in i.links.values():
        for pt in (i.port(ep.node, link.name) for ep in link.endpoints):
            mine = batches(steps, lay.ns(pt.node))
            assert f"link set {pt.lab_ifname} up" in mine
            addrs = [f"addr add {a} dev {pt.lab_ifname}" for a in (pt.ipv4, pt.ipv6) if a]
            assert all((a in mine) == (pt.node in i.peers) for a in addrs)


def test_simulated_networks_announce_from_loopback_and_upstreams_have_a_discard_port() -> None:
    steps = build(small())
    assert {"addr add 198.19.4.1/24 dev lo", "addr add 198.19.5.1/24 dev lo"} <= set(batches(steps, "tst-up1"))
    assert "link add rtbh0 type veth peer name rtbh1" in batches(steps, "tst-up1")
    assert "addr add 198.18.16.1/24 dev lo" in batches(steps, "tst-isp1")
    assert not [ln for ln in batches(steps, "tst-isp1") if "rtbh" in ln]


# ---- management ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("inv", [small, reference], ids=["small", "reference"])
def test_management_veth_per_device_on_the_bridge(inv: Callable[[], Inventory]) -> None:
    i = inv()
    steps, lay = build(i), Layout(i.lab.name, STATE)
    gw = i.lab.mgmt_gateway
    assert ["ip", "addr", "add", str(gw), "dev", f"{i.lab.name}-mgmt"] in commands(steps)
    roots = [lay.mgmt_if(d) for d in i.devices]
    assert len(set(roots)) == len(roots) and all(len(r) <= 15 for r in roots)  # global names, IFNAMSIZ
    for name, dev in i.devices.items():
        assert ["ip", "link", "add", lay.mgmt_if(name), "type", "veth", "peer", "name", "mgmt0",
                "netns", lay.ns(name)] in commands(steps)
        assert ["ip", "link", "set", lay.mgmt_if(name), "master", lay.bridge, "up"] in commands(steps)
        assert f"addr add {dev.mgmt_ip}/{gw.network.prefixlen} dev mgmt0" in batches(steps, lay.ns(name))
    for peer in i.peers:
        assert not [ln for ln in batches(steps, lay.ns(peer)) if "mgmt0" in ln]


# ---- node files and daemons ----------------------------------------------------------------------------

def test_sshd_config_lets_only_the_lab_user_into_the_login_script() -> None:
    wrote = files(build(small()))
    d = Path("/run/tonle/tst/r2")
    conf = wrote[d / "sshd_config"].content.splitlines()
    assert conf[0] == f"ListenAddress {small().devices['r2'].mgmt_ip}"
    for line in ["Port 22", f"HostKey {d}/ssh_host_ed25519_key", f"ForceCommand {d}/login.sh", "AllowUsers tnl-tst",
                 "PermitRootLogin no", "UsePAM no", "PasswordAuthentication yes", "PubkeyAuthentication yes",
                 "AuthorizedKeysFile /run/tonle/tst/authorized_keys", "AllowTcpForwarding no", "X11Forwarding no"]:
        assert line in conf
    login = wrote[d / "login.sh"]
    assert login.mode == 0o755 and f"vtysh --vty_socket {d} --config_dir {d} -H /dev/null" in login.content
    assert '"tc "*) exec /run/tonle/tst/tc ${SSH_ORIGINAL_COMMAND#tc }' in login.content
    assert not [p for p in wrote if p.parent.name in ("up1", "isp1", "isp2") and p.name == "sshd_config"]


@pytest.mark.parametrize("node", ["r1", "rs1", "up1", "isp2"])
def test_each_node_starts_its_daemons_in_order_then_loads_its_config(node: str) -> None:
    lay, steps = Layout("tst", STATE), build(small())
    d, prefix = lay.node_dir(node), lay.in_node(node, [])
    mine = [s for s in walk(steps) if (isinstance(s, Command) and list(s.argv[:len(prefix)]) == prefix)
            or (isinstance(s, WaitFor) and s.path.parent == d)]
    programs = [s.argv[len(prefix)] if isinstance(s, Command) else f"wait {s.path.name}" for s in mine]
    daemons = DAEMONS if node in small().devices else ("zebra", "bgpd")  # no static route, no BFD in the lab's own
    expected = [x for dm in daemons for x in (str(FRR_BIN / dm), f"wait {dm}.vty")]
    # a device's config is loaded by vtysh; a simulated network's (bgpd's lines only) by bgpd as it starts
    assert programs == expected + (["vtysh", str(SSHD)] if node in small().devices else [])
    argv = {Path(s.argv[len(prefix)]).name: list(s.argv[len(prefix):]) for s in mine if isinstance(s, Command)}
    zebra = argv["zebra"]
    assert zebra[-4:] == ["-i", f"{d}/zebra.pid", "--log", f"file:{d}/zebra.log"]
    assert zebra[2:6] == ["-u", "frr", "-g", "frr"] and f"{d}/empty.conf" in zebra
    bgpd_conf = argv["bgpd"][argv["bgpd"].index("-f") + 1]
    assert bgpd_conf == (f"{d}/empty.conf" if node in small().devices else f"{d}/frr.conf")


def test_a_simulated_network_with_bfd_runs_bfdd_too() -> None:
    inv = reference()
    lay, steps = Layout("nig", STATE), build(inv)
    started = {(n, c.argv[len(lay.in_node(n, []))]) for c in walk(steps) if isinstance(c, Command)
               for n in inv.peers if list(c.argv[:len(lay.in_node(n, []))]) == lay.in_node(n, [])}
    for name, peer in inv.peers.items():
        daemons = {Path(prog).name for n, prog in started if n == name} - {"vtysh"}
        assert daemons == ({"zebra", "bfdd", "bgpd"} if peer.bfd else {"zebra", "bgpd"}), name
    assert any(p.bfd for p in inv.peers.values()) and not all(p.bfd for p in inv.peers.values())


def test_node_files_are_frr_readable_and_the_recorded_copy_has_no_key() -> None:
    inv = reference()
    wrote, lay = files(build(inv)), Layout("nig", STATE)
    carrier = next(p.name for p in inv.peers.values() if p.md5_key_env)
    conf = wrote[lay.node_dir(carrier) / "frr.conf"]
    assert (conf.mode, conf.owner) == (0o660, ("frr", "frrvty")) and KEYS["TONLE_MD5_GLOBAL_TRANSIT"] in conf.content
    vtysh = wrote[lay.node_dir(carrier) / "vtysh.conf"]
    assert vtysh.content == f"service integrated-vtysh-config\nhostname {carrier}\n"
    record_copy = wrote[STATE / "lab" / "nig" / "configs" / f"{carrier}.conf"].content
    assert KEYS["TONLE_MD5_GLOBAL_TRANSIT"] not in record_copy and "<redacted>" in record_copy


def test_devices_with_qos_boot_with_their_tc_batch() -> None:
    steps = build(reference())
    tc = {c[3] for c in commands(steps) if c[:3] == ["ip", "netns", "exec"] and c[4:6] == ["tc", "-batch"]}
    assert tc == {"nig-pnh-iig-2", "nig-poi-iig-1", "nig-bvt-iig-1"}


def test_a_refused_tc_line_names_the_node_and_line_never_the_text() -> None:
    with pytest.raises(LabError, match=r"^r1: line 2: `! tc:` line refused") as err:
        plan_node(Layout("tst", STATE), small(), "r1", "hostname r1\n! tc: nonsense secret\n", {})
    assert "secret" not in str(err.value)


# ---- recording, idempotence, down ----------------------------------------------------------------------

def test_everything_is_recorded_before_it_is_made() -> None:
    steps = tuple(walk(build(small())))
    first = steps[0]
    assert isinstance(first, Record) and first.changes["bridge"] == "tst-mgmt" and first.changes["status"] == "building"
    ns_record = next(i for i, s in enumerate(steps) if isinstance(s, Record) and "namespaces" in s.changes
                     and s.changes.get("status") != "building")
    assert ns_record < index(steps, ["ip", "netns", "add", "tst-r1"])
    user = next(i for i, s in enumerate(steps) if isinstance(s, Record) and s.changes.get("created_user"))
    assert user < next(i for i, s in enumerate(steps) if isinstance(s, Command) and s.argv[0] == "useradd")
    last = steps[-1]
    assert isinstance(last, Record) and last.changes["status"] == "up"


def test_the_record_of_a_full_build_names_everything_and_nothing_is_missing() -> None:
    inv = small()
    record = recorded(build(inv))
    assert record["status"] == "up" and record["created_user"] is True
    assert sorted(record["nodes"]) == sorted([*inv.devices, *inv.peers])
    assert record["wired"] == {"r1-r2": ["r1", "r2"], "r2-up1": ["r2", "up1"], "dix": ["rs1", "r1", "isp1", "isp2"]}
    todo = missing(inv, record)
    assert (todo.nodes, todo.wiring) == ([], {})


def without_isp2(tmp_path: Path) -> Inventory:
    shutil.copytree(SMALL, tmp_path, dirs_exist_ok=True)
    peers_file, links_file = tmp_path / "inventory" / "peers.yaml", tmp_path / "inventory" / "links.yaml"
    peers = yaml.safe_load(peers_file.read_text())
    peers["peers"] = [p for p in peers["peers"] if p["name"] != "isp2"]
    peers_file.write_text(yaml.safe_dump(peers))
    links = yaml.safe_load(links_file.read_text())
    for link in links["links"]:
        link["endpoints"] = [e for e in link["endpoints"] if e["node"] != "isp2"]
    links_file.write_text(yaml.safe_dump(links))
    return load_from_nornir_config(tmp_path / "nornir.yaml")


def test_replan_against_a_recorded_lab_adds_only_what_is_missing(tmp_path: Path) -> None:
    record = recorded(build(without_isp2(tmp_path)))
    steps = add(small(), record, existing=record["namespaces"])
    assert [c[3] for c in commands(steps) if c[:3] == ["ip", "netns", "add"]] == ["tst-isp2"]
    veths = [c for c in commands(steps) if c[:3] == ["ip", "link", "add"]]
    assert veths == [["ip", "link", "add", Layout.lan_port("isp2"), "netns", "tst-lan-dix", "type", "veth",
                      "peer", "name", "eth1", "netns", "tst-isp2"]]  # no bridge, no other end, no mgmt link
    assert "link add br0 type bridge" not in batches(steps, "tst-lan-dix")
    started = [s for s in steps if isinstance(s, Parallel)][-1]
    assert len(started.branches) == 1 and all("isp2" in str(s) for s in started.branches[0] if isinstance(s, Command))
    after = recorded(steps, record)
    assert after["nodes"][-1] == "isp2" and after["wired"]["dix"][-1] == "isp2" and len(after["nodes"]) == 6


def test_replan_refuses_a_point_to_point_link_with_one_end_changed() -> None:
    record = recorded(build(small()))
    record["wired"] = {**record["wired"], "r1-r2": ["r1"]}
    refused = r"^link r1-r2: one end changed while the lab is up; run `tonle lab down` first$"
    with pytest.raises(LabError, match=refused):
        add(small(), record, existing=record["namespaces"])


def test_built_pins_every_device_key_and_records_the_new_devices_intent() -> None:
    inv, lay = small(), Layout("tst", STATE)
    pin, applied = plan_built(lay, inv, ["r2", "isp2"])
    assert isinstance(pin, PinHostKeys) and pin.path == STATE / "lab" / "tst" / "known_hosts"
    assert [h[0] for h in pin.hosts] == [str(inv.devices[d].mgmt_ip) for d in ("r1", "r2", "rs1")]
    assert isinstance(applied, RecordApplied) and applied.devices == ("r2",)
    assert plan_built(lay, inv, ["isp2"]) == (pin,)  # no device built: nothing to record


def test_down_removes_exactly_what_was_recorded() -> None:
    inv, lay = small(), Layout("tst", STATE)
    record = recorded(build(inv))
    record["namespaces"] = [*record["namespaces"], "tst-gone"]  # a node an older inventory had
    steps = plan_down(lay, inv, record)
    assert steps[0] == RemoveNamespaces((*lay.all_namespaces(inv), "tst-gone"))
    assert steps[1] == DeleteLink("tst-mgmt", "bridge")
    mgmt = [s.name for s in steps if isinstance(s, DeleteLink) and s.label is None]
    assert mgmt == [lay.mgmt_if(d) for d in inv.devices]
    assert RemoveTree(Path("/run/tonle/tst")) in steps and DeleteUser("tnl-tst") in steps
    assert [s.path.name for s in steps if isinstance(s, Unlink)] == list(STATE_FILES)
    assert steps[-1] == ForgetApplied(STATE, ("r1", "r2", "rs1"))


def test_down_leaves_a_user_it_did_not_create_and_forgets_nothing_without_a_record() -> None:
    inv, lay = small(), Layout("tst", STATE)
    assert not [s for s in prepare(inv, user_exists=True) if isinstance(s, Command) and s.argv[0] == "useradd"]
    steps = plan_down(lay, inv, recorded(prepare(inv, user_exists=True)))
    assert not [s for s in steps if isinstance(s, DeleteUser)]
    assert not [s for s in plan_down(lay, inv, {}) if isinstance(s, DeleteUser | ForgetApplied)]


# ---- checks, names, the Lab facade ---------------------------------------------------------------------

def test_a_management_network_overlapping_the_machine_is_refused() -> None:
    lay, inv = Layout("tst", STATE), small()
    mine = [{"dst": "198.19.253.0/24", "dev": "tst-mgmt"}, {"dst": "198.19.253.7", "type": "local", "dev": "x"},
            {"dst": "default", "dev": "eth0"}, {"dst": "10.0.0.0/8", "dev": "eth0"}]
    check_mgmt_network(lay, inv, mine)
    with pytest.raises(LabError, match=r"field mgmt_gateway: 198\.19\.253\.0/24 overlaps this machine's network "
                                       r"198\.19\.0\.0/16 on eth1;"):
        check_mgmt_network(lay, inv, [*mine, {"dst": "198.19.0.0/16", "dev": "eth1"}])


def test_secrets_stay_out_of_the_plans_repr() -> None:
    shown = repr(build(reference()))
    assert "pw-secret" not in shown and KEYS["TONLE_MD5_GLOBAL_TRANSIT"] not in shown


def test_lab_keeps_its_names(tmp_path: Path) -> None:
    lab = Lab(small(), tmp_path)
    assert (lab.name, lab.username, lab.bridge, lab.ns("r1"), lab.lan_ns("dix")) == (
        "tst", "tnl-tst", "tst-mgmt", "tst-r1", "tst-lan-dix")
    assert lab.state_file == tmp_path / "lab" / "tst" / "state.json" and lab.state_dir == tmp_path / "lab" / "tst"
    assert lab.run_dir == Path("/run/tonle/tst") and lab.node_dir("r1") == Path("/run/tonle/tst/r1")
    assert lab.top_state_dir == tmp_path and lab.all_namespaces()[-1] == "tst-lan-dix"
    assert lab.in_node("r1", ["vtysh"])[:5] == ["ip", "netns", "exec", "tst-r1", "unshare"]


def test_generated_password_never_reads_as_an_option() -> None:
    # token_urlsafe could start with '-': `napalm --password -X…` then fails (seen once on a fresh machine).
    inv = load_from_nornir_config(SMALL / "nornir.yaml")
    for _ in range(200):
        password = new_secrets(inv, {}).password
        assert password.isalnum() and len(password) == 24
