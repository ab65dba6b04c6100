"""The SSH session into an interactive ``vtysh``: Netmiko's IOS session with a preparation vtysh answers in step.

Netmiko's IOS preparation sends ``terminal width 511`` (vtysh has no such command) and ``terminal length 0``
(deprecated in FRR 8, answered with a notice), and reads each only up to its echo. Before vtysh's readline is up
the tty itself echoes typed-ahead input at once, so on a loaded machine the echo came back early and vtysh's
answers ("% Unknown command: terminal width 511") arrived later, inside the next command's output: a
running-config read failed on it (measured at 200 lab devices), or a command's echo was never found.

Here nothing is typed before vtysh's first prompt; the prompt names the session; then one comment line with a
unique token is read through to the prompt after it, so every later read starts in step. vtysh pages nothing
unless told to (``terminal paginate``), and the pty is already 511 columns wide (Netmiko opens it so).
"""

from __future__ import annotations

import re
import secrets

from netmiko.cisco.cisco_ios import CiscoIosSSH

# The exec prompt vtysh shows first: "host#" at the very end of what was read (no capturing group: Netmiko
# splits what it read on one).
_FIRST_PROMPT = r"[\w.\-]+#\s*$"
_READY_TIMEOUT = 20.0  # seconds for vtysh to start (it connects to every daemon first)


class VtyshSession(CiscoIosSSH):
    """A Netmiko session into vtysh (see the module's docstring)."""

    def _try_session_preparation(self, force_data: bool = True) -> None:
        # No forced empty line: typed before readline runs, the tty would echo it out of order.
        del force_data
        super()._try_session_preparation(force_data=False)

    def session_preparation(self) -> None:
        first = self.read_until_pattern(pattern=_FIRST_PROMPT, read_timeout=_READY_TIMEOUT)
        match = re.search(_FIRST_PROMPT, first)
        if match is None:  # read_until_pattern returned, so this cannot happen; kept for the type checker
            raise ValueError("no vtysh prompt")
        self.base_prompt = match.group(0).rstrip()[:-1]
        # In step: a comment line (vtysh ignores it) read through to the prompt that follows its echo.
        token = f"! tonle-sync-{secrets.token_hex(6)}"
        self.write_channel(token + self.RETURN)
        self.read_until_pattern(pattern=re.escape(token) + r"[\s\S]*" + re.escape(self.base_prompt) + r"#\s*$",
                                read_timeout=_READY_TIMEOUT)


__all__ = ["VtyshSession"]
