"""Text-classification splits: texts (and optional second texts), labels, validation.

The label set comes from the training split; a dev/test label outside it is an error
rather than a silently wrong metric.
"""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.data.tables import Table, read_table
from transferkit.errors import UserError


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


def _text(value, where: str, column: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        raise UserError(where, f"missing value in column {column!r}")
    text = str(value)
    if not text.strip():
        raise UserError(where, f"empty text in column {column!r}; remove the row or fill it in")
    return text


def _label(value, where: str, column: str) -> str:
    if value is None or (isinstance(value, float) and value != value) or not str(value).strip():
        raise UserError(where, f"empty label in column {column!r}; every row needs a label")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


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
    texts, pairs, labels, ids = [], [] if text_pair_column else None, [] if label_column else None, []
    for i, (row, where) in enumerate(zip(table.rows, table.places)):
        texts.append(_text(row.get(text_column), where, text_column))
        if pairs is not None:
            pairs.append(_text(row.get(text_pair_column), where, text_pair_column))
        if labels is not None:
            labels.append(_label(row.get(label_column), where, label_column))
        ids.append(str(row["id"]) if row.get("id") not in (None, "") else str(i))
    return ClassificationSplit(table.path, texts, pairs, labels, ids, list(table.places))


def label_set(train: ClassificationSplit) -> list[str]:
    """The sorted label names of the training split (numerically when all are integers)."""
    names = set(train.labels)
    if len(names) < 2:
        raise UserError(train.path, f"the training data has {len(names)} label(s); classification needs at least 2")
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def check_labels_known(split: ClassificationSplit, labels: list[str]) -> None:
    known = set(labels)
    for label, where in zip(split.labels, split.places):
        if label not in known:
            raise UserError(
                where,
                f"label {label!r} does not occur in the training data (labels: {', '.join(labels)}); "
                "fix the label or add training examples for it",
            )
