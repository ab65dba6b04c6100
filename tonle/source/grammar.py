"""Grammars of the strings that can reach a device configuration, checked where they enter.

Every validator returns the value unchanged or raises `GrammarError` (a `ValueError`, so pydantic
reports it as the field's problem) with a one-line message that never echoes a long or unprintable
value raw. The inventory models use them; the CLI can use them for operator text (a disconnect's
reason and ticket).

Free text (`safe_text`) is printable ASCII without the characters that end a line, start a comment or
open a block in one of the four configuration languages (`!` `#` `{` `}` `/*` `*/`), double quotes,
backticks or backslashes. Names (`identifier`) are letters, digits, `-`, `_` and `.`. Interface names
(`interface_name`) follow the platform's own grammar in the spelling the device shows.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["GrammarError", "as_path_regex", "canonical_interface", "identifier", "interface_name", "safe_text",
           "shown", "token"]


class GrammarError(ValueError):
    """A string does not follow its grammar; `suggestion` is the value meant, when it is clear."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


# Characters that end a line, start a comment or open/close a block or a string in IOS, EOS, Junos or FRR.
# `;` ends a Junos statement but is allowed in free text: Junos templates quote free text (and `;` is
# common in descriptions); names and tokens cannot contain it.
_META = {"!": "starts a comment", "#": "starts a comment", "{": "opens a block", "}": "closes a block",
         '"': "is a quote", "`": "is a quote", "\\": "is an escape character"}
_META_RE = re.compile("[" + re.escape("".join(_META)) + "]")
_COMMENT_PAIRS = ("/*", "*/")


def shown(value: object, limit: int = 40) -> str:
    """A value as a message may show it: quoted and escaped (one printable line), at most `limit` characters."""
    text = repr(value).encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


_NOT_PRINTABLE = re.compile(r"[^ -~]")


def _label(field: str) -> str:
    return f"{field} " if field else ""


def _printable(value: object, field: str, max_len: int, *, min_len: int = 0) -> str:
    if not isinstance(value, str):
        raise GrammarError(f"{_label(field)}must be text, got {type(value).__name__}")
    if len(value) > max_len:
        raise GrammarError(f"{_label(field)}is {len(value)} characters long (at most {max_len})")
    if len(value) < min_len:
        raise GrammarError(f"{_label(field)}is empty" if not value else
                           f"{_label(field)}is {len(value)} characters long (at least {min_len})")
    bad = _NOT_PRINTABLE.search(value)
    if bad is not None:
        i, ch = bad.start(), bad.group()
        what = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(ch, f"the character U+{ord(ch):04X}")
        control = ord(ch) < 0x20 or ord(ch) == 0x7F
        rule = "control characters are not allowed" if control else "only printable ASCII is allowed"
        raise GrammarError(f"{_label(field)}contains {what} at character {i + 1} ({rule})")
    return value


def safe_text(value: object, field: str = "", max_len: int = 200) -> str:
    """Free text that is safe in any device configuration (descriptions, names of places, messages).

    Args:
        value: the text.
        field: how to name the value in the message ("" when the caller names the field itself).
        max_len: the longest accepted text.

    Raises:
        GrammarError: not text, too long, a control or non-ASCII character, a comment or block character.
    """
    text = _printable(value, field, max_len)
    meta = _META_RE.search(text)
    if meta is not None:
        i, ch = meta.start(), meta.group()
        raise GrammarError(f"{_label(field)}contains {ch!r} at character {i + 1} (it {_META[ch]} in device "
                           "configurations)")
    for pair in _COMMENT_PAIRS:
        if pair in text:
            raise GrammarError(f"{_label(field)}contains {pair!r} (a comment delimiter in device configurations)")
    if text != text.strip():
        raise GrammarError(f"{_label(field)}starts or ends with a space")
    return text


def token(value: object, field: str = "", max_len: int = 64) -> str:
    """One word of free text (a user name, a ticket): `safe_text` without spaces, not empty."""
    text = safe_text(value, field, max_len)
    if not text:
        raise GrammarError(f"{_label(field)}is empty")
    if " " in text or ";" in text:
        raise GrammarError(f"{_label(field)}contains {' ' if ' ' in text else ';'!r} (one word expected)")
    return text


_IDENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def identifier(value: object, field: str = "", max_len: int = 32) -> str:
    """A name used as an identifier in configurations (QoS classes and policies, groups, windows).

    Letters, digits, `-`, `_` and `.`, starting with a letter, 1 to `max_len` characters.
    """
    text = _printable(value, field, max_len, min_len=1)
    if not _IDENT_RE.match(text):
        bad = next((c for c in text if not (c.isalnum() or c in "_.-")), None)
        why = f"contains {bad!r}" if bad is not None else "does not start with a letter"
        raise GrammarError(f"{_label(field)}{shown(text)} {why} (a name is letters, digits, '-', '_' and '.', "
                           "starting with a letter)")
    return text


# ---- AS-path regular expressions ------------------------------------------------------------------

_AS_PATH_RE = re.compile(r"^[0-9^$_.*+?()\[\]|-]+$")


