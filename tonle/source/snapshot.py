"""The intent as a set of files: captured when a change is confirmed, loaded again for emergencies.

An emergency disconnect, its restore and its expiry render from the intent of the device's last confirmed
apply (or the lab build), never from the working tree: an unreviewed edit of inventory/ must reach a
device only through plan and apply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tonle.errors import BadInput
from tonle.source.inventory import Inventory, load_from_nornir_config
from tonle.source.yamlio import load_yaml

_SUFFIXES = (".yaml", ".yml")


class SnapshotError(BadInput):
    """The intent files cannot be captured (a file outside the configuration's directory, say)."""


@dataclass(frozen=True)
class IntentSnapshot:
    """Relative path -> text of every file the inventory and intent are read from."""

    config: str  # the nornir.yaml's name among `files`
    files: dict[str, str]

    def to_json(self) -> str:
        return json.dumps({"config": self.config, "files": self.files}, sort_keys=True)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def with_file(self, name: str, text: str) -> IntentSnapshot:
        """The snapshot with one more file: intent kept in the state rather than the inventory (IRR filters)."""
        return IntentSnapshot(self.config, {**self.files, name: text})

    @classmethod
    def from_json(cls, text: str) -> IntentSnapshot:
        data = json.loads(text)
        return cls(str(data["config"]), dict(data["files"]))


def capture(inv: Inventory) -> IntentSnapshot:
    """The files behind a loaded inventory: its nornir.yaml and every YAML file under the inventory folders."""
    if inv.config_file is None:
        raise SnapshotError("the inventory was not loaded from a nornir.yaml; nothing to capture")
    config = inv.config_file.resolve()
    root = config.parent
    opts = load_yaml(config)["inventory"]["options"]
    folders = {(root / str(opts[k])).resolve().parent for k in ("host_file", "group_file", "defaults_file")}
    files = {config.name: config.read_text(encoding="utf-8")}
    for folder in sorted(folders):
        if not folder.is_relative_to(root):
            raise SnapshotError(f"{config}: inventory folder {folder} is outside the configuration's directory")
        for path in sorted(folder.rglob("*")):
            if path.suffix in _SUFFIXES and path.is_file():
                files[str(path.relative_to(root))] = path.read_text(encoding="utf-8")
    return IntentSnapshot(config.name, files)


def materialize(snap: IntentSnapshot, cache_dir: Path) -> Inventory:
    """Write a snapshot's files once under `cache_dir/<sha256>/` and load its inventory from there."""
    root = cache_dir / snap.sha256
    if not (root / ".complete").exists():
        for rel, text in snap.files.items():
            path = (root / rel).resolve()
            if not path.is_relative_to(root.resolve()):
                raise SnapshotError(f"snapshot {snap.sha256[:12]}: file {rel!r} points outside it")
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(text, encoding="utf-8")
        (root / ".complete").touch()
    return load_from_nornir_config(root / snap.config)
