"""The warm session pool's decisions that need no device: which devices it keeps, and when it declines to lend
(the caller then opens its own connections). Lending, checking and reopening real sessions:
tests/live/test_service.py."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import SMALL
from tonle.source.inventory import load_from_nornir_config
from tonle.targets.pool import SessionPool, active, external_devices


def test_the_devices_kept_are_those_with_external_sessions() -> None:
    inv = load_from_nornir_config(SMALL / "nornir.yaml")
    assert external_devices(inv) == ["r2", "rs1"]  # an upstream at r2, the DIX members at rs1
    assert set(inv.devices) - set(external_devices(inv))  # the core router is not kept


def test_a_pool_not_ready_lends_nothing_and_is_found_only_while_started(tmp_path: Path) -> None:
    shutil.copytree(SMALL, tmp_path / "small")
    config, state = tmp_path / "small" / "nornir.yaml", tmp_path / "state"
    pool = SessionPool(config, state, lab=True, check_every=3600)
    assert active(state, lab=True) is None
    assert pool.lend(["r2"]) is None  # never built: the caller opens its own connections
    pool.start()  # the keeper fails to build (no lab here) and says so; lending still declines
    try:
        assert active(state, lab=True) is pool and active(state, lab=False) is None
        assert pool.lend(["r2"]) is None
    finally:
        pool.stop()
    assert active(state, lab=True) is None
    assert pool.info()["ready"] is False
