"""Read tabular files (CSV, TSV, JSONL, Parquet) into records that remember their line.

Written by hand on top of `csv` / `json` / `pyarrow` rather than `pandas.read_csv` because
the error contract needs the *line* of a bad record (pandas loses it for quoted multi-line
fields) and strict checks that pandas relaxes: ragged rows, undecodable bytes, empty files.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

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


def read_table(path: str | Path) -> Table:
    """Read a whole table, or raise `UserError` naming the file and line of the problem."""
    path = str(path)
    p = Path(path)
    if not p.exists():
        raise UserError(path, "file not found")
    if p.is_dir():
        raise UserError(path, "is a directory, expected a data file")
    kind = FORMATS.get(p.suffix.lower())
    if kind is None:
        raise UserError(path, f"unknown file type {p.suffix!r}; use one of {', '.join(FORMATS)}")
    if kind == "parquet":
        return _read_parquet(path)
    text = decode_text(path, p.read_bytes())
    if not text.strip():
        raise UserError(f"{path}:1", "file is empty; it needs a header line and data rows")
    if kind == "jsonl":
        return _read_jsonl(path, text)
    return _read_delimited(path, text, "\t" if kind == "tsv" else ",")


def decode_text(path: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}", "not valid UTF-8; save the file as UTF-8") from None


def _read_delimited(path: str, text: str, delimiter: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        columns = [c.strip() for c in header]
        if len(set(columns)) != len(columns):
            raise UserError(f"{path}:1", "the header repeats a column name")
        rows, places = [], []
        start = reader.line_num + 1
        for fields in reader:
            where = f"{path}:{start}"
            start = reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if len(fields) != len(columns):
                raise UserError(
                    where,
                    f"row has {len(fields)} fields but the header has {len(columns)}; "
                    "quote fields that contain the delimiter",
                )
            rows.append(dict(zip(columns, fields)))
            places.append(where)
    except csv.Error as e:
        raise UserError(f"{path}:{reader.line_num}", f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {e}") from None
    if not rows:
        raise UserError(f"{path}:2", "the file has a header but no data rows")
    return Table(path, columns, rows, places, f"{path}:1")


def jsonl_records(path: str, numbered_lines: Iterable[tuple[int, str]]) -> Iterator[tuple[dict, str]]:
    """(object, `file:line`) for each non-blank line of a JSON-lines file."""
    for number, line in numbered_lines:
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(where, f"invalid JSON ({e.msg}); write one JSON object per line") from None
        if not isinstance(record, dict):
            raise UserError(where, "expected a JSON object per line")
        yield record, where


def _read_jsonl(path: str, text: str) -> Table:
    rows, places, columns = [], [], {}
    for record, where in jsonl_records(path, enumerate(text.splitlines(), start=1)):
        columns.update(dict.fromkeys(record))
        rows.append(record)
        places.append(where)
    if not rows:
        raise UserError(f"{path}:1", "the file has no JSON records")
    return Table(path, list(columns), rows, places, places[0])


def _read_parquet(path: str) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise UserError(path, f"cannot read Parquet: {e}") from None
    if table.num_rows == 0:
        raise UserError(path, "the file has no rows")
    rows = table.to_pylist()
    places = [f"{path}:row {i + 1}" for i in range(len(rows))]
    return Table(path, table.column_names, rows, places, path)
