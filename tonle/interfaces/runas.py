"""The `tonle` command as another OS user runs it (the demo's second operator, the tests' accounts).

Normally this environment's own interpreter (`python -m tonle`). When that interpreter lives where other
users may not go (a venv made from a Python installed in root's home), the system's python3 of the same
minor version runs it instead, with this environment's packages added as a site directory: same code,
same packages, and the process is the other user's own (the kernel gives the service its uid).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

_SHARED: dict[str, list[str]] = {}

_MAIN = ("import site, sys\nfor d in {sites!r}: site.addsitedir(d)\nsys.path[0:0] = {sites!r}\n"
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
    checkout = str(Path(__file__).resolve().parents[2])
    probe = "import os, sys; sys.exit(0 if all(os.access(p, os.R_OK | os.X_OK) for p in sys.argv[1:]) else 1)"
    if subprocess.run(["runuser", "-u", user, "--", system, "-c", probe, *sites, checkout], capture_output=True,
                      check=False).returncode != 0:
        sites = _shared_sites(sites, Path(checkout))
    return [system, "-c", _MAIN.format(sites=sites)]


def _shared_sites(sites: list[str], checkout: Path) -> list[str]:
    """A copy other users may read (hard links where the file system allows) of this environment's packages
    and of the checkout laid out as installed: for a checkout under a private home (root's, say). Removed
    when this process ends."""
    if "site" not in _SHARED:
        top = Path(tempfile.mkdtemp(prefix="tonle-runas-", dir="/var/tmp"))
        atexit.register(shutil.rmtree, top, True)
        top.chmod(0o755)
        site = top / "site"

        def link(src: str, dst: str) -> None:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        for d in sites:
            def ours(folder: str, names: list[str], top: str = d) -> set[str]:  # only at the top of site-packages
                return {n for n in names if n.startswith("__editable__") or n in ("tonle", "napalm_frr")} \
                    if folder == top else set()

            shutil.copytree(d, site, copy_function=link, dirs_exist_ok=True, symlinks=True, ignore=ours)
        for src, dst in (("tonle", "tonle"), ("tasks", "tonle/tasks"), ("templates", "tonle/templates"),
                         ("playbooks", "tonle/playbooks"), ("napalm_frr", "napalm_frr")):
            shutil.copytree(checkout / src, site / dst, copy_function=link, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        for folder in (top, *(p for p in site.rglob("*") if p.is_dir())):
            folder.chmod(0o755)
        _SHARED["site"] = [str(site)]
    return _SHARED["site"]
