"""Write a run directory atomically: everything goes into a hidden sibling folder that is
renamed into place only when the run has finished, so a crash or a bad input never
leaves a half-written run that looks complete."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from transferkit.errors import UserError


def check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise UserError(str(output), "already exists; choose another --output or pass --overwrite")
    if output.exists() and not output.is_dir():
        raise UserError(str(output), "exists and is not a directory")


@contextmanager
def staged_run_dir(output: Path, overwrite: bool, publish: bool = True):
    """Yield a temporary folder; on success it replaces `output`, on failure it is removed.
    With `publish=False` (the other processes of a multi-process run) it is always removed."""
    check_output(output, overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not publish:
        shutil.rmtree(staging, ignore_errors=True)
    elif output.exists():
        retired = output.parent / f".{output.name}.old-{os.getpid()}"
        os.rename(output, retired)
        os.rename(staging, output)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, output)


def library_versions() -> dict:
    import platform

    found = {"python": platform.python_version()}
    for name in ("transferkit", "torch", "transformers", "tokenizers", "accelerate", "scikit-learn", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
