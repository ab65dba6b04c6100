"""The blast-radius guard without a lab: every scope kind's resolution, every limit at its threshold,
blackholed address space counted with the active blackholes, and the figures a dry run shows."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ROOT, SMALL
from tonle.compile.intent import (
    BlackholedShare,
    BlackholeOverride,
    Intent,
    InterfaceOverride,
    Override,
    SessionOverride,
    load_intent,
)
from tonle.emergency.guard import (
    DisconnectError,
    Scope,
    already_dark,
    blast_radius,
    parse_scope,
    resolve,
)
from tonle.interfaces.cli import main
from tonle.source.inventory import load_from_nornir_config
from tonle.source.snapshot import capture
from tonle.state.applied import record_applied
from tonle.state.db import StateDB
from tonle.state.disconnects import DisconnectRecord, open_db, records, save


@pytest.fixture(scope="module")
def ref() -> Intent:
    return load_intent(load_from_nornir_config(ROOT / "nornir.yaml"))


@pytest.fixture(scope="module")
def small() -> Intent:
    return load_intent(load_from_nornir_config(SMALL / "nornir.yaml"))


def with_guard(intent: Intent, **limits: object) -> Intent:
    """The same intent with other guard limits (`operator=`, `isp=`, `site=` set the blackhole shares)."""
    guard = intent.policy.guard
    shares = {k: limits.pop(k) for k in ("operator", "isp", "site") if k in limits}
    if shares:
        limits["max_blackholed_share_percent"] = BlackholedShare(**{**guard.max_blackholed_share_percent.model_dump(),
                                                                    **shares})
    return replace(intent, policy=intent.policy.model_copy(update={"guard": guard.model_copy(update=limits)}))


def bh(*prefixes: str) -> list[Override]:
    return [BlackholeOverride(p) for p in prefixes]


def radius(intent: Intent, kind: str, value: str, active: list[Override] | None = None) -> list[str]:
    """The guard's violations for one action on top of `active`."""
    return blast_radius(intent, resolve(intent, Scope(kind, value)), active or []).violations


# ---- every scope kind resolves as expected -------------------------------------------------------------

def keys(res: object) -> list[str]:
    return sorted(f"{s.node}:{s.peer_ip}" for s in res.sessions)  # type: ignore[attr-defined]


def test_session_scope(ref: Intent) -> None:
    res = resolve(ref, Scope("session", "poi-iig-1:198.51.100.5"))
    assert keys(res) == ["poi-iig-1:198.51.100.5"] and res.devices == ["poi-iig-1"]
    assert res.overrides == [SessionOverride("poi-iig-1", "198.51.100.5", shutdown=True)] and res.blackholes == []
    # a unique peer address alone, IPv6 with its device, and an explicit list (each once)
    assert keys(resolve(ref, Scope("session", "198.51.100.5"))) == ["poi-iig-1:198.51.100.5"]
    assert keys(resolve(ref, Scope("session", "poi-iig-1:2001:db8:0:2::5"))) == ["poi-iig-1:2001:db8:0:2::5"]
    two = resolve(ref, Scope("session", "poi-iig-1:198.51.100.5, poi-iig-1:198.51.100.13,198.51.100.5"))
    assert keys(two) == ["poi-iig-1:198.51.100.13", "poi-iig-1:198.51.100.5"] and two.devices == ["poi-iig-1"]
    with pytest.raises(DisconnectError, match="ambiguous, on pnh-iig-1, pnh-iig-2"):
        resolve(ref, Scope("session", "203.0.113.65"))
    with pytest.raises(DisconnectError, match="no such BGP session"):
        resolve(ref, Scope("session", "poi-iig-1:198.51.100.99"))


def test_peer_as_scope(ref: Intent) -> None:
    res = resolve(ref, Scope("peer-as", "AS65539"))  # the Vietnamese carrier: Bavet and Phnom Penh, both families
    assert res.devices == ["bvt-iig-1", "pnh-iig-2"]
    assert {s.peer_asn for s in res.sessions} == {65539} and len(res.sessions) == 4
    assert all(isinstance(o, SessionOverride) and o.shutdown for o in res.overrides)


def test_peer_as_never_means_ibgp(ref: Intent) -> None:
    own = resolve(ref, Scope("peer-as", "64500"))  # our own AS: the DIX route servers' sessions to our borders
    assert own.sessions and {s.kind for s in own.sessions} == {"rs-client"}
    with pytest.raises(DisconnectError, match="no session with this AS"):
        resolve(ref, Scope("peer-as", "65549"))
    with pytest.raises(DisconnectError, match="not an AS number"):
        resolve(ref, Scope("peer-as", "sixty"))


