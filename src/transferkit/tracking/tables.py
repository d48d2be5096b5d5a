"""The registry's rows as tables, for `transferkit runs list` and `runs compare`: a rich
table on the terminal, or CSV or JSON for other programs (the raw values, not rounded)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from transferkit.tracking.registry import metric_leaves

LIST_COLUMNS = ("id", "started_at", "status", "kind", "task", "strategy", "requested", "model", "budget", "seed",
                "primary_metric", "score", "train_seconds", "seconds", "sweep", "cell", "path", "error")
# what the terminal table shows of them: (header, column); `run` is the run directory's name
LIST_SHOWN = (("id", "id"), ("started (UTC)", "started_at"), ("status", "status"), ("task", "task"), ("strategy", "strategy"),
              ("model", "model"), ("budget", "budget"), ("seed", "seed"), ("metric", "primary_metric"), ("score", "score"),
              ("seconds", "seconds"), ("run", "run"))
WIDE = 220  # the table's width in a file or pipe, where no terminal wraps it
COMPARED = ("task", "strategy", "model", "budget", "seed", "status")


def listing(rows: list[dict], output_format: str) -> None:
    """`runs list`: one line per run (JSON: the whole rows)."""
    if output_format == "json":
        return _print_json(rows)
    if output_format == "csv":
        return _print_csv([list(LIST_COLUMNS)] + [[row[c] for c in LIST_COLUMNS] for row in rows])
    shown = [{**row, "task": row["task"] or row["kind"], "started_at": row["started_at"][:16].replace("T", " "), "run": Path(row["path"]).name}
             for row in rows]
    _print_table([h for h, _ in LIST_SHOWN], [[_shown(row[c]) for _, c in LIST_SHOWN] for row in shown], f"{len(rows)} run(s)")


def comparison(rows: list[dict]) -> list[tuple[str, list]]:
    """`runs compare`: (what, one value per run) for what the runs are (task, strategy,
    model, budget, seed, status), each test and dev score, the train seconds, and each
    option whose value differs between them (`config: NAME`)."""
    leaves = [metric_leaves(row["metrics"], ("test", "dev")) for row in rows]
    scores = list(dict.fromkeys(name for found in leaves for name in found))
    configs = [row["config"] or {} for row in rows]
    options = [name for name in dict.fromkeys(k for config in configs for k in config)
               if name != "output" and len({json.dumps(config.get(name), sort_keys=True) for config in configs}) > 1]
    return (
        [(name, [row[name] for row in rows]) for name in COMPARED]
        + [(name, [found.get(name) for found in leaves]) for name in scores]
        + [("train seconds", [row["train_seconds"] for row in rows])]
        + [(f"config: {name}", [config.get(name) for config in configs]) for name in options]
    )


def compared(rows: list[dict], output_format: str) -> None:
    lines = comparison(rows)
    if output_format == "json":  # one object per run
        return _print_json([{"id": row["id"], "path": row["path"], **{what: values[k] for what, values in lines}} for k, row in enumerate(rows)])
    if output_format == "csv":
        return _print_csv([["", *(row["id"] for row in rows)]] + [[what, *values] for what, values in lines])
    _print_table(["", *(row["id"] for row in rows)], [[what, *map(_shown, values)] for what, values in lines], "runs compared")


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _print_table(header: list[str], lines: list[list[str]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name in header:
        table.add_column(name, overflow="fold")
    for line in lines:
        table.add_row(*line)
    Console(width=None if sys.stdout.isatty() else WIDE).print(table)


def _print_csv(lines: list[list]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerows([["" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else v for v in line] for line in lines])


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
