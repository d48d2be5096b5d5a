"""Opening input files, with every operating-system fault as a `UserError` naming the path.

All readers (tables, CoNLL, SQuAD, corpora) open their files here rather than with `open`
or `Path.read_bytes`, so that a missing or unreadable file, a directory, a path through a
regular file, a symbolic-link loop, a file that vanished after it was checked or a read
error gives the one line of the error contract instead of a traceback, worded in one place.

Only regular files are read: a pipe, a device or a socket is refused before it is opened,
because opening a pipe nobody writes to blocks for ever, and a stream can be read only
once while a corpus is read again on every pass.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from transferkit.errors import UserError

_UNREADABLE = "permission denied; make the file readable (chmod u+r) or copy it to a folder you can read"
_REASONS = {
    errno.ENOENT: "file not found",
    errno.EISDIR: "is a directory, expected {what}",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EACCES: _UNREADABLE,
    errno.EPERM: _UNREADABLE,
    errno.ELOOP: "the path is a loop of symbolic links; point the link at a real file",
    errno.ENAMETOOLONG: "the path is too long",
}


def fault(path: str, error: OSError, what: str = "a data file") -> UserError:
    """The `UserError` for an `OSError` met while opening or reading `path`."""
    reason = _REASONS.get(error.errno, "cannot read the file ({reason}); check that it is a readable data file")
    return UserError(str(path), reason.format(what=what, reason=error.strerror or error))


def check_file(path: str, what: str = "a data file") -> None:
    """Raise `UserError` unless `path` (after symbolic links) is a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise fault(path, e, what) from None
    if stat.S_ISDIR(mode):
        raise UserError(str(path), f"is a directory, expected {what}")
    if not stat.S_ISREG(mode):
        raise UserError(str(path), "is not a regular file (a pipe, device or socket); save the data in a file and give its path")


@contextmanager
def open_input(path: str, what: str = "a data file") -> Iterator[BinaryIO]:
    """`path` opened for reading in binary. An `OSError` raised inside the `with` block
    becomes the same `UserError`, so keep only the reading of this file in it (a
    generator may yield from inside: what its consumer raises does not come back here)."""
    check_file(path, what)
    try:
        with open(path, "rb") as f:
            yield f
    except OSError as e:
        raise fault(path, e, what) from None


def read_bytes(path: str, what: str = "a data file") -> bytes:
    with open_input(path, what) as f:
        return f.read()


NOT_UTF8 = "not valid UTF-8; save the file as UTF-8"


def read_text(path: str, what: str = "a data file", bad_lines: list[int] | None = None) -> str:
    """The whole file decoded as UTF-8 (a byte-order mark at its start dropped). Bytes that
    are not UTF-8 are an error at their line, unless `bad_lines` is given: then each line
    that cannot be decoded is read as an empty line (so every other line keeps its
    number) and its number is appended there, for the reader to drop its row."""
    return decode_text(path, read_bytes(path, what), bad_lines)


def decode_text(path: str, raw: bytes, bad_lines: list[int] | None = None) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if bad_lines is None:
            line = raw[: e.start].count(b"\n") + 1
            raise UserError(f"{path}:{line}", NOT_UTF8) from None
    lines = []
    # bytes.splitlines ends lines at \n, \r\n and \r only, as `tables.split_lines` does
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            lines.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError:
            bad_lines.append(number)
            lines.append(line[len(line.rstrip(b"\r\n")) :].decode())
    return "".join(lines)
