"""Every reader maps operating-system faults on its input to one `UserError` naming the path."""

import errno
import os

import pytest

from transferkit.data import files
from transferkit.data.classification import read_split
from transferkit.data.conll import read_token_split
from transferkit.data.squad import read_qa_split
from transferkit.errors import UserError
from transferkit.pretraining.corpus import Corpus

READERS = {
    "table": lambda path: read_split(path),
    "conll": lambda path: read_token_split(path),
    "squad": lambda path: read_qa_split(path),
    "corpus": lambda path: list(Corpus((path,)).texts()),
}


def _directory(d, name):
    (d / name).mkdir()
    return d / name


def _through_a_file(d, name):
    (d / "plain").write_text("x\n")
    return d / "plain" / name


def _loop(d, name):
    os.symlink(d / name, d / name)
    return d / name


def _pipe(d, name):
    os.mkfifo(d / name)
    return d / name


FAULTS = {
    "missing": (lambda d, name: d / name, "file not found"),
    "directory": (_directory, "is a directory"),
    "path through a file": (_through_a_file, "a part of the path is a file, not a folder"),
    "symlink loop": (_loop, "the path is a loop of symbolic links"),
    "pipe": (_pipe, "is not a regular file (a pipe, device or socket)"),
}
SUFFIX = {"table": "csv", "conll": "txt", "squad": "json", "corpus": "txt"}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("fault", FAULTS)
def test_each_reader_names_the_path_of_a_file_it_cannot_open(tmp_path, reader, fault):
    make, message = FAULTS[fault]
    path = str(make(tmp_path, f"data.{SUFFIX[reader]}"))
    with pytest.raises(UserError) as e:
        READERS[reader](path)
    assert str(e.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize("reader", ["conll", "corpus"])
def test_a_read_error_after_opening_is_a_user_error(reader):
    """/proc/self/mem opens as a regular file, and reading it from offset 0 fails (EIO)."""
    with pytest.raises(UserError, match=r"^/proc/self/mem: cannot read the file \(Input/output error\)"):
        READERS[reader]("/proc/self/mem")


@pytest.mark.parametrize(
    "error, message",
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied; make the file readable"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), "file not found"),  # vanished after the check
    ],
)
def test_faults_at_open_that_root_cannot_provoke(tmp_path, monkeypatch, error, message):
    """Tests run as root, which reads any file; so `open` is made to fail as it would for a
    user without permission, or for a file deleted between the check and the open."""
    path = tmp_path / "a.csv"
    path.write_text("text,label\na,b\n")

    def failing_open(*args, **kwargs):
        raise error

    monkeypatch.setattr(files, "open", failing_open, raising=False)
    with pytest.raises(UserError) as e:
        read_split(str(path))
    assert str(e.value).startswith(f"{path}: {message}")


SQUAD = '{"data": [{"paragraphs": [{"context": "Lucy runs.", "qas": [{"id": "q1", "question": "Who?", "answers": [{"text": "Lucy", "answer_start": 0}]}]}]}]}'
CONTENTS = {  # reader, suffix, a file written with \n, what the reader makes of it
    "csv": (read_split, "csv", 'text,label\n"two\nlines",pos\nplain,neg\n', lambda s: (s.texts, s.labels, s.places)),
    "tsv": (read_split, "tsv", "text\tlabel\nx y\tpos\nz\tneg\n", lambda s: (s.texts, s.labels, s.places)),
    "jsonl": (read_split, "jsonl", '{"text": "x", "label": "a"}\n{"text": "y", "label": "b"}\n', lambda s: (s.texts, s.labels, s.places)),
    "conll": (read_token_split, "txt", "-DOCSTART- O\n\nJohn B-PER\nruns O\n\nMary B-PER\n", lambda s: (s.tokens, s.tags, s.places, s.documents)),
    "squad": (read_qa_split, "json", SQUAD.replace(", ", ",\n"), lambda s: (s.ids, s.questions, s.contexts, s.answers)),
    "corpus": (lambda p: list(Corpus((p,)).texts()), "txt", "one doc\n\ntwo doc\n", lambda texts: texts),
    "corpus csv": (lambda p: list(Corpus((p,)).texts()), "csv", "text\none doc\ntwo doc\n", lambda texts: texts),
}


@pytest.mark.parametrize("kind", CONTENTS)
def test_a_byte_order_mark_and_crlf_line_ends_read_as_plain_utf8(tmp_path, kind):
    reader, suffix, text, seen = CONTENTS[kind]
    plain, windows = tmp_path / f"plain.{suffix}", tmp_path / f"windows.{suffix}"
    plain.write_bytes(text.encode())
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    expected, got = seen(reader(str(plain))), seen(reader(str(windows)))
    if kind == "csv":  # a line break inside a quoted field is kept as written
        assert got[0][0] == "two\r\nlines"
        got[0][0] = "two\nlines"
    assert repr(got).replace("windows", "plain") == repr(expected)
