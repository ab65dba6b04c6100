"""Parse this repository's Python files for the tests that read code (layers, host programs)."""

from __future__ import annotations

import ast
import gc
from pathlib import Path


def parse(path: Path) -> ast.Module:
    """The file's syntax tree, with the garbage collector held off while it is built.

    A finaliser run by a collection in the middle of ast.parse may log a traceback, and Python 3.11 formats
    tracebacks with ast.parse; the nested call breaks the outer one ("AST constructor recursion depth mismatch",
    CPython gh-106905). Earlier tests in the same process leave such objects (closed SSH sessions)."""
    text = path.read_text(encoding="utf-8")
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(text)
    finally:
        if was:
            gc.enable()
