"""The one exception type for bad input.

Everything a user can get wrong (a missing file or column, a malformed row, an unknown
label, an unknown model name) raises `UserError`; the CLI prints its one line and exits
with status 2. Any other exception is a bug and exits with status 1.
"""

from __future__ import annotations


class UserError(Exception):
    """Invalid input: `error: <where>: <what is wrong and how to fix it>`."""

    def __init__(self, where: str, message: str):
        message = " ".join(message.split())  # always one line
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that a run unwinds (and cleans up) as for
    Ctrl-C. A BaseException, so no `except Exception` on the way swallows it."""


def warn(where: str, message: str) -> None:
    """One line on stderr for something transferkit did differently from what was asked
    (and carries on): `warning: <where>: <what it does instead>`."""
    import sys

    print(f"warning: {where}: {' '.join(message.split())}", file=sys.stderr)
