"""Progress bars for long work: live on a terminal, a line every 30 s in a log file."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress_bar(iterable=None, *, total=None, desc: str, unit: str, enabled: bool = True):
    interactive = sys.stderr.isatty()
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True,
        mininterval=0.1 if interactive else 30.0,
    )
