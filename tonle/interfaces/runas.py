"""The `tonle` command as another OS user runs it (the demo's second operator, the tests' accounts).

Normally this environment's own interpreter (`python -m tonle`). When that interpreter lives where other
users may not go (a venv made from a Python installed in root's home), the system's python3 of the same
minor version runs it instead, with this environment's packages added as a site directory: same code,
same packages, and the process is the other user's own (the kernel gives the service its uid).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig

_MAIN = ("import site, sys\nfor d in {sites!r}: site.addsitedir(d)\n"
         "from tonle.interfaces.cli import main\nsys.exit(main(sys.argv[1:]))")


def tonle_argv(user: str) -> list[str]:
    """argv prefix that runs `tonle` as `user` would (to be run through `runuser -u USER --`)."""
    own = [sys.executable, "-m", "tonle"]
    if subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", ""], capture_output=True,
                      check=False).returncode == 0:
        return own
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if system is None:
        return own  # runuser will say why it cannot run it
    sites = list(dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    return [system, "-c", _MAIN.format(sites=sites)]
