"""The lab's two errors: it failed, or it cannot run here (one-line messages, no secret)."""

from __future__ import annotations

from tonle.errors import Failed, Unavailable


class LabError(Failed):
    """The lab cannot be built, queried or removed; the message is one line."""


class LabUnavailable(LabError, Unavailable):
    """The lab is not up, or this machine cannot run it (not root, a program missing)."""

    exit_code = Unavailable.exit_code
