"""Fault injection figures: the fault points of tests/live/test_faults.py (its CASES, in order: SIGKILL of the
client, the service and the TTL timer at apply, disconnect, restore and expiry steps; sshd or bgpd killed; a
refused commit, a failed write memory or confirm on one device of several; a flapping peer; a window closing;
an orphaned pending commit met by another push)
on one small lab, each followed by recovery and the consistency checks; prints per fault point the devices
touched, how many ended consistent, the time recovery took, and whether any audit entry was lost or changed.

    .venv/bin/python benchmarks/fault_bench.py   (as root; builds and removes its lab)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' fault points

from tests.live.test_faults import CASES, Figures, make_lab
from tonle.state.audit import AuditLog
from tonle.state.db import StateDB


def main() -> int:
    rows: list[tuple[Figures, bool, float]] = []
    with tempfile.TemporaryDirectory(prefix="tonle-faults-") as tmp:
        lab = make_lab(Path(tmp))
        t_up = time.monotonic()
        lab.lab.up(timeout=90)
        print(f"lab up in {time.monotonic() - t_up:.1f}s (3 devices, 4 simulated networks)")
        try:
            for case in CASES:
                before = [(e.seq, e.hash) for e in AuditLog(StateDB(lab.state)).entries()]
                t0 = time.monotonic()
                try:
                    figures = case(lab)
                except AssertionError as exc:
                    figures = Figures(case.__name__, problems=(str(exc).splitlines()[0],))
                after = [(e.seq, e.hash) for e in AuditLog(StateDB(lab.state)).entries()]
                kept = after[:len(before)] == before  # nothing lost or rewritten
                rows.append((figures, kept, time.monotonic() - t0))
        finally:
            lab.lab.down()
    print(f"{'fault point':<54} {'touched':>7} {'consistent':>10} {'recover':>8} {'audit kept':>10} {'case':>6}")
    for f, kept, seconds in rows:
        rec = f"{f.recover_seconds:.2f}s" if f.recover_seconds else "-"
        print(f"{f.fault:<54} {f.touched:>7} {f.consistent:>10} {rec:>8} {'yes' if kept else 'NO':>10} "
              f"{seconds:5.1f}s")
        for p in f.problems:
            print(f"    ! {p}")
    touched = sum(f.touched for f, _, _ in rows)
    consistent = sum(f.consistent for f, _, _ in rows)
    timed = sorted(f.recover_seconds for f, _, _ in rows if f.recover_seconds)
    median = timed[len(timed) // 2] if timed else 0.0
    print(f"{len(rows)} fault points injected; {consistent} of {touched} touched devices ended consistent; "
          f"recovery median {median:.2f}s (max {max(timed, default=0.0):.2f}s); audit entries lost: "
          f"{sum(1 for _, kept, _ in rows if not kept)} fault point(s)")
    return 0 if consistent == touched and all(kept for _, kept, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
