"""Does the fast tier catch a broken safety rule? Applies each mutant to a temporary copy of the source, runs
the fast tier (tests/unit, stopping at the first failure) against that copy, and prints killed/survived.

    .venv/bin/python benchmarks/mutants.py [--tests tests/unit] [--only NAME]

A mutant that survives is a safety rule no fast test guards. No lab, no lock needed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("tonle", "tasks", "napalm_frr", "tests", "inventory", "templates", "playbooks", "nornir.yaml",
          "pyproject.toml")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    before: str
    after: str


MUTANTS = (
    Mutant("guard: site share compared with >= instead of >", "tonle/emergency/guard.py",
           "if v[\"share\"] > guard.max_site_share:", "if v[\"share\"] >= guard.max_site_share:"),
    Mutant("guard: blackholed share reaches its limit only above it", "tonle/emergency/guard.py",
           ">= Fraction(str(limit_percent))", "> Fraction(str(limit_percent))"),
    Mutant("guard: what is already dark is not counted", "tonle/emergency/guard.py",
           "if s.dark_after > s.dark_before and s.reaches(limit):", "if s.reaches(limit):"),
    Mutant("audit: the content/hash check skipped", "tonle/state/audit_checks.py",
           "if not r.content_ok():", "if False:"),
    Mutant("audit: the chain link check skipped", "tonle/state/audit_checks.py",
           "if r.prev_hash != prev:", "if False:"),
    Mutant("redaction disabled", "tonle/redact.py",
           "    platforms = _platforms(platform)\n", "    return text\n    platforms = _platforms(platform)\n"),
    Mutant("gates: the hold time dropped (healthy at the deadline)", "tonle/change/gates.py",
           "        if now >= deadline:\n            if problems:\n                return problems\n",
           "        if now >= deadline:\n            if True:\n                return problems\n"),
    Mutant("gates: max-prefix limit off by one", "tonle/change/gates.py",
           "now[\"accepted\"] > n.max_prefixes", "now[\"accepted\"] >= n.max_prefixes + 1 + 1"),
    Mutant("approval: the same account may approve its own request", "tonle/state/accounts.py",
           "return (uid is not None and uid == self.uid) or name.casefold() == self.name.casefold()",
           "return False"),
    Mutant("apply: the canary is the device with the most external sessions", "tonle/change/apply.py",
           "canary = opts.canary or [min(changed,", "canary = opts.canary or [max(changed,"),
)

# Run inside the copy: the editable install's finder is pointed at the copy before anything is imported.
BOOT = """
import sys
src, dst = sys.argv[1], sys.argv[2]
for name, mod in list(sys.modules.items()):
    if name.startswith("__editable__") and hasattr(mod, "MAPPING"):
        mod.MAPPING.update({k: v.replace(src, dst, 1) for k, v in mod.MAPPING.items()})
        for k, paths in getattr(mod, "NAMESPACES", {}).items():
            paths[:] = [p.replace(src, dst, 1) for p in paths]
import pytest
sys.exit(pytest.main(sys.argv[3:]))
"""


def copy_tree(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
        else:
            shutil.copy2(src, dest / name)


def run_tests(copy: Path, tests: list[str]) -> tuple[int, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", BOOT, str(ROOT), str(copy), "-x", "-q", "-p", "no:cacheprovider",
                           *tests], cwd=copy, capture_output=True, text=True, check=False)
    return proc.returncode, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", nargs="+", default=["tests/unit"])
    ap.add_argument("--only", help="run the mutants whose name contains this")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if not args.only or args.only in m.name]
    survived = 0
    with tempfile.TemporaryDirectory(prefix="tonle-mutants-") as tmp:
        base = Path(tmp) / "src"
        copy_tree(base)
        code, seconds = run_tests(base, args.tests)
        print(f"{'unmutated copy':<66} {'passes' if code == 0 else f'FAILS (exit {code})':>10} {seconds:6.1f}s")
        if code != 0:
            return 2
        for m in chosen:
            copy = Path(tmp) / "m"
            shutil.rmtree(copy, ignore_errors=True)
            copy_tree(copy)
            target = copy / m.path
            text = target.read_text()
            if text.count(m.before) != 1:
                print(f"{m.name:<66} {'NOT APPLIED':>10} (the code it mutates changed)")
                survived += 1
                continue
            target.write_text(text.replace(m.before, m.after))
            code, seconds = run_tests(copy, args.tests)
            verdict = "killed" if code == 1 else "SURVIVED" if code == 0 else f"error {code}"
            survived += verdict != "killed"
            print(f"{m.name:<66} {verdict:>10} {seconds:6.1f}s")
    print(f"{len(chosen) - survived} of {len(chosen)} mutants killed by {' '.join(args.tests)}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
