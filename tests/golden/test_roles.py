"""RFC 9234 BGP roles: every eBGP session's local role follows its kind; FRR renders it, the others say why not."""

from __future__ import annotations

import re

import pytest

from tests.golden.cases import PARAMS, REPO, case
from tonle.compile.intent import ROLES_BY_KIND
from tonle.compile.render import render_intent
from tonle.source.inventory import load_from_nornir_config

# Which side of each kind of relationship we are (RFC 9234 section 3.1).
EXPECTED = {"upstream": "customer", "isp": "provider", "private": "peer", "rs-client": "rs-server"}
EXTERNAL = {p.name for p in load_from_nornir_config(REPO / "nornir.yaml").peers.values()}


def test_roles_by_session_kind() -> None:
    assert ROLES_BY_KIND == EXPECTED


@pytest.mark.parametrize(("platform", "name"), [p for p in PARAMS if p[0] == "frr"])
def test_frr_renders_the_role_of_every_external_session_only(platform: str, name: str) -> None:
    d = case(platform, name).intent
    text = render_intent(d, platform)
    rendered = dict(re.findall(r"^ neighbor (\S+) local-role (\S+)$", text, re.M))
    # only sessions with external networks: between our own ASes OTC would keep domestic routes from upstreams
    want = {n.ip: EXPECTED[n.kind] for n in d.neighbors if n.peer in EXTERNAL}
    assert rendered == want


@pytest.mark.parametrize(("platform", "name"), [p for p in PARAMS if p[0] != "frr"])
def test_platforms_without_roles_render_none(platform: str, name: str) -> None:
    assert "local-role" not in render_intent(case(platform, name).intent, platform)
