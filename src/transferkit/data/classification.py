"""Text-classification splits: texts (and optional second texts), labels, validation.

The label set comes from the training split; a dev/test label outside it is an error
rather than a silently wrong metric. Texts must be strings and labels class names (see
`_label`); label sets that look like a mistake are trained with a warning (see
`_warn_about_labels`). Row ids (an `id` column) must be unique.

Multi-label splits (`multi_label=True`) hold a tuple of label names per row: sorted,
without repeats, and empty for a row with none of the labels (see `_label_tuple`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from transferkit.data.bad_rows import BadRows
from transferkit.data.tables import Table, read_table
from transferkit.data.values import check_unique_ids, describe, missing, record_id
from transferkit.errors import UserError, warn


@dataclass
class ClassificationSplit:
    path: str
    texts: list[str]
    pairs: list[str] | None
    labels: list[str] | list[tuple[str, ...]] | None  # None for unlabelled input (predict); tuples when multi_label
    ids: list[str]
    places: list[str]
    multi_label: bool = False
    groups: list[str] | None = None  # each row's value of the slice column (`--slice-column`)
    slice_column: str | None = None  # that column's name

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> "ClassificationSplit":
        pick = lambda xs: None if xs is None else [xs[i] for i in indices]  # noqa: E731
        return ClassificationSplit(
            self.path, pick(self.texts), pick(self.pairs), pick(self.labels), pick(self.ids), pick(self.places),
            self.multi_label, pick(self.groups), self.slice_column,
        )

    def label_rows(self) -> list[tuple[str, ...]]:
        """Each row's labels as a tuple, single- or multi-label alike."""
        return self.labels if self.multi_label else [(label,) for label in self.labels]

    def example_keys(self) -> list:
        """What makes two rows the same example (the check for dev/test rows that are also
        in train): the text and its pair, with runs of whitespace as one space."""
        norm = lambda text: " ".join(text.split())  # noqa: E731
        if self.pairs is None:
            return [norm(t) for t in self.texts]
        return [(norm(t), norm(p)) for t, p in zip(self.texts, self.pairs)]


def _text(value, where: str, column: str, option: str) -> str:
    if missing(value):
        raise UserError(where, f"missing value in column {column!r}")
    if not isinstance(value, str):
        raise UserError(
            where, f"expected text in column {column!r}, got {describe(value)}; write the text as a string, or name the text column with {option}"
        )
    if not value.strip():
        raise UserError(where, f"empty text in column {column!r}; remove the row or fill it in")
    return value


def _label(value, where: str, column: str) -> str:
    """A label as a class name: a string (surrounding whitespace dropped), an integer or an
    integer-valued float (`1.0` is `1`), or a boolean (`true`, `false`, as JSON writes it)."""
    if missing(value) or (isinstance(value, str) and not value.strip()):
        raise UserError(where, f"empty label in column {column!r}; every row needs a label")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise UserError(
                where,
                f"label {value!r} in column {column!r} is not a whole number; classification needs class names or integer ids "
                "(is this a regression score?); write it as a string if it is a class name",
            )
        return str(int(value))
    raise UserError(where, f"expected a class name (a string or an integer) in column {column!r}, got {describe(value)}")


def _label_tuple(value, where: str, column: str, separator: str) -> tuple[str, ...]:
    """A multi-label row's labels: a text cell split at `separator` (parts stripped, empty
    parts dropped, so an empty cell is no label), or a JSON/Parquet list of class names;
    any other single class name is a set of one. A missing value (JSON null, no key) is
    an error, as in a single-label split: only an empty text or list says "none"."""
    if missing(value):
        raise UserError(where, f"missing value in column {column!r}; every row needs its labels (an empty text or list for none)")
    if isinstance(value, str):
        parts = (part.strip() for part in value.split(separator))
        return tuple(sorted({part for part in parts if part}))
    if isinstance(value, list):
        return tuple(sorted({_label(v, where, column) for v in value}))
    return (_label(value, where, column),)


def read_split(
    path: str,
    text_column: str = "text",
    label_column: str | None = "label",
    text_pair_column: str | None = None,
    *,
    multi_label: bool = False,
    separator: str = "|",
    slice_column: str | None = None,
    bad_rows: BadRows | None = None,
) -> ClassificationSplit:
    """Read one split; `label_column=None` reads unlabelled texts. `bad_rows` decides what
    an unusable row does (default: it is an error)."""
    bad_rows = bad_rows or BadRows()
    table = read_table(path, bad_rows)
    split = split_from_table(table, text_column, label_column, text_pair_column, multi_label, separator, slice_column, bad_rows)
    bad_rows.check(table.path, len(split))
    return split


