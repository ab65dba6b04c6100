"""One exit-code table for every command (README): 0 ok; 1 refused, failed, rolled back or drift found;
2 bad input, or a device / the lab unreachable. Each row is exercised through the CLI, with no lab."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tonle.errors import BadInput, Failed, Refused, TonleError, Unavailable
from tonle.interfaces.cli import main
from tonle.state.disconnects import get, open_db, records, save


@pytest.fixture
def small(small_applied: tuple[Path, Path]) -> tuple[Path, Path]:
    return small_applied


def run(config: Path, state: Path, *argv: str) -> int:
    return main(["--config", str(config), "--state-dir", str(state), *argv])


def test_kinds_carry_their_exit_code() -> None:
    assert (BadInput.exit_code, Unavailable.exit_code, Refused.exit_code, Failed.exit_code) == (2, 2, 1, 1)
    assert issubclass(BadInput, TonleError) and issubclass(Refused, TonleError)


@pytest.mark.parametrize("ttl", ["infs", "nan", "1e999", "-5m", "5 m", "10d", "", "12345678s"])
def test_bad_duration_is_bad_input(small: tuple[Path, Path], ttl: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:  # argparse's own exit 2
        run(*small, "disconnect", "--session", "r2:198.51.100.5", "--reason", "x", "--ticket", "T-1", f"--ttl={ttl}")
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "not a duration" in err[-1] and "Traceback" not in "\n".join(err)


TABLE = [
    (2, ["inventory", "check"], "break-inventory"),
    (2, ["apply", "P-does-not-exist"], None),
    (2, ["restore", "D-does-not-exist"], None),
    (2, ["plan", "--host", "nope"], None),
    (2, ["facts"], None),  # the lab is not up: devices unreachable
    (2, ["drift"], None),
    (2, ["lab", "credentials"], None),
    (2, ["disconnect", "--site-upstreams", "POI", "--reason", " ", "--ticket", "T-1"], None),
    (0, ["inventory", "check"], None),
    (0, ["disconnect", "--site-upstreams", "POI", "--reason", "drill", "--ticket", "T-1", "--dry-run"], None),
]


@pytest.mark.parametrize(("code", "argv", "setup"), TABLE, ids=[" ".join(a) for _, a, _ in TABLE])
def test_exit_code_table(small: tuple[Path, Path], code: int, argv: list[str], setup: str | None,
                         capsys: pytest.CaptureFixture[str]) -> None:
    config, state = small
    if setup == "break-inventory":
        hosts = config.parent / "inventory" / "hosts.yaml"
        hosts.write_text(hosts.read_text().replace("groups: [site-pnh", "groups: [site-pnhx", 1))
    assert run(config, state, *argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code:
        assert err.strip(), "a non-zero exit says why on stderr"


def test_refused_approval_is_1(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    config, state = small
    # The last upstream of a site: over the guard's limit, so it waits for a second operator (no device touched).
    assert run(config, state, "disconnect", "--site-upstreams", "POI", "--reason", "drill", "--ticket", "T-1") == 1
    (pending,) = records(state, "pending-approval")
    assert run(config, state, "approve", pending.id) == 1  # the requester cannot approve
    assert get(state, pending.id).status == "pending-approval"


def test_dry_run_changes_nothing_even_when_a_disconnect_is_due(small: tuple[Path, Path]) -> None:
    config, state = small
    assert run(config, state, "disconnect", "--site-upstreams", "POI", "--reason", "drill", "--ticket", "T-1") == 1
    (rec,) = records(state, "pending-approval")
    # Make it an active disconnect whose TTL has run out: a non-dry run would restore it first (on devices).
    rec.status, rec.expires_at = "active", (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    save(open_db(state), rec)
    assert run(config, state, "disconnect", "--site-upstreams", "POI", "--reason", "again", "--ticket", "T-2",
               "--dry-run") == 0
    assert get(state, rec.id).status == "active"  # not restored, not touched


def test_closed_output_pipe_exits_quietly(small: tuple[Path, Path]) -> None:
    config, state = small
    proc = subprocess.Popen([sys.executable, "-m", "tonle", "--config", str(config), "--state-dir", str(state),
                             "inventory", "check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first line, like `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""
