"""One node's start-up as a plan: its files (FRR configuration, vtysh, sshd, login), daemons and QoS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from napalm_frr import tc
from tonle.compile.intent import Intent
from tonle.compile.render import lab_external_config, render_device
from tonle.lab.errors import LabError
from tonle.lab.layout import Layout
from tonle.lab.steps import MakeDir, Step, WaitFor, WriteFile, run
from tonle.redact import redact
from tonle.source.inventory import Inventory

FRR_BIN = Path("/usr/lib/frr")
SSHD = Path("/usr/sbin/sshd")
DAEMONS = ("zebra", "staticd", "bfdd", "bgpd")
# bgpd's RPKI module (Debian frr-rpki-rtrlib), loaded by `-M rpki`; the lab's preflight checks it is there.
RPKI_MODULE = "/usr/lib/x86_64-linux-gnu/frr/modules/bgpd_rpki.so"


def node_daemons(inv: Inventory, node: str) -> tuple[str, ...]:
    """The FRR daemons a node runs: a device all of them (its intent may add static routes or BFD at any
    apply); a simulated network, whose configuration is the lab's own and fixed, only what it uses (no
    static routes; bfdd when it runs BFD). Half a lab's nodes are simulated networks: fewer daemons to start."""
    if node in inv.devices:
        return DAEMONS
    return ("zebra", "bfdd", "bgpd") if inv.peers[node].bfd else ("zebra", "bgpd")


FRR_FILE = ("frr", "frrvty")  # owner of the files FRR and vtysh read


def boot_config(inv: Inventory, node: str, md5_keys: Mapping[str, str], intent: Callable[[], Intent]) -> str:
    """The configuration `node` boots with: a device's intended FRR config, or its simulated network's."""
    if node in inv.devices:
        return render_device(intent(), node, "frr")
    return lab_external_config(inv, inv.peers[node], dict(md5_keys))


def plan_node(lay: Layout, inv: Inventory, node: str, conf: str, md5_keys: Mapping[str, str]) -> tuple[Step, ...]:
    """Write the node's files, start its FRR daemons, load its config and QoS; a device also gets its sshd.

    Raises:
        LabError: the config's `! tc:` lines are refused (the line number and why, never the text).
    """
    try:  # the driver's strict grammar: a refused `! tc:` line names its line number, never its text
        qos = tc.boot_batch(conf)
    except tc.TcSyntaxError as exc:
        raise LabError(f"{node}: {exc}") from None
    d = lay.node_dir(node)
    steps: list[Step] = [
        MakeDir(d, mode=0o770, owner=("frr", "frr")),
        WriteFile(d / "frr.conf", conf, 0o660, FRR_FILE),
        WriteFile(d / "vtysh.conf", f"service integrated-vtysh-config\nhostname {node}\n", 0o660, FRR_FILE),
        WriteFile(d / "empty.conf", "", 0o660, FRR_FILE),
        MakeDir(lay.state_dir / "configs"),
        # the boot config, for the record (without its keys: the node's own copy above has them)
        WriteFile(lay.state_dir / "configs" / f"{node}.conf", redact(conf, md5_keys.values(), "frr")),
    ]
    # A simulated network's configuration is the lab's own template, bgpd's lines alone: bgpd reads it as it
    # starts (one program less per node than `vtysh -b`, the most costly step of a lab's build).
    own = node in inv.peers
    for daemon in node_daemons(inv, node):
        config = d / "frr.conf" if own and daemon == "bgpd" else None
        steps += [run(lay.in_node(node, daemon_argv(lay, node, daemon, config))),
                  WaitFor(d / f"{daemon}.vty", 10, f"{node}: {daemon} did not start")]
    if not own:
        steps.append(run(lay.in_node(node, ["vtysh", "--vty_socket", str(d), "--config_dir", str(d), "-b"])))
    if qos:  # QoS lines are comments to vtysh; the device boots with them applied, as after a commit
        steps.append(run(["ip", "netns", "exec", lay.ns(node), "tc", "-batch", "-"], stdin="\n".join(qos) + "\n"))
    if node in inv.devices:
        steps += plan_sshd(lay, inv, node)
    return tuple(steps)


def daemon_argv(lay: Layout, node: str, daemon: str, config: Path | None = None) -> list[str]:
    """An FRR daemon of `node`: its sockets, pid file and log in the node's directory; the configuration it
    reads as it starts is `config`, else none (vtysh loads the node's)."""
    d = lay.node_dir(node)
    extra = ["--bfdctl", str(d / "bfdd.sock")] if daemon == "bfdd" else []
    if daemon == "bgpd":  # RPKI origin validation (frr-rpki-rtrlib): `rpki` lines need the module loaded
        extra = ["-M", "rpki"]
    return [str(FRR_BIN / daemon), "-d", "-u", "frr", "-g", "frr", "-z", str(d / "zserv.api"),
            "--vty_socket", str(d), "-A", "127.0.0.1", "-P", "0", "-f", str(config or d / "empty.conf"), *extra,
            "-i", str(d / f"{daemon}.pid"), "--log", f"file:{d / daemon}.log"]


def plan_sshd(lay: Layout, inv: Inventory, device: str) -> list[Step]:
    """A host key, the login script and an sshd on the device's management address."""
    d = lay.node_dir(device)
    return [
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key")]),
        WriteFile(d / "login.sh", login_script(lay, device), 0o755),
        WriteFile(d / "sshd_config", sshd_config(lay, str(inv.devices[device].mgmt_ip), device)),
        MakeDir(Path("/run/sshd")),
        run(lay.in_node(device, [str(SSHD), "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")])),
    ]


def login_script(lay: Layout, device: str) -> str:
    d = lay.node_dir(device)
    vtysh = f"vtysh --vty_socket {d} --config_dir {d} -H /dev/null"
    return (
        "#!/bin/sh\n# Lab login: vtysh for this device only; an exec request runs one vtysh command,\n"
        "# or tc (QoS on FRR/Linux) through the lab's capability-limited copy of tc.\n"
        "set -f\n"
        'case "$SSH_ORIGINAL_COMMAND" in\n'
        f"  '') exec {vtysh} ;;\n"
        f'  "tc "*) exec {lay.run_dir / "tc"} ${{SSH_ORIGINAL_COMMAND#tc }} ;;\n'
        f'  *) exec {vtysh} -c "$SSH_ORIGINAL_COMMAND" ;;\n'
        "esac\n"
    )


def sshd_config(lay: Layout, mgmt_ip: str, device: str) -> str:
    """Only the lab user, only on the management address, only into the login script."""
    d = lay.node_dir(device)
    return "\n".join([
        f"ListenAddress {mgmt_ip}", "Port 22", f"HostKey {d / 'ssh_host_ed25519_key'}", f"PidFile {d / 'sshd.pid'}",
        "UsePAM no", "StrictModes no", "PasswordAuthentication yes", "PubkeyAuthentication yes",
        "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {lay.run_dir / 'authorized_keys'}",
        f"AllowUsers {lay.username}", "PermitRootLogin no", f"ForceCommand {d / 'login.sh'}",
        "X11Forwarding no", "AllowTcpForwarding no", "PrintMotd no", "MaxStartups 100:30:200",
        "LogLevel ERROR", "",
    ])
