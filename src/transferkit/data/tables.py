"""Read tabular files (CSV, TSV, JSONL, Parquet) into records that remember their line.

Written by hand on top of `csv` / `json` / `pyarrow` rather than `pandas.read_csv` because
the error contract needs the *line* of a bad record (pandas loses it for quoted multi-line
fields) and strict checks that pandas relaxes: ragged rows, undecodable bytes, empty files.

CSV has standard quoting; TSV is read as written, with no quote processing (a quote is
text, as in most TSV files, e.g. GLUE's). Fields may be of any length. Lines end at
`\n`, `\r\n` or `\r` only, not at the other characters `str.splitlines` breaks on (U+2028,
U+0085, ...), which JSON writes unescaped inside strings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from transferkit.data.bad_rows import BadRows
from transferkit.data.files import NOT_UTF8, check_file, read_bytes, read_text
from transferkit.errors import UserError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass
class Table:
    """Rows of one file, each with the place it came from (`file:line` or `file:row N`)."""

    path: str
    columns: list[str]
    rows: list[dict]
    places: list[str]
    header_place: str

    def require_column(self, name: str, option: str) -> None:
        if name not in self.columns:
            raise UserError(
                self.header_place,
                f"no column {name!r}; the columns are {', '.join(map(repr, self.columns))}; "
                f"name the right one with {option}",
            )


def read_table(path: str | Path, bad_rows: BadRows | None = None) -> Table:
    """Read a whole table, or raise `UserError` naming the file and line of the problem.
    `bad_rows` decides about a line that cannot be decoded, a ragged row and a line that is
    not a JSON object (default: each is an error); the reader of the table's values checks
    its rows against the same `BadRows` and calls its `check` once they are all read."""
    path, bad_rows = str(path), bad_rows or BadRows()
    check_file(path)
    suffix = Path(path).suffix
    kind = FORMATS.get(suffix.lower())
    if kind is None:
        raise UserError(path, f"unknown file type {suffix!r}; use one of {', '.join(FORMATS)}")
    if kind == "parquet":
        return _read_parquet(path)
    undecodable: list[int] = []
    text = read_text(path, bad_lines=undecodable if bad_rows.policy == "skip" else None)
    if undecodable and undecodable[0] < _first_text_line(text) and (kind != "jsonl" or not text.strip()):
        raise UserError(f"{path}:{undecodable[0]}", NOT_UTF8)  # the header (or every line): nothing to read rows by
    if not text.strip():
        raise UserError(f"{path}:1", "file is empty; it needs a header line and data rows")
    for number in undecodable:
        bad_rows.skip(UserError(f"{path}:{number}", NOT_UTF8), path)
    if kind == "jsonl":
        return _read_jsonl(path, text, bad_rows)
    return _read_delimited(path, text, kind, bad_rows)


def _first_text_line(text: str) -> int:
    return next((n for n, line in enumerate(split_lines(text), start=1) if line.strip()), len(text) + 1)


FIELD_LIMIT = 2**31 - 1  # the largest that csv accepts on every platform (a C long)
_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of a text, like `str.splitlines` but ending only at line breaks."""
    lines = _LINE_END.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def delimited_records(path: str, lines: Iterable[str], kind: str, bad_rows: BadRows | None = None) -> Iterator[tuple[list[str], str]]:
    """(fields, `file:line`) of each record of a CSV or TSV file, the header first, blank
    lines skipped; a malformed record is a `UserError` at the line where the record
    starts, and so is one whose field count differs from the header's unless `bad_rows`
    skips it.

    csv's 131,072-character field limit is a process-wide setting: it is raised only while
    a record is parsed, so nothing else in the process sees it changed."""
    tsv = kind == "tsv"
    reader = csv.reader(lines, delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL, strict=True)
    width = None
    while True:
        start = reader.line_num + 1
        previous = csv.field_size_limit(FIELD_LIMIT)
        try:
            fields = next(reader, None)
        except csv.Error as e:
            if "unexpected end of data" in str(e):
                raise UserError(f"{path}:{start}", 'a quoted field starts here and is never closed; close its quote, and double the quotes inside it ("")') from None
            raise UserError(f"{path}:{reader.line_num}", f"malformed CSV: {e}; double the quotes inside a quoted field (\"\")") from None
        finally:
            csv.field_size_limit(previous)
        if fields is None:
            return
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        where = f"{path}:{start}"
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            hint = "a TSV field cannot hold a tab; use CSV or JSONL for such texts" if tsv else "quote fields that contain commas"
            (bad_rows or BadRows()).skip(UserError(where, f"row has {len(fields)} fields but the header has {width}; {hint}"), path)
            continue
        yield fields, where


def _read_delimited(path: str, text: str, kind: str, bad_rows: BadRows) -> Table:
    records = delimited_records(path, io.StringIO(text, newline=""), kind, bad_rows)
    header, header_place = next(records, ([], f"{path}:1"))
    columns = [c.strip() for c in header]
    if len(set(columns)) != len(columns):
        raise UserError(header_place, "the header repeats a column name")
    rows, places = [], []
    for fields, where in records:
        rows.append(dict(zip(columns, fields)))
        places.append(where)
    if not rows:
        bad_rows.check(path, 0)
        raise UserError(f"{path}:2", "the file has a header but no data rows")
    return Table(path, columns, rows, places, header_place)


def jsonl_records(path: str, numbered_lines: Iterable[tuple[int, str]], bad_rows: BadRows | None = None) -> Iterator[tuple[dict, str]]:
    """(object, `file:line`) for each non-blank line of a JSON-lines file; a line that is
    not a JSON object is a `UserError`, unless `bad_rows` skips it."""
    bad_rows = bad_rows or BadRows()
    for number, line in numbered_lines:
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = _json_object(line, where)
        except UserError as e:
            bad_rows.skip(e, path)
            continue
        yield record, where


def _json_object(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(where, f"invalid JSON ({e.msg}); write one JSON object per line") from None
    if not isinstance(record, dict):
        raise UserError(where, "expected a JSON object per line")
    return record


def _read_jsonl(path: str, text: str, bad_rows: BadRows) -> Table:
    rows, places, columns = [], [], {}
    for record, where in jsonl_records(path, enumerate(split_lines(text), start=1), bad_rows):
        columns.update(dict.fromkeys(record))
        rows.append(record)
        places.append(where)
    if not rows:
        bad_rows.check(path, 0)
        raise UserError(f"{path}:1", "the file has no JSON records")
    return Table(path, list(columns), rows, places, places[0])


def _read_parquet(path: str) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = read_bytes(path)
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read()
        rows = table.to_pylist()
    except (pa.ArrowException, OSError) as e:  # what pyarrow raises for a damaged file
        raise parquet_damage(path, e) from None
    if not rows:
        raise UserError(path, "the file has no rows")
    places = [f"{path}:row {i + 1}" for i in range(len(rows))]
    return Table(path, table.column_names, rows, places, path)


def parquet_damage(path: str, error: Exception) -> UserError:
    return UserError(path, f"cannot read Parquet: {error}; the file is damaged or not Parquet")
