"""Unlabelled text corpora, streamed so that a corpus larger than memory can be read.

A corpus is one or more files, each read lazily and again on every pass (word2vec reads
the text once to count words and once per epoch):
- plain text (any suffix but the tabular ones): one document per non-blank line;
- CSV / TSV / JSONL / Parquet: one document per row, from the column `text_column`.

Written by hand rather than with `data.tables.read_table`, which loads a whole file to
give every row its line; here bad input must still name its `file:line` (undecodable
bytes, malformed rows, a missing column, a file with no text) without holding the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from transferkit.data.bad_rows import BadRows
from transferkit.data.files import NOT_UTF8, check_file, open_input
from transferkit.data.tables import FORMATS, delimited_records, jsonl_records, parquet_damage
from transferkit.data.values import describe, missing
from transferkit.errors import UserError

MARKUP = re.compile(r"<[^<>]{0,200}>")  # HTML tags, such as IMDB's <br />
DEFAULT_TOKEN_PATTERN = r"\w+(?:['’]\w+)*"


@dataclass(frozen=True)
class Tokenisation:
    """How text becomes words: HTML tags dropped, optionally lower-cased, then every match
    of `pattern` is a word (by default runs of letters and digits, keeping inner
    apostrophes: "don't", "o'brien"). Stored with trained vectors so that whatever uses
    them later splits text the same way."""

    lowercase: bool = True
    pattern: str = DEFAULT_TOKEN_PATTERN

    def __post_init__(self):
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise UserError("--token-pattern", f"not a valid regular expression: {e}") from None

    def words(self, text: str) -> list[str]:
        text = MARKUP.sub(" ", text)
        return re.findall(self.pattern, text.lower() if self.lowercase else text)


def _lines(path: str, bad_rows: BadRows) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) of a file, decoding line by line so that bad bytes are
    reported with their line without reading the whole file first; a line `bad_rows`
    skips is read as an empty one."""
    with open_input(path, "a corpus file") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                bad_rows.skip(UserError(f"{path}:{number}", NOT_UTF8), path)
                line = "\n"
            yield number, line


def _text_file(path: str, column: str, bad_rows: BadRows) -> Iterator[tuple[str, str]]:
    for number, line in _lines(path, bad_rows):
        if line.strip():
            yield line.rstrip("\r\n"), f"{path}:{number}"


def _delimited(path: str, column: str, kind: str, bad_rows: BadRows) -> Iterator[tuple[str, str]]:
    records = delimited_records(path, (line for _, line in _lines(path, bad_rows)), kind, bad_rows)
    header, where = next(records, ([], ""))
    if not header:
        return
    header = [c.strip() for c in header]
    _require(column, header, where)
    index = header.index(column)
    for fields, where in records:
        yield fields[index], where


def _jsonl(path: str, column: str, bad_rows: BadRows) -> Iterator[tuple[str, str]]:
    for record, where in jsonl_records(path, _lines(path, bad_rows), bad_rows):
        _require(column, list(record), where)
        yield record[column], where


def _parquet(path: str, column: str, bad_rows: BadRows) -> Iterator[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open_input(path, "a corpus file") as f:
        try:
            parquet = pq.ParquetFile(f)
            _require(column, parquet.schema_arrow.names, path)
            batches = (batch.column(0).to_pylist() for batch in parquet.iter_batches(columns=[column], batch_size=4096))
            row = 0
            for values in batches:
                for value in values:
                    row += 1
                    yield value, f"{path}:row {row}"
        except (pa.ArrowException, OSError) as e:  # what pyarrow raises for a damaged file
            raise parquet_damage(path, e) from None


def _require(column: str, columns: list[str], where: str) -> None:
    if column not in columns:
        raise UserError(where, f"no column {column!r}; the columns are {', '.join(map(repr, columns))}; name the right one with --text-column")


READERS = {
    "csv": lambda p, c, b: _delimited(p, c, "csv", b), "tsv": lambda p, c, b: _delimited(p, c, "tsv", b), "jsonl": _jsonl, "parquet": _parquet
}


@dataclass(frozen=True)
class Corpus:
    """A restartable stream of documents from several files. `bad_rows` decides what an
    unusable row does (default: it is an error); give a fresh one for each pass."""

    paths: tuple[str, ...]
    text_column: str = "text"
    bad_rows: BadRows = field(default_factory=BadRows, compare=False)

    def __post_init__(self):
        if not self.paths:
            raise UserError("--corpus", "missing; give at least one corpus file")
        for path in self.paths:
            check_file(path, "a corpus file")

    def documents(self) -> Iterator[tuple[str, str]]:
        """(text, place) for every non-blank document; a file without any is an error."""
        for path in self.paths:
            reader = READERS.get(FORMATS.get(Path(path).suffix.lower(), ""), _text_file)
            found = 0
            for text, where in reader(path, self.text_column, self.bad_rows):
                if missing(text):
                    continue
                if not isinstance(text, str):
                    self.bad_rows.skip(UserError(where, f"expected text in column {self.text_column!r}, got {describe(text)}; write the text as a JSON string"), path)
                    continue
                if not text.strip():
                    continue
                found += 1
                yield text, where
            self.bad_rows.check(path, found)
            if not found:
                raise UserError(f"{path}:1", "the corpus file has no text; give a file with one document per line (or row)")

    def texts(self) -> Iterator[str]:
        return (text for text, _ in self.documents())


class TokenisedCorpus:
    """What gensim iterates: one list of words per document, on every pass. A document
    with no word at all (only punctuation) is skipped."""

    def __init__(self, corpus: Corpus, tokenisation: Tokenisation):
        self.corpus, self.tokenisation = corpus, tokenisation

    def __iter__(self) -> Iterator[list[str]]:
        for text in self.corpus.texts():
            words = self.tokenisation.words(text)
            if words:
                yield words
