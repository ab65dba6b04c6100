"""The programs and files this machine must have, read from ``host-requirements.txt``.

That file is the one list: ``./dev`` installs its packages and checks its entries with the same rules
(a bare name must be on PATH, an absolute path must exist), and the lab's preflight calls `missing()`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("host-requirements.txt")


@dataclass(frozen=True)
class HostRequirement:
    program: str  # a name looked up on PATH, or an absolute path
    package: str  # the Debian package that brings it

    def present(self) -> bool:
        if self.program.startswith("/"):
            return Path(self.program).exists()
        return shutil.which(self.program) is not None


def requirements(path: Path | None = None) -> list[HostRequirement]:
    out = []
    for raw in (path or REQUIREMENTS).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            program, package = line.split()
            out.append(HostRequirement(program, package))
    return out


def missing(programs: set[str] | None = None) -> list[HostRequirement]:
    """The requirements (all, or only those named) that this machine lacks."""
    return [r for r in requirements() if (programs is None or r.program in programs) and not r.present()]


def describe(reqs: list[HostRequirement]) -> str:
    """One line: what is missing and the Debian packages that bring it."""
    return "missing " + ", ".join(f"{r.program} (Debian package {r.package})" for r in reqs)