def test_link_scope(ref: Intent) -> None:
    res = resolve(ref, Scope("link", "poi-thc"))
    assert res.overrides == [InterfaceOverride("poi-iig-1", "poi-thc")] and res.devices == ["poi-iig-1"]
    assert keys(res) == ["poi-iig-1:198.51.100.5", "poi-iig-1:2001:db8:0:2::5"]
    port = ref.inv.port("poi-iig-1", "poi-thc")
    for name in (port.interface, port.lab_ifname):  # DEVICE:INTERFACE, production or lab name
        assert keys(resolve(ref, Scope("link", f"poi-iig-1:{name}"))) == keys(res)
    with pytest.raises(DisconnectError, match="a shared fabric; name one port"):
        resolve(ref, Scope("link", "dix-pnh"))
    with pytest.raises(DisconnectError, match="unknown link"):
        resolve(ref, Scope("link", "nowhere"))
    with pytest.raises(DisconnectError, match="has no interface"):
        resolve(ref, Scope("link", "poi-iig-1:eth99"))


def test_prefix_scope_pushes_every_border_router(ref: Intent, small: Intent) -> None:
    res = resolve(ref, Scope("prefix", "198.18.16.1/32"))
    assert res.overrides == [BlackholeOverride("198.18.16.1/32")] and res.sessions == []
    assert res.blackholes == ["198.18.16.1/32"]
    assert res.devices == sorted(d for d, dv in ref.inv.devices.items() if dv.role == "iig-border")
    # In the small topology r1 is a border router without an upstream: its rendering changes too.
    assert resolve(small, Scope("prefix", "198.18.16.0/24")).devices == ["r1", "r2"]
    for value, message in (("198.19.4.0/24", "not inside the operator's or a domestic ISP's"),
                           ("198.18.0.0/23", "too wide for a blackhole"),
                           ("not-a-prefix", "not a prefix")):
        with pytest.raises(DisconnectError, match=message):
            resolve(ref, Scope("prefix", value))


def test_site_upstreams_scope(ref: Intent, small: Intent) -> None:
    res = resolve(ref, Scope("site-upstreams", "POI"))
    assert keys(res) == ["poi-iig-1:198.51.100.13", "poi-iig-1:198.51.100.5", "poi-iig-1:2001:db8:0:2::5",
                         "poi-iig-1:2001:db8:0:2::d"]
    assert all(s.kind == "upstream" for s in res.sessions)
    with pytest.raises(DisconnectError, match="unknown site"):
        resolve(ref, Scope("site-upstreams", "XYZ"))
    with pytest.raises(DisconnectError, match="the site has no upstream session"):
        resolve(small, Scope("site-upstreams", "PNH"))


def test_parse_scope() -> None:
    assert parse_scope("prefix", " 198.18.16.1/32 ") == Scope("prefix", "198.18.16.1/32")
    with pytest.raises(DisconnectError, match="unknown scope"):
        parse_scope("vrf", "x")
    with pytest.raises(DisconnectError, match="a value is required"):
        parse_scope("session", " ")


# ---- session limits (unchanged semantics: a share above max_site_share needs approval) --------------------

def test_site_share_at_its_threshold(ref: Intent) -> None:
    # Poipet has 4 external sessions: 1 dark is 25 %, exactly max_site_share (0.25): allowed; 2 are over.
    assert radius(ref, "session", "poi-iig-1:198.51.100.5") == []
    assert radius(ref, "session", "poi-iig-1:198.51.100.5,poi-iig-1:198.51.100.13") == [
        "2 of 4 external sessions at POI dark (50% > 25%)"]
    # cumulative: the second session on top of an active first one
    active: list[Override] = [SessionOverride("poi-iig-1", "198.51.100.5", shutdown=True)]
    assert radius(ref, "session", "poi-iig-1:198.51.100.13", active) == [
        "2 of 4 external sessions at POI dark (50% > 25%)"]
    assert radius(with_guard(ref, max_site_share=0.5), "session", "poi-iig-1:198.51.100.13", active) == []


def test_last_upstream_and_last_international_path(ref: Intent) -> None:
    assert "the last upstream of BVT goes dark" in radius(ref, "site-upstreams", "BVT")
    assert radius(with_guard(ref, protect_last_site_upstream=False, max_site_share=1.0),
                  "site-upstreams", "BVT") == []
    ups = ",".join(sorted({f"{s.node}:{s.peer_ip}" for s in ref.inv.sessions() if s.kind == "upstream"}))
    assert "the country's last international path goes dark" in radius(ref, "session", ups)


# ---- blackholed address space: each limit at its exact threshold ---------------------------------------

