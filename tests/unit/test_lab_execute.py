"""The lab's one executor on steps that need no root: files, the record, progress, failures, parallel branches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tonle.lab.errors import LabError
from tonle.lab.execute import Executor, read_record
from tonle.lab.steps import (
    CopyFile,
    MakeDir,
    Parallel,
    PinHostKeys,
    Record,
    RemoveTree,
    Say,
    Unlink,
    WriteFile,
    run,
)


def test_files_get_their_modes_and_the_record_merges(tmp_path: Path) -> None:
    state, said = tmp_path / "state" / "state.json", []
    src = tmp_path / "src"
    src.write_text("key\n")
    Executor(state, said.append).run([
        Record({"status": "building", "nodes": []}),
        MakeDir(tmp_path / "run" / "r1", mode=0o750),
        WriteFile(tmp_path / "run" / "r1" / "secret.json", "{}", 0o600),
        CopyFile(src, tmp_path / "run" / "authorized_keys", 0o644),
        Say("halfway"),
        Record({"nodes": ["r1"], "status": "up"}),
    ])
    assert read_record(state) == {"status": "up", "nodes": ["r1"]}
    assert (state.parent.stat().st_mode & 0o777) == 0o700
    assert ((tmp_path / "run" / "r1").stat().st_mode & 0o777) == 0o750
    assert ((tmp_path / "run" / "r1" / "secret.json").stat().st_mode & 0o777) == 0o600
    assert (tmp_path / "run" / "authorized_keys").read_text() == "key\n"
    assert said == ["halfway"]


def test_removal_steps_tolerate_what_is_already_gone(tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    steps = [Unlink(tmp_path / "file"), Unlink(tmp_path / "never"), RemoveTree(tmp_path / "tree"),
             RemoveTree(tmp_path / "never-dir")]
    assert Executor(tmp_path / "state.json").run(steps) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_host_keys_are_pinned_for_the_devices_that_have_one(tmp_path: Path) -> None:
    (tmp_path / "r1.pub").write_text("ssh-ed25519 AAAAkey1 root@host\n")
    known = tmp_path / "known_hosts"
    Executor(tmp_path / "state.json").run([
        PinHostKeys(known, (("198.19.253.11", tmp_path / "r1.pub"), ("198.19.253.12", tmp_path / "r2.pub")))])
    assert known.read_text() == "198.19.253.11 ssh-ed25519 AAAAkey1\n"
    assert (known.stat().st_mode & 0o777) == 0o600


def test_a_failing_command_stops_the_plan_with_one_redacted_line(tmp_path: Path) -> None:
    after = tmp_path / "after"
    with pytest.raises(LabError) as err:
        Executor(tmp_path / "state.json").run([
            run(["sh", "-c", "echo 'neighbor 192.0.2.1 password hunter2' >&2; exit 1"]),
            WriteFile(after, "must not be written")])
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("sh -c")
    assert not after.exists()


def test_commands_get_their_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    Executor(tmp_path / "state.json").run([run(["sh", "-c", f"cat > {out}"], stdin="line 1\nline 2\n")])
    assert out.read_text() == "line 1\nline 2\n"


def test_parallel_branches_run_in_order_within_and_a_failure_is_raised(tmp_path: Path) -> None:
    branches = (
        (WriteFile(tmp_path / "a", "a"),),
        (run(["sh", "-c", "echo broken >&2; exit 3"]), WriteFile(tmp_path / "b", "b")),
        (WriteFile(tmp_path / "c", "c"),),
    )
    with pytest.raises(LabError, match=r"broken$"):
        Executor(tmp_path / "state.json").run([Parallel(branches)])
    assert (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # c: run or dropped, as it happens


def test_an_unreadable_record_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(LabError, match=r"state\.json: unreadable lab state: "):
        read_record(state)
    assert read_record(tmp_path / "none.json") == {}
    state.write_text(json.dumps({"status": "up"}))
    assert read_record(state) == {"status": "up"}
