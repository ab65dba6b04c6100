"""Golden files: the exact text each platform renders for each of its cases (tests/golden/cases.py).

Each ``tests/golden/<platform>/<case>.conf`` is compared with a fresh rendering; a mismatch fails
with a unified diff (golden -> rendered). After an intended change to a template or to the intent
compiler, rewrite the files and review the diff in git:

    TONLE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden

With ``TONLE_UPDATE_GOLDEN=1`` the tests write the renderings instead of comparing (and pass).
"""

from __future__ import annotations

import difflib
import os

import pytest

from tests.golden.cases import GOLDEN, PARAMS, case
from tonle.compile.render import render_intent

UPDATE = os.environ.get("TONLE_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize(("platform", "name"), PARAMS)
def test_golden(platform: str, name: str) -> None:
    c = case(platform, name)
    text = render_intent(c.intent, platform)
    path = c.golden()
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.relative_to(GOLDEN.parent.parent)}; "
                    "create it with TONLE_UPDATE_GOLDEN=1 and review it")
    want = path.read_text(encoding="utf-8")
    if text != want:
        rel = str(path.relative_to(GOLDEN.parent.parent))
        diff = "".join(difflib.unified_diff(want.splitlines(keepends=True), text.splitlines(keepends=True),
                                            fromfile=f"{rel} (golden)", tofile=f"{rel} (rendered)"))
        pytest.fail(f"rendering differs from the golden file (TONLE_UPDATE_GOLDEN=1 rewrites it):\n{diff}",
                    pytrace=False)


def test_every_golden_file_is_a_case() -> None:
    """A golden file left behind by a removed device or case is an error, not silently kept."""
    expected = {case(p, n).golden() for p, n in PARAMS}
    stale = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.glob("*/*.conf") if p not in expected)
    if UPDATE:
        for p in stale:
            (GOLDEN / p).unlink()
        return
    assert not stale, f"golden files without a case (TONLE_UPDATE_GOLDEN=1 removes them): {stale}"
