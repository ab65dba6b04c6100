"""Every Junos rendering against Juniper's Junos 24.4 schema (tests/golden/junos_schema.py)."""

from __future__ import annotations

import pytest

from tests.golden.cases import case, params
from tests.golden.configparse import junos_set_lines
from tests.golden.junos_schema import check, schema_version
from tonle.compile.render import render_intent


@pytest.mark.parametrize(("platform", "name"), params("junos"))
def test_junos_rendering_fits_the_schema(platform: str, name: str) -> None:
    errors = [e for ln in junos_set_lines(render_intent(case(platform, name).intent, platform)) if (e := check(ln))]
    assert not errors, f"not valid for Junos {schema_version()}:\n" + "\n".join(errors[:10])


@pytest.mark.parametrize(("good", "bad"), [
    ("minimum-interval 300;", "minimum-intervall 300;"),  # a misspelled BFD keyword
    ("teardown;", "tear-down;"),
    ("type external;", "type exterior;"),  # an enumerated value
    ("enforce-first-as;", "enforce-first-asn;"),
    ("peer-as ", "peer-asn "),
])
def test_the_check_catches_mutants(good: str, bad: str) -> None:
    text = render_intent(case("junos", "peer-policy").intent, "junos")
    assert good in text
    errors = [e for ln in junos_set_lines(text.replace(good, bad, 1)) if (e := check(ln))]
    assert errors, f"{bad!r} passed the schema check"
