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

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from transferkit.data.tables import FORMATS, jsonl_records
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


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) of a file, decoding line by line so that bad bytes are
    reported with their line without reading the whole file first."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}:{number}", "not valid UTF-8; save the file as UTF-8") from None


def _text_file(path: str, column: str) -> Iterator[tuple[str, str]]:
    for number, line in _lines(path):
        if line.strip():
            yield line.rstrip("\r\n"), f"{path}:{number}"


def _delimited(path: str, column: str, delimiter: str) -> Iterator[tuple[str, str]]:
    numbered = _lines(path)
    line = {"number": 0}

    def text_lines():
        for number, text in numbered:
            line["number"] = number
            yield text

    reader = csv.reader(text_lines(), delimiter=delimiter, strict=True)
    try:
        header = [c.strip() for c in next(reader, [])]
        if not header:
            return
        _require(column, header, f"{path}:1")
        index = header.index(column)
        for fields in reader:
            if len(fields) == 1 and not fields[0].strip():
                continue
            if len(fields) != len(header):
                raise UserError(f"{path}:{line['number']}", f"row has {len(fields)} fields but the header has {len(header)}")
            yield fields[index], f"{path}:{line['number']}"
    except csv.Error as e:
        raise UserError(f"{path}:{line['number']}", f"malformed row: {e}") from None


def _jsonl(path: str, column: str) -> Iterator[tuple[str, str]]:
    for record, where in jsonl_records(path, _lines(path)):
        _require(column, list(record), where)
        yield record[column], where


def _parquet(path: str, column: str) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise UserError(path, f"cannot read Parquet: {e}") from None
    _require(column, parquet.schema_arrow.names, path)
    row = 0
    for batch in parquet.iter_batches(columns=[column], batch_size=4096):
        for value in batch.column(0).to_pylist():
            row += 1
            yield value, f"{path}:row {row}"


def _require(column: str, columns: list[str], where: str) -> None:
    if column not in columns:
        raise UserError(where, f"no column {column!r}; the columns are {', '.join(map(repr, columns))}; name the right one with --text-column")


READERS = {"csv": lambda p, c: _delimited(p, c, ","), "tsv": lambda p, c: _delimited(p, c, "\t"), "jsonl": _jsonl, "parquet": _parquet}


@dataclass(frozen=True)
class Corpus:
    """A restartable stream of documents from several files."""

    paths: tuple[str, ...]
    text_column: str = "text"

    def __post_init__(self):
        if not self.paths:
            raise UserError("--corpus", "missing; give at least one corpus file")
        for path in self.paths:
            p = Path(path)
            if not p.exists():
                raise UserError(path, "file not found")
            if p.is_dir():
                raise UserError(path, "is a directory, expected a corpus file")

    def documents(self) -> Iterator[tuple[str, str]]:
        """(text, place) for every non-blank document; a file without any is an error."""
        for path in self.paths:
            reader = READERS.get(FORMATS.get(Path(path).suffix.lower(), ""), _text_file)
            found = False
            for text, where in reader(path, self.text_column):
                if text is None or not str(text).strip():
                    continue
                found = True
                yield str(text), where
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