def as_path_regex(value: object, field: str = "", max_len: int = 128) -> str:
    """A Cisco-style AS-path regular expression: digits and `^ $ _ . * + ? ( ) [ ] | -` only, and it compiles."""
    text = _printable(value, field, max_len, min_len=1)
    if not _AS_PATH_RE.match(text):
        bad = next(c for c in text if not re.match(r"[0-9^$_.*+?()\[\]|-]", c))
        raise GrammarError(f"{_label(field)}{shown(text)} contains {bad!r} (an AS-path regular expression has "
                           "digits and ^ $ _ . * + ? ( ) [ ] | - only)")
    try:
        re.compile(text.replace("_", "(^|$|[ ,{}()])"))
    except re.error as exc:
        raise GrammarError(f"{_label(field)}{shown(text)} is not a valid AS-path regular expression: {exc}") from None
    return text


# ---- interface names ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _IfGrammar:
    """How a platform names its ports: the full type names it shows and the numbering after them."""

    label: str
    example: str
    pattern: re.Pattern[str]
    types: tuple[str, ...] = ()  # full type names (the spelling `show running-config` uses)


def _typed(types: tuple[str, ...], numbering: str) -> re.Pattern[str]:
    return re.compile(rf"^(?:{'|'.join(re.escape(t) for t in types)}){numbering}$")


_IOS_TYPES = ("GigabitEthernet", "TenGigabitEthernet", "TwentyFiveGigE", "FortyGigabitEthernet", "HundredGigE",
              "TwoGigabitEthernet", "FiveGigabitEthernet", "FastEthernet", "Ethernet", "Port-channel", "Loopback",
              "Vlan", "Tunnel", "BDI")
_EOS_TYPES = ("Ethernet", "Port-Channel", "Loopback", "Vlan", "Management", "Tunnel", "Vxlan")
_GRAMMARS: dict[str, _IfGrammar] = {
    "ios": _IfGrammar("IOS", "GigabitEthernet0/0/1", _typed(_IOS_TYPES, r"\d{1,4}(?:/\d{1,4}){0,3}(?:\.\d{1,10})?"),
                      _IOS_TYPES),
    "eos": _IfGrammar("EOS", "Ethernet1", _typed(_EOS_TYPES, r"\d{1,4}(?:/\d{1,4}){0,2}(?:\.\d{1,10})?"),
                      _EOS_TYPES),
    "junos": _IfGrammar("Junos", "xe-0/0/0", re.compile(
        r"^(?:(?:ge|xe|et|fe|mge|xle|fte|gr|lt|ip|vt|ms|sp|ps)-\d{1,3}/\d{1,3}/\d{1,3}(?::\d{1,2})?"
        r"|(?:ae|reth|em|fxp|me)\d{1,4}|lo0|irb|vlan|vme)(?:\.\d{1,5})?$")),
    # Linux: at most 15 bytes (IFNAMSIZ - 1), no '/', whitespace or ':' (alias syntax).
    "frr": _IfGrammar("Linux (frr)", "eth1", re.compile(r"^(?!\.\.?$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")),
}


def _spelled_out(platform: str, value: str) -> str | None:
    """The full spelling of an abbreviated or oddly written port name on `platform` ('Gi0/0/1' -> ...)."""
    grammar = _GRAMMARS[platform]
    if not grammar.types:
        return None
    from netutils.interface import canonical_interface_name, split_interface  # noqa: PLC0415 - only on errors

    squeezed = value.replace(" ", "")
    try:
        raw, number = split_interface(squeezed)
        kind, _ = split_interface(canonical_interface_name(squeezed))
    except (ValueError, TypeError):
        return None
    full = next((t for t in grammar.types if t.lower() == kind.lower()), None)
    if full is None and raw:  # netutils spells a few types its own way (HundredGigabitEthernet / HundredGigE)
        starts = [t for t in grammar.types if t.lower().startswith(raw.lower())]
        full = starts[0] if len(starts) == 1 else None
    candidate = f"{full}{number}" if full else None
    return candidate if candidate and candidate != value and grammar.pattern.match(candidate) else None


def interface_name(platform: str, value: object) -> str:
    """A port name in `platform`'s grammar, spelled as the device shows it (no abbreviation).

    Raises:
        GrammarError: with `suggestion` set to the full name when the value is an abbreviation of one.
    """
    grammar = _GRAMMARS.get(platform)
    if grammar is None:
        raise GrammarError(f"no interface grammar for platform {shown(platform)} (have {', '.join(_GRAMMARS)})")
    text = _printable(value, "", 64, min_len=1)
    if grammar.pattern.match(text):
        return text
    full = _spelled_out(platform, text)
    if full is not None:
        raise GrammarError(f"{shown(text)} is not how {grammar.label} shows the port: write {full}", suggestion=full)
    other = next((g.label for p, g in _GRAMMARS.items() if p not in (platform, "frr") and g.pattern.match(text)), None)
    hint = f"; it looks like {'an' if other[0] in 'AEIOU' else 'a'} {other} name" if other else ""
    raise GrammarError(f"{shown(text)} is not a valid {grammar.label} interface name (e.g. {grammar.example}){hint}")


def canonical_interface(platform: str, value: str) -> str:
    """The name the device shows for a port however it is written ('Gi0/0/1' -> 'GigabitEthernet0/0/1')."""
    return _spelled_out(platform, value) or value if platform in _GRAMMARS else value


# ---- device answers (hostile input): one checker per field kind, None when it does not fit ------------------

def device_counter(value: Any) -> int | None:
    """A counter from a device's answer: a non-negative int (bool, negative, NaN, text are not counters)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0:
        return None
    return int(value) if value < 2**63 else None


def device_address(value: Any) -> str | None:
    """An IP address from a device's answer, canonical; None when it is not one."""
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
    except ValueError:
        return None