# 254 addresses of the operator's 198.18.0.0/22 (1024), in disjoint pieces
PIECES_254 = ("198.18.1.0/25", "198.18.1.128/26", "198.18.1.192/27", "198.18.1.224/28", "198.18.1.240/29",
              "198.18.1.248/30", "198.18.1.252/31")


def test_operator_share_at_its_threshold(ref: Intent) -> None:
    intent = with_guard(ref, operator=25)
    active = bh(*PIECES_254)
    assert radius(intent, "prefix", "198.18.1.254/32", active) == []  # 255/1024 = 24.90 %: just below
    over = radius(intent, "prefix", "198.18.1.255/32", [*active, *bh("198.18.1.254/32")])  # 256/1024 = 25 %
    assert over == ["25.00% of the operator's own IPv4 space blackholed (limit 25%: reaching it needs a second "
                    "operator)"]
    assert radius(intent, "prefix", "198.18.2.0/24") == over  # the same share in one step


def test_isp_share_at_its_threshold(ref: Intent) -> None:
    intent = with_guard(ref, isp=50, site=100)
    just_below = bh("198.18.16.0/26", "198.18.16.64/27", "198.18.16.96/28", "198.18.16.112/29",
                    "198.18.16.120/30", "198.18.16.124/31")  # 126 of isp-angkor's 256
    assert radius(intent, "prefix", "198.18.16.126/32", just_below) == []  # 127: 49.61 %
    assert radius(intent, "prefix", "198.18.16.127/32", [*just_below, *bh("198.18.16.126/32")]) == [
        "50.00% of domestic ISP isp-angkor's IPv4 space blackholed (limit 50%: reaching it needs a second operator)"]
    assert radius(intent, "prefix", "198.18.16.128/25") == [  # the same share in one step
        "50.00% of domestic ISP isp-angkor's IPv4 space blackholed (limit 50%: reaching it needs a second operator)"]


def test_site_share_of_exchange_space_at_its_threshold(ref: Intent) -> None:
    # Sihanoukville's exchange homes isp-angkor, isp-ream and isp-kohkong: 3 x /24 = 768 addresses. 25 % is 192.
    intent = with_guard(ref, site=25, isp=50)
    active = bh("198.18.16.0/26", "198.18.21.0/26", "198.18.22.0/27", "198.18.22.32/28", "198.18.22.48/29",
                "198.18.22.56/30", "198.18.22.60/31")  # 64 + 64 + 62 = 190
    assert radius(intent, "prefix", "198.18.22.62/32", active) == []  # 191/768 = 24.87 %
    assert radius(intent, "prefix", "198.18.22.63/32", [*active, *bh("198.18.22.62/32")]) == [
        "25.00% of the domestic ISPs' at KOS's exchange IPv4 space blackholed (limit 25%: reaching it needs a "
        "second operator)"]
    # Phnom Penh's exchange (5 ISPs, 1280 addresses) sees only angkor's 64 of those: 5 %, under its limit.


def test_ipv6_counts_per_address_family(ref: Intent) -> None:
    assert radius(ref, "prefix", "2001:db8::/48") == [  # the operator's whole IPv6 space in one step
        "100.00% of the operator's own IPv6 space blackholed (limit 10%: reaching it needs a second operator)"]
    assert radius(ref, "prefix", "2001:db8:0:10::/64") == []  # 1/65536 of it
    # IPv6 blackholes never count against the IPv4 space, and the reverse
    assert radius(with_guard(ref, operator=25), "prefix", "198.18.1.0/25", bh("2001:db8::/49")) == []


@pytest.mark.parametrize(("limit", "refused_at"), [(10, 1), (25, 1), (50, 2), (60, 3), (75, 3), (100, 4)])
def test_four_slash24_steps_of_a_slash22_are_refused_where_they_cross(ref: Intent, limit: float,
                                                                       refused_at: int) -> None:
    intent = with_guard(ref, operator=limit)
    active: list[Override] = []
    for step, net in enumerate(("198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/24"), start=1):
        violations = radius(intent, "prefix", net, active)
        if violations:
            assert step == refused_at, violations
            assert violations == [f"{25 * step:.2f}% of the operator's own IPv4 space blackholed (limit {limit:g}%: "
                                  "reaching it needs a second operator)"]
            return
        active += bh(net)  # allowed: it is now active, and counts for the next step
    pytest.fail(f"all four steps passed with a limit of {limit}%")


def test_default_limits_refuse_the_first_slash24_of_the_operator(ref: Intent) -> None:
    assert ref.policy.guard.max_blackholed_share_percent == BlackholedShare(operator=10, isp=50, site=25)
    assert radius(ref, "prefix", "198.18.0.0/24") == [
        "25.00% of the operator's own IPv4 space blackholed (limit 10%: reaching it needs a second operator)"]
    assert radius(ref, "prefix", "198.18.0.0/26") == []  # 6.25 %


