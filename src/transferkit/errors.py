"""The one exception type for bad input.

Everything a user can get wrong (a missing file or column, a malformed row, an unknown
label, an unknown model name) raises `UserError`; the CLI prints its one line and exits
with status 2. Any other exception is a bug and exits with status 1. Input that is
accepted but looks like a mistake gets a `warn` line instead.
"""

from __future__ import annotations

import sys


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
    """Input that is accepted but looks like a mistake: `warning: <where>: <what>`, one line
    on stderr (stdout carries the JSON results), and the run goes on."""
    message = " ".join(message.split())
    print(f"warning: {where}: {message}", file=sys.stderr, flush=True)
