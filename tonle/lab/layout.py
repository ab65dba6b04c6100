"""What one lab's namespaces, interfaces, user and files are called, and where they live (names only)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from tonle.source.inventory import Inventory
from tonle.targets.target import lab_dir

RUN_ROOT = Path("/run/tonle")


@dataclass(frozen=True)
class Layout:
    """Every name the lab `name` gives things on this machine; computing one touches nothing."""

    name: str
    top_state_dir: Path  # the Tonlé state directory; the lab's own files are under lab/<name>/
    run_root: Path = RUN_ROOT
    RPKI_NODE = "_rpki"  # files and mgmt port of the lab's validator cache (inventory names never start with _)

    @property
    def state_dir(self) -> Path:
        return lab_dir(self.top_state_dir, self.name)

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def run_dir(self) -> Path:
        return self.run_root / self.name

    @property
    def username(self) -> str:
        return f"tnl-{self.name}"

    @property
    def bridge(self) -> str:
        return f"{self.name}-mgmt"

    def ns(self, node: str) -> str:
        return f"{self.name}-{node}"

    def lan_ns(self, link: str) -> str:
        return f"{self.name}-lan-{link}"

    @property
    def rpki_ns(self) -> str:
        """The lab's RPKI validator cache (stayrtr); inventory node names cannot clash with it (no `_`)."""
        return f"{self.name}-rpki_cache"

    def node_dir(self, node: str) -> Path:
        return self.run_dir / node

    def mgmt_if(self, device: str) -> str:
        # Root-namespace interface names are global and at most 15 characters: lab name + hash.
        return f"{self.name}m{zlib.crc32(device.encode()) & 0xFFFFFF:06x}"

    @staticmethod
    def lan_port(node: str) -> str:
        """The bridge side, inside a LAN's namespace, of `node`'s veth onto that LAN."""
        return f"p{zlib.crc32(node.encode()) & 0xFFFFFFF:07x}"

    def all_namespaces(self, inv: Inventory) -> list[str]:
        nodes = [*inv.devices, *inv.peers]
        lans = [ln.name for ln in inv.links.values() if ln.kind == "lan"]
        rpki = [self.rpki_ns] if inv.lab.rpki_vrps else []
        return [self.ns(n) for n in nodes] + [self.lan_ns(ln) for ln in lans] + rpki

    def in_node(self, node: str, argv: list[str]) -> list[str]:
        """argv run inside the node's network namespace and its own UTS namespace.

        The UTS namespace carries the node's hostname: FRR daemons and vtysh print the kernel
        hostname in the running config, and the machine's own name would leak into every device.
        """
        return ["ip", "netns", "exec", self.ns(node), "unshare", "--uts", "--", "sh", "-c",
                'hostname "$0" && exec "$@"', node, *argv]
