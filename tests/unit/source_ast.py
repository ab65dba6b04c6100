"""Parse this repository's Python files for the tests that read code (layers, host programs)."""

from __future__ import annotations

import ast
import functools
import gc
from pathlib import Path


def parse(path: Path) -> ast.Module:
    """The file's syntax tree, built with the garbage collector held off, once per file and test session.

    A finaliser run by a collection in the middle of ast.parse may log a traceback, and Python 3.11 formats
    tracebacks with ast.parse; the nested call breaks the outer one ("AST constructor recursion depth mismatch",
    CPython gh-106905). Earlier tests in the same process leave such objects (closed SSH sessions). One
    collection first, then none while parsing: a collection per file cost two tests nearly two minutes after a
    thousand others had filled the heap."""
    return _parsed(path.resolve())


@functools.cache
def _parsed(path: Path) -> ast.Module:
    text = path.read_text(encoding="utf-8")
    if not _collected:
        gc.collect()
        _collected.append(True)
    was = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(text)
    finally:
        if was:
            gc.enable()


_collected: list[bool] = []
