"""Secrets out of everything Tonlé shows or stores: the known key values, and every form a key takes in a
configuration of each platform.

One pure function, :func:`redact`, used by every output (plans, drift reports, the audit log, Ansible
events and artifacts, backups, exception messages). It masks, in this order:

1. the known secret values (the inventory's TCP-MD5 keys, read from the environment), anywhere, also
   in their JSON- and repr-escaped spellings;
2. crypt-style hashes anywhere, whatever keyword precedes them: ``$1$`` (IOS type 5), ``$5$``, ``$6$``
   (EOS sha512, Junos), ``$8$``, ``$9$`` (IOS type 8/9 and Junos ``$9$`` reversible encoding), ``$14$``;
3. the syntactic forms of the platform (or of every platform when it is not known; the keyword forms
   of FRR/IOS/EOS always apply, the Junos-only forms only to Junos or unknown text): the word after
   ``password`` / ``secret`` / ``key-string`` / ``authentication-key`` / ... and their optional
   encryption type (``password 7 <type7>``, ``secret 9 <hash>``, ``password sha512 <hash>``, Junos
   ``authentication-key "<anything>";``), SNMP communities and users, pre-shared keys.

Only the secret itself is masked: the keyword, the encryption type and the rest of the line stay, so a
redacted diff still says what changed. Words that merely contain a keyword (``service
password-encryption``, ``key chain``, a route-map called ``password``) are left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

MASK = "<redacted>"
PLATFORMS = ("frr", "ios", "eos", "junos")
_ALL = frozenset(PLATFORMS)
# The keyword forms of FRR, IOS and EOS apply to Junos text too: a Junos device's errors and free text
# are not always in Junos syntax, and these forms do not misfire on it (tests/unit/test_redact.py).
_KEYWORD_FORMS = _ALL

T = TypeVar("T")

# A secret: a double-quoted string (Junos; escapes allowed, an unterminated one runs to the end of the
# line) or one word; one already masked (by an earlier rule or pass) is left as it is.
_SECRET = rf'(?!{re.escape(MASK)}(?:;|\s|$))(?P<secret>"(?:[^"\\\n]|\\.)*"?|[^\s"]\S*)'
# Junos: a quoted string, or a bare word that ends the statement (`;`, end of line, `## SECRET-DATA`).
_JSECRET = r'(?P<secret>"(?:[^"\\\n]|\\.)*"?|[^\s";]+(?=;|[ \t\r]*$|[ \t]+##))'
_WS = r"[ \t]+"  # never across a line end
# A keyword starts a word: not inside `area-password` or `default-chap-secret`, but right after a diff's
# `-` marker (`-snmp-server community C`) it does.
_B = r"(?:(?<![\w-])|(?<=^-)|(?<=\s-))"
# Words after which a keyword is a name (a route-map called "password"), not the start of a secret.
_NAMED = r"(?<!route-map )(?<!prefix-list )(?<!community-list )(?<!access-list )(?<!policy-statement )"
# Words after `password` that configure a policy, not a password (IOS, EOS, and Junos `set` lines).
_POLICY_WORDS = (
    r"(?!(?:minimum\S*|maximum\S*|encryption|encryption-key|policy|length|history|expiry|lifetime|format|"
    r"change-type|\{|\[)(?:\s|$))"
)
# Start of a configuration line, possibly inside a diff (+/-) or indented.
_LINE = r"(?:^|(?<=\n))[ \t]*(?:[-+>][ \t]*)?"
# Optional parts before a secret are possessive (?+): `password 7 <redacted>` must not re-read as a
# password "7" followed by text (redaction is idempotent).
_TYPE = rf"(?:(?:[0-9]|sha512|md5|clear|encrypted){_WS})?+"


@dataclass(frozen=True)
class Rule:
    """A secret form on one line: `pattern` has a group `secret` (replaced by MASK), the rest is kept.

    A line holding none of `needles` cannot match (a cheap test: most lines hold no keyword at all).
    """

    name: str
    platforms: frozenset[str]
    needles: tuple[str, ...]
    pattern: re.Pattern[str]


def _atomic(regex: str) -> str:
    """Each possessive optional group `(...)?+` written as the classic atomic emulation
    `(?=(?P<aN>(...)?))(?P=aN)`: the same meaning, and correct on CPython 3.11.2 (Debian 12), whose
    possessive quantifiers mis-match some of these patterns (fixed in later 3.11 releases)."""
    n = 0
    while (end := regex.find(")?+")) != -1:
        depth, start = 0, end
        while start >= 0:
            escaped = start > 0 and regex[start - 1] == "\\"
            if regex[start] == ")" and not escaped:
                depth += 1
            elif regex[start] == "(" and not escaped:
                depth -= 1
                if depth == 0:
                    break
            start -= 1
        group = regex[start:end + 1]
        regex = f"{regex[:start]}(?=(?P<a{n}>{group}?))(?P=a{n}){regex[end + 3:]}"
        n += 1
    return regex


def _rule(name: str, platforms: Iterable[str], needles: str | tuple[str, ...], regex: str) -> Rule:
    return Rule(name, frozenset(platforms), (needles,) if isinstance(needles, str) else needles,
                re.compile(_atomic(regex), re.MULTILINE))


RULES: tuple[Rule, ...] = (
    # Junos first: its `;` terminator stays outside the secret.
    # Junos: authentication-key "$9$.."; | authentication-key clear; | encrypted-password "$6$..";
    # | secret "$9$.."; | simple-password ..; | md5 1 key "$9$.."; | pre-shared-key ascii-text "$9$..";
    # | ntp authentication-key 1 type md5 value "$9$..";
    _rule("junos-secret", {"junos"}, ("key", "password", "secret", "value", "ascii-text", "hexadecimal"),
          rf"{_B}(?:authentication-key|encrypted-password|secret|simple-password|plain-text-password-value|"
          rf"hello-authentication-key|authentication-password|privacy-password|chap-secret|pap-password|"
          rf"md5{_WS}[0-9]+{_WS}key|authentication-key{_WS}[0-9]+{_WS}type{_WS}\S+{_WS}value|ascii-text|"
          rf"hexadecimal)"
          rf"{_WS}{_JSECRET}"),
    _rule("junos-snmp-community", {"junos"}, "snmp", rf"{_B}snmp{_WS}community{_WS}{_SECRET}"),
    # neighbor X password K | password zebra | enable password [level N] [0|7] K | username U password 7 K
    # | isis password md5 K | EOS neighbor X password 0|7 K | enable password sha512 $6$...
    _rule("password", _KEYWORD_FORMS, "password",
          rf"{_NAMED}{_B}password{_WS}(?:level{_WS}[0-9]+{_WS})?+{_TYPE}{_POLICY_WORDS}{_SECRET}"),
    # enable secret [0|4|5|8|9] K | username U secret 9 $9$... | EOS secret sha512 $6$...
    _rule("secret", _KEYWORD_FORMS, "secret",
          rf"{_NAMED}{_B}secret{_WS}(?:level{_WS}[0-9]+{_WS})?+(?:(?:[0-9]{{1,2}}|sha512|md5){_WS})?+"
          rf"{_SECRET}"),
    # key chains: key-string [7] K (also HSRP `authentication md5 key-string K`)
    _rule("key-string", _KEYWORD_FORMS, "key-string", rf"{_B}key-string{_WS}(?:[0-9]{_WS})?+{_SECRET}"),
    # ip ospf authentication-key [7] K | ntp authentication-key 1 md5 [7] K
    _rule("authentication-key", _KEYWORD_FORMS, "authentication-key",
          rf"{_B}authentication-key{_WS}(?:[0-9]{{1,5}}{_WS}md5{_WS})?+(?:[0-9]{_WS})?+{_SECRET}"),
    # ip ospf message-digest-key 1 md5 [7] K
    _rule("message-digest-key", _KEYWORD_FORMS, "message-digest-key",
          rf"{_B}message-digest-key{_WS}[0-9]+{_WS}md5{_WS}(?:[0-9]{_WS})?+{_SECRET}"),
    # FRR: ipv6 ospf6 authentication keyid 1 hash-algo md5 key K | ip rip authentication string K
    _rule("ospf6-key", _KEYWORD_FORMS, "hash-algo", rf"{_B}hash-algo{_WS}\S+{_WS}key{_WS}{_SECRET}"),
    _rule("rip-string", _KEYWORD_FORMS, "string", rf"{_B}authentication{_WS}string{_WS}{_SECRET}"),
    # IS-IS: area-password [clear|md5] K | domain-password [clear|md5] K
    _rule("isis-password", _KEYWORD_FORMS, "-password",
          rf"{_B}(?:area|domain)-password{_WS}(?:(?:clear|md5|[0-9]){_WS})?+{_SECRET}"),
    # TACACS+/RADIUS: tacacs-server [host H] key [7] K | key 7 K (in a `tacacs server` block) | key K
    _rule("server-key", _KEYWORD_FORMS, ("tacacs-server", "radius-server", "server-private"),
          rf"{_B}(?:tacacs-server|radius-server|server-private)\b[^\n]*?{_B}key{_WS}(?:[0-9]{_WS})?+"
          rf"{_SECRET}"),
    _rule("typed-key", _KEYWORD_FORMS, "key", rf"{_B}key{_WS}[0-7]{_WS}{_SECRET}"),
    _rule("bare-key", _KEYWORD_FORMS, "key",
          rf"{_LINE}key{_WS}(?!(?:[0-9]+|chain|generate|zeroize|config-key|pubkey-chain|storage)(?:\s|$)){_SECRET}"),
    _rule("config-key", _KEYWORD_FORMS, "config-key", rf"{_B}config-key{_WS}password-encrypt{_WS}{_SECRET}"),
    # IPsec: crypto isakmp key [0|6] K address .. | pre-shared-key [local|remote] [0|6] K
    _rule("isakmp-key", _KEYWORD_FORMS, "isakmp", rf"{_B}isakmp{_WS}key{_WS}(?:[0-9]{_WS})?+{_SECRET}"),
    _rule("pre-shared-key", _KEYWORD_FORMS, "pre-shared-key",
          rf"{_B}pre-shared-key{_WS}(?:(?:local|remote){_WS})?+(?:address{_WS}\S+{_WS})?+(?:[0-9]{_WS})?+"
          rf"{_SECRET}"),
    # SNMP: snmp-server community C | snmp-server host H [..] version 1|2c C | v3 auth/priv passwords
    _rule("snmp-community", _KEYWORD_FORMS, "snmp-server", rf"{_B}snmp-server{_WS}community{_WS}{_SECRET}"),
    _rule("snmp-host", _KEYWORD_FORMS, "snmp-server",
          rf"{_B}snmp-server{_WS}host{_WS}[^\n]*?version{_WS}(?:1|2c){_WS}{_SECRET}"),
    _rule("snmp-auth", _KEYWORD_FORMS, "auth", rf"{_B}auth{_WS}(?:md5|sha\S*){_WS}(?:[0-9]{_WS})?+{_SECRET}"),
    _rule("snmp-priv", _KEYWORD_FORMS, "priv",
          rf"{_B}priv{_WS}(?:des\S*|3des|aes(?:{_WS}[0-9]+)?+){_WS}(?:[0-9]{_WS})?+{_SECRET}"),
)

# One test for every rule's needles: most lines of a configuration hold none.
_ANY_NEEDLE = re.compile("|".join(sorted({re.escape(n) for r in RULES for n in r.needles})))
# Crypt-style hashes and Junos $9$ strings, whatever precedes them.
_HASH = re.compile(r"\$(?:1|5|6|8|9|14|y|2[aby])\$[^\s\"';,]+")
# Junos curly configuration: `community NAME {` / `community NAME;` inside `snmp { ... }` (elsewhere a
# `community NAME;` line is a routing policy's community, not a secret) or a `[edit snmp ...]` diff section.
_JUNOS_SNMP_OPEN = re.compile(r"^[ \t]*(?:[-+][ \t]*)?snmp[ \t]*\{")
_JUNOS_EDIT = re.compile(r"^\[edit(?P<path>[^\]]*)\]")
_JUNOS_COMMUNITY = re.compile(rf"^(?P<pre>[ \t]*(?:[-+][ \t]*)?community{_WS}){_SECRET}(?=[ \t]*[{{;])")


def _platforms(platform: str | None) -> frozenset[str]:
    """The rule sets to apply: one platform's, or every platform's when it is None or unknown (a
    redaction filter must never fail an output nor mask less than it can)."""
    return frozenset({platform}) if platform in PLATFORMS else _ALL


def _spellings(secret: str) -> list[str]:
    """A secret as it is written raw, inside JSON and inside a Python repr."""
    return list(dict.fromkeys([secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]]))


def _mask(m: re.Match[str]) -> str:
    whole, start = m.group(0), m.start()
    return whole[: m.start("secret") - start] + MASK + whole[m.end("secret") - start:]


def redact(text: str, secrets: Iterable[str] = (), platform: str | None = None) -> str:
    """`text` with every secret masked as ``<redacted>``.

    Args:
        text: Any text: a configuration, a diff, remediation commands, an error message, a log line.
        secrets: Known secret values (e.g. :func:`tonle.plan.secret_values`), masked wherever they occur.
        platform: frr, ios, eos or junos: that platform's forms; None (or another name): the forms of
            every platform.
    """
    platforms = _platforms(platform)
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        for spelled in _spellings(s):
            text = text.replace(spelled, MASK)
    text = _HASH.sub(MASK, text)
    rules = [r for r in RULES if r.platforms & platforms]
    text = "".join(_redact_line(line, rules) if _ANY_NEEDLE.search(line) else line
                   for line in text.splitlines(keepends=True))
    if "junos" in platforms and "community" in text and "snmp" in text:
        text = _junos_snmp_blocks(text)
    return text


def _redact_line(line: str, rules: list[Rule]) -> str:
    for rule in rules:
        if any(n in line for n in rule.needles):
            line = rule.pattern.sub(_mask, line)
    return line


def _junos_snmp_blocks(text: str) -> str:
    out: list[str] = []
    depth, snmp_depth, edit_snmp = 0, -1, False
    for raw in text.splitlines(keepends=True):
        line = raw
        edit = _JUNOS_EDIT.match(line.strip())
        if edit:
            edit_snmp = edit["path"].split()[:1] == ["snmp"]
        if snmp_depth < 0 and _JUNOS_SNMP_OPEN.match(line):
            snmp_depth = depth
        elif snmp_depth >= 0 or edit_snmp:
            line = _JUNOS_COMMUNITY.sub(_mask, line)
        depth += line.count("{") - line.count("}")
        if snmp_depth >= 0 and depth <= snmp_depth:
            snmp_depth = -1
        out.append(line)
    return "".join(out)


def redact_data(value: T, secrets: Iterable[str] = (), platform: str | None = None) -> T:
    """Every string of JSON-like data redacted (a copy; tuples stay tuples).

    A mapping with a string ``platform`` key redacts its values with that platform's forms (a device
    of a plan or drift report); elsewhere `platform` applies.
    """
    return _walk(value, list(secrets), platform)  # type: ignore[no-any-return]


def _walk(value: Any, secrets: list[str], platform: str | None) -> Any:
    if isinstance(value, str):
        return redact(value, secrets, platform)
    if isinstance(value, Mapping):
        scoped = value.get("platform")
        plat = scoped if isinstance(scoped, str) else platform
        return {k: _walk(v, secrets, plat) for k, v in value.items()}
    if isinstance(value, list | tuple):
        lines = _redact_lines(value, secrets, platform)
        items = lines if lines is not None else [_walk(v, secrets, platform) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _redact_lines(value: list[Any] | tuple[Any, ...], secrets: list[str], platform: str | None) -> list[str] | None:
    """A list of configuration lines redacted as one text, so that a line's context (a Junos `snmp {`
    block) counts; None when the items are not single lines."""
    if not value or not all(isinstance(v, str) and "\n" not in v for v in value):
        return None
    out = redact("\n".join(value), secrets, platform).split("\n")
    return out if len(out) == len(value) else None


def exception_text(exc: BaseException | None, secrets: Iterable[str] = (), *, last_line: bool = True) -> str:
    """``Type: message`` of an exception, redacted (its last line only, by default).

    Device errors often quote the configuration line they refused; this is what may be shown or stored.
    """
    if exc is None:
        return "failed"
    lines = str(exc).strip().splitlines()
    text = (lines[-1] if last_line else " ".join(ln.strip() for ln in lines)) if lines else "failed"
    return redact(f"{type(exc).__name__}: {text}", secrets)


__all__ = ["MASK", "PLATFORMS", "RULES", "Rule", "exception_text", "redact", "redact_data"]
