"""Safe, atomic outputs: the one place that decides where transferkit may write.

A run (and a `pretrain` output) is written into a hidden sibling, `.NAME.partial`, that is
renamed into place only when the work has finished, so a crash or a bad input never leaves
a half-written directory that looks complete. Around that:

- **Only transferkit's own outputs are replaced.** `--overwrite` replaces a directory that
  carries transferkit's marker file (or, for directories written before the marker existed,
  a `metrics.json` that names transferkit's version), or an empty one; anything else is
  refused before any work, so a user's data folder is never deleted.
- **An output never swallows an input or the working directory**: an output that equals or
  contains an input path, the working directory, or one of its parents is refused.
- **One writer per output**: an exclusive `flock` on `.NAME.lock` beside the output is held
  from the first check to the publishing rename; the operating system releases it however
  the process ends, so a second run at the same output fails at once, and a lock left by a
  killed run is simply taken over. Publishing also refuses a directory that appeared while
  the run was working.
- **Leftovers are visible, and resumable.** A run killed without a chance to clean up
  (`kill -9`, a power cut) leaves `.NAME.partial`; so does an interrupted or crashed run
  whose staging folder holds a training checkpoint. The next run at that output names it
  and asks for `--resume` (which continues in that folder) or `--overwrite`, instead of
  silently starting a second one.

`output_file` does the same for a single file (`predict --output`): checked and its folder
created before any prediction, written to a temporary sibling, renamed into place.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Iterable, Iterator

from transferkit.errors import UserError

MARKER_FILE = ".transferkit-output"  # in every directory transferkit publishes


def partial_dir(output: Path) -> Path:
    """Where a run at `output` is written until it has finished."""
    return output.parent / f".{output.name}.partial"


def lock_file(output: Path) -> Path:
    return output.parent / f".{output.name}.lock"


def is_transferkit_output(path: Path) -> bool:
    """Whether `--overwrite` may replace `path`: a directory that transferkit wrote (a run,
    vectors, a model), or an empty one (nothing in it to lose)."""
    if not path.is_dir() or path.is_symlink():
        return False
    if (path / MARKER_FILE).is_file() or not any(path.iterdir()):
        return True
    try:  # written before the marker existed: metrics.json names transferkit's version
        metrics = json.loads((path / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and "transferkit" in (metrics.get("versions") or {})


def os_error(path: Path | str, error: OSError, what: str) -> UserError:
    """A file-system fault as the one-line error: the path, the system's reason, and what to do."""
    return UserError(str(path), f"{what}: {error.strerror or error}")


def _resolved(source: str | Path | None) -> Path | None:
    """An existing input's real path; None for none, or for one its reader will report
    (missing, a symlink loop)."""
    if not source or not os.path.lexists(Path(source).expanduser()):
        return None
    try:
        return Path(source).expanduser().resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
        return None


def _resolve_output(output: Path, kind: str) -> Path:
    try:
        return output.resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop on older Pythons
        raise UserError(str(output), f"cannot be resolved ({e}); give a plain {kind} path") from None