def test_overlaps_count_once_and_only_a_raise_is_judged(ref: Intent) -> None:
    intent = with_guard(ref, operator=25)
    whole = bh("198.18.0.0/24")  # 25 % already blackholed (approved, say)
    res = resolve(intent, Scope("prefix", "198.18.0.1/32"))
    assert already_dark(intent, res, whole)  # inside an active blackhole: nothing to do
    blast = blast_radius(intent, res, whole)
    operator_v4 = next(s for s in blast.address_space if s.scope == "operator" and s.afi == 4)
    assert (operator_v4.dark_before, operator_v4.dark_after) == (256, 256) and blast.violations == []
    # A session disconnect is not judged by the blackholes already there.
    assert radius(intent, "session", "poi-iig-1:198.51.100.5", whole) == []
    assert not already_dark(intent, resolve(intent, Scope("prefix", "198.18.1.0/32")), whole)


def test_every_holder_is_counted(ref: Intent) -> None:
    blast = blast_radius(ref, resolve(ref, Scope("prefix", "198.18.21.0/25")), bh("198.18.0.0/26"))
    rows = {(s.scope, s.name, s.afi): (s.total, s.dark_before, s.dark_after) for s in blast.address_space}
    assert rows[("operator", "operator", 4)] == (1024, 64, 64)
    assert rows[("operator", "operator", 6)] == (2**80, 0, 0)
    assert rows[("isp", "isp-ream", 4)] == (256, 0, 128)
    assert rows[("isp", "isp-angkor", 4)] == (256, 0, 0)
    assert rows[("site", "KOS", 4)] == (768, 0, 128)
    assert rows[("site", "PNH", 4)] == (1280, 0, 0)
    assert not any(s.scope == "site" and s.name in ("POI", "BVT") for s in blast.address_space)  # no exchange
    assert len([s for s in blast.address_space if s.scope == "isp"]) == 14  # 7 ISPs, both families


# ---- a dry run shows the address-space figures (through the CLI, no lab) -------------------------------

@pytest.fixture
def small_state(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(SMALL, tmp_path / "small")
    config, state = tmp_path / "small" / "nornir.yaml", tmp_path / "state"
    inv = load_from_nornir_config(config)
    record_applied(StateDB(state), list(inv.devices), "lab-up", capture(inv))
    return config, state


def active_blackhole(state: Path, prefix: str) -> None:
    save(open_db(state), DisconnectRecord(
        id="D-active", created_at="2024-01-01T00:00:00+00:00", operator="alice", reason="ddos", ticket="T-0",
        scope_kind="prefix", scope_value=prefix, target="lab", ttl_seconds=3600, graceful=False, status="active",
        expires_at="2999-01-01T00:00:00+00:00", approval_expires_at=None, approver=None, restored_at=None,
        overrides=[{"kind": "blackhole", "prefix": prefix, "message": "tonle D-active T-0"}], devices=["r1", "r2"],
        blast={}))


def test_dry_run_shows_blackholed_space(small_state: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, state = small_state
    active_blackhole(state, "198.18.16.0/26")  # 64 of isp1's 256 (and of the PNH exchange's 768)
    argv = ["--config", str(config), "--state-dir", str(state), "disconnect", "--prefix", "198.18.16.64/26",
            "--reason", "ddos", "--ticket", "T-1", "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "blackholed: 50.00% of domestic ISP isp1's IPv4 space (128 of 256 addresses; 25.00% before this action)" \
        in out
    assert "blackholed: 16.67% of the domestic ISPs' at PNH's exchange IPv4 space (128 of 768 addresses; 8.33% " \
           "before this action)" in out
    assert "OVER LIMIT: 50.00% of domestic ISP isp1's IPv4 space blackholed (limit 50%: reaching it needs a " \
           "second operator)" in out
    assert "operator's own" not in out  # nothing of it is dark: no line
    assert [r.id for r in records(state)] == ["D-active"]  # a dry run stores nothing


def test_over_the_limit_waits_for_a_second_operator(small_state: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config, state = small_state
    monkeypatch.setenv("TONLE_OPERATOR", "alice")
    argv = ["--config", str(config), "--state-dir", str(state), "disconnect", "--prefix", "198.18.1.0/24",
            "--reason", "ddos against our own space", "--ticket", "T-2"]
    assert main(argv) == 1  # refused before any device: no lab needed
    cap = capsys.readouterr()
    assert "over the blast-radius limit" in cap.out + cap.err
    (pending,) = records(state, "pending-approval")
    assert pending.blast["violations"] == [
        "25.00% of the operator's own IPv4 space blackholed (limit 10%: reaching it needs a second operator)"]
    assert pending.devices == ["r1", "r2"]
