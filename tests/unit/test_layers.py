"""tasks/ (installed as tonle.tasks) sits between the verbs and state/targets/compile. import-linter cannot
see it (it lives outside tonle/ on disk), so this test keeps its side of the dependency rule."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.source_ast import parse

TASKS = Path(__file__).resolve().parents[2] / "tasks"
ALLOWED = ("tonle.tasks", "tonle.source", "tonle.compile", "tonle.state", "tonle.targets", "tonle.errors",
           "tonle.redact", "tonle.resources")


def imported(path: Path) -> list[str]:
    mods = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            mods.append(node.module)
        elif isinstance(node, ast.Import):
            mods += [a.name for a in node.names]
    return mods


def test_tasks_import_only_lower_layers() -> None:
    bad = {p.name: m for p in TASKS.glob("*.py") for m in imported(p)
           if m.startswith("tonle") and not m.startswith(ALLOWED)}
    assert not bad, f"tasks/ reaches above its layer: {bad}"
