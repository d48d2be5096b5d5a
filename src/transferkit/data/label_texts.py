"""What each label means in words: the label's own name, or the sentence that
`--label-descriptions FILE` gives it. `zeroshot` classifies by them alone; `contrastive`
uses them as anchors of their classes where they carry signal.

The file is a JSON object (`{"positive": "A review that praises the film."}`) or a CSV/TSV
table with `label` and `description` columns. A label the training data lacks is an error
(a typo would silently do nothing); a label the file lacks keeps its name.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from transferkit.errors import UserError


def label_texts(path: str | None, labels: list[str]) -> list[str]:
    """One text per label, in `labels` order."""
    if path is None:
        return list(labels)
    described = _read(Path(path))
    for label, (line, _) in described.items():
        if label not in labels:
            raise UserError(f"{path}:{line}", f"label {label!r} is not among the training labels ({', '.join(labels)}); fix or drop it")
    return [described[label][1] if label in described else label for label in labels]


def _read(path: Path) -> dict[str, tuple[int, str]]:
    """label -> (line, description)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(str(path), f"is not UTF-8 text ({error.reason}); save it as UTF-8") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"{path}:{error.lineno}", f"invalid JSON ({error.msg}); give an object of label: description") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
            raise UserError(str(path), "must be a JSON object mapping each label to a non-empty description")
        return {str(label): (1, description.strip()) for label, description in data.items()}
    reader = csv.reader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["label", "description"]:
        raise UserError(f"{path}:1", "the header must be label,description (or a JSON object of label: description)")
    described = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[1].strip():
            raise UserError(f"{path}:{line}", "expected a label and a non-empty description")
        if row[0] in described:
            raise UserError(f"{path}:{line}", f"label {row[0]!r} is described twice (first on line {described[row[0]][0]})")
        described[row[0]] = (line, row[1].strip())
    return described
