"""The one list of host programs agrees with what the code, tests and benchmarks run."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.source_ast import parse
from tonle.lab.builder import DAEMONS, FRR_BIN
from tonle.targets import hostdeps

REPO = Path(__file__).resolve().parents[2]
CALLS = {"run", "Popen", "check_output", "check_call", "_run", "which"}


def _program(cmd: ast.expr) -> list[str]:
    """Programs a literal command list runs: its first word, and what `ip netns exec NS` / `unshare` run."""
    if not (isinstance(cmd, ast.List) and cmd.elts):
        return []
    words = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None for e in cmd.elts]
    out = [words[0]] if words[0] else []
    if words[:3] == ["ip", "netns", "exec"] and len(words) > 4 and words[4]:
        out.append(words[4])
        if words[4] == "unshare" and "--" in words[5:]:  # unshare [options] -- PROGRAM
            after = words[words.index("--", 5) + 1:]
            out += [after[0]] if after and after[0] else []
    return out


def called_programs() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for top in ("tonle", "tasks", "napalm_frr", "benchmarks", "tests", "playbooks"):
        for path in (REPO / top).rglob("*.py"):
            for node in ast.walk(parse(path)):
                names: list[str] = []
                if isinstance(node, ast.List):  # a command built for later, e.g. Lab.in_node's prefix
                    names = _program(node)[1:]
                if isinstance(node, ast.Call) and node.args:
                    func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                    if func in CALLS:
                        first = node.args[0]
                        names = ([first.value] if func == "which" and isinstance(first, ast.Constant)
                                 else _program(first))
                    elif func == "in_node" and len(node.args) > 1:
                        names = _program(node.args[1])
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and node.value.startswith(("/usr/sbin/", "/usr/bin/", "/usr/lib/frr/",
                                                   "/usr/lib/x86_64-linux-gnu/frr/")) \
                        and not node.value.endswith("/"):
                    names = [node.value]
                for n in names:
                    found.setdefault(n, set()).add(str(path.relative_to(REPO)))
    for d in DAEMONS:  # started as FRR_BIN / name
        found.setdefault(str(FRR_BIN / d), set()).add("tonle/lab.py")
    return found


def test_every_program_the_code_runs_is_listed() -> None:
    listed = {r.program for r in hostdeps.requirements()}
    unlisted = {p: sorted(files) for p, files in called_programs().items() if p not in listed}
    assert not unlisted, f"add these to tonle/targets/host-requirements.txt with their Debian package: {unlisted}"


def test_every_listed_program_is_used() -> None:
    called = set(called_programs())
    stale = [r.program for r in hostdeps.requirements() if r.program not in called]
    assert not stale, f"listed but never run (remove them): {stale}"


def test_frr_reload_comes_from_frr_pythontools() -> None:
    # frr-reload.py is not in `frr`; a --no-install-recommends install skips it (the fresh-machine failure).
    reqs = {r.program: r.package for r in hostdeps.requirements()}
    assert reqs["/usr/lib/frr/frr-reload.py"] == "frr-pythontools"


def test_missing_names_the_program_and_its_package(tmp_path: Path, monkeypatch: object) -> None:
    req = tmp_path / "req.txt"
    req.write_text("# comment\nip  iproute2\n/nonexistent/frr-reload.py   frr-pythontools  # why\n")
    reqs = hostdeps.requirements(req)
    assert [r.program for r in reqs] == ["ip", "/nonexistent/frr-reload.py"]
    lacking = [r for r in reqs if not r.present()]
    assert hostdeps.describe(lacking) == "missing /nonexistent/frr-reload.py (Debian package frr-pythontools)"
