"""What transferkit says on stderr while it works (stdout is kept for results): progress
bars for long work, live on a terminal and a line every 30 s in a log file, and on a
terminal a status line before the first bar. `--quiet` (`set_quiet`) silences both."""

from __future__ import annotations

import sys

# Inference shows a bar only past this many batches: below it, the work takes a few
# seconds at most, and a bar would only clutter the output (and the tests').
LONG_WORK_BATCHES = 20
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def progress_bar(iterable=None, *, total=None, desc: str, unit: str, enabled: bool = True):
    from tqdm.auto import tqdm  # here, not at the top: `transferkit --help` imports this module

    interactive = sys.stderr.isatty()
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=_quiet or not enabled, dynamic_ncols=True,
        mininterval=0.1 if interactive else 30.0,
    )


def batch_progress(batches: list, desc: str | None):
    """`batches`, with a bar named `desc` when there are enough of them to take a while
    (predicting or scoring a big input). No `desc`, no bar: a dev evaluation inside the
    training loop's own bar."""
    if desc is None:
        return batches
    return progress_bar(batches, desc=desc, unit="batch", enabled=len(batches) > LONG_WORK_BATCHES)


def status(message: str) -> None:
    """One line on a terminal's stderr saying what is happening (loading a model, reading
    data); nothing in a log file or a pipe, where the one-line error contract holds."""
    if not _quiet and sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A line worth keeping in a log too (a run resumed from its checkpoint): on stderr,
    on a terminal or not, unless `--quiet`."""
    if not _quiet:
        print(f"note: {message}", file=sys.stderr, flush=True)
