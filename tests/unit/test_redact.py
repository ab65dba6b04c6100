"""tonle.redact: every secret form of every platform masked, nothing else touched."""

from __future__ import annotations

import json

import pytest

from tests.golden.cases import REPO
from tests.unit.secret_fixtures import ENV_KEY, KEEP, NAMES, SECRETS, fixture, platform_of
from tonle.change import plan
from tonle.compile.intent import load_intent, with_md5_keys
from tonle.redact import MASK, PLATFORMS, exception_text, redact, redact_data
from tonle.source.inventory import load_from_nornir_config


def assert_clean(original: str, redacted: str, secrets: list[str]) -> None:
    """No secret left; a line without a secret unchanged; a line with one masked (and otherwise kept)."""
    leaked = [s for s in secrets if s in redacted]
    assert not leaked, f"secrets left: {leaked}"
    before, after = original.splitlines(), redacted.splitlines()
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        if any(s in a for s in secrets):
            assert MASK in b, f"masked nothing in {a!r}"
            assert b.split()[0] == a.split()[0] or b.lstrip().startswith(("-", "+")), (a, b)
        else:
            assert a == b, f"over-redaction: {a!r} -> {b!r}"


@pytest.mark.parametrize("name", NAMES)
def test_every_form_of_the_platform_is_masked(name: str) -> None:
    text = fixture(name)
    assert all(s in text for s in SECRETS[name]), "the fixture holds every secret it declares"
    assert_clean(text, redact(text, platform=platform_of(name)), SECRETS[name])


@pytest.mark.parametrize("name", NAMES)
def test_known_values_and_forms_together(name: str) -> None:
    text = fixture(name)
    out = redact(text, [ENV_KEY], platform_of(name))
    assert_clean(text, out, SECRETS[name])
    for line in KEEP[name]:
        assert line in text.splitlines() and line in out.splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_without_a_platform_every_platforms_forms_apply(name: str) -> None:
    out = redact(fixture(name), [ENV_KEY])
    assert not [s for s in SECRETS[name] if s in out]
    for line in KEEP[name]:
        assert line in out.splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_redaction_is_idempotent(name: str) -> None:
    once = redact(fixture(name), [ENV_KEY], platform_of(name))
    assert redact(once, [ENV_KEY], platform_of(name)) == once


def test_only_the_secret_is_masked_keyword_and_type_stay() -> None:
    assert redact(" neighbor 198.51.100.9 password 7 104D000A0618", platform="ios") == \
        " neighbor 198.51.100.9 password 7 <redacted>"
    assert redact("enable secret 9 $9$abc$def", platform="ios") == "enable secret 9 <redacted>"
    assert redact("   neighbor X password 0 k", platform="eos") == "   neighbor X password 0 <redacted>"
    assert redact('    authentication-key "$9$abc"; ## SECRET-DATA', platform="junos") == \
        "    authentication-key <redacted>; ## SECRET-DATA"
    assert redact("authentication-key clear-key;", platform="junos") == "authentication-key <redacted>;"
    # FRR 8.5+ OSPFv3 authentication trailer (not in the fixture: the local vtysh may predate it)
    assert redact(" ipv6 ospf6 authentication keyid 1 hash-algo hmac-sha-256 key frr-ospf6-key", platform="frr") == \
        " ipv6 ospf6 authentication keyid 1 hash-algo hmac-sha-256 key <redacted>"


def test_known_values_anywhere_and_in_escaped_spellings() -> None:
    key = 'we"ird\\key'
    text = (f"% Unknown command: {key}\n"
            f"{json.dumps({'msg': key})}\n"
            f"{key!r} rejected\n"
            "vtysh output: golden-md5-key (no keyword before it)")
    out = redact(text, [key, ENV_KEY])
    assert key not in out and json.dumps(key)[1:-1] not in out and repr(key)[1:-1] not in out
    assert ENV_KEY not in out
    assert json.loads(out.splitlines()[1]) == {"msg": MASK}  # JSON stays JSON


def test_crypt_hashes_anywhere() -> None:
    for h in ("$1$salt$hash", "$5$salt$hash", "$6$salt$hash", "$8$salt$hash", "$9$junos.enc-/x", "$14$a$b"):
        assert h not in redact(f"some text {h} more text")
        assert h not in redact(f'"{h}";')


def test_diff_and_error_contexts() -> None:
    text = ("+ neighbor 192.0.2.1 password new-key\n"
            "- neighbor 192.0.2.1 password old-key\n"
            "'neighbor 192.0.2.1 password quoted-key' rejected: % Unknown command\n"
            "      key 7 0822455D0A16\n"
            "[edit protocols bgp group T]\n"
            '-    authentication-key "$9$old"; ## SECRET-DATA\n'
            "+    authentication-key new-clear;\n"
            "[edit snmp]\n"
            "+   community new-snmp-community {\n")
    out = redact(text)
    for s in ("new-key", "old-key", "quoted-key", "0822455D0A16", "$9$old", "new-clear", "new-snmp-community"):
        assert s not in out


def test_redact_data_scopes_platform_per_device() -> None:
    data = {"devices": [{"platform": "junos", "diff": "    community public {", "n": 3},
                        {"platform": "ios", "diff": "snmp-server community public RO", "t": ("password x",)}],
            "id": "plan-1"}
    out = redact_data(data)
    # Junos: outside an `snmp {` block a `community X {` line is a policy object, kept.
    assert out["devices"][0] == {"platform": "junos", "diff": "    community public {", "n": 3}
    assert out["devices"][1]["diff"] == "snmp-server community <redacted> RO"
    assert out["devices"][1]["t"] == ("password <redacted>",)
    assert out["id"] == "plan-1"
    assert data["devices"][1]["diff"] == "snmp-server community public RO"  # a copy


def test_unknown_platform_gets_every_rule() -> None:
    assert redact("password x", platform="nxos") == redact("password x") == "password <redacted>"
    assert set(PLATFORMS) == {"frr", "ios", "eos", "junos"}


def test_exception_text() -> None:
    exc = RuntimeError("first line\n'neighbor 1.2.3.4 password s3cr3t' rejected")
    assert exception_text(exc) == "RuntimeError: 'neighbor 1.2.3.4 password <redacted> rejected"
    assert "s3cr3t" not in exception_text(exc, last_line=False)
    assert exception_text(ValueError("k3y"), ["k3y"]) == f"ValueError: {MASK}"
    assert exception_text(None) == "failed"


def test_plan_redact_is_the_same_function(monkeypatch: pytest.MonkeyPatch) -> None:
    assert plan.redact is redact
    intent = load_intent(load_from_nornir_config(REPO / "nornir.yaml"))
    values = plan.secret_values(with_md5_keys(intent, {"TONLE_MD5_GLOBAL_TRANSIT": "from-the-environment"}))
    assert values == ["from-the-environment"]
    assert "from-the-environment" not in redact("description from-the-environment", values)
