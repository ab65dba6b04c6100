"""One exception root for the whole project; each kind carries the exit code the README's table gives.

| exit | meaning                                                      | kind                  |
|------|--------------------------------------------------------------|-----------------------|
| 0    | ok                                                           | (no exception)        |
| 1    | refused (guard, approval, account or role, stale plan),      | Refused, Failed       |
|      | failed, rolled back, drift found                             |                       |
| 2    | bad input (inventory, intent, arguments, unknown id, a bad   | BadInput, Unavailable |
|      | request to the service), or a device, the lab, the service   |                       |
|      | or a program it needs unreachable/missing                    |                       |

The CLI and the Ansible modules catch `TonleError` once and use `exit_code` and `lines()`.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class TonleError(Exception):
    """Root of every error the project raises on purpose. Messages are one line each, with no secret."""

    exit_code: ClassVar[int] = EXIT_FAILED

    def lines(self) -> list[str]:
        """The problem, one line per problem."""
        return [str(self)]


class BadInput(TonleError):
    """Inventory, intent, argument or identifier that is not valid. Nothing was changed anywhere."""

    exit_code = EXIT_BAD_INPUT


class Unavailable(TonleError):
    """A device, the lab or a program the action needs cannot be reached or is missing."""

    exit_code = EXIT_BAD_INPUT


class Refused(TonleError):
    """A valid request that a rule refuses (guard, two-person rule, stale plan, window)."""

    exit_code = EXIT_FAILED


class Failed(TonleError):
    """An action that ran and failed (and was rolled back where it could be)."""

    exit_code = EXIT_FAILED


class Problems(BadInput):
    """Bad input with one line per problem (all problems found, not just the first)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return list(self.problems)
