"""IOS-XE helpers the templates cannot say well in Jinja."""

from __future__ import annotations


def _not_digit(d: str) -> str:
    rest = "".join(c for c in "0123456789" if c != d)
    return f"[{rest}]"


def not_first_as(asn: int) -> str:
    """An IOS AS-path regex matching every path whose first AS is *not* `asn`.

    IOS regexes have no negation, so the complement of the number is spelled out: any AS number with
    fewer or more digits, or with the same digits up to a position and another digit there. `_` matches
    the delimiter after the first AS (a space, a brace, the end of the path).
    """
    s = str(asn)
    alts = ["[0-9]" * k for k in range(1, len(s))]
    alts.append("[0-9]" * (len(s) + 1) + "[0-9]*")
    alts += [s[:i] + _not_digit(s[i]) + "[0-9]" * (len(s) - i - 1) for i in range(len(s))]
    return f"^({'|'.join(alts)})_"
