"""What a reader does with a row it cannot use (`--on-bad-row`): stop on it, or drop it
and keep a list.

Every reader checks its rows by raising the `UserError` of the error contract; a
`BadRows` passed down to it decides what that error does. With `error` (the default, and
always for prediction input) it is raised as before; with `skip` it is recorded, with its
place and the same message, and the row is left out. Only a row can be skipped: what
makes a whole file unusable (a missing column, an empty file, a header or a SQuAD JSON
document that cannot be decoded) is still raised. A file with more than `max_fraction`
of its rows skipped is an error too: that many bad rows mean a wrong file or wrong
options, not a few messy lines.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from transferkit.errors import UserError
from transferkit.progress import note

SKIPPED_FILE = "skipped_rows.jsonl"


@dataclass
class BadRows:
    policy: str = "error"  # or "skip"
    max_fraction: float = 0.01
    skipped: list[dict] = field(default_factory=list)  # {"file", "line" or "place", "reason"}

    @classmethod
    def of(cls, cfg) -> "BadRows":
        """A fresh record with the run's `--on-bad-row` and `--max-bad-rows`."""
        return cls(cfg.on_bad_row, cfg.max_bad_rows)

    def skip(self, error: UserError, path: str) -> None:
        """Raise `error` (policy `error`), or record it as a skipped row of `path`."""
        if self.policy != "skip":
            raise error
        place = error.where.removeprefix(f"{path}:")
        key = "line" if place.isdecimal() else "place"
        self.skipped.append({"file": path, key: int(place) if key == "line" else place, "reason": error.message})

    @contextmanager
    def row(self, path: str) -> Iterator[None]:
        """Around the reading of one row: a `UserError` inside skips the rest of the block
        (so add the row to the result at its end) or is raised, as `skip` decides."""
        try:
            yield
        except UserError as e:
            self.skip(e, path)

    def in_file_order(self) -> list[dict]:
        """The skipped rows, each file's by line (they are found in several passes: bytes,
        fields, values); places that are not lines keep the order they were found in."""
        files = list(dict.fromkeys(s["file"] for s in self.skipped))
        return sorted(self.skipped, key=lambda s: (files.index(s["file"]), s.get("line", 0)))

    def count(self, path: str) -> int:
        return sum(1 for s in self.skipped if s["file"] == path)

    def check(self, path: str, kept: int) -> None:
        """A one-line error when the rows skipped in `path` are more than `max_fraction` of
        its rows (`kept` + skipped), or all of them (which no --max-bad-rows allows, so
        the message shows the first row's problem instead of advising a higher one)."""
        skipped = self.count(path)
        total = kept + skipped
        if skipped and not kept:
            raise UserError(path, f"all {total} of its rows are unusable (the first: {self._first(path)}); fix the file, or the options that read it")
        if skipped > self.max_fraction * total:
            raise UserError(
                path,
                f"{skipped} of its {total} rows cannot be used (skipped with --on-bad-row skip), more than "
                f"--max-bad-rows {self.max_fraction:g} allows; fix the file (the first: {self._first(path)}) or raise --max-bad-rows",
            )

    def _first(self, path: str) -> str:
        first = next(s for s in self.skipped if s["file"] == path)
        return f"{first.get('line', first.get('place'))}: {first['reason']}"


def write_skipped(rows: list[dict], staging: Path, run_dir: Path) -> None:
    """`RUN/skipped_rows.jsonl` (written into the run's staging folder): one JSON object per
    skipped row, none when nothing was skipped; and, when any was, a line on stderr saying
    how many and where they are listed, so that a skip is never silent."""
    with (staging / SKIPPED_FILE).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if rows:
        files = sorted({row["file"] for row in rows})
        note(f"--on-bad-row skip: skipped {len(rows)} unusable row{'s' * (len(rows) != 1)} of {', '.join(files)}; listed in {run_dir / SKIPPED_FILE}")
