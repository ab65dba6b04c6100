"""The free-text fields of a disruptive action: checked where they enter, and what a device may see of them.

The reason is for people (state DB, audit log); the ticket is an identifier. A device config line carries
only `device_message()`: the disconnect's id and ticket, both of a grammar with no spaces, quotes,
comment markers or control characters.
"""

from __future__ import annotations

import re

from tonle.errors import BadInput

REASON_MAX = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TICKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,39}")


class FieldError(BadInput):
    """A free-text field does not fit its grammar."""


def check_reason(value: str) -> str:
    """Why, in words for the NOC review: printable, one line, 1 to 500 characters."""
    text = value.strip()
    if not text:
        raise FieldError("--reason is required (why, in words the NOC review will understand)")
    if _CONTROL.search(text):
        raise FieldError("--reason: control characters (newline, tab, escape…) are not allowed; one line of text")
    if len(text) > REASON_MAX:
        raise FieldError(f"--reason: {len(text)} characters, at most {REASON_MAX}")
    return text


def check_ticket(value: str) -> str:
    """The incident or change ticket: letters, digits and . _ : / # - (at most 40, no spaces)."""
    text = value.strip()
    if not text:
        raise FieldError("--ticket is required (the incident or change ticket)")
    if not _TICKET.fullmatch(text):
        raise FieldError("--ticket: letters, digits and . _ : / # - only, at most 40 characters (e.g. INC-1234)")
    return text


def device_message(disconnect_id: str, ticket: str) -> str:
    """What the device (and, through RFC 8203, the peer) sees: an identifier, never the free text."""
    return f"tonle {disconnect_id} {check_ticket(ticket)}"