def _contains(outer: Path, inner: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(output: Path, overwrite: bool, inputs: Iterable[str | Path | None] = ()) -> None:
    """Refuse, before any work, an output that must not be written: one that would replace
    something transferkit did not write, swallow an input or the working directory, or
    that is not a directory."""
    resolved = _resolve_output(output, "directory")
    cwd = Path.cwd().resolve()
    if _contains(resolved, cwd):
        raise UserError(str(output), "is the working directory or one of its parents; give a new folder for the output")
    for source in inputs:
        place = _resolved(source)
        if place is not None and _contains(resolved, place):
            raise UserError(str(output), f"contains the input {source}; write the output to another folder")
    if not os.path.lexists(output):
        return
    if output.is_symlink():
        raise UserError(str(output), "is a symbolic link; give the directory itself, or a new one")
    if not output.is_dir():
        raise UserError(str(output), "exists and is not a directory; choose another --output")
    if not overwrite:
        raise UserError(str(output), "already exists; choose another --output or pass --overwrite")
    if not is_transferkit_output(output):
        raise UserError(
            str(output),
            "exists and was not written by transferkit; --overwrite only replaces transferkit's own outputs: "
            "choose another --output",
        )


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold the exclusive lock on `output` (a second holder fails at once)."""
    path = lock_file(output)
    while True:
        try:
            handle = open(path, "a+")
        except OSError as e:
            raise os_error(output.parent, e, "cannot write here") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise UserError(
                str(output),
                f"another transferkit run{f' (process {holder})' if holder else ''} is writing this output; "
                "wait for it to finish or choose another --output",
            ) from None
        # The file may have been unlinked by the holder we waited behind: lock the one at the path.
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it, so no one waits on a dead file
        handle.close()


@contextmanager
def staged_run_dir(output: Path, overwrite: bool, publish: bool = True, inputs: Iterable[str | Path | None] = (),
                   resume: bool = False, resumable: Callable[[Path], bool] = lambda staging: False):
    """Check and lock `output`, then yield its staging folder; on success it becomes
    `output` (replacing the transferkit output there with `overwrite`), on a failure it is
    removed, unless `resumable(staging)` says it holds a checkpoint and the failure was no
    bad input (an interrupt, a crash): then it stays for `resume`, which yields it again
    with its contents. With `publish=False` (the other processes of a multi-process run)
    the folder is a private temporary one, always removed, and the output is neither locked
    nor written."""
    check_output(output, overwrite, inputs)
    if not publish:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.rank-"))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(output.parent, e, "cannot create the output's folder") from None
    with output_lock(output):
        check_output(output, overwrite, inputs)  # again, now that no other run can change it
        existed = output.exists()
        staging = partial_dir(output)
        if resume and not os.path.isdir(staging):
            raise UserError(str(output), f"nothing to resume: no interrupted run here ({staging.name}); drop --resume")
        if os.path.lexists(staging) and not resume:
            if not overwrite:
                if resumable(staging):
                    raise UserError(
                        str(output),
                        f"an interrupted run left its checkpoint in {staging}; pass --resume to continue it, "
                        "or --overwrite to start again (it is deleted)",
                    )
                raise UserError(
                    str(output),
                    f"an interrupted run left {staging}; pass --overwrite to start again (it is deleted), "
                    "or remove it",
                )
            shutil.rmtree(staging)
        if not resume:
            try:
                staging.mkdir()
            except OSError as e:
                raise os_error(staging, e, "cannot create the staging folder") from None
        (staging / MARKER_FILE).write_text("written by transferkit; `--overwrite` may replace this directory\n")
        try:
            yield staging
            _publish(staging, output, existed)
        except BaseException as failure:
            # a resumed run's folder is the checkpoint it was asked to continue: a bad input
            # (a training file missing for now) must not delete it; a new run's folder goes
            # on bad input, and stays after a crash only if it holds a checkpoint
            if not resume and (isinstance(failure, UserError) or not resumable(staging)):
                shutil.rmtree(staging, ignore_errors=True)
            raise


def _publish(staging: Path, output: Path, existed: bool) -> None:
    """Rename the finished staging folder into place, replacing only what was checked at the
    start (a transferkit output that `--overwrite` named)."""
    apply_umask(staging)
    if os.path.lexists(output) and (not existed or not is_transferkit_output(output)):
        raise UserError(str(output), "appeared while this run was working; it is left untouched; choose another --output")
    if existed:
        # a name of its own, never `.NAME.old`: a folder of that name beside the output may be the user's
        retired = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.replaced-"))
        os.rename(output, retired)  # onto the empty folder mkdtemp made
        os.rename(staging, output)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, output)


@contextmanager
def output_file(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> Iterator[Path]:
    """Check `path` and create its folder before any work, then yield a temporary sibling
    to write; it replaces `path` only when the block succeeds."""
    path = Path(path)
    target = _resolve_output(path, "file")
    for source in inputs:
        place = _resolved(source)
        if place is not None and place in (target, *target.parents):
            raise UserError(str(path), f"would overwrite the input {source}; write to another file")
    if path.is_dir():
        raise UserError(str(path), "is a directory; give a file name for the output")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UserError(str(path), f"{blocking} is a file, not a folder; give another output path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as e:
        raise os_error(path.parent, e, "cannot write the output here") from None
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        apply_umask(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def apply_umask(path: Path) -> None:
    """Give `path` (and everything below it) the mode the user's umask allows. safetensors
    and `mkstemp` write private files (mode 0600), so without this another user could not
    read a run's weights or predictions."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


def library_versions() -> dict:
    import platform

    found = {"python": platform.python_version()}
    for name in ("transferkit", "torch", "transformers", "tokenizers", "accelerate", "scikit-learn", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
