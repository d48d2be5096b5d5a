"""Text-classification splits: texts (and optional second texts), labels, validation.

The label set comes from the training split; a dev/test label outside it is an error
rather than a silently wrong metric. Texts must be strings and labels class names (see
`_label`); label sets that look like a mistake are trained with a warning (see
`_warn_about_labels`). Row ids (an `id` column) must be unique.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from transferkit.data.tables import Table, read_table
from transferkit.data.values import check_unique_ids, describe, missing, record_id
from transferkit.errors import UserError, warn


@dataclass
class ClassificationSplit:
    path: str
    texts: list[str]
    pairs: list[str] | None
    labels: list[str] | None  # None for unlabelled input (predict)
    ids: list[str]
    places: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> "ClassificationSplit":
        pick = lambda xs: None if xs is None else [xs[i] for i in indices]  # noqa: E731
        return ClassificationSplit(
            self.path, pick(self.texts), pick(self.pairs), pick(self.labels), pick(self.ids), pick(self.places)
        )


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


def read_split(
    path: str,
    text_column: str = "text",
    label_column: str | None = "label",
    text_pair_column: str | None = None,
) -> ClassificationSplit:
    """Read one split; `label_column=None` reads unlabelled texts."""
    table = read_table(path)
    return split_from_table(table, text_column, label_column, text_pair_column)


def split_from_table(
    table: Table, text_column: str, label_column: str | None, text_pair_column: str | None
) -> ClassificationSplit:
    table.require_column(text_column, "--text-column")
    if text_pair_column:
        table.require_column(text_pair_column, "--text-pair-column")
    if label_column:
        table.require_column(label_column, "--label-column")
        if label_column in (text_column, text_pair_column):
            raise UserError("--label-column", f"{label_column!r} is also a text column; name the column that holds the class labels")
    texts, pairs, labels, ids = [], [] if text_pair_column else None, [] if label_column else None, []
    for i, (row, where) in enumerate(zip(table.rows, table.places)):
        texts.append(_text(row.get(text_column), where, text_column, "--text-column"))
        if pairs is not None:
            pairs.append(_text(row.get(text_pair_column), where, text_pair_column, "--text-pair-column"))
        if labels is not None:
            labels.append(_label(row.get(label_column), where, label_column))
        ids.append(record_id(row.get("id"), str(i), where))
    check_unique_ids(ids, table.places)
    return ClassificationSplit(table.path, texts, pairs, labels, ids, list(table.places))


def label_set(train: ClassificationSplit) -> list[str]:
    """The sorted label names of the training split (numerically when all are integers),
    after warning about label sets that look like a mistake (see `_warn_about_labels`)."""
    counts = Counter(train.labels)
    if len(counts) < 2:
        raise UserError(train.path, f"the training data has {len(counts)} label(s); classification needs at least 2")
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
    first = dict(zip(reversed(train.labels), reversed(train.places)))  # label -> its first place
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
    for label, where in zip(split.labels, split.places):
        if label not in known:
            raise UserError(
                where,
                f"label {label!r} does not occur in the training data (labels: {', '.join(labels)}); "
                "fix the label or add training examples for it",
            )
