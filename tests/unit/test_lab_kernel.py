"""The kernel limits a lab needs: floors for small labs, growth with the node count, raise-only, reported."""

from __future__ import annotations

from pathlib import Path

from tonle.lab.kernel import PROC_SYS, changes, needed


def by_key(nodes: int) -> dict[str, int]:
    return {lim.key: lim.minimum for lim in needed(nodes)}


def test_small_labs_get_the_measured_floors() -> None:
    need = by_key(10)
    assert need["net.ipv4.neigh.default.gc_thresh1"] == 4096
    assert need["net.ipv4.neigh.default.gc_thresh2"] == 8192
    assert need["net.ipv4.neigh.default.gc_thresh3"] == 16384
    assert need["net.ipv6.neigh.default.gc_thresh3"] == 16384
    assert need["kernel.pid_max"] == 65536
    assert need["fs.inotify.max_user_instances"] == 1024


def test_limits_grow_with_the_lab() -> None:
    small, large = by_key(10), by_key(2000)  # 1000 devices and their upstreams
    assert set(small) == set(large)
    assert large["net.ipv4.neigh.default.gc_thresh3"] == 64000
    assert large["net.ipv4.neigh.default.gc_thresh1"] == 16000
    assert large["kernel.pid_max"] == 128000
    assert all(large[k] >= small[k] for k in small)


def test_only_lower_values_are_raised_and_every_value_is_reported() -> None:
    have = {PROC_SYS / "net/ipv4/neigh/default/gc_thresh3": 1024, PROC_SYS / "kernel/pid_max": 4194304}
    found = changes(needed(500), lambda p: have.get(p, 10**9))
    raised = {c.limit.key: c.line() for c in found if c.raised}
    assert raised == {"net.ipv4.neigh.default.gc_thresh3": "sysctl net.ipv4.neigh.default.gc_thresh3: 1024 -> "
                      "16384 (global kernel setting; neighbour tables are shared by every namespace)"}
    kept = next(c for c in found if c.limit.key == "kernel.pid_max")
    assert kept.line() == "sysctl kernel.pid_max = 4194304 (>= 65536, unchanged)"
    assert next(c.limit.path for c in found if c.limit.key == "fs.inotify.max_user_instances") == Path(
        "/proc/sys/fs/inotify/max_user_instances")
