"""Rules for single values read from typed files (JSONL, Parquet): what an id may be,
how a value of the wrong type is named in an error, and that ids are unique.

Values are never converted behind the user's back: a number or a list where text is
expected is an error naming the place and the type, not its `str()`.
"""

from __future__ import annotations

import json

from transferkit.errors import UserError

_KINDS = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object", bytes: "binary data"}


def describe(value) -> str:
    """A value of the wrong type as an error shows it: its JSON kind and a short preview,
    e.g. `a list (["a", "b"])`."""
    kind = _KINDS.get(type(value), f"a {type(value).__name__}")
    try:
        preview = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        preview = repr(value)
    if len(preview) > 40:
        preview = preview[:37] + "..."
    return f"{kind} ({preview})"


def missing(value) -> bool:
    """No value: absent, null, or the NaN that pandas writes for an empty cell."""
    return value is None or (isinstance(value, float) and value != value)


def record_id(value, default: str, where: str) -> str:
    """A record's `id` as text: a string or an integer as written, `default` when absent."""
    if missing(value) or value == "":
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise UserError(where, f"expected an id (a string or an integer) in 'id', got {describe(value)}")


def check_unique_ids(ids: list[str], places: list[str], noun: str = "id") -> None:
    """Predictions are written by id, so two records with one id could not be told apart."""
    first: dict[str, str] = {}
    for key, where in zip(ids, places):
        if key in first:
            raise UserError(
                where,
                f"{noun} {key!r} is used again (first at {first[key]}); give every record its own {noun} "
                "so that its predictions can be told apart",
            )
        first[key] = where