def split_from_table(
    table: Table, text_column: str, label_column: str | None, text_pair_column: str | None, multi_label: bool = False,
    separator: str = "|", slice_column: str | None = None, bad_rows: BadRows | None = None,
) -> ClassificationSplit:
    bad_rows = bad_rows or BadRows()
    table.require_column(text_column, "--text-column")
    if text_pair_column:
        table.require_column(text_pair_column, "--text-pair-column")
    if slice_column:
        table.require_column(slice_column, "--slice-column")
    if label_column:
        table.require_column(label_column, "--label-column")
        if label_column in (text_column, text_pair_column):
            raise UserError("--label-column", f"{label_column!r} is also a text column; name the column that holds the class labels")
    texts, pairs, labels, ids = [], [] if text_pair_column else None, [] if label_column else None, []
    groups, places = [] if slice_column else None, []

    def read_label(value, where: str):
        return _label_tuple(value, where, label_column, separator) if multi_label else _label(value, where, label_column)

    for i, (row, where) in enumerate(zip(table.rows, table.places)):
        with bad_rows.row(table.path):  # checked whole before any of it is kept
            text = _text(row.get(text_column), where, text_column, "--text-column")
            pair = _text(row.get(text_pair_column), where, text_pair_column, "--text-pair-column") if pairs is not None else None
            label = read_label(row.get(label_column), where) if labels is not None else None
            row_id = record_id(row.get("id"), str(i), where)
            texts.append(text)
            ids.append(row_id)
            places.append(where)
            if pairs is not None:
                pairs.append(pair)
            if labels is not None:
                labels.append(label)
            if groups is not None:
                groups.append(_group(row.get(slice_column)))
    check_unique_ids(ids, places)
    return ClassificationSplit(table.path, texts, pairs, labels, ids, places, multi_label, groups, slice_column)


MISSING_GROUP = "(missing)"


def _group(value) -> str:
    """A row's slice as text; a row without a value is a group of its own, not an error."""
    if missing(value) or (isinstance(value, str) and not value.strip()):
        return MISSING_GROUP
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.strip() if isinstance(value, str) else str(value)


def label_set(train: ClassificationSplit) -> list[str]:
    """The sorted label names of the training split (numerically when all are integers),
    after warning about label sets that look like a mistake (see `_warn_about_labels`).
    A multi-label split needs one label at least (each is a yes/no question), a
    single-label one two."""
    counts = Counter(label for labels in train.label_rows() for label in labels)
    needed = 1 if train.multi_label else 2
    if len(counts) < needed:
        raise UserError(train.path, f"the training data has {len(counts)} label(s); {'multi-label ' * train.multi_label}classification needs at least {needed}")
    _warn_about_labels(train, counts)
    if all(n.lstrip("-").isdecimal() for n in counts):
        return sorted(counts, key=int)
    return sorted(counts)


SINGLETON_MIN_ROWS = 20  # below this, a class per row can be a deliberate toy set
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _warn_about_labels(train: ClassificationSplit, counts: Counter) -> None:
    """Accepted, but said on stderr, since each is more often a slip than the intent:
    most rows being the only one of their class (a text or id column given as the labels);
    numbers with decimals as labels in a text file (a score: each value becomes a class);
    labels that differ only in case (kept apart, as written, and named)."""
    rows = len(train.labels)
    alone = sum(1 for n in counts.values() if n == 1)
    if rows >= SINGLETON_MIN_ROWS and alone > rows / 2:
        warn(train.path, f"{alone} of the {rows} training rows have a label no other row has ({len(counts)} classes); check that --label-column names a column of class labels")
    if all(NUMBER.fullmatch(n) for n in counts):
        fractional = [n for n in counts if not float(n).is_integer()]
        if fractional:
            warn(train.path, f"every label is a number and {len(fractional)} of the {len(counts)} are not whole numbers (e.g. {fractional[0]!r}); each distinct value is trained as its own class: if this is a score, transferkit cannot regress it")
    first = {}  # label -> its first place
    for labels, where in zip(train.label_rows(), train.places):
        for label in labels:
            first.setdefault(label, where)
    variants: dict[str, list[str]] = {}
    for name in counts:
        variants.setdefault(name.casefold(), []).append(name)
    groups = [sorted(names) for names in variants.values() if len(names) > 1]
    if groups:
        named = "; ".join(" and ".join(f"{n!r} ({counts[n]} row{'s' * (counts[n] != 1)}, first at {first[n]})" for n in group) for group in groups[:3])
        more = f"; and {len(groups) - 3} more" if len(groups) > 3 else ""
        warn(train.path, f"labels that differ only in case are different classes: {named}{more}; fix the labels if they mean the same class")


def check_labels_known(split: ClassificationSplit, labels: list[str]) -> None:
    known = set(labels)
    for row, where in zip(split.label_rows(), split.places):
        unknown = [label for label in row if label not in known]
        if unknown:
            raise UserError(
                where,
                f"label {unknown[0]!r} does not occur in the training data (labels: {', '.join(labels)}); "
                "fix the label or add training examples for it",
            )
